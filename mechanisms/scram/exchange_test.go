package scram

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

var baseMechs = []string{MechSHA1, MechSHA256, MechSHA512}

// tamper wraps a server, rewriting the client's responses (step counts
// them from 0), to inject malformed messages mid-exchange.
type tamper struct {
	sasl.Server
	step int
	fn   func(step int, resp []byte) []byte
}

func (tp *tamper) Next(resp []byte) ([]byte, bool, error) {
	resp = tp.fn(tp.step, resp)
	tp.step++
	return tp.Server.Next(resp)
}

// tamperClient rewrites the server's challenges before the client sees
// them.
type tamperClient struct {
	sasl.Client
	step int
	fn   func(step int, ch []byte) []byte
}

func (tc *tamperClient) Next(ch []byte) ([]byte, error) {
	ch = tc.fn(tc.step, ch)
	tc.step++
	return tc.Client.Next(ch)
}

func TestExchange(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"}, [2]string{"us,er=", "p\u00e4ss w\u00f6rd"})
	for _, mech := range baseMechs {
		t.Run(mech, func(t *testing.T) {
			t.Run("success", func(t *testing.T) {
				c := newTestClient(t, mech, "user", "pencil", nil, nil)
				s := newTestServer(t, mech, db, nil, nil)
				r := run(t, c, s)
				if !r.ok() || r.steps != 2 {
					t.Fatalf("exchange: %+v", r)
				}
				if !c.Verified() || c.Failure() != nil {
					t.Fatalf("client: Verified=%t Failure=%v", c.Verified(), c.Failure())
				}
				id, ok := s.Identity()
				if !ok || id != (sasl.Identity{Mechanism: mech, Username: "user"}) || id.AuthorizedAs() != "user" {
					t.Fatalf("Identity = %+v, %t", id, ok)
				}
				if _, done, err := s.Next([]byte{}); !errors.Is(err, sasl.ErrDone) || !done {
					t.Fatalf("Next after success: %t, %v", done, err)
				}
			})
			t.Run("escaped username and non-ASCII password", func(t *testing.T) {
				c := newTestClient(t, mech, "us,er=", "p\u00e4ss w\u00f6rd", nil, nil)
				s := newTestServer(t, mech, db, nil, nil)
				if r := run(t, c, s); !r.ok() {
					t.Fatalf("exchange: %+v", r)
				}
				if id, _ := s.Identity(); id.Username != "us,er=" {
					t.Fatalf("Username = %q", id.Username)
				}
			})
			t.Run("authzid", func(t *testing.T) {
				c, err := NewClient(mech, &sasl.ClientParams{Username: "user", Password: "pencil", Authzid: "ad,min"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				s := newTestServer(t, mech, db, nil, nil)
				if r := run(t, c, s); !r.ok() {
					t.Fatalf("exchange: %+v", r)
				}
				id, _ := s.Identity()
				if id.Username != "user" || id.Authzid != "ad,min" || id.AuthorizedAs() != "ad,min" {
					t.Fatalf("Identity = %+v", id)
				}
			})
			t.Run("authzid with NUL refused by the client", func(t *testing.T) {
				if _, err := NewClient(mech, &sasl.ClientParams{Username: "user", Password: "pencil", Authzid: "admin\x00"}, nil); err == nil {
					t.Fatal("authzid with NUL accepted")
				}
			})
			t.Run("wrong password", func(t *testing.T) {
				c := newTestClient(t, mech, "user", "pencil2", nil, nil)
				s := newTestServer(t, mech, db, nil, nil)
				r := run(t, c, s)
				if r.ok() || !errors.Is(r.serverErr, sasl.ErrAuthFailed) || r.clientErr != nil {
					t.Fatalf("exchange: %+v", r)
				}
				if serverErrorValue(c.Failure()) != ErrValueInvalidProof || c.Verified() {
					t.Fatalf("client: %v, verified %t", c.Failure(), c.Verified())
				}
				if _, ok := s.Identity(); ok {
					t.Fatal("identity after failure")
				}
			})
			t.Run("unknown user", func(t *testing.T) {
				c := newTestClient(t, mech, "nobody", "pencil", nil, nil)
				s := newTestServer(t, mech, db, nil, nil)
				r := run(t, c, s)
				if r.ok() || !errors.Is(r.serverErr, sasl.ErrAuthFailed) || !errors.Is(r.serverErr, sasl.ErrUnknownUser) {
					t.Fatalf("exchange: %+v", r)
				}
				if serverErrorValue(c.Failure()) != ErrValueInvalidProof {
					t.Fatalf("client: %v", c.Failure())
				}
			})
			t.Run("client-first truncated", func(t *testing.T) {
				c := newTestClient(t, mech, "user", "pencil", nil, nil)
				s := &tamper{Server: newTestServer(t, mech, db, nil, nil), fn: func(step int, b []byte) []byte {
					if step == 0 {
						return b[:len("n,,n=user")]
					}
					return b
				}}
				if r := run(t, c, s); !errors.Is(r.serverErr, sasl.ErrMalformed) {
					t.Fatalf("exchange: %+v", r)
				}
			})
			t.Run("client-final with truncated base64 proof", func(t *testing.T) {
				c := newTestClient(t, mech, "user", "pencil", nil, nil)
				s := &tamper{Server: newTestServer(t, mech, db, nil, nil), fn: func(step int, b []byte) []byte {
					if step == 1 {
						return b[:len(b)-1]
					}
					return b
				}}
				if r := run(t, c, s); !errors.Is(r.serverErr, sasl.ErrMalformed) {
					t.Fatalf("exchange: %+v", r)
				}
			})
			t.Run("client-final oversized", func(t *testing.T) {
				c := newTestClient(t, mech, "user", "pencil", nil, nil)
				s := &tamper{Server: newTestServer(t, mech, db, nil, nil), fn: func(step int, b []byte) []byte {
					if step == 1 {
						i := strings.LastIndex(string(b), ",p=")
						return []byte(string(b[:i]) + ",x=" + strings.Repeat("y", DefaultMaxMessageSize) + string(b[i:]))
					}
					return b
				}}
				if r := run(t, c, s); !errors.Is(r.serverErr, sasl.ErrMalformed) {
					t.Fatalf("exchange: %+v", r)
				}
			})
			t.Run("server-first with truncated base64 salt", func(t *testing.T) {
				c := &tamperClient{Client: newTestClient(t, mech, "user", "pencil", nil, nil), fn: func(step int, b []byte) []byte {
					if step == 0 {
						return []byte(strings.Replace(string(b), "=,i=", ",i=", 1))
					}
					return b
				}}
				s := newTestServer(t, mech, db, nil, nil)
				if r := run(t, c, s); !errors.Is(r.clientErr, sasl.ErrMalformed) {
					t.Fatalf("exchange: %+v", r)
				}
			})
			t.Run("server-first with the iteration count lowered", func(t *testing.T) {
				c := &tamperClient{Client: newTestClient(t, mech, "user", "pencil", nil, nil), fn: func(step int, b []byte) []byte {
					if step == 0 {
						return []byte(strings.Replace(string(b), ",i=4096", ",i=1", 1))
					}
					return b
				}}
				s := newTestServer(t, mech, db, nil, nil)
				if r := run(t, c, s); !errors.Is(r.clientErr, ErrIterationCount) {
					t.Fatalf("exchange: %+v", r)
				}
			})
			t.Run("server-final forged", func(t *testing.T) {
				inner := newTestClient(t, mech, "user", "pencil", nil, nil)
				c := &tamperClient{Client: inner, fn: func(step int, b []byte) []byte {
					if step == 1 {
						v := []byte(string(b))
						v[3] ^= 1
						return v
					}
					return b
				}}
				s := newTestServer(t, mech, db, nil, nil)
				r := run(t, c, s)
				if !errors.Is(r.clientErr, sasl.ErrServerAuth) && !errors.Is(r.clientErr, sasl.ErrMalformed) {
					t.Fatalf("exchange: %+v", r)
				}
				if inner.Verified() {
					t.Fatal("forged verifier accepted")
				}
			})
		})
	}
}

// TestMechanismMismatch: a SCRAM-SHA-1 client against a SCRAM-SHA-256
// server fails cleanly (the proof has the wrong length).
func TestMechanismMismatch(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	c := newTestClient(t, MechSHA1, "user", "pencil", nil, nil)
	s := newTestServer(t, MechSHA256, db, nil, nil)
	if r := run(t, c, s); r.ok() || !errors.Is(r.serverErr, sasl.ErrMalformed) {
		t.Fatalf("exchange: %+v", r)
	}
}

func TestDescriptors(t *testing.T) {
	all := All(nil)
	var names []string
	for _, m := range all {
		names = append(names, m.Name)
		if m.Needs != sasl.NeedPassword || !m.Properties.Has(sasl.MutualAuth) || m.Properties.Has(sasl.SendsSecret) {
			t.Errorf("%s: needs %v, properties %v", m.Name, m.Needs, m.Properties)
		}
		plus := strings.HasSuffix(m.Name, "-PLUS")
		if plus != m.Properties.Has(sasl.ChannelBinding) || plus != (m.Usable != nil) {
			t.Errorf("%s: channel binding property or Usable wrong", m.Name)
		}
		if m.Standard == "" || m.NewClient == nil || m.NewServer == nil {
			t.Errorf("%s: incomplete descriptor", m.Name)
		}
	}
	want := []string{MechSHA512Plus, MechSHA256Plus, MechSHA1Plus, MechSHA512, MechSHA256, MechSHA1}
	if !slices.Equal(names, want) {
		t.Fatalf("All = %v", names)
	}
	strength := map[string]int{}
	for _, m := range all {
		strength[m.Name] = m.Strength
	}
	for name, s := range map[string]int{MechSHA1: 60, MechSHA256: 62, MechSHA512: 64, MechSHA1Plus: 70, MechSHA256Plus: 72, MechSHA512Plus: 74} {
		if strength[name] != s {
			t.Errorf("%s strength %d, want %d", name, strength[name], s)
		}
	}
	for _, f := range []func(*Options) sasl.Mechanism{SHA1, SHA256, SHA512, SHA1Plus, SHA256Plus, SHA512Plus} {
		m := f(nil)
		if !slices.Contains(want, m.Name) {
			t.Errorf("constructor returned %s", m.Name)
		}
	}
	if n := len(All(&Options{NoChannelBinding: true})); n != 3 {
		t.Fatalf("All with NoChannelBinding has %d mechanisms", n)
	}
	bad := SHA256(&Options{MaxIterations: 1})
	if bad.Usable == nil || bad.Usable(nil) == nil {
		t.Fatal("descriptor with invalid options is usable")
	}
	if _, err := bad.NewClient(&sasl.ClientParams{Username: "u", Password: "p"}); err == nil {
		t.Fatal("descriptor with invalid options created a client")
	}
	if _, err := bad.NewServer(context.Background(), &sasl.Verifiers{SCRAM: newUserDB(t, 1)}, nil); err == nil {
		t.Fatal("descriptor with invalid options created a server")
	}
	if err := SHA256Plus(nil).Usable(&sasl.ConnState{}); err == nil {
		t.Fatal("-PLUS usable without TLS")
	}
	if err := SHA256Plus(nil).Usable(nil); err == nil {
		t.Fatal("-PLUS usable with nil conn")
	}
}

// TestRegistry runs the descriptors through a sasl.Registry: server
// advertisement, client negotiation and both sides of the exchange.
func TestRegistry(t *testing.T) {
	ctx := context.Background()
	reg := sasl.NewRegistry()
	for _, m := range All(nil) {
		if err := reg.Register(m); err != nil {
			t.Fatal(err)
		}
	}
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	creds := &sasl.Credentials{Username: "user", Password: "pencil"}

	t.Run("plain connection", func(t *testing.T) {
		advertised := reg.ServerMechanisms(&sasl.ConnState{}, nil)
		if !slices.Equal(advertised, []string{MechSHA512, MechSHA256, MechSHA1}) {
			t.Fatalf("advertised without TLS: %v", advertised)
		}
		n, err := reg.Negotiate(ctx, []string{MechSHA1, MechSHA256, "PLAIN"}, creds, &sasl.ConnState{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n.Mechanism.Name != MechSHA256 {
			t.Fatalf("negotiated %s", n.Mechanism.Name)
		}
		s, err := reg.NewServer(ctx, n.Mechanism.Name, &sasl.Verifiers{SCRAM: db}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := run(t, n.Client, s); !r.ok() {
			t.Fatalf("exchange: %+v", r)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		cert := newCertificate(t, "ecdsa-p256")
		cc, sc := tlsPair(t, cert, 0x0304, nil)
		cconn, sconn := connStates(cc, sc)
		advertised := reg.ServerMechanisms(sconn, nil)
		if advertised[0] != MechSHA512Plus || len(advertised) != 6 {
			t.Fatalf("advertised over TLS: %v", advertised)
		}
		n, err := reg.Negotiate(ctx, advertised, creds, cconn, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n.Mechanism.Name != MechSHA512Plus {
			t.Fatalf("negotiated %s", n.Mechanism.Name)
		}
		s, err := reg.NewServer(ctx, n.Mechanism.Name, &sasl.Verifiers{SCRAM: db}, sconn)
		if err != nil {
			t.Fatal(err)
		}
		if r := run(t, n.Client, s); !r.ok() {
			t.Fatalf("exchange: %+v", r)
		}
		if got := n.Client.(*Client).ChannelBinding(); got != BindingTLSExporter {
			t.Fatalf("bound with %q", got)
		}
		// A failure reaches the caller through sasl.FailureOf.
		n, err = reg.NewClient(ctx, MechSHA256Plus, &sasl.Credentials{Username: "user", Password: "nope"}, cconn, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, _ = reg.NewServer(ctx, MechSHA256Plus, &sasl.Verifiers{SCRAM: db}, sconn)
		if r := run(t, n.Client, s); r.ok() || !errors.Is(sasl.FailureOf(n.Client), sasl.ErrAuthFailed) {
			t.Fatalf("exchange: %+v, failure %v", r, sasl.FailureOf(n.Client))
		}
	})
}

// TestConcurrentDescriptor runs many exchanges at once on one pair of
// descriptors, which share their configuration (run with -race).
func TestConcurrentDescriptor(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	m := SHA256(nil)
	v := &sasl.Verifiers{SCRAM: db}
	errs := make(chan error, 8)
	for i := 0; i < cap(errs); i++ {
		go func() {
			pass := "pencil"
			if i%2 == 1 {
				pass = "wrong"
			}
			c, err := m.NewClient(&sasl.ClientParams{Username: "user", Password: pass})
			if err != nil {
				errs <- err
				return
			}
			s, err := m.NewServer(context.Background(), v, nil)
			if err != nil {
				errs <- err
				return
			}
			r := run(t, c, s)
			if r.ok() != (i%2 == 0) {
				errs <- errors.New("unexpected outcome")
				return
			}
			errs <- nil
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
