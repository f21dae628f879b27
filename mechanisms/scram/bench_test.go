package scram

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/sasl"
)

// BenchmarkSCRAM measures, for each hash at 4096 iterations and in the same
// run:
//
//   - pbkdf2: crypto/pbkdf2 alone, the floor of any SCRAM exchange;
//   - exchange: a full client-against-server exchange with this package
//     (client created, three messages each way, server signature verified;
//     the client runs PBKDF2 once, the server with stored credentials none);
//   - xdg-go: the same exchange driven directly on xdg-go/scram, without
//     this package's checks.
func BenchmarkSCRAM(b *testing.B) {
	const iters = 4096
	salt := []byte("0123456789abcdef")
	for _, h := range []string{HashSHA1, HashSHA256, HashSHA512} {
		spec, _ := specFor(h)
		creds, err := StoredCredentials(h, "pencil", salt, iters)
		if err != nil {
			b.Fatal(err)
		}
		lookup := sasl.SCRAMLookupFunc(func(context.Context, string, string) (sasl.SCRAMCredentials, error) { return creds, nil })
		b.Run(spec.mech+"/pbkdf2", func(b *testing.B) {
			for b.Loop() {
				if _, err := pbkdf2.Key(spec.newHash, "pencil", salt, iters, spec.size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(spec.mech+"/exchange", func(b *testing.B) {
			opts := &Options{FakeSaltKey: testKey}
			for b.Loop() {
				c, err := NewClient(spec.mech, &sasl.ClientParams{Username: "user", Password: "pencil"}, opts)
				if err != nil {
					b.Fatal(err)
				}
				s, err := NewServer(context.Background(), spec.mech, lookup, nil, opts)
				if err != nil {
					b.Fatal(err)
				}
				if r := run(b, c, s); !r.ok() {
					b.Fatalf("exchange failed: %+v", r)
				}
			}
		})
		b.Run(spec.mech+"/xdg-go", func(b *testing.B) {
			gen := xdgscram.HashGeneratorFcn(spec.newHash)
			stored := xdgscram.StoredCredentials{
				KeyFactors: xdgscram.KeyFactors{Salt: string(salt), Iters: iters},
				StoredKey:  creds.StoredKey,
				ServerKey:  creds.ServerKey,
			}
			srv, err := gen.NewServer(func(string) (xdgscram.StoredCredentials, error) { return stored, nil })
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				cl, err := gen.NewClient("user", "pencil", "")
				if err != nil {
					b.Fatal(err)
				}
				cc, sc := cl.NewConversation(), srv.NewConversation()
				msg, _ := cc.Step("")
				for !cc.Done() {
					if msg, err = sc.Step(msg); err != nil {
						b.Fatal(err)
					}
					if msg, err = cc.Step(msg); err != nil {
						b.Fatal(err)
					}
				}
				if !cc.Valid() || !sc.Valid() {
					b.Fatal("xdg-go exchange failed")
				}
			}
		})
	}
}

// BenchmarkSCRAMSHA256Interleaved alternates a full SCRAM-SHA-256 exchange
// at 4096 iterations with PBKDF2 alone, timing each, so that both see the
// same machine load. It reports the median of each cost and the median of
// the per-iteration ratios exchange ÷ PBKDF2, which a burst of load on a
// shared machine disturbs far less than totals do.
func BenchmarkSCRAMSHA256Interleaved(b *testing.B) {
	reportInterleaved(b, "", interleave(b, func() time.Duration { return time.Duration(time.Now().UnixNano()) }))
}

// pair is one iteration of interleave.
type pair struct{ exchange, kdf time.Duration }

func reportInterleaved(b *testing.B, unit string, pairs []pair) {
	if len(pairs) == 0 {
		return
	}
	ex := make([]float64, len(pairs))
	kdf := make([]float64, len(pairs))
	ratio := make([]float64, len(pairs))
	for i, p := range pairs {
		ex[i], kdf[i] = float64(p.exchange), float64(p.kdf)
		ratio[i] = ex[i] / max(kdf[i], 1)
	}
	b.ReportMetric(median(ex), "exchange-"+unit+"ns/op")
	b.ReportMetric(median(kdf), "pbkdf2-"+unit+"ns/op")
	b.ReportMetric(median(ratio), "ratio")
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// interleave runs a full SCRAM-SHA-256 exchange at 4096 iterations and
// PBKDF2 alone once per benchmark iteration, measuring each with clock. The
// order alternates between iterations, so that neither side profits from
// its position (caches, the clock's own cost).
func interleave(b *testing.B, clock func() time.Duration) []pair {
	const iters = 4096
	salt := []byte("0123456789abcdef")
	creds, err := StoredCredentials(HashSHA256, "pencil", salt, iters)
	if err != nil {
		b.Fatal(err)
	}
	lookup := sasl.SCRAMLookupFunc(func(context.Context, string, string) (sasl.SCRAMCredentials, error) { return creds, nil })
	opts := &Options{FakeSaltKey: testKey}
	runKDF := func() time.Duration {
		t0 := clock()
		if _, err := pbkdf2.Key(sha256.New, "pencil", salt, iters, sha256.Size); err != nil {
			b.Fatal(err)
		}
		return clock() - t0
	}
	runExchange := func() time.Duration {
		t0 := clock()
		c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: "user", Password: "pencil"}, opts)
		if err != nil {
			b.Fatal(err)
		}
		s, err := NewServer(context.Background(), MechSHA256, lookup, nil, opts)
		if err != nil {
			b.Fatal(err)
		}
		if r := run(b, c, s); !r.ok() {
			b.Fatalf("exchange failed: %+v", r)
		}
		return clock() - t0
	}
	var pairs []pair
	for b.Loop() {
		var p pair
		if len(pairs)%2 == 0 {
			p.kdf = runKDF()
			p.exchange = runExchange()
		} else {
			p.exchange = runExchange()
			p.kdf = runKDF()
		}
		pairs = append(pairs, p)
	}
	return pairs
}
