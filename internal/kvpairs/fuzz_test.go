package kvpairs

import (
	"bytes"
	"testing"
)

var fuzzSeeds = []string{
	"\x01",
	"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
	"user=test@contoso.onmicrosoft.com\x01auth=Bearer EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA\x01\x01",
	"host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
	"host=server.example.com\x01port=143\x01auth=\x01\x01",
	"auth=Bearer a\x00b\x01\x01",
	"a=b\x01\x01x",
	"=\x01",
	"user=\xc3\xa9\x01\x01",
}

// FuzzScanner checks that the scanner never panics, that every pair it
// returns follows the grammar, and that a cleanly finished scan can be
// re-encoded byte for byte.
func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, msg []byte, utf bool) {
		sc := NewScanner(msg, utf)
		var rebuilt []byte
		for sc.Next() {
			k, v := sc.Key(), sc.Value()
			if len(k) == 0 {
				t.Fatal("empty key accepted")
			}
			for _, c := range k {
				if !isAlpha(c) {
					t.Fatalf("non-ALPHA key byte %#x", c)
				}
			}
			if !ValidValue(string(v), utf) {
				t.Fatal("value outside the grammar accepted")
			}
			rebuilt = append(append(append(append(rebuilt, k...), '='), v...), Sep)
		}
		if sc.Next() {
			t.Fatal("Next true after the end")
		}
		if sc.Err() == nil {
			if !sc.Finished() {
				t.Fatal("no error but not finished")
			}
			rebuilt = append(rebuilt, Sep)
			if !bytes.Equal(rebuilt, msg) {
				t.Fatalf("accepted %q but it re-encodes as %q", msg, rebuilt)
			}
		}
	})
}

// FuzzParseBearer checks that an accepted token is a b64token found verbatim
// at the end of the value, after a Bearer scheme.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a==", "Bearer  a b", "Basic x", "", "Bearer"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		tok, err := ParseBearer(v)
		if err != nil {
			return
		}
		if !ValidToken(tok) || !bytes.HasSuffix(v, tok) || !bytes.EqualFold(v[:6], []byte("bearer")) {
			t.Fatalf("ParseBearer(%q) accepted %q", v, tok)
		}
	})
}

// FuzzParseError checks that error challenges never panic and that whatever
// parses survives an encode/parse round trip.
func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}` + "\n",
		`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`,
		`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`,
		`{"status":401}`, "null", "", "{", "\x01",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseError(b)
		if err != nil {
			return
		}
		back, err := ParseError(MarshalOAuthBearer(e))
		if err != nil {
			t.Fatalf("re-encoded object does not parse: %v", err)
		}
		// JSON decoding replaces invalid UTF-8, so compare after one pass.
		again, _ := ParseError(MarshalOAuthBearer(back))
		if again != back {
			t.Fatalf("round trip unstable: %+v vs %+v", back, again)
		}
	})
}
