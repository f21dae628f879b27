package login

import (
	"context"
	"crypto/subtle"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/sasl"
)

// BenchmarkExchange runs a whole LOGIN exchange in memory: this package's
// client (no initial response, three round trips) and go-sasl's (username as
// initial response, two), both against this package's server.
func BenchmarkExchange(b *testing.B) {
	v := sasl.PasswordVerifierFunc(func(_ context.Context, _, username, password string) (sasl.Identity, error) {
		if username != "tim" || subtle.ConstantTimeCompare([]byte(password), []byte("tanstaaftanstaaf")) != 1 {
			return sasl.Identity{}, sasl.ErrAuthFailed
		}
		return sasl.Identity{Username: username}, nil
	})
	ctx := context.Background()
	exchange := func(b *testing.B, c sasl.Client) {
		_, resp, err := c.Start()
		if err != nil {
			b.Fatal(err)
		}
		s := NewServer(ctx, v)
		for {
			ch, done, err := s.Next(resp)
			if err != nil {
				b.Fatal(err)
			}
			if done {
				return
			}
			if resp, err = c.Next(ch); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("client=saslkit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			exchange(b, NewClient("tim", "tanstaaftanstaaf"))
		}
	})
	b.Run("client=go-sasl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			exchange(b, gosasl.NewLoginClient("tim", "tanstaaftanstaaf"))
		}
	})
}
