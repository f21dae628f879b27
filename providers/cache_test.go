package providers

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const testAccount = "user@example.com"

// seedExpired stores an expired access token with a live refresh token.
func seedExpired(t testing.TB, a *authServer, store TokenStore, now time.Time) string {
	t.Helper()
	rt := a.grant()
	tok := &oauth2.Token{AccessToken: "stale-" + randHex(8), TokenType: "Bearer", RefreshToken: rt, Expiry: now.Add(-time.Hour)}
	if err := store.Save(context.Background(), testAccount, nil, tok); err != nil {
		t.Fatal(err)
	}
	return rt
}

func newTestFetcher(t testing.TB, a *authServer, store TokenStore, clk *fakeClock) *RefreshFetcher {
	t.Helper()
	opts := &RefreshOptions{}
	if clk != nil {
		opts.Now = clk.Now
	}
	f, err := NewRefreshFetcher(a.config(), store, testAccount, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func fakeCacheOpts(clk *fakeClock) *CacheOptions {
	return &CacheOptions{Now: clk.Now, Sleep: clk.Sleep, RefreshMargin: time.Minute, RefreshJitter: 30 * time.Second, MinValidity: 10 * time.Second}
}

// waitIdle waits until no refresh is in flight, so that fake-clock tests
// see background refreshes land before time moves on.
func waitIdle(c *Cache) {
	for c.flying.Load() {
		runtime.Gosched()
	}
}

func TestCacheSingleFlight(t *testing.T) {
	for _, microsoft := range []bool{false, true} {
		a := newAuthServer(t, microsoft)
		store := NewMemoryStore()
		seedExpired(t, a, store, time.Now())
		c := NewCache(newTestFetcher(t, a, store, nil), nil)

		const n = 1000
		release := make(chan struct{})
		a.beforeReply = func() { <-release }
		var started, done sync.WaitGroup
		toks := make([]*oauth2.Token, n)
		errs := make([]error, n)
		for i := range n {
			started.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				started.Done()
				toks[i], errs[i] = c.Token(context.Background())
			}()
		}
		started.Wait()
		close(release)
		done.Wait()
		if got := a.requests.Load(); got != 1 {
			t.Fatalf("microsoft=%v: %d token requests, want exactly 1", microsoft, got)
		}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if toks[i].AccessToken != toks[0].AccessToken {
				t.Fatalf("caller %d got a different token", i)
			}
		}
		if !a.accessValid(toks[0].AccessToken, time.Now(), 0) {
			t.Fatal("handed-out token was not issued by the server")
		}
	}
}

func TestCacheRetries503(t *testing.T) {
	clk := newFakeClock()
	a := newAuthServer(t, false)
	a.now = clk.Now
	store := NewMemoryStore()
	seedExpired(t, a, store, clk.Now())
	for range 3 {
		a.faultStatus(503, "text/html; charset=UTF-8", "<html><body>Service Unavailable</body></html>")
	}
	opts := fakeCacheOpts(clk)
	opts.Retry = &RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}
	c := NewCache(newTestFetcher(t, a, store, clk), opts)
	start := clk.Now()
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := a.requests.Load(); got != 4 {
		t.Fatalf("%d requests, want exactly 4", got)
	}
	sleeps := clk.Sleeps()
	if len(sleeps) != 3 {
		t.Fatalf("slept %d times, want 3", len(sleeps))
	}
	for i, d := range sleeps {
		if ceil := 100 * time.Millisecond << i; d < 0 || d >= ceil {
			t.Errorf("retry %d slept %v, want in [0, %v)", i+1, d, ceil)
		}
	}
	if el := clk.Now().Sub(start); el >= 2*time.Second {
		t.Errorf("retries took %v of simulated time, want < 2s", el)
	}
	if !a.accessValid(tok.AccessToken, clk.Now(), 0) {
		t.Fatal("token not issued by the server")
	}
}

func TestCacheRetriesHTMLErrorPages(t *testing.T) {
	clk := newFakeClock()
	a := newAuthServer(t, true)
	a.now = clk.Now
	store := NewMemoryStore()
	seedExpired(t, a, store, clk.Now())
	a.faultStatus(502, "text/html", "<html><h1>502 Bad Gateway</h1></html>")
	a.faultStatus(403, "text/html", "<html><h1>Access denied by firewall</h1></html>")
	c := NewCache(newTestFetcher(t, a, store, clk), fakeCacheOpts(clk))
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := a.requests.Load(); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
}

