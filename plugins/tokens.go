package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// TokenSource returns a token source for account that fetches tokens from
// the plugin, behind a providers.Cache (Options.Cache): cached tokens are
// served without a call, refreshed ahead of expiry, one fetch at a time.
// scopes are passed to the plugin; none means its default. The same source
// is returned for the same account and scopes.
//
// The source implements sasl.TokenInvalidator: Invalidate drops the cached
// token and tells the plugin. A plugin that crashed or timed out is
// restarted by the cache's retry; a plugin that serves no tokens fails
// every fetch with ErrUnsupported.
func (p *Plugin) TokenSource(account string, scopes ...string) sasl.TokenSource {
	key := account + "\x00" + strings.Join(scopes, " ")
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.tokens[key]; ok {
		return c
	}
	var co providers.CacheOptions
	if p.opts.Cache != nil {
		co = *p.opts.Cache
	}
	if co.Logger == nil {
		co.Logger = p.log
	}
	if co.Name == "" {
		co.Name = account
	}
	c := &cachedTokens{Cache: providers.NewCache(&remoteTokens{p: p, account: account, scopes: append([]string(nil), scopes...)}, &co), p: p}
	p.tokens[key] = c
	return c
}

// cachedTokens is the cache in front of a plugin's tokens. It refuses to
// serve once the plugin is closed, even a token it still holds.
type cachedTokens struct {
	*providers.Cache
	p *Plugin
}

// Token returns the cached token, or fetches one from the plugin; it fails
// with ErrClosed after Close.
func (c *cachedTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	if c.p.done.Load() {
		return nil, fmt.Errorf("%w: %s", ErrClosed, c.p.name)
	}
	return c.Cache.Token(ctx)
}

// remoteTokens fetches tokens from the plugin: a providers.Fetcher and a
// sasl.TokenInvalidator.
type remoteTokens struct {
	p       *Plugin
	account string
	scopes  []string
}

var (
	_ providers.Fetcher     = (*remoteTokens)(nil)
	_ sasl.TokenInvalidator = (*remoteTokens)(nil)
)

// Fetch asks the plugin for a token.
func (r *remoteTokens) Fetch(ctx context.Context) (*oauth2.Token, error) {
	if !r.p.info.GetTokenSource() {
		return nil, fmt.Errorf("%w: %s serves no tokens", ErrUnsupported, r.p.name)
	}
	var resp *pb.TokenResponse
	err := r.p.call(ctx, func(ctx context.Context, inst *instance) error {
		var err error
		resp, err = pb.NewTokenSourceClient(inst.conn).Token(ctx, &pb.TokenRequest{Account: r.account, Scopes: r.scopes})
		return err
	})
	if err != nil {
		// A crash, a timeout or a restart in progress is worth a retry;
		// the cache's retry policy spaces the attempts.
		if errors.Is(err, ErrExited) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrRestarting) {
			return nil, providers.Transient(err)
		}
		return nil, err
	}
	tok := tokenFromWire(resp.GetAccessToken(), resp.GetTokenType(), resp.GetExpiryUnixMillis())
	if tok == nil {
		return nil, fmt.Errorf("%w: %s returned an empty access token", ErrProtocol, r.p.name)
	}
	r.p.secrets.add(tok.AccessToken)
	if sc := resp.GetScopes(); len(sc) > 0 {
		tok = tok.WithExtra(map[string]any{"scope": strings.Join(sc, " ")})
	}
	return tok, nil
}

// Invalidate tells the plugin that tok was rejected. It waits at most
// Options.CallTimeout; a failure is logged.
func (r *remoteTokens) Invalidate(tok *oauth2.Token) {
	if tok == nil || !r.p.info.GetTokenSource() {
		return
	}
	err := r.p.call(context.Background(), func(ctx context.Context, inst *instance) error {
		_, err := pb.NewTokenSourceClient(inst.conn).Invalidate(ctx, &pb.InvalidateRequest{
			Account: r.account, Scopes: r.scopes, AccessToken: tok.AccessToken})
		return err
	})
	if err != nil {
		r.p.log.Warn("invalidating a token in the plugin failed", "account", r.account, "error", err.Error())
	}
}
