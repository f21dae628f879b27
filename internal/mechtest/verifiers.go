package mechtest

import (
	"context"
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
