package plain

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// testUsers returns a verifier that knows the RFCs' users; test may act as
// test.
func testUsers() *mechtest.PasswordTable {
	return &mechtest.PasswordTable{
		Passwords: map[string]string{
			"tim":  "tanstaaftanstaaf",
			"Kurt": "xipj3plmq",
			"test": "1234",
		},
		Authz: map[string][]string{"test": {"test"}},
	}
}

func TestVectors(t *testing.T) {
	tests := []struct {
		file                     string
		authzid, authcid, passwd string
		wantOK                   bool
	}{
		{"rfc4616-1.txt", "", "tim", "tanstaaftanstaaf", true},
		{"rfc4616-2.txt", "Ursel", "Kurt", "xipj3plmq", false},
		{"rfc4954-ir.txt", "test", "test", "1234", true},
		{"rfc4954-noir.txt", "test", "test", "1234", true},
		{"rfc4959-ir.txt", "test", "test", "test", true},
		{"rfc4959-noir.txt", "test", "test", "test", true},
		{"rfc5034-ir.txt", "test", "test", "test", true},
		{"rfc5034-noir.txt", "test", "test", "test", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			steps := mechtest.ReadTranscript(t, tt.file)

			// The client reproduces the RFC's bytes, and so does go-sasl's.
			mechtest.ReplayClient(t, NewClient(tt.authzid, tt.authcid, tt.passwd), steps)
			mechtest.ReplayClient(t, gosasl.NewPlainClient(tt.authzid, tt.authcid, tt.passwd), steps)

			// The message parses to the RFC's fields.
			msg := steps[len(steps)-1].Data
			m, err := parse(msg)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if m.authzid != tt.authzid || m.authcid != tt.authcid || m.passwd != tt.passwd {
				t.Fatalf("parse = %q %q %q", m.authzid, m.authcid, m.passwd)
			}

			// The server sends the transcript's challenges and hands the
			// verifier exactly those fields.
			u := testUsers()
			u.Passwords["test"] = tt.passwd
			s := NewServer(context.Background(), u)
			err = mechtest.ReplayServer(t, s, steps)
			if u.Calls != 1 || u.Last != [3]string{tt.authzid, tt.authcid, tt.passwd} {
				t.Fatalf("verifier calls %d with %q", u.Calls, u.Last)
			}
			id, ok := s.Identity()
			if tt.wantOK {
				if err != nil || !ok {
					t.Fatalf("server: %v", err)
				}
				want := sasl.Identity{Mechanism: Name, Username: tt.authcid, Authzid: tt.authzid}
				if id != want {
					t.Fatalf("Identity = %+v, want %+v", id, want)
				}
			} else {
				if !errors.Is(err, sasl.ErrAuthFailed) || ok {
					t.Fatalf("server: %v, identity ok %v; want ErrAuthFailed", err, ok)
				}
			}
		})
	}
}

func TestClientServer(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name                        string
		authzid, username, password string
		want                        error
		wantID                      sasl.Identity
	}{
		{"ok", "", "tim", "tanstaaftanstaaf", nil, sasl.Identity{Mechanism: Name, Username: "tim"}},
		{"ok authzid", "test", "test", "1234", nil, sasl.Identity{Mechanism: Name, Username: "test", Authzid: "test"}},
		{"wrong password", "", "tim", "tanstaaf", sasl.ErrAuthFailed, sasl.Identity{}},
		{"unknown user", "", "nobody", "x", sasl.ErrAuthFailed, sasl.Identity{}},
		{"authzid refused", "Ursel", "Kurt", "xipj3plmq", sasl.ErrAuthFailed, sasl.Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(ctx, testUsers())
			err := mechtest.Drive(t, Name, NewClient(tt.authzid, tt.username, tt.password), s).Err()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			id, ok := s.Identity()
			if ok != (tt.want == nil) || id != tt.wantID {
				t.Fatalf("Identity = %+v %v", id, ok)
			}
			if _, _, err := s.Next([]byte("\x00tim\x00tanstaaftanstaaf")); !errors.Is(err, sasl.ErrDone) {
				t.Fatalf("Next after done = %v, want ErrDone", err)
			}
			if _, ok := s.Identity(); ok != (tt.want == nil) {
				t.Fatal("Identity changed after ErrDone")
			}
		})
	}
}

