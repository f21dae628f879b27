package plugins

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// reportPercentiles adds the median and 99th percentile of d (in
// microseconds) to the benchmark's output.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkTokenUncached fetches a token per operation: through the plugin
// (one gRPC call over the plugin's mutually authenticated connection), and
// from an in-process fetcher as the floor.
func BenchmarkTokenUncached(b *testing.B) {
	ctx := context.Background()
	b.Run("plugin", func(b *testing.B) {
		p := openTest(b, nil)
		f := &remoteTokens{p: p, account: "alice@example.com"}
		d := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if _, err := f.Fetch(ctx); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		reportPercentiles(b, d)
	})
	b.Run("in-process", func(b *testing.B) {
		f := providers.FetcherFunc(func(context.Context) (*oauth2.Token, error) {
			return &oauth2.Token{AccessToken: "ya29.a0Ab", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
		})
		d := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if _, err := f.Fetch(ctx); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		reportPercentiles(b, d)
	})
}

// BenchmarkTokenCached reads a cached token: the plugin's TokenSource
// against a providers.Cache over an in-process fetcher. Both are the same
// cache; the plugin is not called.
func BenchmarkTokenCached(b *testing.B) {
	ctx := context.Background()
	b.Run("plugin", func(b *testing.B) {
		src := openTest(b, nil).TokenSource("alice@example.com")
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := src.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-process", func(b *testing.B) {
		src := providers.NewCache(providers.FetcherFunc(func(context.Context) (*oauth2.Token, error) {
			return &oauth2.Token{AccessToken: "ya29.a0Ab", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
		}), nil)
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := src.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStartToFirstToken opens the tokenfile example plugin, fetches
// one token and closes it: hashing the file, starting the process, the
// handshake with one-time certificates, the Info call and the Token call.
func BenchmarkStartToFirstToken(b *testing.B) {
	file := filepath.Join(b.TempDir(), "tokens.json")
	if err := os.WriteFile(file, []byte(`{"alice@example.com":{"access_token":"ya29.a0Ab"}}`), 0o600); err != nil {
		b.Fatal(err)
	}
	opts := &Options{Checksum: sum(b, bins.tokenfile), Args: []string{file}}
	ctx := context.Background()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		p, err := Open(ctx, bins.tokenfile, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.TokenSource("alice@example.com").Token(ctx); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
		b.StopTimer()
		p.Close()
		b.StartTimer()
	}
	reportPercentiles(b, d)
}

// BenchmarkPlainClient runs a PLAIN client's Start (its whole exchange)
// through the plugin and in-process.
func BenchmarkPlainClient(b *testing.B) {
	params := &sasl.ClientParams{Username: "alice@example.com", Password: userPassword, Conn: &sasl.ConnState{}}
	run := func(b *testing.B, m sasl.Mechanism) {
		d := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			c, err := m.NewClient(params)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.Start(); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
		}
		reportPercentiles(b, d)
	}
	b.Run("plugin", func(b *testing.B) {
		p := openTest(b, nil)
		for _, m := range p.Mechanisms() {
			if m.Name == plain.Name {
				run(b, m)
				return
			}
		}
		b.Fatal("no PLAIN in the plugin")
	})
	b.Run("in-process", func(b *testing.B) { run(b, plain.Mechanism()) })
}
