//go:build linux

package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// fleetSource returns a TokenSource on its own Redis client and Store, as
// one process of a fleet would have.
func (e *fleetEnv) fleetSource(t *testing.T, account string, mode Unavailable) *providers.Cache {
	t.Helper()
	s := newTestStore(t, e.redis.client(t), &Options{Prefix: e.prefix, LeaseTTL: time.Second})
	cfg := &oauth2.Config{ClientID: fleetClientID, ClientSecret: fleetClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.oauth.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	c, err := s.TokenSource(cfg, account,
		&FetcherOptions{OnUnavailable: mode, Refresh: &providers.RefreshOptions{Now: e.now, AdoptMargin: 20 * time.Minute}},
		&providers.CacheOptions{Now: e.now, RefreshMargin: 5 * time.Minute, RefreshJitter: -1, MinValidity: 30 * time.Second,
			Retry: &providers.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRedisOutage stops Redis mid-run and brings it back with its data: the
// workers keep serving their still-valid tokens; at expiry the fail-closed
// worker reports ErrUnavailable while the fallback worker refreshes alone
// and writes its pair back once Redis returns, so the fleet carries on
// with one refresh per cycle and no refresh token reuse.
func TestRedisOutage(t *testing.T) {
	const lifetime = time.Hour
	e := newFleetEnv(t, lifetime)
	e.seed(t, 1, false)
	account := accountName(0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := e.fleetSource(t, account, FallbackLocal)
	b := e.fleetSource(t, account, FailClosed)
	t0a, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0b, err := b.Token(ctx)
	if err != nil || t0b.AccessToken != t0a.AccessToken {
		t.Fatalf("workers disagree before the outage: %v", err)
	}

	e.redis.stop(t)
	// Valid tokens are served without Redis.
	for _, c := range []*providers.Cache{a, b} {
		tok, err := c.Token(ctx)
		if err != nil || tok.AccessToken != t0a.AccessToken {
			t.Fatalf("valid cached token not served during the outage: %v", err)
		}
	}
	// Past expiry: the fail-closed worker reports the outage, the
	// fallback worker refreshes on its own.
	e.offset.Store(int64(lifetime + time.Minute))
	if _, err := b.Token(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("fail-closed worker during the outage: %v, want ErrUnavailable", err)
	} else {
		assertNoSecret(t, err.Error())
	}
	t1, err := a.Token(ctx)
	if err != nil {
		t.Fatalf("fallback worker during the outage: %v", err)
	}
	if info, ok := e.oauth.Lookup(t1.AccessToken); !ok || !info.Active || t1.AccessToken == t0a.AccessToken {
		t.Fatal("fallback refresh did not produce a new active token")
	}
	if n := e.oauth.Issued(sasltest.GrantRefreshToken); n != 1 {
		t.Fatalf("%d refreshes during the outage, want 1", n)
	}

	e.redis.restart(t)
	// The fallback worker writes its pair back on its own.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.store.Load(ctx, account)
		if err == nil && st.AccessToken == t1.AccessToken {
			if info, ok := e.oauth.Lookup(st.RefreshToken); !ok || !info.Active {
				t.Fatal("written-back refresh token is not live")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token refreshed during the outage was not written back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The fail-closed worker adopts it.
	tb, err := b.Token(ctx)
	if err != nil || tb.AccessToken != t1.AccessToken {
		t.Fatalf("fail-closed worker after the outage: %v (same token: %v)", err, err == nil && tb.AccessToken == t1.AccessToken)
	}
	// The next cycle is an ordinary one: one refresh, shared.
	e.offset.Store(int64(2 * (lifetime + time.Minute)))
	t2a, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t2b, err := b.Token(ctx)
	if err != nil || t2b.AccessToken != t2a.AccessToken {
		t.Fatalf("workers disagree after the outage: %v", err)
	}
	if got, reqs, reuse := e.oauth.Issued(sasltest.GrantRefreshToken), e.oauth.Requests(sasltest.GrantRefreshToken), e.oauth.ReuseDetected(); got != 2 || reqs != 2 || reuse != 0 {
		t.Fatalf("issued %d, requests %d, reuse %d; want 2 clean refreshes", got, reqs, reuse)
	}
}

// TestRedisLostBetweenRefreshAndSave stops Redis while the token endpoint
// holds the lease holder's refresh: the endpoint rotates the refresh token,
// the save fails, and the worker stores the new pair as soon as Redis is
// back, so that no other worker spends the revoked one.
func TestRedisLostBetweenRefreshAndSave(t *testing.T) {
	const lifetime = time.Hour
	e := newFleetEnv(t, lifetime)
	e.seed(t, 1, true)
	account := accountName(0)
	hold := make(chan struct{})
	taken := make(chan struct{}, 1)
	e.oauth.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultSlow, Grant: sasltest.GrantRefreshToken, Hold: hold, Taken: taken})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	a := e.fleetSource(t, account, FailClosed)
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := a.Token(ctx)
		done <- result{tok, err}
	}()
	select {
	case <-taken:
	case <-time.After(30 * time.Second):
		t.Fatal("no refresh request")
	}
	e.redis.stop(t)
	close(hold)
	r := <-done
	if r.err != nil {
		t.Fatalf("the refreshed token was not handed out: %v", r.err)
	}
	e.redis.restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.store.Load(ctx, account)
		if err == nil && st.AccessToken == r.tok.AccessToken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pair refreshed before the outage was not stored: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b := e.fleetSource(t, account, FailClosed)
	if tb, err := b.Token(ctx); err != nil || tb.AccessToken != r.tok.AccessToken {
		t.Fatalf("another worker did not adopt the stored pair: %v", err)
	}
	e.offset.Store(int64(lifetime + time.Minute))
	tb, err := b.Token(ctx)
	if err != nil {
		t.Fatalf("next refresh: %v", err)
	}
	ta, err := a.Token(ctx)
	if err != nil || ta.AccessToken != tb.AccessToken {
		t.Fatalf("workers disagree: %v", err)
	}
	if got, reuse := e.oauth.Issued(sasltest.GrantRefreshToken), e.oauth.ReuseDetected(); got != 2 || reuse != 0 {
		t.Fatalf("issued %d, reuse %d; want 2 clean refreshes", got, reuse)
	}
}
