package oauthbearer

import (
	"context"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/sasl"
)

// benchToken has the length of a typical Google access token.
const benchToken = "ya29.a0AfB_byC1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz"

var sink []byte

var benchOpts = ClientOptions{Authzid: testUser, Token: benchToken, Host: "imap.gmail.com", Port: 993}

func benchIR() []byte {
	_, ir, _ := NewClient(benchOpts).Start()
	return ir
}

// BenchmarkClientStart measures the initial response of a ready client,
// ours against go-sasl's.
func BenchmarkClientStart(b *testing.B) {
	b.Run("saslkit", func(b *testing.B) {
		c := NewClient(benchOpts)
		b.ReportAllocs()
		for b.Loop() {
			_, ir, err := c.Start()
			if err != nil {
				b.Fatal(err)
			}
			sink = ir
		}
	})
	b.Run("go-sasl", func(b *testing.B) {
		c := gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: testUser, Token: benchToken, Host: "imap.gmail.com", Port: 993})
		b.ReportAllocs()
		for b.Loop() {
			_, ir, _ := c.Start()
			sink = ir
		}
	})
}

// BenchmarkClient measures creating a client (ours checks its input) and
// its initial response.
func BenchmarkClient(b *testing.B) {
	b.Run("saslkit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, ir, err := NewClient(benchOpts).Start()
			if err != nil {
				b.Fatal(err)
			}
			sink = ir
		}
	})
	b.Run("go-sasl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, ir, _ := gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: testUser, Token: benchToken, Host: "imap.gmail.com", Port: 993}).Start()
			sink = ir
		}
	})
}

// BenchmarkServer measures a successful server conversation (creation,
// parsing the initial response, the verifier call), ours against go-sasl's.
func BenchmarkServer(b *testing.B) {
	ir := benchIR()
	b.Run("saslkit", func(b *testing.B) {
		v := sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{Username: req.Username}, nil
		})
		ctx := context.Background()
		opts := &ServerOptions{Host: "imap.gmail.com", Port: 993}
		b.ReportAllocs()
		for b.Loop() {
			_, done, err := NewServer(ctx, v, opts).Next(ir)
			if !done || err != nil {
				b.Fatal(done, err)
			}
		}
	})
	b.Run("go-sasl", func(b *testing.B) {
		auth := func(o gosasl.OAuthBearerOptions) *gosasl.OAuthBearerError {
			if o.Host != "imap.gmail.com" || o.Port != 993 {
				return &gosasl.OAuthBearerError{Status: "invalid_request"}
			}
			return nil
		}
		b.ReportAllocs()
		for b.Loop() {
			_, done, err := gosasl.NewOAuthBearerServer(auth).Next(ir)
			if !done || err != nil {
				b.Fatal(done, err)
			}
		}
	})
}

// BenchmarkServerRejected measures a rejected exchange: initial response,
// JSON error challenge, the client's 0x01, failure.
func BenchmarkServerRejected(b *testing.B) {
	ir := benchIR()
	b.Run("saslkit", func(b *testing.B) {
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{}, &sasl.TokenError{Status: "invalid_token", Schemes: "bearer", Scope: "https://mail.google.com/"}
		})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			s := NewServer(ctx, v, nil)
			s.Next(ir)
			if _, done, err := s.Next([]byte{1}); !done || err == nil {
				b.Fatal(done, err)
			}
		}
	})
	b.Run("go-sasl", func(b *testing.B) {
		auth := func(gosasl.OAuthBearerOptions) *gosasl.OAuthBearerError {
			return &gosasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: "https://mail.google.com/"}
		}
		b.ReportAllocs()
		for b.Loop() {
			s := gosasl.NewOAuthBearerServer(auth)
			s.Next(ir)
			if _, done, err := s.Next([]byte{1}); !done || err == nil {
				b.Fatal(done, err)
			}
		}
	})
}

// Start builds the initial response in a single allocation.
func TestClientStartAllocs(t *testing.T) {
	c := NewClient(benchOpts)
	if n := testing.AllocsPerRun(100, func() { _, sink, _ = c.Start() }); n > 1 {
		t.Fatalf("Start allocates %v times, want 1", n)
	}
}
