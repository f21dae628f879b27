package providers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestRefreshRequestFields(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect, oauth2.AuthStyleInHeader} {
		var mu sync.Mutex
		var forms []url.Values
		var basic []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			u, p, _ := r.BasicAuth()
			mu.Lock()
			forms = append(forms, r.PostForm)
			basic = append(basic, u+":"+p)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"at-1","expires_in":3599,"token_type":"Bearer"}`))
		}))
		defer srv.Close()
		store := NewMemoryStore()
		_ = store.Save(context.Background(), testAccount, nil, &oauth2.Token{RefreshToken: "rt-1"})
		cfg := &oauth2.Config{ClientID: "id+1", ClientSecret: "s&cret", Scopes: []string{ScopeOutlookIMAP, ScopeOfflineAccess},
			Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: style}}
		f, err := NewRefreshFetcher(cfg, store, testAccount, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(forms) != 1 {
			t.Fatalf("style %v: %d requests, want 1 (no auto-detect probing)", style, len(forms))
		}
		form := forms[0]
		if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-1" ||
			form.Get("scope") != ScopeOutlookIMAP+" "+ScopeOfflineAccess {
			t.Errorf("style %v: form %v", style, form)
		}
		if style == oauth2.AuthStyleInHeader {
			if basic[0] != "id%2B1:s%26cret" || form.Has("client_secret") {
				t.Errorf("header style: basic %q, form %v", basic[0], form)
			}
		} else if form.Get("client_id") != "id+1" || form.Get("client_secret") != "s&cret" || basic[0] != ":" {
			t.Errorf("style %v: form %v basic %q", style, form, basic[0])
		}
	}
}

func TestRefreshKeepsRefreshTokenWhenNoneReturned(t *testing.T) {
	a := newAuthServer(t, false) // Google does not rotate
	store := NewMemoryStore()
	rt := seedExpired(t, a, store, time.Now())
	f := newTestFetcher(t, a, store, nil)
	tok, err := f.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, _ := store.Load(context.Background(), testAccount)
	if tok.RefreshToken != rt || st.RefreshToken != rt || st.AccessToken != tok.AccessToken {
		t.Fatal("refresh token lost or access token not persisted")
	}
}

func TestRefreshPersistsRotationBeforeReturning(t *testing.T) {
	a := newAuthServer(t, true)
	store := NewMemoryStore()
	seedExpired(t, a, store, time.Now())
	f := newTestFetcher(t, a, store, nil)
	var checked int
	c := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := f.Fetch(ctx)
		if err != nil {
			return nil, err
		}
		st, lerr := store.Load(ctx, testAccount)
		if lerr != nil || st.RefreshToken != tok.RefreshToken || st.AccessToken != tok.AccessToken {
			t.Error("token returned before the rotated pair was stored")
		}
		if !a.liveRefresh(st.RefreshToken) {
			t.Error("stored refresh token is not the live one")
		}
		checked++
		return tok, nil
	}), nil)
	for range 5 {
		tok := mustToken(t, c)
		c.Invalidate(tok)
	}
	if checked != 5 || a.reuse.Load() != 0 {
		t.Fatalf("checked %d, reuse %d", checked, a.reuse.Load())
	}
}

func TestRefreshUnparseableExpiresIn(t *testing.T) {
	for _, v := range []string{`"soon"`, `null`, `-5`, `{}`, `"3600s"`, `1e400`} {
		clk := newFakeClock()
		a := newAuthServer(t, true)
		a.body = func(access, refresh string) string {
			return fmt.Sprintf(`{"token_type":"Bearer","access_token":%q,"refresh_token":%q,"expires_in":%s}`, access, refresh, v)
		}
		store := NewMemoryStore()
		seedExpired(t, a, store, clk.Now())
		f := newTestFetcher(t, a, store, clk)
		tok, err := f.Fetch(context.Background())
		if err != nil {
			t.Fatalf("expires_in=%s: %v", v, err)
		}
		if want := clk.Now().Add(DefaultFallbackLifetime); !tok.Expiry.Equal(want) {
			t.Errorf("expires_in=%s: expiry %v, want %v", v, tok.Expiry, want)
		}
		st, _ := store.Load(context.Background(), testAccount)
		if st.RefreshToken != tok.RefreshToken || !a.liveRefresh(st.RefreshToken) {
			t.Errorf("expires_in=%s: rotated refresh token not persisted", v)
		}
	}
	// A numeric string is a valid expires_in (some servers send one).
	clk := newFakeClock()
	a := newAuthServer(t, true)
	a.body = func(access, refresh string) string {
		return fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"expires_in":"3599"}`, access, refresh)
	}
	store := NewMemoryStore()
	seedExpired(t, a, store, clk.Now())
	tok, err := newTestFetcher(t, a, store, clk).Fetch(context.Background())
	if err != nil || !tok.Expiry.Equal(clk.Now().Add(3599*time.Second)) {
		t.Fatalf("string expires_in: %v %v", err, tok)
	}
}

