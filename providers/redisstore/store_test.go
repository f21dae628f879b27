package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
)

const (
	testAccount = "alice@example.test"
	secretAT    = "ya29.secret-access-token-0001"
	secretRT    = "1//secret-refresh-token-0001"
)

func newTestStore(tb testing.TB, c Client, opts *Options) *Store {
	tb.Helper()
	s, err := New(c, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func testToken(at, rt string, life time.Duration) *oauth2.Token {
	return &oauth2.Token{AccessToken: at, TokenType: "Bearer", RefreshToken: rt, Expiry: time.Now().Add(life).Truncate(time.Millisecond)}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()
	s := newTestStore(t, c, &Options{Prefix: "app1", Retain: time.Hour})

	if _, err := s.Load(ctx, testAccount); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Load of an empty store: %v, want ErrNotFound", err)
	}
	want := testToken(secretAT, secretRT, time.Hour)
	if err := s.Save(ctx, testAccount, nil, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.TokenType != "Bearer" || !got.Expiry.Equal(want.Expiry) {
		t.Fatal("loaded token differs from the saved one")
	}
	if v := versionOf(got); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	tk, lk := s.Keys(testAccount)
	if tk != "app1:{"+testAccount+"}:token" || lk != "app1:{"+testAccount+"}:lease" {
		t.Fatalf("keys %q %q", tk, lk)
	}
	// The record expires Retain after its last write, access and refresh
	// token together.
	pttl, err := c.PTTL(ctx, tk).Result()
	if err != nil || pttl <= 59*time.Minute || pttl > time.Hour {
		t.Fatalf("record TTL %v (%v), want about Retain", pttl, err)
	}
	// Another prefix is another application.
	other := newTestStore(t, c, &Options{Prefix: "app2"})
	if _, err := other.Load(ctx, testAccount); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("prefixes share tokens: %v", err)
	}
	// Retain < 0 keeps records forever.
	forever := newTestStore(t, c, &Options{Prefix: "app3", Retain: -1})
	if err := forever.Save(ctx, testAccount, nil, want); err != nil {
		t.Fatal(err)
	}
	tk3, _ := forever.Keys(testAccount)
	if pttl, err := c.PTTL(ctx, tk3).Result(); err != nil || pttl != -1 {
		t.Fatalf("record TTL %v (%v), want none", pttl, err)
	}
}

func TestSaveCompareAndSwap(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	s := newTestStore(t, r.client(t), nil)

	t1 := testToken("at-1", "rt-1", time.Hour)
	if err := s.Save(ctx, testAccount, &oauth2.Token{RefreshToken: "rt-0"}, t1); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("save expecting a stored token into an empty store: %v, want ErrConflict", err)
	}
	if err := s.Save(ctx, testAccount, &oauth2.Token{}, t1); err != nil {
		t.Fatalf("save expecting nothing stored: %v", err)
	}
	if err := s.Save(ctx, testAccount, &oauth2.Token{}, t1); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("save expecting nothing stored over a token: %v, want ErrConflict", err)
	}
	loaded, err := s.Load(ctx, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	// A writer that read version 1 loses to one that wrote version 2,
	// even though the refresh token did not change (Google keeps it).
	t2 := testToken("at-2", "rt-1", time.Hour)
	if err := s.Save(ctx, testAccount, loaded, t2); err != nil {
		t.Fatalf("CAS on the loaded version: %v", err)
	}
	late := testToken("at-late", "rt-1", time.Hour)
	if err := s.Save(ctx, testAccount, loaded, late); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("late writer: %v, want ErrConflict", err)
	}
	// A prev without a version (not from Load) compares the refresh token
	// only, as providers.TokenStore specifies.
	if err := s.Save(ctx, testAccount, &oauth2.Token{RefreshToken: "rt-other"}, late); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("wrong refresh token: %v, want ErrConflict", err)
	}
	t3 := testToken("at-3", "rt-3", time.Hour)
	if err := s.Save(ctx, testAccount, &oauth2.Token{RefreshToken: "rt-1"}, t3); err != nil {
		t.Fatalf("CAS on the refresh token: %v", err)
	}
	got, err := s.Load(ctx, testAccount)
	if err != nil || got.AccessToken != "at-3" || versionOf(got) != 3 {
		t.Fatalf("stored token is not the last successful write (version %d): %v", versionOf(got), err)
	}
	if err := s.Save(ctx, testAccount, nil, &oauth2.Token{}); !errors.Is(err, providers.ErrNoToken) {
		t.Fatalf("empty token: %v, want ErrNoToken", err)
	}
}

