package login

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// FuzzServerNext drives the server with an arbitrary username and password,
// with and without the username as an initial response, then with extra
// responses. Invariants: no panic; challenges are exactly "Username:" and
// "Password:"; success only for tim's exact password; failures are typed;
// after done every Next fails with ErrDone.
func FuzzServerNext(f *testing.F) {
	f.Add([]byte("tim"), []byte("tanstaaftanstaaf"), true)
	f.Add([]byte("tim"), []byte("tanstaaftanstaaf"), false)
	f.Add([]byte("User Name\x00"), []byte("Password\x00"), false)
	f.Add([]byte(""), []byte("tanstaaftanstaaf"), true)
	f.Add([]byte("tim"), []byte(""), false)
	f.Add([]byte("t\xffim"), []byte("x"), false)
	f.Fuzz(func(t *testing.T, username, password []byte, ir bool) {
		s := NewServer(context.Background(), testUsers())
		var responses [][]byte
		if ir {
			responses = [][]byte{username, password}
		} else {
			responses = [][]byte{nil, username, password}
		}
		var (
			done bool
			err  error
			ch   []byte
			n    int
		)
		for _, r := range responses {
			ch, done, err = s.Next(r)
			n++
			if done || err != nil {
				break
			}
			if string(ch) != "Username:" && string(ch) != "Password:" {
				t.Fatalf("challenge %q", ch)
			}
		}
		if err != nil && !done {
			t.Fatal("error without done")
		}
		id, ok := s.Identity()
		if ok != (done && err == nil) {
			t.Fatalf("ok %v, done %v, err %v", ok, done, err)
		}
		if ok {
			if !bytes.Equal(username, []byte("tim")) || !bytes.Equal(password, []byte("tanstaaftanstaaf")) {
				t.Fatalf("authenticated %q with %q", username, password)
			}
			if id != (sasl.Identity{Mechanism: Name, Username: "tim"}) {
				t.Fatalf("identity %+v", id)
			}
		}
		if err != nil && !errors.Is(err, sasl.ErrMalformed) && !errors.Is(err, sasl.ErrAuthFailed) {
			t.Fatalf("untyped failure %v", err)
		}
		if done {
			mechtest.AssertDone(t, s, username, password)
		}
	})
}

// FuzzClientChallenges feeds arbitrary challenges to the client. Invariants:
// no panic; the first answer is the username and the second the password,
// whatever the challenges say; never a nil response without an error; a
// third challenge fails.
func FuzzClientChallenges(f *testing.F) {
	f.Add([]byte("User Name\x00"), []byte("Password\x00"), []byte(""))
	f.Add([]byte("Username:"), []byte("Password:"), []byte("Password:"))
	f.Add([]byte(""), []byte(""), []byte(""))
	f.Fuzz(func(t *testing.T, c1, c2, c3 []byte) {
		c := NewClient("tim", "tanstaaftanstaaf")
		if _, ir, err := c.Start(); ir != nil || err != nil {
			t.Fatal(ir, err)
		}
		r1, err1 := c.Next(c1)
		r2, err2 := c.Next(c2)
		if err1 != nil || err2 != nil || string(r1) != "tim" || string(r2) != "tanstaaftanstaaf" {
			t.Fatalf("%q %v %q %v", r1, err1, r2, err2)
		}
		if r3, err3 := c.Next(c3); r3 != nil || !errors.Is(err3, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("third: %q %v", r3, err3)
		}
	})
}

// FuzzClientServer is the auth-bypass oracle on the client-server loop.
func FuzzClientServer(f *testing.F) {
	f.Add("tim", "tanstaaftanstaaf")
	f.Add("tim", "tanstaaftanstaa")
	f.Add("tim\x00", "tanstaaftanstaaf")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, username, password string) {
		s := NewServer(context.Background(), testUsers())
		c := NewClient(username, password)
		_, resp, err := c.Start()
		if err != nil {
			return
		}
		for range 4 {
			ch, done, serr := s.Next(resp)
			if done || serr != nil {
				break
			}
			if resp, err = c.Next(ch); err != nil {
				t.Fatalf("client failed mid-exchange: %v", err)
			}
		}
		if _, ok := s.Identity(); ok && (username != "tim" || password != "tanstaaftanstaaf") {
			t.Fatalf("authenticated %q with %q", username, password)
		}
	})
}
