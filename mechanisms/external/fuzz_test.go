package external

import (
	"context"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// FuzzServerNext sends an arbitrary authorization identity, with and without
// an initial response, to a server whose verifier admits "fred" acting as
// itself. Invariants: no panic; success only for an empty authzid or
// "fred", and then the identity is fred's; the verifier sees only valid
// identities; failures are typed; after done every Next fails with ErrDone.
func FuzzServerNext(f *testing.F) {
	for _, s := range []string{"", "fred@example.com", "fred", "fred\x00root", "\xff", "root"} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, msg []byte, ir bool) {
		v := sasl.ExternalVerifierFunc(func(_ context.Context, authzid string, _ *sasl.ConnState) (sasl.Identity, error) {
			if !utf8.ValidString(authzid) || len(authzid) > MaxAuthzidLen {
				t.Fatalf("verifier got %q", authzid)
			}
			for i := 0; i < len(authzid); i++ {
				if authzid[i] == 0 {
					t.Fatalf("verifier got NUL")
				}
			}
			if authzid != "" && authzid != "fred" {
				return sasl.Identity{}, sasl.ErrAuthFailed
			}
			return sasl.Identity{Username: "fred", Authzid: authzid}, nil
		})
		s := NewServer(context.Background(), v, nil)
		err := mechtest.SendOne(t, s, msg, ir)
		id, ok := s.Identity()
		if ok != (err == nil) {
			t.Fatal(ok, err)
		}
		if ok && (string(msg) != "" && string(msg) != "fred" || id.Username != "fred" || id.Authzid != string(msg)) {
			t.Fatalf("accepted %q as %+v", msg, id)
		}
		if err != nil && !errors.Is(err, sasl.ErrMalformed) && !errors.Is(err, sasl.ErrAuthFailed) {
			t.Fatalf("untyped failure %v", err)
		}
		mechtest.AssertDone(t, s, msg)
	})
}
