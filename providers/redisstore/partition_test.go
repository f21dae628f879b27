//go:build linux

package redisstore

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// cutProxy forwards TCP connections to a Redis server until it is cut:
// then it drops every connection and refuses new ones, as a network
// partition between one worker and Redis would.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

// setCut cuts (true) or heals (false) the link.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// partitionedWorker is a Fetcher and its Cache reaching Redis at addr.
func (e *fleetEnv) partitionedWorker(t *testing.T, addr string, mode Unavailable) (*Fetcher, *providers.Cache) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	s := newTestStore(t, c, &Options{Prefix: e.prefix, LeaseTTL: time.Second})
	cfg := &oauth2.Config{ClientID: fleetClientID, ClientSecret: fleetClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.oauth.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	f, err := s.NewFetcher(cfg, accountName(0),
		&FetcherOptions{OnUnavailable: mode, Refresh: &providers.RefreshOptions{Now: e.now, AdoptMargin: 20 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	return f, providers.NewCache(f, &providers.CacheOptions{Now: e.now, RefreshMargin: 5 * time.Minute, RefreshJitter: -1,
		MinValidity: 30 * time.Second, Retry: &providers.RetryPolicy{MaxAttempts: 1}})
}

// waitClean waits until f has stored (or given up) its fallback pair.
func waitClean(t *testing.T, f *Fetcher) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.hasDirty() {
		if time.Now().After(deadline) {
			t.Fatal("the fallback pair was never settled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPartitionedWorkerYieldsToTheFleet cuts one fallback worker off Redis
// while another refreshes through it. With a provider whose refresh tokens
// survive a refresh (Microsoft's documented rotation), both refreshes
// succeed; when the partition heals, the token the fleet stored wins over
// the cut-off worker's, which adopts it.
func TestPartitionedWorkerYieldsToTheFleet(t *testing.T) {
	const lifetime = time.Hour
	e := newFleetEnv(t, lifetime)
	e.oauth.Close()
	e.oauth = sasltest.NewOAuthServer(&sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft,
		Refresh: sasltest.RefreshRotate, TokenLifetime: lifetime, Clock: e.now})
	t.Cleanup(e.oauth.Close)
	if err := e.oauth.AddClient(sasltest.OAuthClient{ID: fleetClientID, Secret: fleetClientSecret}); err != nil {
		t.Fatal(err)
	}
	e.seed(t, 1, false)
	proxy := newCutProxy(t, e.redis.addr)
	fa, a := e.partitionedWorker(t, proxy.ln.Addr().String(), FallbackLocal)
	_, b := e.partitionedWorker(t, e.redis.addr, FailClosed)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []*providers.Cache{a, b} {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}

	proxy.setCut(true)
	e.offset.Store(int64(lifetime + time.Minute))
	ta, err := a.Token(ctx)
	if err != nil {
		t.Fatalf("cut-off worker: %v", err)
	}
	tb, err := b.Token(ctx)
	if err != nil {
		t.Fatalf("connected worker: %v", err)
	}
	if ta.AccessToken == tb.AccessToken || e.oauth.Issued(sasltest.GrantRefreshToken) != 2 {
		t.Fatal("want one refresh on each side of the partition")
	}

	proxy.setCut(false)
	waitClean(t, fa)
	st, err := e.store.Load(ctx, accountName(0))
	if err != nil || st.AccessToken != tb.AccessToken {
		t.Fatalf("the stored token is not the fleet's: %v", err)
	}
	// Next cycle: one shared refresh from the stored refresh token.
	e.offset.Store(int64(2 * (lifetime + time.Minute)))
	t2a, err := a.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t2b, err := b.Token(ctx)
	if err != nil || t2a.AccessToken != t2b.AccessToken {
		t.Fatalf("workers disagree after the partition: %v", err)
	}
	if got, reqs := e.oauth.Issued(sasltest.GrantRefreshToken), e.oauth.Requests(sasltest.GrantRefreshToken); got != 3 || reqs != 3 {
		t.Fatalf("issued %d of %d requests, want 3 of 3", got, reqs)
	}
}

// TestWriteBackRestoresLostData: Redis restarts without its data while a
// fallback worker holds the only live refresh token (one-time rotation
// with reuse detection). The worker writes it back, and the fleet carries
// on without reuse.
func TestWriteBackRestoresLostData(t *testing.T) {
	const lifetime = time.Hour
	e := newFleetEnv(t, lifetime)
	e.seed(t, 1, false)
	fa, a := e.partitionedWorker(t, e.redis.addr, FallbackLocal)
	_, b := e.partitionedWorker(t, e.redis.addr, FailClosed)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []*providers.Cache{a, b} {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.redis.kill() // no SHUTDOWN SAVE: the data is gone
	e.offset.Store(int64(lifetime + time.Minute))
	ta, err := a.Token(ctx)
	if err != nil {
		t.Fatalf("fallback worker: %v", err)
	}
	e.redis.restart(t)
	waitClean(t, fa)
	st, err := e.store.Load(ctx, accountName(0))
	if err != nil || st.AccessToken != ta.AccessToken {
		t.Fatalf("the live pair was not written back to the empty server: %v", err)
	}
	if info, ok := e.oauth.Lookup(st.RefreshToken); !ok || !info.Active {
		t.Fatal("the written-back refresh token is not live")
	}
	tb, err := b.Token(ctx)
	if err != nil || tb.AccessToken != ta.AccessToken {
		t.Fatalf("the other worker did not adopt the written-back token: %v", err)
	}
	if e.oauth.ReuseDetected() != 0 || e.oauth.Issued(sasltest.GrantRefreshToken) != 1 {
		t.Fatal("want one refresh and no reuse")
	}
}
