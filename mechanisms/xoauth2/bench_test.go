package xoauth2

import (
	"context"
	"fmt"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// benchToken has the length of a typical Google access token.
const benchToken = "ya29.a0AfB_byC1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz"

var sink []byte

// BenchmarkClientStart measures the initial response. The peer is the
// fmt.Sprintf form most programs carry.
func BenchmarkClientStart(b *testing.B) {
	b.Run("saslkit", func(b *testing.B) {
		c := NewClient(testUser, benchToken)
		b.ReportAllocs()
		for b.Loop() {
			_, ir, err := c.Start()
			if err != nil {
				b.Fatal(err)
			}
			sink = ir
		}
	})
	b.Run("sprintf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = []byte(fmt.Sprintf("user=%s\x01auth=Bearer %s\x01\x01", testUser, benchToken))
		}
	})
}

// BenchmarkClient measures construction plus the initial response.
func BenchmarkClient(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, ir, err := NewClient(testUser, benchToken).Start()
		if err != nil {
			b.Fatal(err)
		}
		sink = ir
	}
}

// BenchmarkServer measures a successful server conversation: creation,
// parsing the initial response, the verifier call.
func BenchmarkServer(b *testing.B) {
	ir := []byte("user=" + testUser + "\x01auth=Bearer " + benchToken + "\x01\x01")
	v := sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
		return sasl.Identity{Username: req.Username}, nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, done, err := NewServer(ctx, v, nil).Next(ir)
		if !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

// Start builds the initial response in a single allocation.
func TestClientStartAllocs(t *testing.T) {
	c := NewClient(testUser, benchToken)
	if n := testing.AllocsPerRun(100, func() { _, sink, _ = c.Start() }); n > 1 {
		t.Fatalf("Start allocates %v times, want 1", n)
	}
}
