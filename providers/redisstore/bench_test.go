package redisstore

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// countingHook counts the commands a client sends. No pipeline is used, so
// each command is one round trip.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// benchEnv is a Redis and an OAuth server on a shiftable clock.
type benchEnv struct {
	redis  *redisServer
	oauth  *sasltest.OAuthServer
	offset atomic.Int64
}

func newBenchEnv(tb testing.TB) *benchEnv {
	tb.Helper()
	e := &benchEnv{redis: startRedis(tb)}
	e.oauth = sasltest.NewOAuthServer(&sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft,
		Refresh: sasltest.RefreshRotateDetectReuse, Clock: e.now})
	tb.Cleanup(e.oauth.Close)
	if err := e.oauth.AddClient(sasltest.OAuthClient{ID: fleetClientID, Secret: fleetClientSecret}); err != nil {
		tb.Fatal(err)
	}
	return e
}

func (e *benchEnv) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func (e *benchEnv) config() *oauth2.Config {
	return &oauth2.Config{ClientID: fleetClientID, ClientSecret: fleetClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.oauth.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
}

// seed stores a fresh grant for account.
func (e *benchEnv) seed(tb testing.TB, s *Store, account string) {
	tb.Helper()
	tok, err := e.oauth.IssueToken(fleetClientID, account, "mail")
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Save(context.Background(), account, nil, tok); err != nil {
		tb.Fatal(err)
	}
}

func (e *benchEnv) fetcherOptions() *FetcherOptions {
	return &FetcherOptions{Refresh: &providers.RefreshOptions{Now: e.now, AdoptMargin: 20 * time.Minute}}
}

func (e *benchEnv) cacheOptions() *providers.CacheOptions {
	return &providers.CacheOptions{Now: e.now, RefreshMargin: 5 * time.Minute, RefreshJitter: -1, MinValidity: 30 * time.Second}
}

// commandCalls sums the server's per-command call counters (INFO
// commandstats), leaving out the INFO commands that read them.
func commandCalls(tb testing.TB, c *redis.Client) int64 {
	tb.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, m := range regexp.MustCompile(`(?m)^cmdstat_(\w+):calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		if m[1] == "info" {
			continue
		}
		v, _ := strconv.ParseInt(m[2], 10, 64)
		n += v
	}
	return n
}

// TestCachedTokenNeedsNoRedis proves that a valid cached token costs no
// Redis command, counted by the client and by the server; and that
// adopting a token another worker stored costs exactly one.
func TestCachedTokenNeedsNoRedis(t *testing.T) {
	e := newBenchEnv(t)
	c := e.redis.client(t)
	hook := &countingHook{}
	c.AddHook(hook)
	s := newTestStore(t, c, nil)
	e.seed(t, s, testAccount)
	ctx := context.Background()

	f, err := s.NewFetcher(e.config(), testAccount, e.fetcherOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The first run of a script on a server costs one more round trip
	// (EVALSHA answered NOSCRIPT, then EVAL); measure the second.
	if _, err := f.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.last = nil // as if this worker held an older token
	f.mu.Unlock()
	before := hook.n.Load()
	if _, err := f.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if n := hook.n.Load() - before; n != 1 {
		t.Fatalf("adopting a stored token took %d commands, want 1", n)
	}

	ts := providers.NewCache(f, e.cacheOptions())
	if _, err := ts.Token(ctx); err != nil { // fills the cache
		t.Fatal(err)
	}
	clientBefore, serverBefore := hook.n.Load(), commandCalls(t, c)
	for range 10000 {
		if _, err := ts.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := hook.n.Load() - clientBefore - 1; n != 0 { // -1: the INFO above
		t.Fatalf("10,000 cached Token calls sent %d commands", n)
	}
	if n := commandCalls(t, c) - serverBefore; n != 0 {
		t.Fatalf("10,000 cached Token calls ran %d commands on the server", n)
	}
}

// BenchmarkCachedToken: Token with a valid cached token, through the fleet
// stack and through a plain providers.Cache over a MemoryStore (the peer).
// redis-cmds/op must be 0.
func BenchmarkCachedToken(b *testing.B) {
	e := newBenchEnv(b)
	c := e.redis.client(b)
	hook := &countingHook{}
	c.AddHook(hook)
	s := newTestStore(b, c, nil)
	e.seed(b, s, testAccount)
	ctx := context.Background()
	fleet, err := s.TokenSource(e.config(), testAccount, e.fetcherOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	mem := providers.NewMemoryStore()
	tok, _ := s.Load(ctx, testAccount)
	_ = mem.Save(ctx, testAccount, nil, plainToken(tok))
	rf, err := providers.NewRefreshFetcher(e.config(), mem, testAccount, &providers.RefreshOptions{AdoptMargin: 20 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	local := providers.NewCache(rf, nil)
	for name, ts := range map[string]*providers.Cache{"fleet": fleet, "memorystore-peer": local} {
		b.Run(name, func(b *testing.B) {
			if _, err := ts.Token(ctx); err != nil {
				b.Fatal(err)
			}
			before := hook.n.Load()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := ts.Token(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(hook.n.Load()-before)/float64(b.N), "redis-cmds/op")
		})
	}
}

// BenchmarkAdoptFromRedis: a worker whose token nears expiry finds the one
// another worker stored: one round trip (redis-cmds/op = 1). The peer is a
// bare HGETALL of the same hash through the same client.
func BenchmarkAdoptFromRedis(b *testing.B) {
	e := newBenchEnv(b)
	c := e.redis.client(b)
	hook := &countingHook{}
	c.AddHook(hook)
	s := newTestStore(b, c, nil)
	e.seed(b, s, testAccount)
	ctx := context.Background()
	f, err := s.NewFetcher(e.config(), testAccount, e.fetcherOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fetcher-adopt", func(b *testing.B) {
		before := hook.n.Load()
		b.ReportAllocs()
		for b.Loop() {
			f.mu.Lock()
			f.last = nil // as if this worker held an older token
			f.mu.Unlock()
			if _, err := f.Fetch(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(hook.n.Load()-before)/float64(b.N), "redis-cmds/op")
	})
	tk, _ := s.Keys(testAccount)
	b.Run("hgetall-peer", func(b *testing.B) {
		before := hook.n.Load()
		b.ReportAllocs()
		for b.Loop() {
			if err := c.HGetAll(ctx, tk).Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(hook.n.Load()-before)/float64(b.N), "redis-cmds/op")
	})
}

// BenchmarkExpiryCycle: n workers (each with its own Store, as separate
// processes would have, sharing one client pool) hold one account's token;
// each op moves the clock past expiry and has every worker ask for a
// token at once. refreshes/cycle must be 1 whatever n.
func BenchmarkExpiryCycle(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			e := newBenchEnv(b)
			c := e.redis.client(b)
			s0 := newTestStore(b, c, nil)
			e.seed(b, s0, testAccount)
			ctx := context.Background()
			srcs := make([]*providers.Cache, n)
			for i := range srcs {
				s := newTestStore(b, c, nil)
				var err error
				if srcs[i], err = s.TokenSource(e.config(), testAccount, e.fetcherOptions(), e.cacheOptions()); err != nil {
					b.Fatal(err)
				}
				if _, err := srcs[i].Token(ctx); err != nil {
					b.Fatal(err)
				}
			}
			before := e.oauth.Issued(sasltest.GrantRefreshToken)
			cycles := 0
			b.ResetTimer()
			for b.Loop() {
				cycles++
				e.offset.Add(int64(time.Hour + time.Minute))
				var wg sync.WaitGroup
				tokens := make([]string, n)
				for i, ts := range srcs {
					wg.Go(func() {
						tok, err := ts.Token(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						tokens[i] = tok.AccessToken
					})
				}
				wg.Wait()
				for _, tok := range tokens[1:] {
					if tok != tokens[0] {
						b.Fatal("workers hold different tokens")
					}
				}
			}
			b.StopTimer()
			refreshes := e.oauth.Issued(sasltest.GrantRefreshToken) - before
			if refreshes != cycles || e.oauth.ReuseDetected() != 0 {
				b.Fatalf("%d refreshes in %d cycles (%d reuses)", refreshes, cycles, e.oauth.ReuseDetected())
			}
			b.ReportMetric(float64(refreshes)/float64(cycles), "refreshes/cycle")
		})
	}
}