func TestCache429RetryAfter(t *testing.T) {
	clk := newFakeClock()
	a := newAuthServer(t, true)
	a.now = clk.Now
	store := NewMemoryStore()
	seedExpired(t, a, store, clk.Now())
	a.faultStatus(429, "application/json", `{"error":"temporarily_unavailable","error_description":"throttled"}`, "Retry-After", "7")
	c := NewCache(newTestFetcher(t, a, store, clk), fakeCacheOpts(clk))
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := a.requests.Load(); got != 2 {
		t.Fatalf("%d requests, want 2", got)
	}
	if s := clk.Sleeps(); len(s) != 1 || s[0] < 7*time.Second {
		t.Fatalf("sleeps %v, want one of at least 7s (Retry-After)", s)
	}

	// A Retry-After beyond MaxRetryAfter ends the retries at once.
	b := newAuthServer(t, true)
	store2 := NewMemoryStore()
	seedExpired(t, b, store2, time.Now())
	b.faultStatus(429, "application/json", `{"error":"temporarily_unavailable"}`, "Retry-After", "3600")
	c2 := NewCache(newTestFetcher(t, b, store2, nil), &CacheOptions{Sleep: clk.Sleep})
	_, err := c2.Token(context.Background())
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want *OAuthError 429 with RetryAfter 1h", err)
	}
	if got := b.requests.Load(); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

