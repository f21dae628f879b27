package providers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/sasl"
)

// OAuth2Source adapts an oauth2.TokenSource to Fetcher and sasl.TokenSource.
// Create it with FromOAuth2.
//
// oauth2.TokenSource.Token takes no context and may block for as long as
// its HTTP client lets it. OAuth2Source runs it in a goroutine and returns
// ctx.Err() as soon as the caller's ctx ends; the call goes on, and callers
// arriving meanwhile join it instead of starting another, so a hanging
// source never accumulates goroutines.
type OAuth2Source struct {
	src oauth2.TokenSource

	mu    sync.Mutex
	call  *flight      // the Token() call in progress, if any
	joins atomic.Int64 // callers that joined a call in progress (for tests)
}

var (
	_ sasl.TokenSource = (*OAuth2Source)(nil)
	_ Fetcher          = (*OAuth2Source)(nil)
)

// FromOAuth2 adapts src. The context the source was built with (for
// example by oauth2.Config.TokenSource) still governs its HTTP requests:
// x/oauth2 captures it at construction. Errors from the source are passed
// through TokenEndpointError, so an *oauth2.RetrieveError becomes an
// *OAuthError and never prints the response body.
//
// x/oauth2 sources usually cache (oauth2.ReuseTokenSource); wrap the
// result in NewCache anyway to get lock-free reads, early refresh and
// retries.
func FromOAuth2(src oauth2.TokenSource) *OAuth2Source {
	return &OAuth2Source{src: src}
}

// Fetch calls the source's Token, returning early if ctx ends.
func (s *OAuth2Source) Fetch(ctx context.Context) (*oauth2.Token, error) {
	if s.src == nil {
		return nil, fmt.Errorf("%w: nil oauth2.TokenSource", ErrNoToken)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	call := s.call
	if call == nil {
		call = &flight{done: make(chan struct{})}
		s.call = call
		go s.run(call)
	} else {
		s.joins.Add(1)
	}
	s.mu.Unlock()
	select {
	case <-call.done:
		return call.tok, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *OAuth2Source) run(call *flight) {
	defer func() {
		if r := recover(); r != nil {
			call.tok, call.err = nil, fmt.Errorf("providers: oauth2.TokenSource panicked (%T)", r)
		}
		s.mu.Lock()
		s.call = nil
		s.mu.Unlock()
		close(call.done)
	}()
	tok, err := s.src.Token()
	if err != nil {
		call.err = TokenEndpointError(err)
		return
	}
	if tok == nil || tok.AccessToken == "" {
		call.err = fmt.Errorf("%w: oauth2.TokenSource returned an empty token", ErrNoToken)
		return
	}
	call.tok = tok
}

// Token is Fetch.
func (s *OAuth2Source) Token(ctx context.Context) (*oauth2.Token, error) { return s.Fetch(ctx) }

// Format prints the adapter; it holds no secret of its own.
func (s *OAuth2Source) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte("providers.OAuth2Source{}"))
}

// ToOAuth2 adapts a sasl.TokenSource (a Cache, for example) to
// oauth2.TokenSource, for libraries that take one (oauth2.NewClient,
// Google API clients).
//
// oauth2.TokenSource.Token has no context parameter, so each call obtains
// one from newCtx: a function returning a fresh context and its cancel
// function, typically
//
//	func() (context.Context, context.CancelFunc) {
//		return context.WithTimeout(context.Background(), 30*time.Second)
//	}
//
// A nil newCtx means context.Background() with no deadline, in which case
// the source's own bounds (a Cache's RefreshTimeout) apply. The adapter
// stores no context. Each call returns a copy of the token, since x/oauth2
// modifies tokens it caches.
func ToOAuth2(src sasl.TokenSource, newCtx func() (context.Context, context.CancelFunc)) oauth2.TokenSource {
	return &toOAuth2{src: src, newCtx: newCtx}
}

type toOAuth2 struct {
	src    sasl.TokenSource
	newCtx func() (context.Context, context.CancelFunc)
}

func (t *toOAuth2) Token() (*oauth2.Token, error) {
	if t.src == nil {
		return nil, fmt.Errorf("%w: nil sasl.TokenSource", ErrNoToken)
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if t.newCtx != nil {
		ctx, cancel = t.newCtx()
	}
	defer cancel()
	tok, err := t.src.Token(ctx)
	if err != nil {
		return nil, err
	}
	// A copy: x/oauth2's ReuseTokenSource (used by oauth2.NewClient) writes
	// to the token it is given, and a Cache shares its token between
	// goroutines.
	cp := *tok
	return &cp, nil
}

// Format prints the adapter without any token.
func (t *toOAuth2) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte("providers.ToOAuth2{}"))
}
