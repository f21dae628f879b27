package plain

import (
	"context"
	"crypto/subtle"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/sasl"
)

// The PLAIN benchmarks measure this package against go-sasl's PLAIN client
// and server in the same run, with the same password check on both sides.

// sink keeps results alive so that the compiler cannot elide them.
var sink []byte

func BenchmarkClientStart(b *testing.B) {
	b.Run("impl=saslkit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, ir, err := NewClient("", "tim", "tanstaaftanstaaf").Start()
			if err != nil {
				b.Fatal(err)
			}
			sink = ir
		}
	})
	b.Run("impl=go-sasl", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, ir, err := gosasl.NewPlainClient("", "tim", "tanstaaftanstaaf").Start()
			if err != nil {
				b.Fatal(err)
			}
			sink = ir
		}
	})
}

func checkPassword(username, password string) bool {
	return username == "tim" && subtle.ConstantTimeCompare([]byte(password), []byte("tanstaaftanstaaf")) == 1
}

func BenchmarkServer(b *testing.B) {
	msg := []byte("\x00tim\x00tanstaaftanstaaf")
	ctx := context.Background()
	b.Run("impl=saslkit", func(b *testing.B) {
		v := sasl.PasswordVerifierFunc(func(_ context.Context, authzid, username, password string) (sasl.Identity, error) {
			if !checkPassword(username, password) {
				return sasl.Identity{}, sasl.ErrAuthFailed
			}
			return sasl.Identity{Username: username, Authzid: authzid}, nil
		})
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := NewServer(ctx, v).Next(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=go-sasl", func(b *testing.B) {
		auth := func(identity, username, password string) error {
			if !checkPassword(username, password) {
				return sasl.ErrAuthFailed
			}
			return nil
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := gosasl.NewPlainServer(auth).Next(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