func TestUnknownUserWrapsBoth(t *testing.T) {
	s := NewServer(context.Background(), testUsers())
	_, _, err := s.Next([]byte("\x00nobody\x00pw"))
	if !errors.Is(err, sasl.ErrAuthFailed) || !errors.Is(err, sasl.ErrUnknownUser) {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifierInfrastructureError(t *testing.T) {
	down := errors.New("database down")
	u := testUsers()
	u.Err = down
	_, _, err := NewServer(context.Background(), u).Next([]byte("\x00tim\x00tanstaaftanstaaf"))
	if !errors.Is(err, down) || errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(err.Error(), "plain: ") {
		t.Fatalf("err = %q, want plain: prefix", err)
	}
}

func TestVerifierReceivesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "conn-1")
	var got any
	v := sasl.PasswordVerifierFunc(func(ctx context.Context, _, u, _ string) (sasl.Identity, error) {
		got = ctx.Value(key{})
		return sasl.Identity{}, nil
	})
	s := NewServer(ctx, v)
	if _, done, err := s.Next([]byte("\x00tim\x00pw")); err != nil || !done {
		t.Fatal(err)
	}
	if got != "conn-1" {
		t.Fatalf("verifier saw ctx value %v", got)
	}
	// A verifier that leaves Username empty gets the authcid it checked;
	// Authzid is never filled in on its behalf.
	if id, _ := s.Identity(); id.Username != "tim" || id.Authzid != "" {
		t.Fatalf("Identity = %+v", id)
	}
}

func TestServerRejects(t *testing.T) {
	long := strings.Repeat("a", MaxIdentityLen+1)
	longPw := strings.Repeat("p", MaxPasswordLen+1)
	tests := []struct {
		name string
		msg  string
	}{
		{"empty", ""},
		{"no NUL", "timtanstaaf"},
		{"one NUL", "tim\x00tanstaaf"},
		{"three NULs", "\x00tim\x00tans\x00taaf"},
		{"four NULs", "a\x00b\x00c\x00d\x00"},
		{"empty authcid", "admin\x00\x00pw"},
		{"empty authcid and authzid", "\x00\x00pw"},
		{"empty password", "\x00tim\x00"},
		{"only NULs", "\x00\x00"},
		{"long authzid", long + "\x00tim\x00pw"},
		{"long authcid", "\x00" + long + "\x00pw"},
		{"long password", "\x00tim\x00" + longPw},
		{"huge", strings.Repeat("x", 1<<20)},
		{"bad UTF-8 authzid", "\xff\x00tim\x00pw"},
		{"bad UTF-8 authcid", "\x00t\xc3\x28m\x00pw"},
		{"bad UTF-8 password", "\x00tim\x00p\xed\xa0\x80w"}, // surrogate
		{"truncated UTF-8", "\x00tim\x00pw\xe2\x82"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ir := range []bool{true, false} {
				u := testUsers()
				s := NewServer(context.Background(), u)
				resp := []byte(tt.msg)
				if !ir {
					ch, done, err := s.Next(nil)
					if err != nil || done || ch == nil || len(ch) != 0 {
						t.Fatalf("Next(nil) = %q %v %v", ch, done, err)
					}
				}
				_, done, err := s.Next(resp)
				var me *sasl.MalformedError
				if !errors.As(err, &me) || !errors.Is(err, sasl.ErrMalformed) || !done {
					t.Fatalf("Next = %v, done %v; want *sasl.MalformedError", err, done)
				}
				if me.Mechanism != Name {
					t.Fatalf("Mechanism = %q", me.Mechanism)
				}
				if u.Calls != 0 {
					t.Fatal("verifier called for a malformed message")
				}
				if _, ok := s.Identity(); ok {
					t.Fatal("identity after failure")
				}
				if _, _, err := s.Next([]byte("\x00tim\x00tanstaaftanstaaf")); !errors.Is(err, sasl.ErrDone) {
					t.Fatalf("Next after failure = %v", err)
				}
			}
		})
	}
}

// TestAdminEmptyAuthcid: "admin\0\0pw" must never authenticate anybody,
// even with a verifier that accepts every password.
func TestAdminEmptyAuthcid(t *testing.T) {
	called := false
	v := sasl.PasswordVerifierFunc(func(_ context.Context, authzid, username, _ string) (sasl.Identity, error) {
		called = true
		return sasl.Identity{Username: username, Authzid: authzid}, nil
	})
	s := NewServer(context.Background(), v)
	if _, _, err := s.Next([]byte("admin\x00\x00pw")); !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := s.Identity(); ok || called {
		t.Fatal("admin\\0\\0pw reached the verifier or authenticated")
	}
}

func TestServerAcceptsLimits(t *testing.T) {
	id := strings.Repeat("é", MaxIdentityLen/2) + "a" // 255 octets
	pw := strings.Repeat("p", MaxPasswordLen)
	if len(id) != MaxIdentityLen {
		t.Fatal(len(id))
	}
	var got [3]string
	v := sasl.PasswordVerifierFunc(func(_ context.Context, a, u, p string) (sasl.Identity, error) {
		got = [3]string{a, u, p}
		return sasl.Identity{Username: u, Authzid: a}, nil
	})
	s := NewServer(context.Background(), v)
	_, ir, err := NewClient(id, id, pw).Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := s.Next(ir); err != nil || !done {
		t.Fatal(err)
	}
	if got != [3]string{id, id, pw} {
		t.Fatal("fields changed")
	}
}

