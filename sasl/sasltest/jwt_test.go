package sasltest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestParseJWT(t *testing.T) {
	key, other := oauthTestKeys(t)
	tok := signTestJWT(t, key, map[string]any{"alg": "RS256", "kid": "k"}, map[string]any{
		"iss": "a", "aud": []string{"x", "y"}, "exp": 1700000000.5, "iat": 1700000000,
	})
	jt, err := parseJWT(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := jt.verifyRS256(&key.PublicKey, "k"); err != nil {
		t.Fatal(err)
	}
	if err := jt.verifyRS256(&key.PublicKey, "other"); err == nil {
		t.Error("kid mismatch accepted")
	}
	if err := jt.verifyRS256(&other.PublicKey, ""); err == nil {
		t.Error("wrong key accepted")
	}
	if !jt.Claims.hasAudience("y") || jt.Claims.hasAudience("z") {
		t.Error("aud array")
	}
	if exp, ok := jt.Claims.time("exp"); !ok || !exp.Equal(time.Unix(1700000000, 5e8)) {
		t.Errorf("fractional exp: %v %v", exp, ok)
	}
	if iss, _ := jt.Claims.string("iss"); iss != "a" {
		t.Error("iss")
	}

	// PS256 is accepted too.
	jt.Header.Alg = "PS256"
	if err := jt.verifyRS256(&key.PublicKey, ""); err == nil {
		t.Error("PKCS#1 v1.5 signature verified as PSS")
	}

	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	bad := []string{
		"",
		"a.b",
		"a.b.c.d",
		parts[0] + "." + parts[1] + ".",
		"." + parts[1] + "." + parts[2],
		parts[0] + "=." + parts[1] + "." + parts[2],          // padding
		parts[0] + "." + parts[1] + "." + parts[2] + "+",     // not base64url
		enc([]byte(`[1]`)) + "." + parts[1] + "." + parts[2], // header not an object
		enc([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + enc([]byte(`{"a":1} {}`)) + "." + parts[2],
		parts[0] + "." + enc([]byte(`null`)) + "." + parts[2],
		strings.Repeat("a", maxJWTSize+1),
	}
	for _, b := range bad {
		if _, err := parseJWT(b); err == nil {
			t.Errorf("parseJWT(%.40q) accepted", b)
		}
	}
	// crit must fail verification (RFC 7515 §4.1.11).
	crit := signTestJWT(t, key, map[string]any{"alg": "RS256", "crit": []string{"exp"}}, map[string]any{"iss": "a"})
	jt, err = parseJWT(crit)
	if err != nil {
		t.Fatal(err)
	}
	if jt.verifyRS256(&key.PublicKey, "") == nil {
		t.Error("crit header accepted")
	}
	for _, v := range []any{-1, 1 << 50, "1", 1e300} {
		jt, err := parseJWT(signTestJWT(t, key, map[string]any{"alg": "RS256"}, map[string]any{"exp": v}))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := jt.Claims.time("exp"); ok {
			t.Errorf("exp %v accepted", v)
		}
	}
}

func FuzzParseJWT(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	signed := signTestJWT(f, key, map[string]any{"alg": "RS256", "kid": "k", "x5t": "AAAA"}, map[string]any{"iss": "a", "aud": "b", "exp": 1, "iat": 0.5, "scope": "s"})
	f.Add(signed)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhIn0.")
	f.Add("a.b.c")
	f.Add("e30.e30.e30")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjFlMzA4fQ.AA")
	f.Fuzz(func(t *testing.T, s string) {
		jt, err := parseJWT(s)
		if err != nil {
			return
		}
		if jt.Header.Alg == "" || jt.Claims == nil {
			t.Fatal("parsed without alg or claims")
		}
		if jt.signingInput+"."+base64.RawURLEncoding.EncodeToString(jt.signature) != s {
			t.Fatal("signing input and signature do not rebuild the input")
		}
		if jt.verifyRS256(&key.PublicKey, "k") == nil && s != signed {
			t.Fatal("a signature verified that the key did not make")
		}
		_, _ = jt.Claims.time("exp")
		_, _ = jt.Claims.string("iss")
		_ = jt.Claims.hasAudience("b")
	})
}