func TestRefreshAdoptsPeerToken(t *testing.T) {
	a := newAuthServer(t, true)
	store := NewMemoryStore()
	seedExpired(t, a, store, time.Now())
	f1 := newTestFetcher(t, a, store, nil)
	f2 := newTestFetcher(t, a, store, nil)
	t1, err := f1.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t2, err := f2.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if t1.AccessToken != t2.AccessToken || a.requests.Load() != 1 {
		t.Fatalf("second instance did not adopt (%d requests)", a.requests.Load())
	}
	// Asking again means the adopted token is not wanted: refresh.
	t3, err := f2.Fetch(context.Background())
	if err != nil || t3.AccessToken == t2.AccessToken || a.requests.Load() != 2 {
		t.Fatalf("re-fetch: %v, %d requests", err, a.requests.Load())
	}
}

// TestRefreshNoStoredToken: with nothing stored, Fetch (and a Cache in
// front of it) fails with an error matching ErrReauthRequired and the
// store's ErrNotFound, before any request; with a token but no refresh
// token, only ErrReauthRequired.
func TestRefreshNoStoredToken(t *testing.T) {
	ctx := context.Background()
	for name, open := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			a := newAuthServer(t, true)
			store := open()
			for via, fetch := range map[string]func() (*oauth2.Token, error){
				"fetcher": func() (*oauth2.Token, error) { return newTestFetcher(t, a, store, nil).Fetch(ctx) },
				"cache":   func() (*oauth2.Token, error) { return NewCache(newTestFetcher(t, a, store, nil), nil).Token(ctx) },
			} {
				_, err := fetch()
				if !errors.Is(err, ErrReauthRequired) || !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s: err = %v, want ErrReauthRequired and ErrNotFound", via, err)
				}
				if want := fmt.Sprintf("providers: authorization required: no token stored for account %q", testAccount); err.Error() != want {
					t.Errorf("%s: %q, want %q", via, err.Error(), want)
				}
			}

			if err := store.Save(ctx, testAccount, nil, &oauth2.Token{AccessToken: "x"}); err != nil {
				t.Fatal(err)
			}
			_, err := newTestFetcher(t, a, store, nil).Fetch(ctx)
			if !errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrNotFound) {
				t.Fatalf("no refresh token: %v, want ErrReauthRequired only", err)
			}
			if a.requests.Load() != 0 {
				t.Fatal("request sent without a refresh token")
			}
		})
	}
}

func TestNewRefreshFetcherValidation(t *testing.T) {
	good := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "https://example.com/token"}}
	for _, tc := range []struct {
		cfg     *oauth2.Config
		store   TokenStore
		account string
	}{
		{nil, NewMemoryStore(), "a"},
		{good, nil, "a"},
		{good, NewMemoryStore(), ""},
		{&oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "::"}}, NewMemoryStore(), "a"},
		{&oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "/relative"}}, NewMemoryStore(), "a"},
	} {
		if _, err := NewRefreshFetcher(tc.cfg, tc.store, tc.account, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err = %v", tc, err)
		}
	}
}