func TestNoResponseTwice(t *testing.T) {
	// A second missing response is an empty message, not another challenge.
	s := NewServer(context.Background(), testUsers())
	if _, _, err := s.Next(nil); err != nil {
		t.Fatal(err)
	}
	if _, done, err := s.Next(nil); !errors.Is(err, sasl.ErrMalformed) || !done {
		t.Fatalf("err = %v", err)
	}
}

func TestNoVerifier(t *testing.T) {
	s := NewServer(context.Background(), nil)
	if _, done, err := s.Next(nil); !errors.Is(err, sasl.ErrNoVerifier) || !done {
		t.Fatalf("err = %v", err)
	}
	if _, err := Mechanism().NewServer(context.Background(), &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("descriptor err = %v", err)
	}
	if _, err := Mechanism().NewServer(context.Background(), nil, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("descriptor err = %v", err)
	}
}

func TestClientRejects(t *testing.T) {
	tests := []struct{ authzid, username, password string }{
		{"", "", "pw"},
		{"", "tim", ""},
		{"a\x00b", "tim", "pw"},
		{"", "t\x00im", "pw"},
		{"", "tim", "p\x00w"},
	}
	for _, tt := range tests {
		mech, ir, err := NewClient(tt.authzid, tt.username, tt.password).Start()
		if err == nil || ir != nil || mech != "" {
			t.Errorf("Start(%q) = %q %q %v, want error and nothing to send", tt, mech, ir, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "plain: ") {
			t.Errorf("err = %q", err)
		}
		if _, err := Mechanism().NewClient(&sasl.ClientParams{Authzid: tt.authzid, Username: tt.username, Password: tt.password}); err == nil {
			t.Errorf("descriptor NewClient(%q) succeeded", tt)
		}
	}
	if _, err := Mechanism().NewClient(nil); err == nil {
		t.Error("NewClient(nil) succeeded")
	}
	c := NewClient("", "tim", "pw")
	if resp, err := c.Next([]byte{}); !errors.Is(err, sasl.ErrUnexpectedChallenge) || resp != nil {
		t.Errorf("Next = %q %v", resp, err)
	}
}

func TestDescriptor(t *testing.T) {
	m := Mechanism()
	if m.Name != "PLAIN" || m.Properties != sasl.SendsSecret || m.Needs != sasl.NeedPassword || m.Strength != 30 || m.Standard != "RFC 4616" {
		t.Fatalf("%+v", m)
	}
	r := sasl.NewRegistry()
	if err := r.Register(m); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n, err := r.NewClient(ctx, "PLAIN", &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}, &sasl.ConnState{Host: "localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.NewServer(ctx, "PLAIN", &sasl.Verifiers{Password: testUsers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mechtest.Drive(t, Name, n.Client, s).Err(); err != nil {
		t.Fatal(err)
	}
	if id, ok := s.Identity(); !ok || id.AuthorizedAs() != "tim" {
		t.Fatalf("Identity = %+v", id)
	}
}

// TestSecretHygiene: the password shows in no formatting of any value and in
// no error, raw or encoded, nor does a message that carries it.
func TestSecretHygiene(t *testing.T) {
	const pw = "s3cr3t-Pa55w0rd"
	sec := mechtest.NewSecrets(pw, "\x00tim\x00"+pw, "Ursel\x00tim\x00"+pw)
	u := testUsers()
	u.Passwords["tim"] = pw
	values := []any{
		NewClient("Ursel", "tim", pw),
		NewServer(context.Background(), u),
		message{authcid: "tim", passwd: pw},
		&sasl.ClientParams{Username: "tim", Password: pw},
	}
	// A server that has seen the password, successfully or not.
	s := NewServer(context.Background(), u)
	_, _, _ = s.Next([]byte("\x00tim\x00" + pw))
	values = append(values, s)
	sec.Check(t, "value", values...)
	u.Passwords["tim"] = "other"
	errs := []error{}
	for _, msg := range []string{"\x00tim\x00" + pw, "\x00tim\x00" + pw + "\x00", "\x00\x00" + pw, "\x00tim\x00" + pw + "\xff", "\x00nobody\x00" + pw} {
		_, _, err := NewServer(context.Background(), u).Next([]byte(msg))
		errs = append(errs, err)
	}
	_, _, err := NewClient("", "tim", pw+"\x00").Start()
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		sec.Check(t, "error", err)
	}
}

func TestUTF8Fields(t *testing.T) {
	s := NewServer(context.Background(), sasl.PasswordVerifierFunc(func(_ context.Context, a, u, p string) (sasl.Identity, error) {
		if !utf8.ValidString(a + u + p) {
			t.Fatal("invalid UTF-8 reached the verifier")
		}
		return sasl.Identity{Username: u}, nil
	}))
	if _, _, err := s.Next([]byte("Jürgen\x00Ærøskøbing\x00пароль")); err != nil {
		t.Fatal(err)
	}
}
