package crammd5

import (
	"bytes"
	"context"
	"errors"
	"net/smtp"
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// FuzzServerNext sends an arbitrary response to a fixed challenge.
// Invariants: no panic; success only for the exact digest of tim's or rjs3's
// secret over that challenge; failures are typed; after done every Next
// fails with ErrDone.
func FuzzServerNext(f *testing.F) {
	f.Add([]byte("tim b913a602c7eda7a495b4e6e7334d3890"))
	f.Add([]byte("rjs3 ec3a59fed395aba1ec6367c4f4b41ac0"))
	f.Add([]byte("tim B913A602C7EDA7A495B4E6E7334D3890"))
	f.Add([]byte(" b913a602c7eda7a495b4e6e7334d3890"))
	f.Add([]byte("tim"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, resp []byte) {
		s := NewServer(context.Background(), testSecrets(), fixed(1896, 697170952, "postoffice.reston.mci.net"))
		ch, done, err := s.Next(nil)
		if err != nil || done {
			t.Fatal(err)
		}
		_, done, err = s.Next(resp)
		if !done {
			t.Fatal("not done after the response")
		}
		id, ok := s.Identity()
		if ok != (err == nil) {
			t.Fatalf("ok %v err %v", ok, err)
		}
		if ok {
			want := false
			for user, secret := range testSecrets().m {
				want = want || bytes.Equal(resp, appendResponse(nil, user, secret, ch)) && id.Username == user
			}
			if !want {
				t.Fatalf("accepted %q as %+v", resp, id)
			}
		} else if !errors.Is(err, sasl.ErrMalformed) && !errors.Is(err, sasl.ErrAuthFailed) {
			t.Fatalf("untyped failure %v", err)
		}
		mechtest.AssertDone(t, s, resp)
	})
}

// FuzzClientNext answers arbitrary challenges and checks the answer against
// the standard library's net/smtp CRAM-MD5 client, byte for byte. A second
// challenge always fails.
func FuzzClientNext(f *testing.F) {
	f.Add("tim", "tanstaaftanstaaf", []byte("<1896.697170952@postoffice.reston.mci.net>"))
	f.Add("rjs3", "1234", []byte("<4192942341.12828472@sourcefour.andrew.cmu.edu>"))
	f.Add("a b", "\x00", []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, user, secret string, ch []byte) {
		c := NewClient(user, secret)
		if _, ir, err := c.Start(); err != nil || ir != nil {
			if user != "" && secret != "" {
				t.Fatalf("Start: %v", err)
			}
			return
		}
		resp, err := c.Next(ch)
		if len(ch) == 0 {
			if resp != nil || !errors.Is(err, sasl.ErrMalformed) {
				t.Fatalf("empty challenge: %q %v", resp, err)
			}
		} else {
			want, werr := smtp.CRAMMD5Auth(user, secret).Next(ch, true)
			if err != nil || werr != nil || !bytes.Equal(resp, want) {
				t.Fatalf("Next = %q %v, net/smtp %q %v", resp, err, want, werr)
			}
		}
		if r, err := c.Next(ch); r != nil || !errors.Is(err, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("second challenge: %q %v", r, err)
		}
	})
}

// FuzzClientServer is the auth-bypass oracle on the client-server loop:
// success only with tim's exact secret.
func FuzzClientServer(f *testing.F) {
	f.Add("tim", "tanstaaftanstaaf", uint64(1))
	f.Add("tim", "tanstaaftanstaaF", uint64(2))
	f.Add("tim ", "tanstaaftanstaaf", uint64(3))
	f.Add("nobody", "", uint64(4))
	f.Fuzz(func(t *testing.T, user, secret string, random uint64) {
		s := NewServer(context.Background(), testSecrets(), fixed(random, 0, "h"))
		c := NewClient(user, secret)
		if _, _, err := c.Start(); err != nil {
			return
		}
		ch, _, err := s.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next(ch)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Next(resp)
		id, ok := s.Identity()
		if ok != (err == nil) {
			t.Fatal(ok, err)
		}
		want, known := testSecrets().m[user]
		if ok && (!known || secret != want || id.Username != user) {
			t.Fatalf("authenticated %q with %q as %+v", user, secret, id)
		}
		if known && secret == want && !ok {
			t.Fatalf("refused %q with the right secret: %v", user, err)
		}
	})
}
