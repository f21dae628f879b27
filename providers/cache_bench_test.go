package providers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func validToken() *oauth2.Token {
	return &oauth2.Token{AccessToken: "ya29.bench", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
}

func TestCachedTokenZeroAllocs(t *testing.T) {
	c := NewCache(Static(validToken()), nil)
	ctx := context.Background()
	mustToken(t, c)
	if n := testing.AllocsPerRun(1000, func() { _, _ = c.Token(ctx) }); n != 0 {
		t.Fatalf("cached Token allocates %v times per call, want 0", n)
	}
}

// BenchmarkCachedToken compares reading a valid cached token from a Cache
// with oauth2.ReuseTokenSource, which locks a mutex on every call, on all
// cores.
func BenchmarkCachedToken(b *testing.B) {
	b.Run("impl=saslkit.Cache", func(b *testing.B) {
		c := NewCache(Static(validToken()), nil)
		ctx := context.Background()
		if _, err := c.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Token(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("impl=saslkit.Cache,clock=exact", func(b *testing.B) {
		// Now set: every read consults the clock, as a cache read fewer
		// than 64 times a second does.
		c := NewCache(Static(validToken()), &CacheOptions{Now: time.Now})
		ctx := context.Background()
		if _, err := c.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Token(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("impl=oauth2.ReuseTokenSource", func(b *testing.B) {
		ts := oauth2.ReuseTokenSource(validToken(), oauth2.StaticTokenSource(validToken()))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ts.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRefreshStorm measures the time until 1,000 waiters on an
// expired token all hold the fresh one, against one endpoint round trip
// (reported as rtt-ns; the endpoint answers after a fixed 2 ms).
func BenchmarkRefreshStorm(b *testing.B) {
	const waiters = 1000
	const serverDelay = 2 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(serverDelay)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at-` + randHex(8) + `","expires_in":3599,"token_type":"Bearer"}`))
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "id", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.Background()

	// One bare round trip, for reference.
	store := NewMemoryStore()
	_ = store.Save(ctx, "a", nil, &oauth2.Token{RefreshToken: "rt"})
	var rtt time.Duration
	for range 20 {
		f, _ := NewRefreshFetcher(cfg, store, "a", &RefreshOptions{AdoptMargin: 2 * time.Hour})
		start := time.Now()
		if _, err := f.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
		rtt += time.Since(start)
	}
	rtt /= 20

	var total time.Duration
	b.ResetTimer()
	for range b.N {
		f, _ := NewRefreshFetcher(cfg, store, "a", &RefreshOptions{AdoptMargin: 2 * time.Hour})
		c := NewCache(f, nil)
		var ready, done sync.WaitGroup
		gate := make(chan struct{})
		for range waiters {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-gate
				if _, err := c.Token(ctx); err != nil {
					b.Error(err)
				}
			}()
		}
		ready.Wait()
		start := time.Now()
		close(gate)
		done.Wait()
		total += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "storm-ns")
	b.ReportMetric(float64(rtt.Nanoseconds()), "rtt-ns")
	b.ReportMetric(float64(total)/float64(b.N)/float64(rtt), "storm/rtt")
}

// TestCoarseClockLifecycle checks that a busy cache switches to the coarse
// clock and that the ticker goroutine stops once reads stop.
func TestCoarseClockLifecycle(t *testing.T) {
	c := NewCache(Static(validToken()), nil)
	ctx := context.Background()
	for range 10 * coarseHotCalls {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !c.coarse.running.Load() {
		// A second boundary can reset the count once; go on reading.
		for range 2 * coarseHotCalls {
			mustToken(t, c)
		}
	}
	if !c.coarse.running.Load() {
		t.Fatal("coarse clock not started by a busy cache")
	}
	if n, coarse := c.coarse.read(); !coarse || n == 0 {
		t.Fatal("busy cache still reads the wall clock")
	}
	// Idle: the ticker exits (the wait is a hang guard, not a bound).
	deadline := time.Now().Add(30 * time.Second)
	for c.coarse.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("coarse clock ticker did not stop after reads stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.coarse.now.Load() != 0 {
		t.Fatal("stale coarse reading left after the ticker stopped")
	}
}

// TestCoarseClockNearDeadline: a coarse reading within coarseSlack of the
// refresh deadline (or past it) is not trusted; the real clock decides.
func TestCoarseClockNearDeadline(t *testing.T) {
	var fetches atomic.Int64
	c := NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		fetches.Add(1)
		return &oauth2.Token{AccessToken: "t", Expiry: time.Now().Add(time.Hour)}, nil
	}), nil)
	mustToken(t, c)
	e := c.cur.Load()
	// A (pretend) coarse reading past the refresh deadline: the real clock
	// says the token is fresh, so no refresh starts.
	c.coarse.now.Store(e.softAt + int64(time.Second))
	mustToken(t, c)
	waitIdle(c)
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches: a coarse reading near the deadline was trusted", fetches.Load())
	}
	c.coarse.now.Store(0)
}
