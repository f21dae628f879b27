package oauthbearer

import (
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// newTable returns a verifier that accepts token for user and rejects every
// other token with an RFC 6750 invalid_token.
func newTable(user, token string) *mechtest.TokenTable {
	return mechtest.NewTokenTable(user, token, sasl.TokenError{Status: "invalid_token", Schemes: "bearer mac", Scope: "https://mail.example.com/"})
}

// assertDoneForever fails unless the finished server s accepts nothing more.
func assertDoneForever(t *testing.T, s sasl.Server) {
	t.Helper()
	mechtest.AssertDone(t, s, []byte{1}, validIR())
}
