package xoauth2

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// FuzzServerNext feeds the server an initial response and a second message.
// Invariants: no panic; an error always ends the exchange; once done, Next
// fails with ErrDone; success only when the verifier accepted exactly the
// expected user and token, and that token was on the wire.
func FuzzServerNext(f *testing.F) {
	ir := mechtest.GoldenBase64(f, "google-ir.b64")
	f.Add(ir, []byte{})
	f.Add(mechtest.GoldenBase64(f, "microsoft-ir.b64"), []byte{})
	f.Add([]byte{}, ir)
	f.Add([]byte("user=someuser@example.com\x01auth=bearer other\x01\x01"), []byte("\x01garbage"))
	f.Add([]byte("user=someuser@example.com\x01auth=Basic abc\x01\x01"), []byte{})
	f.Add([]byte("user=a\x01auth=Bearer t\x00\x01\x01"), []byte{})
	f.Add([]byte("user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01x"), []byte{})
	f.Add(mechtest.GoldenBase64(f, "google-error-401.b64"), []byte{1})

	const user, token = "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
	f.Fuzz(func(t *testing.T, first, second []byte) {
		v := newTable(user, token)
		s := NewServer(context.Background(), v, &ServerOptions{MaxSize: 4096})
		err := mechtest.Feed(t, s, first, second, []byte{})
		id, ok := s.Identity()
		if ok != (err == nil) {
			t.Fatalf("identity ok=%v with err=%v", ok, err)
		}
		if err == nil {
			calls := v.Calls()
			if len(calls) != 1 || calls[0].Token != token || calls[0].Username != user || id.Username != user {
				t.Fatalf("success without the verifier accepting the token: %+v", calls)
			}
			if !bytes.Contains(first, []byte(token)) && !bytes.Contains(second, []byte(token)) {
				t.Fatal("success without the token on the wire")
			}
		}
		mechtest.AssertDone(t, s, first)
	})
}

// FuzzClientNext feeds the client a challenge after its initial response.
// Invariants: no panic; either the challenge is a JSON error, answered with
// an empty non-nil response and recorded, or the client cancels with a
// malformed error and records nothing; any later challenge cancels.
func FuzzClientNext(f *testing.F) {
	f.Add(mechtest.GoldenBase64(f, "google-error-401.b64"))
	f.Add(mechtest.GoldenBase64(f, "google-error-400.b64"))
	f.Add([]byte(`{"status":401}`))
	f.Add([]byte("null"))
	f.Add([]byte{})
	f.Add([]byte("+OK"))
	f.Fuzz(func(t *testing.T, challenge []byte) {
		c := NewClient("someuser@example.com", "ya29.token")
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next(challenge)
		if err == nil {
			if resp == nil || len(resp) != 0 {
				t.Fatalf("answer %q", resp)
			}
			var te *sasl.TokenError
			if !errors.As(sasl.FailureOf(c), &te) || te.Mechanism != Name {
				t.Fatal("answered without recording the failure")
			}
		} else {
			if resp != nil || !errors.Is(err, sasl.ErrMalformed) || sasl.FailureOf(c) != nil {
				t.Fatalf("cancel: %q %v %v", resp, err, sasl.FailureOf(c))
			}
		}
		if resp, err := c.Next(challenge); err == nil || resp != nil {
			t.Fatal("second challenge accepted")
		}
	})
}
