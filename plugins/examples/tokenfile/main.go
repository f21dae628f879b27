// Command tokenfile is a saslkit token-source plugin that serves OAuth 2.0
// access tokens from a JSON file another program keeps up to date (a
// cron job, a sidecar that talks to the identity provider). Its only
// argument is the file:
//
//	{
//	  "alice@example.com": {"access_token": "ya29.…", "expiry": "2026-01-02T15:04:05Z"},
//	  "bob@example.com":   {"access_token": "…"}
//	}
//
// The file is read again whenever it changes. A token the host reports as
// rejected is not handed out again until the file holds a new one; until
// then the host gets providers.ErrNoToken. An account the file does not
// hold gets providers.ErrReauthRequired. The file should be readable by
// its owner only.
//
// Build it, record its checksum and open it from a host:
//
//	go build -o tokenfile ./plugins/examples/tokenfile
//	sum=$(sha256sum tokenfile | cut -d' ' -f1)
//
//	p, err := plugins.Open(ctx, "./tokenfile", &plugins.Options{Checksum: sum, Args: []string{"/run/tokens.json"}})
//	tokens := p.TokenSource("alice@example.com")
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

type entry struct {
	AccessToken string    `json:"access_token"`
	Expiry      time.Time `json:"expiry"`
}

// file serves the tokens of one JSON file.
type file struct {
	path string

	mu       sync.Mutex
	modTime  time.Time
	size     int64
	tokens   map[string]entry
	rejected map[string]string // account → rejected access token
}

func (f *file) reload() error {
	st, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	if f.tokens != nil && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	var tokens map[string]entry
	if err := json.Unmarshal(data, &tokens); err != nil {
		// Never quote the file: it holds tokens.
		return fmt.Errorf("tokenfile: %s is not a JSON object of tokens", f.path)
	}
	f.tokens, f.modTime, f.size = tokens, st.ModTime(), st.Size()
	return nil
}

// source is the token source of one account.
type source struct {
	f       *file
	account string
}

func (s source) Token(ctx context.Context) (*oauth2.Token, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if err := s.f.reload(); err != nil {
		return nil, err
	}
	e, ok := s.f.tokens[s.account]
	if !ok || e.AccessToken == "" {
		return nil, fmt.Errorf("%w: no token for %s in %s", providers.ErrReauthRequired, s.account, s.f.path)
	}
	if s.f.rejected[s.account] == e.AccessToken {
		return nil, fmt.Errorf("%w: the token for %s was rejected and not yet replaced", providers.ErrNoToken, s.account)
	}
	if !e.Expiry.IsZero() && time.Now().After(e.Expiry) {
		return nil, fmt.Errorf("%w: the token for %s expired at %s", providers.ErrTokenExpired, s.account, e.Expiry.Format(time.RFC3339))
	}
	return &oauth2.Token{AccessToken: e.AccessToken, TokenType: "Bearer", Expiry: e.Expiry}, nil
}

func (s source) Invalidate(tok *oauth2.Token) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.rejected[s.account] = tok.AccessToken
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tokenfile TOKENS.json (run by a saslkit host)")
		os.Exit(2)
	}
	f := &file{path: os.Args[1], rejected: map[string]string{}}
	plugins.Serve(&plugins.ServeConfig{
		Name:    "tokenfile",
		Version: "1",
		TokenSourceFor: func(_ context.Context, account string, _ []string) (sasl.TokenSource, error) {
			return source{f: f, account: account}, nil
		},
	})
}
