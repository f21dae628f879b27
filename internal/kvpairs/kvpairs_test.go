package kvpairs

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

type pair struct{ k, v string }

func scanAll(msg []byte, utf bool) ([]pair, error) {
	var out []pair
	sc := NewScanner(msg, utf)
	for sc.Next() {
		out = append(out, pair{string(sc.Key()), string(sc.Value())})
	}
	return out, sc.Err()
}

func TestScannerAccepts(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		utf  bool
		want []pair
	}{
		{"empty list", "\x01", false, nil},
		{"google", "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01", false,
			[]pair{{"user", "someuser@example.com"}, {"auth", "Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"}}},
		{"empty value", "auth=\x01\x01", false, []pair{{"auth", ""}}},
		{"value with SP HTAB CR LF and =", "k=a b\tc\r\nd=e\x01\x01", false, []pair{{"k", "a b\tc\r\nd=e"}}},
		{"mixed case key", "Host=x\x01\x01", false, []pair{{"Host", "x"}}},
		{"utf8 allowed", "user=j\u00f6rg@example.com\x01\x01", true, []pair{{"user", "j\u00f6rg@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanAll([]byte(tt.msg), tt.utf)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("pair %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestScannerRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		utf  bool
		want error
	}{
		{"empty message", "", false, ErrTruncated},
		{"no final kvsep", "user=a\x01", false, ErrTruncated},
		{"no kvsep at all", "user=a", false, ErrTruncated},
		{"key only", "user", false, ErrTruncated},
		{"no equals", "user\x01\x01", false, ErrNoEquals},
		{"empty key", "=a\x01\x01", false, ErrBadKey},
		{"digit in key", "us3r=a\x01\x01", false, ErrBadKey},
		{"dash in key", "x-y=a\x01\x01", false, ErrBadKey},
		{"space in key", "us er=a\x01\x01", false, ErrBadKey},
		{"NUL in value", "auth=Bearer a\x00b\x01\x01", false, ErrBadValue},
		{"DEL in value", "auth=a\x7f\x01\x01", false, ErrBadValue},
		{"ESC in value", "auth=a\x1b\x01\x01", false, ErrBadValue},
		{"utf8 without permission", "user=j\u00f6rg\x01\x01", false, ErrBadValue},
		{"invalid utf8", "user=\xff\x01\x01", true, ErrBadValue},
		{"truncated utf8", "user=\xc3\x01\x01", true, ErrBadValue},
		{"trailing after close", "a=b\x01\x01x", false, ErrTrailing},
		{"two closing kvseps", "a=b\x01\x01\x01", false, ErrTrailing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scanAll([]byte(tt.msg), tt.utf)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestScannerStopsAfterEnd(t *testing.T) {
	sc := NewScanner([]byte("a=b\x01\x01"), false)
	if !sc.Next() || sc.Next() || sc.Next() {
		t.Fatal("scanner did not stop at the closing kvsep")
	}
	if !sc.Finished() || sc.Key() != nil || sc.Value() != nil {
		t.Fatal("finished scanner still reports a pair")
	}
	bad := NewScanner([]byte("a=b"), false)
	if bad.Next() || bad.Finished() {
		t.Fatal("truncated message reported as finished")
	}
}

// A megabyte-long value is scanned in one pass and refused at its NUL.
func TestScannerLongValue(t *testing.T) {
	v := strings.Repeat("A", 1<<20)
	got, err := scanAll([]byte("k="+v+"\x01\x01"), false)
	if err != nil || len(got) != 1 || len(got[0].v) != 1<<20 {
		t.Fatalf("long value: %v", err)
	}
	if _, err := scanAll([]byte("k="+v+"\x00\x01\x01"), false); !errors.Is(err, ErrBadValue) {
		t.Fatalf("NUL after long value: %v", err)
	}
}

func TestValidValue(t *testing.T) {
	for _, s := range []string{"", "a", "Bearer x", "a\tb\r\n", "~!@#$%^&*()"} {
		if !ValidValue(s, false) {
			t.Errorf("ValidValue(%q) = false", s)
		}
	}
	for _, s := range []string{"\x01", "a\x00", "\x7f", "\u00e9"} {
		if ValidValue(s, false) {
			t.Errorf("ValidValue(%q) = true", s)
		}
	}
	if !ValidValue("\u00e9", true) || ValidValue("\xff", true) {
		t.Error("UTF-8 handling")
	}
	if Printable("a\tb") || !Printable("a b") {
		t.Error("Printable")
	}
}

func TestParseBearer(t *testing.T) {
	good := map[string]string{
		"Bearer abc":          "abc",
		"bearer abc":          "abc",
		"BEARER abc":          "abc",
		"Bearer   abc":        "abc",
		"Bearer a-b.c_d~e+f/": "a-b.c_d~e+f/",
		"Bearer dG9rZW4=":     "dG9rZW4=",
		"Bearer dG9rZW==":     "dG9rZW==",
	}
	for in, want := range good {
		tok, err := ParseBearer([]byte(in))
		if err != nil || string(tok) != want {
			t.Errorf("ParseBearer(%q) = %q, %v; want %q", in, tok, err, want)
		}
	}
	bad := map[string]error{
		"":               ErrNoCredentials,
		"Basic abc":      ErrNotBearer,
		"Bearerabc":      ErrNotBearer,
		" Bearer abc":    ErrNotBearer,
		"Bearer":         ErrBadToken,
		"Bearer ":        ErrBadToken,
		"Bearer a b":     ErrBadToken,
		"Bearer a=b":     ErrBadToken,
		"Bearer =":       ErrBadToken,
		"Bearer abc ":    ErrBadToken,
		"Bearer a\tb":    ErrBadToken,
		"Bearer abc\r\n": ErrBadToken,
	}
	for in, want := range bad {
		if _, err := ParseBearer([]byte(in)); !errors.Is(err, want) {
			t.Errorf("ParseBearer(%q) err = %v, want %v", in, err, want)
		}
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		in   string
		want Error
	}{
		{`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}` + "\n",
			Error{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}},
		{` {"status":401}`, Error{Status: "401"}},
		{`{"status":null,"scope":"s","extra":[1,2]}`, Error{Scope: "s"}},
		{`{"status":"invalid_token","openid-configuration":"https://example.com/.well-known/openid-configuration"}`,
			Error{Status: "invalid_token", OpenIDConfiguration: "https://example.com/.well-known/openid-configuration"}},
		{`{}`, Error{}},
	}
	for _, tt := range tests {
		got, err := ParseError([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("ParseError(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "\n", "null", `"x"`, "[]", "401", "{", `{"status":"4`, `{"status":true}`,
		`{"status":{}}`, `{"a":1} x`, "\x01", "not json"} {
		if _, err := ParseError([]byte(in)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("ParseError(%q) err = %v, want ErrNotJSON", in, err)
		}
	}
}

func TestMarshal(t *testing.T) {
	e := Error{Status: "400", Schemes: "Bearer", Scope: "https://mail.google.com/"}
	if got := string(MarshalXOAUTH2(e)); got != `{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}` {
		t.Errorf("MarshalXOAUTH2 = %s", got)
	}
	if got := string(MarshalXOAUTH2(Error{Status: "401"})); got != `{"status":"401","schemes":"","scope":""}` {
		t.Errorf("MarshalXOAUTH2 empty members = %s", got)
	}
	ob := Error{Status: "invalid_token", Scope: "example_scope", OpenIDConfiguration: "https://example.com/.well-known/openid-configuration"}
	if got := string(MarshalOAuthBearer(ob)); got != `{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}` {
		t.Errorf("MarshalOAuthBearer = %s", got)
	}
	if got := string(MarshalOAuthBearer(Error{Status: "x", Scope: "a&b<c>"})); got != `{"status":"x","scope":"a&b<c>"}` {
		t.Errorf("MarshalOAuthBearer escapes: %s", got)
	}
	// Round trip, including characters JSON must escape.
	odd := Error{Status: "s\"\\\n\x01", Schemes: "\u00e9", Scope: "q", OpenIDConfiguration: "o"}
	back, err := ParseError(MarshalOAuthBearer(odd))
	if err != nil || back != odd {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if !bytes.HasPrefix(MarshalXOAUTH2(odd), []byte(`{"status":`)) {
		t.Error("XOAUTH2 object does not start with status")
	}
}

func TestValidToken(t *testing.T) {
	for _, s := range []string{"a", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "eyJ0.eyJ.sig-_", "abc==", "+/~"} {
		if !ValidToken(s) {
			t.Errorf("ValidToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", "=", "a b", "a=b", "a\x01", "a,b", "\u00e9"} {
		if ValidToken(s) {
			t.Errorf("ValidToken(%q) = true", s)
		}
	}
}

func TestTokenTable(t *testing.T) {
	if len(tokenTable) != 256 {
		t.Fatalf("table length %d", len(tokenTable))
	}
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-._~+/", b) >= 0
		if tokenChar(b) != want {
			t.Errorf("tokenChar(%#x) = %v", c, !want)
		}
	}
}