func TestCacheInvalidGrantNoRetry(t *testing.T) {
	for _, microsoft := range []bool{false, true} {
		clk := newFakeClock()
		a := newAuthServer(t, microsoft)
		store := NewMemoryStore()
		seedExpired(t, a, store, clk.Now())
		a.faultStatus(400, "application/json", `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
		c := NewCache(newTestFetcher(t, a, store, clk), fakeCacheOpts(clk))
		_, err := c.Token(context.Background())
		if !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
		var oe *OAuthError
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.StatusCode != 400 || oe.Description != "Token has been expired or revoked." {
			t.Fatalf("err = %#v", oe)
		}
		if got := a.requests.Load(); got != 1 {
			t.Fatalf("%d requests, want exactly 1", got)
		}
		if len(clk.Sleeps()) != 0 {
			t.Fatal("slept before giving up on invalid_grant")
		}
		// The dead grant was deleted: asking again sends nothing.
		if _, err := store.Load(context.Background(), testAccount); !errors.Is(err, ErrNotFound) {
			t.Fatalf("stored token after invalid_grant: %v, want ErrNotFound", err)
		}
		if _, err := c.Token(context.Background()); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("second call: %v", err)
		}
		if got := a.requests.Load(); got != 1 {
			t.Fatalf("%d requests after second call, want 1 (no loop)", got)
		}
	}
}

func TestInvalidClientKeepsToken(t *testing.T) {
	a := newAuthServer(t, true)
	store := NewMemoryStore()
	rt := seedExpired(t, a, store, time.Now())
	cfg := a.config()
	cfg.ClientSecret = "wrong-secret-value"
	f, err := NewRefreshFetcher(cfg, store, testAccount, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewCache(f, nil).Token(context.Background())
	var oe *OAuthError
	if !errors.Is(err, ErrReauthRequired) || !errors.As(err, &oe) || oe.Code != "invalid_client" || oe.StatusCode != 401 {
		t.Fatalf("err = %v", err)
	}
	if a.requests.Load() != 1 {
		t.Fatalf("%d requests, want 1", a.requests.Load())
	}
	st, err := store.Load(context.Background(), testAccount)
	if err != nil || st.RefreshToken != rt {
		t.Fatalf("refresh token not kept after invalid_client: %v", err)
	}
}

func TestInvalidGrantKeepsNewerToken(t *testing.T) {
	a := newAuthServer(t, true)
	store := NewMemoryStore()
	seedExpired(t, a, store, time.Now())
	fresh := a.grant()
	// While the refresh is in flight, an authorization flow (which does not
	// take the refresh lock) stores a new grant; then the old one fails.
	a.fault(func(w http.ResponseWriter) {
		if err := store.Save(context.Background(), testAccount, nil, &oauth2.Token{RefreshToken: fresh}); err != nil {
			t.Error(err)
		}
		a.oauthError(w, 400, "invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity.")
	})
	c := NewCache(newTestFetcher(t, a, store, nil), nil)
	if _, err := c.Token(context.Background()); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v", err)
	}
	st, err := store.Load(context.Background(), testAccount)
	if err != nil || st.RefreshToken != fresh {
		t.Fatalf("newer token was deleted or replaced (err %v)", err)
	}
	tok, err := c.Token(context.Background())
	if err != nil || !a.accessValid(tok.AccessToken, time.Now(), 0) {
		t.Fatalf("refresh with the newer grant: %v", err)
	}
}

func TestCacheWaiterLeavesOnOwnContext(t *testing.T) {
	a := newAuthServer(t, true)
	store := NewMemoryStore()
	oldRT := seedExpired(t, a, store, time.Now())
	inServer := make(chan struct{})
	release := make(chan struct{})
	a.beforeReply = func() { close(inServer); <-release }
	c := NewCache(newTestFetcher(t, a, store, nil), nil)

	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		tok *oauth2.Token
		err error
	}
	leaver := make(chan result, 1)
	go func() {
		tok, err := c.Token(ctx)
		leaver <- result{tok, err}
	}()
	<-inServer // the refresh the leaver started is now at the server
	stayer := make(chan result, 1)
	go func() {
		tok, err := c.Token(context.Background())
		stayer <- result{tok, err}
	}()
	cancel()
	select {
	case r := <-leaver:
		if !errors.Is(r.err, context.Canceled) || r.tok != nil {
			t.Fatalf("cancelled caller got (%v, %v), want context.Canceled", r.tok != nil, r.err)
		}
	case <-time.After(10 * time.Second): // hang guard only
		t.Fatal("cancelled caller did not return while the refresh was blocked")
	}
	close(release)
	r := <-stayer
	if r.err != nil {
		t.Fatalf("other waiter: %v", r.err)
	}
	st, err := store.Load(context.Background(), testAccount)
	if err != nil || st.AccessToken != r.tok.AccessToken || st.RefreshToken == oldRT || !a.liveRefresh(st.RefreshToken) {
		t.Fatalf("refresh not persisted after the starter left (err %v)", err)
	}
	if a.requests.Load() != 1 {
		t.Fatalf("%d requests", a.requests.Load())
	}
}

// Regression for x/oauth2#388: a context that ends after it was used must
// not break later refreshes.
func TestCacheCancelledStartContext(t *testing.T) {
	clk := newFakeClock()
	a := newAuthServer(t, true)
	a.now = clk.Now
	store := NewMemoryStore()
	seedExpired(t, a, store, clk.Now())
	ctx, cancel := context.WithCancel(context.Background())
	f := newTestFetcher(t, a, store, clk)
	c := NewCache(f, fakeCacheOpts(clk))
	tok1, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// The cached token is still served on the cancelled context (no I/O).
	if tok, err := c.Token(ctx); err != nil || tok != tok1 {
		t.Fatalf("cached read on cancelled ctx: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if _, err := c.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("refresh on cancelled ctx: %v, want context.Canceled", err)
	}
	tok2, err := c.Token(context.Background())
	if err != nil || tok2.AccessToken == tok1.AccessToken {
		t.Fatalf("later refresh: %v", err)
	}
	// The same through the x/oauth2 bridge: a source built on a live
	// context keeps working after the context used for one call ends.
	g := newAuthServer(t, false)
	src := FromOAuth2(g.config().TokenSource(context.Background(), &oauth2.Token{RefreshToken: g.grant()}))
	c2 := NewCache(src, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	if _, err := c2.Token(ctx2); err != nil {
		t.Fatal(err)
	}
	cancel2()
	c2.Invalidate(mustToken(t, c2))
	if _, err := c2.Token(context.Background()); err != nil {
		t.Fatalf("bridge after cancelled call: %v", err)
	}
}

func mustToken(t testing.TB, ts interface {
	Token(context.Context) (*oauth2.Token, error)
}) *oauth2.Token {
	t.Helper()
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCache24Hours(t *testing.T) {
	clk := newFakeClock()
	a := newAuthServer(t, true)
	a.now = clk.Now
	a.lifetime = 3600
	store := NewMemoryStore()
	// A token issued just now, as after an authorization.
	rt := a.grant()
	first := "eyJ0eXAiOiJKV1Qi.first"
	a.mu.Lock()
	a.access[first] = clk.Now().Add(time.Hour)
	a.mu.Unlock()
	if err := store.Save(context.Background(), testAccount, nil, &oauth2.Token{AccessToken: first, RefreshToken: rt, Expiry: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c := NewCache(newTestFetcher(t, a, store, clk), fakeCacheOpts(clk))
	rejected := 0
	for range 24 * 3600 {
		clk.Advance(time.Second)
		tok, err := c.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// The resource server rejects tokens in their final 5 s.
		if !a.accessValid(tok.AccessToken, clk.Now(), 5*time.Second) {
			rejected++
		}
		waitIdle(c)
	}
	if rejected != 0 {
		t.Errorf("%d requests used an expired or nearly expired token", rejected)
	}
	if got := a.requests.Load(); got != 24 {
		t.Errorf("%d refreshes in 24 simulated hours, want 24", got)
	}
}

func TestCacheInvalidate(t *testing.T) {
	a := newAuthServer(t, true)
	store := NewMemoryStore()
	seedExpired(t, a, store, time.Now())
	c := NewCache(newTestFetcher(t, a, store, nil), nil)
	tok1 := mustToken(t, c)
	c.Invalidate(tok1)
	tok2 := mustToken(t, c)
	if tok2.AccessToken == tok1.AccessToken {
		t.Fatal("invalidated token handed out again (adopted from the store?)")
	}
	if a.requests.Load() != 2 {
		t.Fatalf("%d requests, want 2", a.requests.Load())
	}
	// A stale invalidation (a caller still holding tok1) must not drop tok2.
	c.Invalidate(tok1)
	c.Invalidate(&oauth2.Token{AccessToken: tok1.AccessToken})
	if tok := mustToken(t, c); tok != tok2 {
		t.Fatal("stale Invalidate dropped the newer token")
	}
	if a.requests.Load() != 2 {
		t.Fatalf("%d requests after stale Invalidate, want 2", a.requests.Load())
	}
	c.Invalidate(nil)
}

func TestCacheBackgroundRefresh(t *testing.T) {
	clk := newFakeClock()
	var fetches atomic.Int64
	var fail atomic.Bool
	f := FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		n := fetches.Add(1)
		if fail.Load() {
			return nil, errors.New("helper failed")
		}
		return &oauth2.Token{AccessToken: "at-" + string(rune('a'+n)), Expiry: clk.Now().Add(time.Hour)}, nil
	})
	var reported atomic.Int64
	opts := fakeCacheOpts(clk)
	opts.OnError = func(error) { reported.Add(1) }
	c := NewCache(f, opts)
	tok1 := mustToken(t, c)
	// Inside the refresh margin: the current token is returned at once and
	// one refresh runs in the background.
	clk.Advance(time.Hour - 50*time.Second)
	if tok := mustToken(t, c); tok != tok1 {
		t.Fatal("refresh window: current token not returned")
	}
	waitIdle(c)
	tok2 := mustToken(t, c)
	if tok2 == tok1 || fetches.Load() != 2 {
		t.Fatalf("background refresh did not land (%d fetches)", fetches.Load())
	}
	// A failing background refresh is reported, and not retried on every
	// call.
	fail.Store(true)
	clk.Advance(time.Hour - 50*time.Second)
	for range 100 {
		if tok := mustToken(t, c); tok != tok2 {
			t.Fatal("current token not served while background refresh fails")
		}
		waitIdle(c)
	}
	if fetches.Load() != 3 || reported.Load() != 1 {
		t.Fatalf("%d fetches, %d reported; want 3 and 1", fetches.Load(), reported.Load())
	}
	// Past MinValidity the token is withheld and the error returned.
	clk.Advance(75 * time.Second)
	if _, err := c.Token(context.Background()); err == nil {
		t.Fatal("token within its last seconds handed out")
	}
}

func TestCacheZeroExpiryAndExpiredFetch(t *testing.T) {
	clk := newFakeClock()
	var n atomic.Int64
	c := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		n.Add(1)
		return &oauth2.Token{AccessToken: "forever"}, nil
	}), fakeCacheOpts(clk))
	mustToken(t, c)
	clk.Advance(10000 * time.Hour)
	mustToken(t, c)
	if n.Load() != 1 {
		t.Fatalf("zero-expiry token refetched: %d fetches", n.Load())
	}

	c2 := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "old", Expiry: clk.Now().Add(-time.Second)}, nil
	}), fakeCacheOpts(clk))
	if tok, err := c2.Token(context.Background()); !errors.Is(err, ErrTokenExpired) || tok != nil {
		t.Fatalf("expired fetched token: %v", err)
	}
	c3 := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) { return nil, nil }), nil)
	if _, err := c3.Token(context.Background()); !errors.Is(err, ErrNoToken) {
		t.Fatalf("nil token: %v", err)
	}
	c4 := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) { panic("secret-in-panic") }), nil)
	if _, err := c4.Token(context.Background()); err == nil || contains(err.Error(), "secret-in-panic") {
		t.Fatalf("panicking fetcher: %v", err)
	}
}

func TestCacheRefreshTimeout(t *testing.T) {
	c := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), &CacheOptions{RefreshTimeout: 20 * time.Millisecond})
	_, err := c.Token(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a refresh timeout", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCacheFarFutureExpiry(t *testing.T) {
	var n atomic.Int64
	c := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		n.Add(1)
		return &oauth2.Token{AccessToken: "far", Expiry: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
	}), nil)
	for range 3 {
		mustToken(t, c)
	}
	if n.Load() != 1 {
		t.Fatalf("%d fetches for a far-future token, want 1", n.Load())
	}
}

func TestCacheNilFetcher(t *testing.T) {
	if _, err := NewCache(nil, nil).Token(context.Background()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
}
