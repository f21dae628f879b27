package redisstore

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, tok := range []*oauth2.Token{
		{AccessToken: "a", TokenType: "Bearer", RefreshToken: "r", Expiry: time.UnixMilli(1_800_000_000_123)},
		{RefreshToken: "r-only"},
		{AccessToken: "a-only, no expiry"},
	} {
		d, err := encodeRecord(tok)
		if err != nil {
			t.Fatal(err)
		}
		got, v, err := decodeRecord("42", d)
		if err != nil {
			t.Fatal(err)
		}
		if v != 42 || versionOf(got) != 42 || got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken ||
			got.TokenType != tok.TokenType || !got.Expiry.Equal(tok.Expiry) {
			t.Fatalf("round trip changed the token (version %d)", v)
		}
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	for name, c := range map[string]struct{ v, d string }{
		"version zero":     {"0", `{"at":"a"}`},
		"version signed":   {"+1", `{"at":"a"}`},
		"version padded":   {"01", `{"at":"a"}`},
		"version empty":    {"", `{"at":"a"}`},
		"empty object":     {"1", `{}`},
		"null":             {"1", `null`},
		"array":            {"1", `[]`},
		"trailing":         {"1", `{"at":"a"} {}`},
		"unknown field":    {"1", `{"at":"a","x":1}`},
		"negative expiry":  {"1", `{"at":"a","exp":-5}`},
		"fractional exp":   {"1", `{"at":"a","exp":1.5}`},
		"not json":         {"1", `at=a`},
		"oversized record": {"1", `{"at":"` + strings.Repeat("a", maxRecord) + `"}`},
	} {
		if _, _, err := decodeRecord(c.v, []byte(c.d)); !errors.Is(err, providers.ErrCorruptStore) {
			t.Errorf("%s: %v, want ErrCorruptStore", name, err)
		}
	}
}

// decodeErrorRE is every message decodeRecord may return: fixed text,
// numbers and field names of the record, never the input.
var decodeErrorRE = regexp.MustCompile(`^providers: stored token data is malformed: (record version is not a positive integer|` +
	`token record is \d+ bytes, more than \d+|JSON syntax error at offset \d+|wrong JSON type for field "(at|tt|rt|exp)?"|` +
	`truncated JSON|invalid JSON|unknown field|trailing data after the token record|` +
	`token record has neither an access nor a refresh token|negative expiry in token record)$`)

// FuzzDecodeRecord feeds the decoder of what Load reads from Redis: it
// never panics, never quotes its input in an error, and what it accepts
// survives a round trip.
func FuzzDecodeRecord(f *testing.F) {
	f.Add("1", []byte(`{"at":"ya29.a","tt":"Bearer","rt":"1//r","exp":1800000000000}`))
	f.Add("7", []byte(`{"rt":"M.C123"}`))
	f.Add("9223372036854775807", []byte(`{"at":"x","exp":0}`))
	f.Add("1", []byte(`{"at":"a"}garbage`))
	f.Add("-1", []byte(`{"at":1}`))
	f.Add("1", []byte(`{"at":"\u0000\ud800","exp":1e3}`))
	f.Fuzz(func(t *testing.T, v string, d []byte) {
		tok, ver, err := decodeRecord(v, d)
		if err != nil {
			if !errors.Is(err, providers.ErrCorruptStore) || !decodeErrorRE.MatchString(err.Error()) {
				t.Fatalf("unexpected error %q", err)
			}
			return
		}
		if ver <= 0 || tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
			t.Fatalf("accepted an unusable record: version %d", ver)
		}
		d2, err := encodeRecord(tok)
		if err != nil {
			t.Fatal(err)
		}
		tok2, ver2, err := decodeRecord(v, d2)
		if err != nil || ver2 != ver || tok2.AccessToken != tok.AccessToken || tok2.RefreshToken != tok.RefreshToken ||
			tok2.TokenType != tok.TokenType || !tok2.Expiry.Equal(tok.Expiry) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
