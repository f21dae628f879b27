package providers

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/keyedlock"
	"github.com/saslkit/saslkit/internal/redact"
)

// TokenStore keeps one token (an access token and its refresh token) per
// account, shared by every provider and process that uses the same store.
// Implementations must be safe for concurrent use.
//
// Writes are compare-and-swap on the refresh token: a caller passes the
// token it based its change on (prev), and the write fails with ErrConflict
// if the stored refresh token is no longer prev's. This is what keeps a
// refresh token that another process rotated meanwhile from being
// overwritten or deleted.
//
// Lock serialises refreshes of one account across every user of the store
// (goroutines and, for shared stores, processes), so that only one of them
// spends a refresh token and the others adopt its result. It may be held
// across a token request, for up to a refresh timeout.
//
// The interface is small on purpose: a keyring, a secrets manager or Redis
// can implement it (Redis: a GET, a Lua script comparing the refresh token
// before SET or DEL, and SET NX PX with a random value for Lock).
type TokenStore interface {
	// Load returns the stored token for account, or an error wrapping
	// ErrNotFound.
	Load(ctx context.Context, account string) (*oauth2.Token, error)
	// Save stores tok for account. If prev is nil the write is
	// unconditional; otherwise it succeeds only if the stored refresh token
	// equals prev.RefreshToken (or nothing is stored and prev.RefreshToken
	// is empty), and fails with an error wrapping ErrConflict otherwise.
	// Save must be durable when it returns nil.
	Save(ctx context.Context, account string, prev, tok *oauth2.Token) error
	// Delete removes the token of account if its refresh token equals
	// prev.RefreshToken (unconditionally if prev is nil). It fails with
	// ErrConflict if a different token is stored, and succeeds if none
	// is.
	Delete(ctx context.Context, account string, prev *oauth2.Token) error
	// Lock acquires the refresh lock of account, waiting until it is free
	// or ctx ends. The returned function releases it; it is safe to call
	// more than once.
	Lock(ctx context.Context, account string) (unlock func(), err error)
}

// casMatch reports whether stored satisfies the precondition prev.
func casMatch(stored, prev *oauth2.Token) bool {
	if prev == nil {
		return true
	}
	storedRT := ""
	if stored != nil {
		storedRT = stored.RefreshToken
	}
	return subtle.ConstantTimeCompare([]byte(storedRT), []byte(prev.RefreshToken)) == 1
}

// copyToken returns a copy of tok with only its serialisable fields.
func copyToken(tok *oauth2.Token) *oauth2.Token {
	if tok == nil {
		return nil
	}
	return &oauth2.Token{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	}
}

// MemoryStore is a TokenStore in process memory, for tests, for short-lived
// programs and as a model for other implementations. The zero value is
// ready to use.
type MemoryStore struct {
	mu    sync.Mutex
	toks  map[string]*oauth2.Token
	locks keyedlock.Set
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load returns a copy of the stored token.
func (s *MemoryStore) Load(ctx context.Context, account string) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.toks[account]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, account)
	}
	return copyToken(tok), nil
}

// Save stores a copy of tok if the precondition prev holds.
func (s *MemoryStore) Save(ctx context.Context, account string, prev, tok *oauth2.Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tok == nil {
		return fmt.Errorf("%w: cannot save a nil token", ErrNoToken)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !casMatch(s.toks[account], prev) {
		return fmt.Errorf("%w: account %q", ErrConflict, account)
	}
	if s.toks == nil {
		s.toks = make(map[string]*oauth2.Token)
	}
	s.toks[account] = copyToken(tok)
	return nil
}

// Delete removes the token if the precondition prev holds.
func (s *MemoryStore) Delete(ctx context.Context, account string, prev *oauth2.Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.toks[account]
	if !ok {
		return nil
	}
	if !casMatch(cur, prev) {
		return fmt.Errorf("%w: account %q", ErrConflict, account)
	}
	delete(s.toks, account)
	return nil
}

// Lock acquires the in-process refresh lock of account.
func (s *MemoryStore) Lock(ctx context.Context, account string) (func(), error) {
	return s.locks.Lock(ctx, account)
}

// Format prints the store without its tokens.
func (s *MemoryStore) Format(f fmt.State, verb rune) {
	s.mu.Lock()
	n := len(s.toks)
	s.mu.Unlock()
	redact.Format(f, verb, "providers.MemoryStore{accounts="+strconv.Itoa(n)+"}")
}

// String describes the store without its tokens.
func (s *MemoryStore) String() string { return fmt.Sprint(s) }