func TestDeleteCompareAndSwap(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	s := newTestStore(t, r.client(t), nil)
	if err := s.Delete(ctx, testAccount, &oauth2.Token{RefreshToken: "x"}); err != nil {
		t.Fatalf("delete of nothing: %v", err)
	}
	if err := s.Save(ctx, testAccount, nil, testToken("at-1", "rt-1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	loaded, _ := s.Load(ctx, testAccount)
	if err := s.Save(ctx, testAccount, loaded, testToken("at-2", "rt-1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, testAccount, loaded); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("delete based on an old version: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, testAccount, &oauth2.Token{RefreshToken: "rt-other"}); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("delete with another refresh token: %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, testAccount, &oauth2.Token{RefreshToken: "rt-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, testAccount); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestLeaseExcludesOthersAndIsRenewed(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	// Two stores on two clients stand for two processes.
	a := newTestStore(t, r.client(t), &Options{LeaseTTL: 300 * time.Millisecond})
	b := newTestStore(t, r.client(t), &Options{LeaseTTL: 300 * time.Millisecond})

	unlock, err := a.Lock(ctx, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := b.LeaseHolder(ctx, testAccount)
	if err != nil || !strings.HasPrefix(holder, a.self+"/") {
		t.Fatalf("lease holder %q (%v), want one of %s", holder, err, a.self)
	}
	// Held three TTLs long: renewal keeps it from expiring.
	short, cancel := context.WithTimeout(ctx, time.Second)
	_, err = b.Lock(short, testAccount)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: %v, want DeadlineExceeded", err)
	}
	// Only its owner releases a lease.
	_, lk := a.Keys(testAccount)
	if n, err := releaseScript.Run(ctx, b.c, []string{lk}, "someone-else").Int64(); err != nil || n != 0 {
		t.Fatalf("release by another owner: %d %v", n, err)
	}
	unlock()
	unlock() // idempotent
	done := make(chan error, 1)
	go func() {
		u, err := b.Lock(ctx, testAccount)
		if err == nil {
			u()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lock not free after release")
	}
}

func TestLeaseOfDeadHolderExpires(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	c := r.client(t)
	s := newTestStore(t, c, &Options{LeaseTTL: 200 * time.Millisecond})
	_, lk := s.Keys(testAccount)
	// A holder that died: its lease is never renewed nor released.
	if err := c.Set(ctx, lk, "deadhost/1/0", 400*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	unlock, err := s.Lock(ctx, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("took a live lease after %v", waited)
	}
	if holder, _ := s.LeaseHolder(ctx, testAccount); !strings.HasPrefix(holder, s.self+"/") {
		t.Fatalf("lease holder %q", holder)
	}
}

func TestLateHolderCannotOverwrite(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	c := r.client(t)
	a := newTestStore(t, c, &Options{LeaseTTL: 200 * time.Millisecond})
	b := newTestStore(t, r.client(t), &Options{LeaseTTL: 200 * time.Millisecond})
	if err := a.Save(ctx, testAccount, nil, testToken("at-1", "rt-1", time.Hour)); err != nil {
		t.Fatal(err)
	}
	unlockA, err := a.Lock(ctx, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	loadedA, _ := a.Load(ctx, testAccount)
	// A stalls (its lease expires: simulate by taking it over directly, as
	// a worker would after the TTL), B refreshes and stores.
	_, lk := a.Keys(testAccount)
	if err := c.Set(ctx, lk, "b-owner", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, testAccount, loadedA, testToken("at-A", "rt-A", time.Hour)); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("save after losing the lease: %v, want ErrLeaseLost", err)
	}
	c.Del(ctx, lk)
	loadedB, _ := b.Load(ctx, testAccount)
	if err := b.Save(ctx, testAccount, loadedB, testToken("at-B", "rt-B", time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The lease is free again, but A's version is old: refused.
	if err := a.Save(ctx, testAccount, loadedA, testToken("at-A", "rt-A", time.Hour)); !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("late save: %v, want ErrConflict", err)
	}
	got, _ := a.Load(ctx, testAccount)
	if got.AccessToken != "at-B" || got.RefreshToken != "rt-B" {
		t.Fatal("the late holder overwrote the newer token")
	}
}

func TestCorruptRecordIsTypedAndQuiet(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	c := r.client(t)
	s := newTestStore(t, c, nil)
	tk, _ := s.Keys(testAccount)
	for name, fields := range map[string][]any{
		"bad version":   {"v", "x1", "d", `{"at":"` + secretAT + `"}`},
		"unknown field": {"v", "1", "d", `{"at":"` + secretAT + `","zz":"` + secretRT + `"}`},
		"no d":          {"v", "1"},
		"truncated":     {"v", "1", "d", `{"at":"` + secretAT},
		"wrong type":    {"v", "1", "d", `{"at":1,"rt":"` + secretRT + `"}`},
	} {
		c.Del(ctx, tk)
		if err := c.HSet(ctx, tk, fields...).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load(ctx, testAccount)
		if !errors.Is(err, providers.ErrCorruptStore) {
			t.Fatalf("%s: %v, want ErrCorruptStore", name, err)
		}
		assertNoSecret(t, err.Error())
	}
	// A key of another type is a server error, not an outage.
	c.Del(ctx, tk)
	c.Set(ctx, tk, "x", 0)
	if _, err := s.Load(ctx, testAccount); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("wrong key type: %v", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	if _, err := New(nil, nil); !errors.Is(err, providers.ErrInvalidConfig) {
		t.Fatalf("nil client: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, o := range []*Options{{Prefix: "a{b"}, {Prefix: "a}"}, {LeaseTTL: time.Millisecond}} {
		if _, err := New(c, o); !errors.Is(err, providers.ErrInvalidConfig) {
			t.Fatalf("%+v: %v", o, err)
		}
	}
	s, _ := New(c, nil)
	if _, err := s.Load(context.Background(), ""); !errors.Is(err, providers.ErrInvalidConfig) {
		t.Fatalf("empty account: %v", err)
	}
	if _, err := s.NewFetcher(&oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/token"}}, testAccount, &FetcherOptions{OnUnavailable: 7}); !errors.Is(err, providers.ErrInvalidConfig) {
		t.Fatalf("bad OnUnavailable: %v", err)
	}
}

func TestUnreachableRedisIsTyped(t *testing.T) {
	addr, err := freeAddr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	s := newTestStore(t, c, nil)
	ctx := context.Background()
	_, err = s.Load(ctx, testAccount)
	var ue *UnavailableError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.Op != "load" {
		t.Fatalf("Load: %v, want ErrUnavailable", err)
	}
	var te *providers.TransientError
	if !errors.As(err, &te) {
		t.Fatalf("Load: %v is not transient", err)
	}
	if err := s.Save(ctx, testAccount, nil, testToken(secretAT, secretRT, time.Hour)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Save: %v", err)
	} else {
		assertNoSecret(t, err.Error())
	}
	if _, err := s.Lock(ctx, testAccount); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Lock: %v", err)
	}
}

func TestFormatHidesSecrets(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", Password: "redis-password-secret"})
	defer c.Close()
	s := newTestStore(t, c, &Options{Prefix: "p"})
	f, err := s.NewFetcher(&oauth2.Config{ClientID: "cid", ClientSecret: "client-secret-value",
		Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/token"}}, testAccount, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.known = testToken(secretAT, secretRT, time.Hour)
	f.dirty = testToken(secretAT, secretRT, time.Hour)
	for _, v := range []any{s, f} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			assertNoSecret(t, out)
			if strings.Contains(out, "client-secret-value") || strings.Contains(out, "redis-password-secret") {
				t.Fatalf("%s printed a secret: %s", verb, out)
			}
		}
	}
	if got := fmt.Sprint(f); !strings.Contains(got, "client_secret=[REDACTED]") || !strings.Contains(got, "unsaved_token=true") {
		t.Fatalf("Fetcher description: %s", got)
	}
}

// assertNoSecret fails if s holds one of the test tokens.
func assertNoSecret(tb testing.TB, s string) {
	tb.Helper()
	for _, sec := range []string{secretAT, secretRT, "secret-access", "secret-refresh"} {
		if strings.Contains(s, sec) {
			tb.Fatalf("secret in %q", s)
		}
	}
}
