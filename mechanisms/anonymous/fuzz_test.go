package anonymous

import (
	"context"
	"errors"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// FuzzServerNext sends an arbitrary trace, with and without an initial
// response. Invariants: no panic; the verifier sees only valid traces; the
// client accepts exactly the traces the server accepts; failures are typed;
// after done every Next fails with ErrDone.
func FuzzServerNext(f *testing.F) {
	for _, s := range []string{"", "sirhc", "fred@example.com", "a\x00b", "\xff", "é"} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, msg []byte, ir bool) {
		v := sasl.AnonymousVerifierFunc(func(_ context.Context, trace string) error {
			if !utf8.ValidString(trace) || utf8.RuneCountInString(trace) > MaxTraceChars {
				t.Fatalf("verifier got %q", trace)
			}
			for _, r := range trace {
				if unicode.IsControl(r) {
					t.Fatalf("verifier got a control character")
				}
			}
			return nil
		})
		s := NewServer(context.Background(), v)
		err := mechtest.SendOne(t, s, msg, ir)
		id, ok := s.Identity()
		if ok != (err == nil) || (ok && id.Username != Username) {
			t.Fatal(id, ok, err)
		}
		if err != nil && !errors.Is(err, sasl.ErrMalformed) {
			t.Fatalf("untyped failure %v", err)
		}
		if _, _, cerr := NewClient(string(msg)).Start(); (cerr == nil) != ok {
			t.Fatalf("client and server disagree on %q: %v vs %v", msg, cerr, err)
		}
		mechtest.AssertDone(t, s, msg)
	})
}
