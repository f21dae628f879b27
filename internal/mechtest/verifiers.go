package mechtest

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"

	"github.com/saslkit/saslkit/sasl"
)

// TokenTable is a sasl.TokenVerifier that accepts each listed token for its
// user and rejects every other token with a copy of Reject. It records every
// request and is safe for concurrent use.
type TokenTable struct {
	// Tokens maps a token to the user it belongs to.
	Tokens map[string]string
	// Reject is the error a refused token gets.
	Reject sasl.TokenError

	mu    sync.Mutex
	calls []sasl.TokenRequest
}

// NewTokenTable returns a table that knows one token.
func NewTokenTable(user, token string, reject sasl.TokenError) *TokenTable {
	return &TokenTable{Tokens: map[string]string{token: user}, Reject: reject}
}

// VerifyToken implements sasl.TokenVerifier. A done ctx fails the check
// with its error.
func (tt *TokenTable) VerifyToken(ctx context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
	tt.mu.Lock()
	tt.calls = append(tt.calls, req)
	tt.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return sasl.Identity{}, err
	}
	if u, ok := tt.Tokens[req.Token]; ok && u == req.Username {
		return sasl.Identity{Username: u}, nil
	}
	te := tt.Reject
	return sasl.Identity{}, &te
}

// Calls returns the requests seen so far.
func (tt *TokenTable) Calls() []sasl.TokenRequest {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]sasl.TokenRequest(nil), tt.calls...)
}

// PasswordTable is a sasl.PasswordVerifier over a fixed table. A user may act
// as itself and as the identities Authz lists for it. An unknown user is
// refused with an error wrapping sasl.ErrUnknownUser, a wrong password or a
// forbidden authzid with one wrapping sasl.ErrAuthFailed. It records its
// calls and is not safe for concurrent use.
type PasswordTable struct {
	// Passwords maps a user to its password.
	Passwords map[string]string
	// Authz lists, per user, the other identities it may act as.
	Authz map[string][]string
	// Err, when set, is returned instead of checking.
	Err error

	// Calls counts the calls; Last holds the authzid, username and password
	// of the last one.
	Calls int
	Last  [3]string
}

// VerifyPassword implements sasl.PasswordVerifier. It compares passwords in
// constant time.
func (pt *PasswordTable) VerifyPassword(_ context.Context, authzid, username, password string) (sasl.Identity, error) {
	pt.Calls++
	pt.Last = [3]string{authzid, username, password}
	if pt.Err != nil {
		return sasl.Identity{}, pt.Err
	}
	want, ok := pt.Passwords[username]
	if !ok {
		return sasl.Identity{}, fmt.Errorf("no user %q: %w", username, sasl.ErrUnknownUser)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return sasl.Identity{}, fmt.Errorf("wrong password for %q: %w", username, sasl.ErrAuthFailed)
	}
	if authzid != "" && authzid != username && !slices.Contains(pt.Authz[username], authzid) {
		return sasl.Identity{}, fmt.Errorf("%q may not act as %q: %w", username, authzid, sasl.ErrAuthFailed)
	}
	return sasl.Identity{Username: username, Authzid: authzid}, nil
}
