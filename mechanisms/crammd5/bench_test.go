package crammd5

import (
	"context"
	netsmtp "net/smtp"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

var sink []byte

// BenchmarkClientNext computes a response, beside the standard library's
// net/smtp CRAM-MD5 client.
func BenchmarkClientNext(b *testing.B) {
	ch := []byte("<1896.697170952@postoffice.reston.mci.net>")
	b.Run("impl=saslkit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := NewClient("tim", "tanstaaftanstaaf")
			_, _, _ = c.Start()
			r, err := c.Next(ch)
			if err != nil {
				b.Fatal(err)
			}
			sink = r
		}
	})
	b.Run("impl=net-smtp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := netsmtp.CRAMMD5Auth("tim", "tanstaaftanstaaf").Next(ch, true)
			if err != nil {
				b.Fatal(err)
			}
			sink = r
		}
	})
}

// BenchmarkExchange runs a whole CRAM-MD5 exchange in memory: challenge
// from crypto/rand, response, verification.
func BenchmarkExchange(b *testing.B) {
	lookup := sasl.SecretLookupFunc(func(_ context.Context, username string) (string, error) {
		if username != "tim" {
			return "", sasl.ErrUnknownUser
		}
		return "tanstaaftanstaaf", nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s := NewServer(ctx, lookup, nil)
		c := NewClient("tim", "tanstaaftanstaaf")
		_, _, _ = c.Start()
		ch, _, err := s.Next(nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := c.Next(ch)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Next(r); err != nil {
			b.Fatal(err)
		}
	}
}
