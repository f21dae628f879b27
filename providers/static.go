package providers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// StaticSource hands out one fixed token. It implements sasl.TokenSource and
// Fetcher. Create it with Static or StaticToken.
type StaticSource struct {
	tok *oauth2.Token
	now func() time.Time
}

var (
	_ sasl.TokenSource = (*StaticSource)(nil)
	_ Fetcher          = (*StaticSource)(nil)
)

// Static returns a source that always hands out tok. If tok has an Expiry,
// it is respected: once it has passed, Token returns an error wrapping
// ErrTokenExpired instead of the token. A zero Expiry means the token does
// not expire. A nil token or an empty access token makes Token return
// ErrNoToken. The token is copied; later changes to tok have no effect.
func Static(tok *oauth2.Token) *StaticSource {
	s := &StaticSource{now: time.Now}
	if tok != nil && tok.AccessToken != "" {
		t := *tok
		if t.TokenType == "" {
			t.TokenType = "Bearer"
		}
		s.tok = &t
	}
	return s
}

// StaticToken returns a source that always hands out the bearer access
// token access, with no known expiry.
func StaticToken(access string) *StaticSource {
	return Static(&oauth2.Token{AccessToken: access, TokenType: "Bearer"})
}

// Token returns the token, or an error once its expiry has passed.
func (s *StaticSource) Token(ctx context.Context) (*oauth2.Token, error) {
	if s.tok == nil {
		return nil, fmt.Errorf("%w: static token is empty", ErrNoToken)
	}
	if !s.tok.Expiry.IsZero() && !s.now().Before(s.tok.Expiry) {
		return nil, fmt.Errorf("%w: static token expired at %s", ErrTokenExpired, s.tok.Expiry.UTC().Format(time.RFC3339))
	}
	return s.tok, nil
}

// Fetch is Token, so that a StaticSource can stand where a Fetcher is
// expected.
func (s *StaticSource) Fetch(ctx context.Context) (*oauth2.Token, error) { return s.Token(ctx) }

// Format prints the source without its token.
func (s *StaticSource) Format(f fmt.State, verb rune) {
	desc := "providers.StaticSource{token=none}"
	if s.tok != nil {
		desc = "providers.StaticSource{token=" + redact.Placeholder
		if !s.tok.Expiry.IsZero() {
			desc += " expiry=" + s.tok.Expiry.UTC().Format(time.RFC3339)
		}
		desc += "}"
	}
	redact.Format(f, verb, desc)
}

// String describes the source without its token.
func (s *StaticSource) String() string { return fmt.Sprint(s) }
