package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// startDemo creates the temporary directory, starts the servers and
// registers the demo's OAuth client.
func startDemo(cfg *demoConfig, out *demoOut) (d *demo, err error) {
	d = &demo{cfg: cfg, out: out}
	defer func() {
		if err != nil {
			d.close()
			d = nil
		}
	}()
	d.tmp, err = os.MkdirTemp("", "saslkit-demo-")
	if err != nil {
		return d, fmt.Errorf("creating a temporary directory: %w", err)
	}
	d.ms, err = sasltest.NewMailServer(&sasltest.MailOptions{
		Profile:    sasltest.ProfileGmail,
		ListenHost: "127.0.0.1",
		// No password: the account opens only with a token.
		Users: []sasltest.MailUser{{Address: demoUser}},
	})
	if err != nil {
		return d, fmt.Errorf("starting the mail servers: %w", err)
	}
	d.oauth = d.ms.OAuth()
	d.clientSecret = rand.Text()
	d.secret(d.clientSecret)
	if err := d.oauth.AddClient(sasltest.OAuthClient{ID: demoClientID, Secret: d.clientSecret, LoopbackRedirect: true}); err != nil {
		return d, fmt.Errorf("registering the OAuth client: %w", err)
	}
	d.conf = &oauth2.Config{
		ClientID:     demoClientID,
		ClientSecret: d.clientSecret,
		Endpoint:     d.oauth.Endpoint(),
		Scopes:       []string{sasltest.GmailScope},
	}
	// A transport of its own, without proxy, whose idle connections are
	// closed at the end.
	d.http = &http.Client{Transport: &http.Transport{}, Timeout: demoStepTimeout}
	d.store = providers.NewFileStore(filepath.Join(d.tmp, "tokens"), nil)
	return d, nil
}

// close stops the servers and removes the temporary directory. It may be
// called more than once.
func (d *demo) close() {
	if d.http != nil {
		d.http.CloseIdleConnections()
	}
	if d.ms != nil {
		_ = d.ms.Close()
		d.ms = nil
	}
	if d.tmp != "" {
		_ = os.RemoveAll(d.tmp)
		d.tmp = ""
	}
}

// secret tells the test hook about a secret the demo handles.
func (d *demo) secret(s string) {
	if d.cfg.secret != nil && s != "" {
		d.cfg.secret(s)
	}
}

// newTokenSource puts a refresh-token fetcher for account in store behind
// a cache, the way a mail client keeps its tokens.
func (d *demo) newTokenSource(conf *oauth2.Config, store providers.TokenStore, account string) (*providers.Cache, error) {
	f, err := providers.NewRefreshFetcher(conf, store, account, &providers.RefreshOptions{HTTPClient: d.http})
	if err != nil {
		return nil, err
	}
	return providers.NewCache(&observedFetcher{f: f, secret: d.secret}, &providers.CacheOptions{Name: account}), nil
}

// credentials returns the credentials of demoUser, with the token source: the one the
// authorize step set up or, when that step failed, one started from a
// refresh token the test server issues directly, so that the steps after
// it still run.
func (d *demo) credentials(ctx context.Context) (*sasl.Credentials, error) {
	if d.creds != nil {
		return d.creds, nil
	}
	rt, err := d.oauth.SeedRefreshToken(demoClientID, demoUser, sasltest.GmailScope)
	if err != nil {
		return nil, fmt.Errorf("issuing a refresh token: %w", err)
	}
	d.secret(rt)
	if err := d.store.Save(ctx, demoUser, nil, &oauth2.Token{RefreshToken: rt}); err != nil {
		return nil, err
	}
	if err := d.useTokens(); err != nil {
		return nil, err
	}
	d.out.detail("note", "the authorize step failed: using a refresh token issued by the test server instead")
	return d.creds, nil
}

// useTokens sets the client's credentials from the token store.
func (d *demo) useTokens() error {
	tokens, err := d.newTokenSource(d.conf, d.store, demoUser)
	if err != nil {
		return err
	}
	d.tokens = tokens
	d.creds = &sasl.Credentials{Username: demoUser, TokenSource: tokens}
	return nil
}

// observedFetcher passes every token its fetcher obtains to the secret
// hook (tests check that none is printed).
type observedFetcher struct {
	f      *providers.RefreshFetcher
	secret func(string)
}

func (o *observedFetcher) Fetch(ctx context.Context) (*oauth2.Token, error) {
	tok, err := o.f.Fetch(ctx)
	if tok != nil {
		o.secret(tok.AccessToken)
		o.secret(tok.RefreshToken)
	}
	return tok, err
}

// Invalidate passes a rejected token on to the fetcher, so that it is
// never adopted again.
func (o *observedFetcher) Invalidate(tok *oauth2.Token) { o.f.Invalidate(tok) }

// shortToken shows a token the way the demo prints tokens: its
// provider's prefix and four more characters, never the whole value.
func shortToken(tok string) string {
	if tok == "" {
		return "(none)"
	}
	n := 4
	for _, p := range []string{"ya29.", "1//", "EwA", "M.C", "4/"} {
		if len(tok) > len(p) && tok[:len(p)] == p {
			n += len(p)
			break
		}
	}
	if len(tok) < 2*n {
		return "…"
	}
	return tok[:n] + "…"
}

// roundDuration rounds d for display: to the microsecond under a
// millisecond, the millisecond under a second, then the centisecond.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}
