package providers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

var parseNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseExecOutput(t *testing.T) {
	t.Parallel()
	ok := []struct {
		in     string
		token  string
		expiry time.Time
	}{
		{"abc.DEF-123_~+/=\n", "abc.DEF-123_~+/=", time.Time{}},
		{"\n\n  tok  \r\nmore\n", "tok", time.Time{}},
		{`{"access_token":"t","expires_in":60.5}`, "t", parseNow.Add(60500 * time.Millisecond)},
		{`{"access_token":"t","expires_in":null,"expires_at":null,"expiry":"2026-03-01T12:01:00.5Z"}`, "t", parseNow.Add(60500 * time.Millisecond)},
		{`{"access_token":"t","expires_at":"1772366460"}`, "t", time.Unix(1772366460, 0)},
		{`{"access_token":"t","token_type":""}`, "t", time.Time{}},
	}
	for _, c := range ok {
		tok, reason := parseExecOutput([]byte(c.in), parseNow)
		if reason != "" {
			t.Errorf("%q: %s", c.in, reason)
			continue
		}
		if tok.AccessToken != c.token || !tok.Expiry.Equal(c.expiry) || tok.TokenType != "Bearer" {
			t.Errorf("%q: got %q %v %q", c.in, tok.AccessToken, tok.Expiry, tok.TokenType)
		}
	}
	bad := []string{
		"", "   \n", "\xc3\x28", "a b", "tök",
		"{", "{}", `{"access_token":""}`, `{"access_token":"a b"}`,
		`{"access_token":"t","expires_in":"soon"}`, `{"access_token":"t","expires_in":0}`,
		`{"access_token":"t","expires_at":"yesterday"}`, `{"access_token":"t","expires_at":-1}`,
		`{"access_token":"t","expires_at":1e300}`, `{"access_token":"t","expiry":"2020-01-01T00:00:00Z"}`,
		`{"access_token":"t","expiry":true}`, `{"access_token":"t","expires_in":"NaN"}`,
		`{"access_token":"t","expires_in":"Inf"}`, `{"access_token":"t"} trailing`,
		`{"access_token":"t","token_type":"MAC"}`, `{"access_token":["t"]}`,
	}
	for _, in := range bad {
		if tok, reason := parseExecOutput([]byte(in), parseNow); reason == "" {
			t.Errorf("%q accepted as %q", in, tok.AccessToken)
		}
	}
}

func TestSanitizeStderr(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"error: invalid_grant\n", "error: invalid_grant"},
		{"line one\n\nline\ttwo\r\n", "line one | line two"},
		{"Authorization: Bearer ya29.a0AfH6SMBx1y2z3\n", "Authorization: Bearer [REDACTED]"},
		{`{"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJhdWQiOiJodHRw.c2lnbmF0dXJl"}`, `{"access_token":"[REDACTED]"}`},
		{"refresh_token=1//0gAbCdEfGhIjKlMnOp&x=1", "[REDACTED]&x=1"},
		{"path /usr/local/share/oauth2ms/config.json missing", "path /usr/local/share/oauth2ms/config.json missing"},
		{"\x1b[31mred\x1b[0m \x00nul \u202ebidi", "[31mred[0m nul \u202ebidi"},
		{"\xff\xfe bad utf8", "\uFFFD bad utf8"},
		{"see ~/.config/oauth2ms/config2.yaml", "see ~/.config/oauth2ms/config2.yaml"},
		{"//c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OQ==", "[REDACTED]"},
	}
	for _, c := range cases {
		if got := sanitizeStderr([]byte(c.in), 256); got != c.want {
			t.Errorf("sanitizeStderr(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("word ", 1000)
	if got := sanitizeStderr([]byte(long), 50); utf8.RuneCountInString(got) != 51 || !strings.HasSuffix(got, "…") {
		t.Errorf("long excerpt %q", got)
	}
}

// execTokenCandidate returns what a parser could take as the token in out,
// for the hygiene check of FuzzParseExecOutput.
func execTokenCandidate(out []byte) string {
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var m map[string]any
		if json.Unmarshal(trimmed, &m) == nil {
			if s, ok := m["access_token"].(string); ok {
				return s
			}
		}
		return ""
	}
	line, _, _ := bytes.Cut(trimmed, []byte("\n"))
	return string(bytes.TrimSpace(line))
}

func FuzzParseExecOutput(f *testing.F) {
	for _, s := range []string{
		"ya29.a0AfH6SMBtoken\n",
		"tok\r\nline2",
		`{"access_token":"eyJ.eyJ.sig","token_type":"Bearer","expires_in":3599}`,
		`{"access_token":"t","expires_in":"3600"}`,
		`{"access_token":"t","expires_at":1772366460}`,
		`{"access_token":"t","expiry":"2026-03-01T13:00:00Z"}`,
		`{"access_token":"t","expires_at":"2026-03-01T13:00:00.123456789+02:00"}`,
		`{"access_token":"t","expires_in":1e309}`,
		`{"access_token":"t","expires_at":-9223372036854775808}`,
		`{"access_token":"t","expiry":"9999-12-31T23:59:59Z"}`,
		"\xff\x00\x01garbage",
		"",
		"{",
		`{"access_token":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		tok, reason := parseExecOutput(out, parseNow)
		if reason != "" {
			if tok != nil {
				t.Fatal("token and reason both set")
			}
			if c := execTokenCandidate(out); len(c) >= 16 && strings.Contains(reason, c) {
				t.Fatalf("reason %q quotes the token", reason)
			}
			if len(reason) > 200 {
				t.Fatalf("reason of %d bytes", len(reason))
			}
			return
		}
		if checkTokenText([]byte(tok.AccessToken)) != "" {
			t.Fatalf("accepted token %q", tok.AccessToken)
		}
		if tok.TokenType != "Bearer" {
			t.Fatalf("token type %q", tok.TokenType)
		}
		if !tok.Expiry.IsZero() && (!tok.Expiry.After(parseNow) || tok.Expiry.Sub(parseNow) > maxExecLifetime) {
			t.Fatalf("expiry %v out of range", tok.Expiry)
		}
	})
}

func FuzzSanitizeStderr(f *testing.F) {
	f.Add([]byte("error: Bearer ya29.a0AfH6SMBx1y2z3 rejected\n"))
	f.Add([]byte("\x1b[31m\xff\xfe\x00\u2028x"))
	f.Add([]byte(strings.Repeat("a1", 600)))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := sanitizeStderr(in, 64)
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
		if n := utf8.RuneCountInString(s); n > 65 {
			t.Fatalf("%d runes", n)
		}
		for _, r := range s {
			if r != ' ' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
				t.Fatalf("control character %U in %q", r, s)
			}
		}
		// No credential-like run survives (redacting is idempotent).
		if redactWords(strings.TrimSuffix(s, "…")) != strings.TrimSuffix(s, "…") {
			t.Fatalf("credential-like word left in %q", s)
		}
	})
}
