package providers_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// rfClock is a manually advanced clock shared by the authorization server
// and the providers.
type rfClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *rfClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *rfClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *rfClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

type rfEnv struct {
	srv    *sasltest.OAuthServer
	cfg    *oauth2.Config
	clk    *rfClock
	secret string
}

const rfUser = "alice@contoso.example"

func newRFEnv(t *testing.T, profile sasltest.OAuthProfile, policy sasltest.RefreshPolicy) *rfEnv {
	t.Helper()
	clk := &rfClock{t: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)}
	srv := sasltest.NewOAuthServer(&sasltest.OAuthOptions{Profile: profile, Refresh: policy, Clock: clk.Now, AuthStyle: oauth2.AuthStyleInParams})
	t.Cleanup(srv.Close)
	secret := "client-secret-e2e-0123456789"
	if err := srv.AddClient(sasltest.OAuthClient{ID: "e2e-client", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	scopes := providers.MicrosoftMailScopes()
	if profile == sasltest.OAuthGoogle {
		scopes = providers.GoogleMailScopes()
	}
	ep := srv.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &rfEnv{srv: srv, clk: clk, secret: secret,
		cfg: &oauth2.Config{ClientID: "e2e-client", ClientSecret: secret, Endpoint: ep, Scopes: scopes}}
}

func (e *rfEnv) seed(t *testing.T, store providers.TokenStore) string {
	t.Helper()
	rt, err := e.srv.SeedRefreshToken("e2e-client", rfUser, e.cfg.Scopes...)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), rfUser, nil, &oauth2.Token{RefreshToken: rt}); err != nil {
		t.Fatal(err)
	}
	return rt
}

func (e *rfEnv) cache(t *testing.T, store providers.TokenStore, ropts *providers.RefreshOptions) *providers.Cache {
	t.Helper()
	if ropts == nil {
		ropts = &providers.RefreshOptions{}
	}
	ropts.Now = e.clk.Now
	ropts.HTTPClient = e.srv.HTTPClient()
	f, err := providers.NewRefreshFetcher(e.cfg, store, rfUser, ropts)
	if err != nil {
		t.Fatal(err)
	}
	return providers.NewCache(f, &providers.CacheOptions{Now: e.clk.Now, Sleep: e.clk.Sleep})
}

// TestE2ERotationWithReuseDetection runs thousands of token requests, with
// random concurrency, invalidations and restarts, against an authorization
// server that rotates refresh tokens and revokes the whole family when a
// rotated-out one is presented again.
func TestE2ERotationWithReuseDetection(t *testing.T) {
	e := newRFEnv(t, sasltest.OAuthMicrosoft, sasltest.RefreshRotateDetectReuse)
	dir := t.TempDir()
	e.seed(t, providers.NewFileStore(dir, nil))
	rng := rand.New(rand.NewPCG(7, 9))
	newInst := func() *providers.Cache {
		ro := &providers.RefreshOptions{}
		if rng.IntN(2) == 0 {
			ro.AdoptMargin = 3 * time.Hour // never adopts a peer's token
		}
		return e.cache(t, providers.NewFileStore(dir, nil), ro)
	}
	pool := []*providers.Cache{newInst(), newInst(), newInst()}
	rounds := 600
	if testing.Short() {
		rounds = 60
	}
	calls := 0
	for range rounds {
		if rng.IntN(3) == 0 {
			pool[rng.IntN(len(pool))] = newInst()
		}
		n := 1 + rng.IntN(10)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			c := pool[(i+rng.IntN(len(pool)))%len(pool)]
			inval := rng.IntN(2) == 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := c.Token(context.Background())
				if err != nil {
					errs <- err
					return
				}
				if inval {
					c.Invalidate(tok)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Token: %v", err)
		}
		calls += n
		// Let any background refresh finish on the old time, then jump.
		for _, c := range pool {
			if _, err := c.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		e.clk.Advance(time.Duration(rng.IntN(80)) * time.Minute)
	}
	if got := e.srv.ReuseDetected(); got != 0 {
		t.Fatalf("refresh token reuse detected %d times", got)
	}
	refreshes := e.srv.Requests(sasltest.GrantRefreshToken)
	if refreshes < rounds/2 {
		t.Fatalf("only %d refreshes", refreshes)
	}
	t.Logf("%d Token calls, %d refresh requests, 0 reuse", calls, refreshes)
}

func TestE2EConformance(t *testing.T) {
	for _, p := range []sasltest.OAuthProfile{sasltest.OAuthGoogle, sasltest.OAuthMicrosoft} {
		e := newRFEnv(t, p, sasltest.RefreshProfileDefault)
		store := providers.NewMemoryStore()
		rt := e.seed(t, store)
		c := e.cache(t, store, nil)
		sasltest.CheckTokenSource(t, c, &sasltest.TokenSourceCheck{Now: e.clk.Now, Secrets: []string{rt, e.secret}})
	}
}

func TestE2EFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    sasltest.OAuthFault
		requests int
		reauth   bool
	}{
		{"503x3", sasltest.OAuthFault{Kind: sasltest.FaultStatus, Status: 503, Times: 3}, 4, false},
		{"429", sasltest.OAuthFault{Kind: sasltest.FaultRateLimit, RetryAfter: time.Second}, 2, false},
		{"html", sasltest.OAuthFault{Kind: sasltest.FaultHTML, Times: 2}, 3, false},
		{"drop", sasltest.OAuthFault{Kind: sasltest.FaultDrop}, 2, false},
		{"invalid_grant", sasltest.OAuthFault{Kind: sasltest.FaultInvalidGrant, Times: -1}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRFEnv(t, sasltest.OAuthMicrosoft, sasltest.RefreshRotateDetectReuse)
			store := providers.NewMemoryStore()
			e.seed(t, store)
			e.srv.InjectFault(tc.fault)
			_, err := e.cache(t, store, nil).Token(context.Background())
			if got := e.srv.Requests("*"); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if tc.reauth {
				if !errors.Is(err, providers.ErrReauthRequired) {
					t.Fatalf("err = %v, want ErrReauthRequired", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
