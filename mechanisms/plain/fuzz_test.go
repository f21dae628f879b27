package plain

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"unicode/utf8"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// seeds are the vectors' messages and the shapes the rules reject.
var seeds = []string{
	"\x00tim\x00tanstaaftanstaaf",
	"Ursel\x00Kurt\x00xipj3plmq",
	"test\x00test\x001234",
	"test\x00test\x00test",
	"admin\x00\x00pw",
	"\x00\x00",
	"",
	"tim",
	"a\x00b\x00c\x00d",
	"\xff\x00tim\x00pw",
	"\x00tim\x00p\xed\xa0\x80w",
}

// FuzzServerNext feeds arbitrary messages to the server, with and without an
// initial response, against a verifier that knows one user. Invariants: no
// panic; the exchange ends after the message; success only for tim's exact
// password, with the identity the message named; every failure is typed;
// after done every Next fails with ErrDone.
func FuzzServerNext(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, msg []byte, ir bool) {
		s := NewServer(context.Background(), testUsers())
		err := mechtest.SendOne(t, s, msg, ir)
		id, ok := s.Identity()
		if err == nil {
			m, perr := parse(msg)
			if perr != nil || !ok {
				t.Fatalf("accepted a message parse rejects: %v", perr)
			}
			want := map[string]string{"tim": "tanstaaftanstaaf", "Kurt": "xipj3plmq", "test": "1234"}[m.authcid]
			if m.passwd != want || want == "" {
				t.Fatalf("authenticated %q with a wrong password", m.authcid)
			}
			if id.Username != m.authcid || id.Authzid != m.authzid || id.Mechanism != Name {
				t.Fatalf("identity %+v for message %+v", id, m)
			}
		} else {
			if ok {
				t.Fatal("identity after failure")
			}
			if !errors.Is(err, sasl.ErrMalformed) && !errors.Is(err, sasl.ErrAuthFailed) {
				t.Fatalf("untyped failure: %v", err)
			}
		}
		mechtest.AssertDone(t, s, msg)
		if id2, ok2 := s.Identity(); id2 != id || ok2 != ok {
			t.Fatal("identity changed after done")
		}
	})
}

// FuzzParseDifferential compares the parser with go-sasl's PLAIN server. Both
// must agree on every message: go-sasl accepts exactly the messages with
// three NUL-separated fields; ours accepts exactly those whose fields also
// follow the rules go-sasl does not check (non-empty authcid and password,
// valid UTF-8, length caps), and then yields the very same fields.
func FuzzParseDifferential(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var gs [3]string
		called := false
		srv := gosasl.NewPlainServer(func(identity, username, password string) error {
			gs, called = [3]string{identity, username, password}, true
			return nil
		})
		_, _, gerr := srv.Next(append([]byte{}, msg...))
		if (gerr == nil) != called {
			t.Fatalf("go-sasl: err %v, called %v", gerr, called)
		}

		m, err := parse(msg)

		wantOK := called &&
			gs[1] != "" && gs[2] != "" &&
			len(gs[0]) <= MaxIdentityLen && len(gs[1]) <= MaxIdentityLen && len(gs[2]) <= MaxPasswordLen &&
			utf8.ValidString(gs[0]) && utf8.ValidString(gs[1]) && utf8.ValidString(gs[2])
		if (err == nil) != wantOK {
			t.Fatalf("parse(%q): err %v; go-sasl accepted %v with %q", msg, err, called, gs)
		}
		if err != nil {
			var me *sasl.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("untyped parse error %v", err)
			}
			return
		}
		if [3]string{m.authzid, m.authcid, m.passwd} != gs {
			t.Fatalf("parse(%q) = %q, go-sasl %q", msg, [3]string{m.authzid, m.authcid, m.passwd}, gs)
		}
		// Our client and go-sasl's rebuild the identical message.
		_, ir, cerr := NewClient(m.authzid, m.authcid, m.passwd).Start()
		_, gir, _ := gosasl.NewPlainClient(m.authzid, m.authcid, m.passwd).Start()
		if cerr != nil || !bytes.Equal(ir, msg) || !bytes.Equal(gir, msg) {
			t.Fatalf("round trip: %q %q %v", ir, gir, cerr)
		}
	})
}

// FuzzClientServer is the auth-bypass oracle on the client-server loop: a
// client built from arbitrary credentials succeeds against a server that
// knows tim only when it presents tim's exact password, and the server then
// reports exactly the identity the client asked for.
func FuzzClientServer(f *testing.F) {
	f.Add("", "tim", "tanstaaftanstaaf")
	f.Add("", "tim", "tanstaaftanstaaF")
	f.Add("admin", "", "tanstaaftanstaaf")
	f.Add("tim", "tim", "tanstaaftanstaaf")
	f.Add("", "tim\x00", "tanstaaftanstaaf")
	f.Add("", "tim", "tanstaaftanstaaf\x00")
	f.Fuzz(func(t *testing.T, authzid, username, password string) {
		v := sasl.PasswordVerifierFunc(func(_ context.Context, a, u, p string) (sasl.Identity, error) {
			if u != "tim" || p != "tanstaaftanstaaf" {
				return sasl.Identity{}, sasl.ErrAuthFailed
			}
			return sasl.Identity{Username: u, Authzid: a}, nil
		})
		s := NewServer(context.Background(), v)
		_, ir, err := NewClient(authzid, username, password).Start()
		if err != nil {
			if ir != nil {
				t.Fatal("Start failed but returned a message")
			}
			return
		}
		_, _, err = s.Next(ir)
		id, ok := s.Identity()
		if (err == nil) != ok {
			t.Fatalf("err %v, ok %v", err, ok)
		}
		if ok && (username != "tim" || password != "tanstaaftanstaaf" || id.Username != "tim" || id.Authzid != authzid) {
			t.Fatalf("authenticated %q/%q as %+v", username, authzid, id)
		}
	})
}
