//go:build linux

package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoSecrets runs a refresh, an outage with a fallback refresh
// and its write-back, with every log record kept at debug level: none
// holds a token or the client secret.
func TestLogsHoldNoSecrets(t *testing.T) {
	const lifetime = time.Hour
	e := newFleetEnv(t, lifetime)
	e.seed(t, 1, true)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := redis.NewClient(&redis.Options{Addr: e.redis.addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	s := newTestStore(t, c, &Options{Prefix: e.prefix, Logger: logger})
	cfg := &oauth2.Config{ClientID: fleetClientID, ClientSecret: fleetClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.oauth.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	ts, err := s.TokenSource(cfg, accountName(0),
		&FetcherOptions{OnUnavailable: FallbackLocal, Refresh: &providers.RefreshOptions{Now: e.now, Logger: logger}},
		&providers.CacheOptions{Now: e.now, Logger: logger, Retry: &providers.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var secrets []string
	keep := func(tok *oauth2.Token) {
		secrets = append(secrets, tok.AccessToken)
		if st, err := e.store.Load(ctx, accountName(0)); err == nil {
			secrets = append(secrets, st.RefreshToken)
		}
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keep(tok)
	e.redis.stop(t)
	e.offset.Store(int64(lifetime + time.Minute))
	tok, err = ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok.AccessToken)
	e.redis.restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.store.Load(ctx, accountName(0))
		if err == nil && st.AccessToken == tok.AccessToken {
			secrets = append(secrets, st.RefreshToken)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no write-back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "refreshing without the fleet lease") || !strings.Contains(out, "is stored") {
		t.Fatalf("the fallback and the write-back were not logged:\n%s", out)
	}
	for _, sec := range append(secrets, fleetClientSecret) {
		if sec != "" && strings.Contains(out, sec) {
			t.Fatal("a secret is in the logs")
		}
	}
}

// TestCloseEndsBackgroundWork: a write-back that cannot succeed (Redis
// never returns) and a held lease leave no goroutine behind once the lease
// is released, the store closed and the client closed.
func TestCloseEndsBackgroundWork(t *testing.T) {
	e := newFleetEnv(t, time.Hour)
	e.seed(t, 1, false)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	c := redis.NewClient(&redis.Options{Addr: e.redis.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	s, err := New(c, &Options{Prefix: e.prefix, LeaseTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	unlock, err := s.Lock(ctx, "other-account")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond) // a renewal or two
	unlock()
	f, err := s.NewFetcher(&oauth2.Config{ClientID: fleetClientID, ClientSecret: fleetClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.oauth.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}},
		accountName(0), &FetcherOptions{OnUnavailable: FallbackLocal, Refresh: &providers.RefreshOptions{Now: e.now}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(ctx); err != nil { // adopt, learning the pair
		t.Fatal(err)
	}
	e.redis.kill()
	e.offset.Store(int64(2 * time.Hour))
	if _, err := f.Fetch(ctx); err != nil { // fallback; the write-back starts and keeps failing
		t.Fatal(err)
	}
	if !f.hasDirty() {
		t.Fatal("no pending write-back")
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	e.oauth.Close() // ends the HTTP client's idle connections too
}