// TestRefreshPersistFailure makes the store's writes fail (the write-lock
// path is a directory, which no process, root included, can open for
// writing): the refresh reports ErrPersistFailed, distinct from an
// authorization failure, the new token is used in this process, and the
// next refresh spends the unsaved rotated refresh token, not the stale
// stored one.
func TestRefreshPersistFailure(t *testing.T) {
	a := newAuthServer(t, true)
	dir := filepath.Join(t.TempDir(), "tokens")
	store := NewFileStore(dir, nil)
	oldRT := seedExpired(t, a, store, time.Now())
	wlock := filepath.Join(dir, store.base(testAccount)+".wlock")
	_ = os.Remove(wlock)
	if err := os.Mkdir(wlock, 0o700); err != nil {
		t.Fatal(err)
	}
	f := newTestFetcher(t, a, store, nil)
	tok, err := f.Fetch(context.Background())
	if !errors.Is(err, ErrPersistFailed) || errors.Is(err, ErrReauthRequired) || tok == nil {
		t.Fatalf("Fetch = (%v, %v), want a token and ErrPersistFailed", tok != nil, err)
	}
	var pe *PersistError
	if !errors.As(err, &pe) || pe.Account != testAccount {
		t.Fatalf("err = %#v", err)
	}

	var reported []error
	c := NewCache(f, &CacheOptions{OnError: func(err error) { reported = append(reported, err) }})
	got, err := c.Token(context.Background())
	if err != nil || got == nil {
		t.Fatalf("Cache.Token = %v", err)
	}
	if len(reported) != 1 || !errors.Is(reported[0], ErrPersistFailed) {
		t.Fatalf("reported %v", reported)
	}
	st, _ := store.Load(context.Background(), testAccount)
	if st.RefreshToken != oldRT {
		t.Fatal("store changed although writes fail")
	}
	// Writes work again: the in-memory pair is saved with the next refresh.
	if err := os.Remove(wlock); err != nil {
		t.Fatal(err)
	}
	c.Invalidate(got)
	fresh := mustToken(t, c)
	st, _ = store.Load(context.Background(), testAccount)
	if st.AccessToken != fresh.AccessToken || !a.liveRefresh(st.RefreshToken) {
		t.Fatal("pair not persisted once the store recovered")
	}
	if a.reuse.Load() != 0 || a.invalidGrant.Load() != 0 {
		t.Fatalf("%v: a stale refresh token was spent", a)
	}
}

// TestRotationStress refreshes thousands of times against an endpoint that
// rotates refresh tokens and revokes the family on reuse, with random
// concurrency, invalidations and restarts (new fetcher, cache and store
// instances over the same storage).
func TestRotationStress(t *testing.T) {
	for _, kind := range []string{"memory", "file"} {
		t.Run(kind, func(t *testing.T) {
			rounds := 2500
			if kind == "file" {
				rounds = 800
			}
			if testing.Short() {
				rounds /= 10
			}
			clk := newFakeClock()
			a := newAuthServer(t, true)
			a.now = clk.Now
			mem := NewMemoryStore()
			dir := t.TempDir()
			newStore := func() TokenStore {
				if kind == "memory" {
					return mem
				}
				return NewFileStore(dir, nil)
			}
			seedExpired(t, a, newStore(), clk.Now())
			rng := rand.New(rand.NewPCG(1, 2))
			type instance struct{ c *Cache }
			newInstance := func() instance {
				opts := &RefreshOptions{Now: clk.Now}
				if rng.IntN(2) == 0 {
					opts.AdoptMargin = 2 * time.Hour // never adopts: always spends the refresh token
				}
				f, err := NewRefreshFetcher(a.config(), newStore(), testAccount, opts)
				if err != nil {
					t.Fatal(err)
				}
				return instance{NewCache(f, &CacheOptions{Now: clk.Now, Sleep: clk.Sleep})}
			}
			pool := make([]instance, 4)
			for i := range pool {
				pool[i] = newInstance()
			}
			for range rounds {
				if rng.IntN(4) == 0 {
					pool[rng.IntN(len(pool))] = newInstance() // restart
				}
				for _, inst := range pool {
					waitIdle(inst.c) // background refreshes land before time moves
				}
				clk.Advance(time.Duration(rng.IntN(70)) * time.Minute)
				n := 1 + rng.IntN(12)
				seeds := make([]uint64, n)
				for i := range seeds {
					seeds[i] = rng.Uint64()
				}
				var wg sync.WaitGroup
				for i := range n {
					inst := pool[int(seeds[i]%uint64(len(pool)))]
					invalidate := seeds[i]%3 == 0
					wg.Add(1)
					go func() {
						defer wg.Done()
						tok, err := inst.c.Token(context.Background())
						if err != nil {
							t.Error(err)
							return
						}
						if invalidate {
							inst.c.Invalidate(tok)
						}
					}()
				}
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
			}
			if a.reuse.Load() != 0 || a.invalidGrant.Load() != 0 {
				t.Fatalf("%v", a)
			}
			if min := int64(rounds / 2); a.requests.Load() < min {
				t.Fatalf("only %d refreshes", a.requests.Load())
			}
			t.Logf("%v over %d rounds", a, rounds)
		})
	}
}
