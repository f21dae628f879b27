package xoauth2

import (
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// newTable returns a verifier that accepts token for user and rejects every
// other token as Google documents it.
func newTable(user, token string) *mechtest.TokenTable {
	return mechtest.NewTokenTable(user, token, sasl.TokenError{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"})
}

// assertDoneForever fails unless the finished server s accepts nothing more.
func assertDoneForever(t *testing.T, s sasl.Server) {
	t.Helper()
	mechtest.AssertDone(t, s, []byte{1}, validIR())
}
