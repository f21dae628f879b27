package login

import (
	"context"
	"errors"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// testUsers returns a verifier that knows tim.
func testUsers() *mechtest.PasswordTable {
	return &mechtest.PasswordTable{Passwords: map[string]string{"tim": "tanstaaftanstaaf"}}
}

func TestVectors(t *testing.T) {
	// The client answers every form byte for byte without looking at the
	// challenge text.
	for _, f := range []string{"draft-2.3.txt", "username-colon.txt"} {
		mechtest.ReplayClient(t, NewClient("tim", "tanstaaftanstaaf"), mechtest.ReadTranscript(t, f))
	}
	// go-sasl's client is the initial-response form.
	mechtest.ReplayClient(t, gosasl.NewLoginClient("tim", "tanstaaftanstaaf"), mechtest.ReadTranscript(t, "username-ir.txt"))

	// The server sends exactly the "Username:"/"Password:" transcripts.
	for _, f := range []string{"username-colon.txt", "username-ir.txt"} {
		u := testUsers()
		s := NewServer(context.Background(), u)
		if err := mechtest.ReplayServer(t, s, mechtest.ReadTranscript(t, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if u.Last != [3]string{"", "tim", "tanstaaftanstaaf"} {
			t.Fatalf("%s: verifier got %q", f, u.Last)
		}
		if id, ok := s.Identity(); !ok || id != (sasl.Identity{Mechanism: Name, Username: "tim"}) {
			t.Fatalf("%s: Identity = %+v", f, id)
		}
	}

	// The draft's client messages authenticate against the server.
	steps := mechtest.ReadTranscript(t, "draft-2.3.txt")
	u := testUsers()
	s := NewServer(context.Background(), u)
	if _, _, err := s.Next(nil); err != nil {
		t.Fatal(err)
	}
	if _, done, err := s.Next(steps[1].Data); done || err != nil {
		t.Fatal(done, err)
	}
	if _, done, err := s.Next(steps[3].Data); !done || err != nil {
		t.Fatal(done, err)
	}
	if u.Last != [3]string{"", "tim", "tanstaaftanstaaf"} {
		t.Fatalf("verifier got %q", u.Last)
	}
}

func TestClientIgnoresChallengeText(t *testing.T) {
	for _, chs := range [][2]string{
		{"", ""},
		{"Password:", "Username:"},
		{"\x00\xff", "anything at all"},
		{strings.Repeat("x", 1<<16), "Password:"},
	} {
		c := NewClient("tim", "tanstaaftanstaaf")
		mech, ir, err := c.Start()
		if mech != Name || ir != nil || err != nil {
			t.Fatalf("Start = %q %q %v", mech, ir, err)
		}
		r1, err1 := c.Next([]byte(chs[0]))
		r2, err2 := c.Next([]byte(chs[1]))
		if string(r1) != "tim" || string(r2) != "tanstaaftanstaaf" || err1 != nil || err2 != nil {
			t.Fatalf("%q: %q %v, %q %v", chs, r1, err1, r2, err2)
		}
		if r, err := c.Next([]byte("Password:")); r != nil || !errors.Is(err, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("third challenge: %q %v", r, err)
		}
	}
}

func TestClientRejects(t *testing.T) {
	for _, tt := range [][2]string{{"", "pw"}, {"tim", ""}} {
		if _, _, err := NewClient(tt[0], tt[1]).Start(); err == nil || !strings.HasPrefix(err.Error(), "login: ") {
			t.Errorf("Start(%q) = %v", tt, err)
		}
		if _, err := Mechanism().NewClient(&sasl.ClientParams{Username: tt[0], Password: tt[1]}); err == nil {
			t.Errorf("descriptor NewClient(%q) succeeded", tt)
		}
	}
	if _, err := Mechanism().NewClient(&sasl.ClientParams{Username: "tim", Password: "pw", Authzid: "admin"}); err == nil {
		t.Error("descriptor accepted an authzid LOGIN cannot carry")
	}
	if _, err := Mechanism().NewClient(nil); err == nil {
		t.Error("NewClient(nil) succeeded")
	}
}

func TestClientServer(t *testing.T) {
	tests := []struct {
		name, username, password string
		want                     error
	}{
		{"ok", "tim", "tanstaaftanstaaf", nil},
		{"wrong password", "tim", "tanstaaftanstaaF", sasl.ErrAuthFailed},
		{"unknown user", "nobody", "tanstaaftanstaaf", sasl.ErrAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []sasl.Client{NewClient(tt.username, tt.password), gosasl.NewLoginClient(tt.username, tt.password)} {
				s := NewServer(context.Background(), testUsers())
				err := mechtest.Drive(t, Name, c, s).Err()
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				id, ok := s.Identity()
				if ok != (err == nil) || (ok && id != sasl.Identity{Mechanism: Name, Username: "tim"}) {
					t.Fatalf("Identity = %+v %v", id, ok)
				}
				mechtest.AssertDone(t, s, []byte("tim"))
			}
		})
	}
}

func TestVerifierErrors(t *testing.T) {
	down := errors.New("directory down")
	u := testUsers()
	u.Err = down
	s := NewServer(context.Background(), u)
	_, _, _ = s.Next([]byte("tim"))
	_, done, err := s.Next([]byte("pw"))
	if !done || !errors.Is(err, down) || errors.Is(err, sasl.ErrAuthFailed) || !strings.HasPrefix(err.Error(), "login: ") {
		t.Fatalf("err = %v", err)
	}
	s = NewServer(context.Background(), testUsers())
	_, _, _ = s.Next([]byte("nobody"))
	if _, _, err := s.Next([]byte("pw")); !errors.Is(err, sasl.ErrAuthFailed) || !errors.Is(err, sasl.ErrUnknownUser) {
		t.Fatalf("unknown user err = %v", err)
	}
}

func TestServerRejects(t *testing.T) {
	long := strings.Repeat("u", MaxUsernameLen+1)
	longPw := strings.Repeat("p", MaxPasswordLen+1)
	tests := []struct {
		name               string
		username, password string // password "" with a bad username: never reached
		ir                 bool
	}{
		{"empty username", "", "pw", false},
		{"long username", long, "pw", false},
		{"long username IR", long, "pw", true},
		{"NUL username", "t\x00im", "pw", false},
		{"NUL username IR", "t\x00im", "pw", true},
		{"bad UTF-8 username", "t\xffim", "pw", false},
		{"truncated UTF-8 username", "tim\xe2\x82", "pw", true},
		{"empty password", "tim", "", false},
		{"empty password IR", "tim", "", true},
		{"long password", "tim", longPw, false},
		{"NUL password", "tim", "pa\x00ss", true},
		{"huge", strings.Repeat("x", 1<<20), "pw", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := testUsers()
			s := NewServer(context.Background(), u)
			var err error
			var done bool
			var ch []byte
			if tt.ir {
				ch, done, err = s.Next([]byte(tt.username))
			} else {
				if ch, done, err = s.Next(nil); string(ch) != "Username:" || done || err != nil {
					t.Fatalf("first challenge %q %v %v", ch, done, err)
				}
				ch, done, err = s.Next([]byte(tt.username))
			}
			if err == nil {
				if string(ch) != "Password:" || done {
					t.Fatalf("second challenge %q %v", ch, done)
				}
				_, done, err = s.Next([]byte(tt.password))
			}
			var me *sasl.MalformedError
			if !errors.As(err, &me) || !done || me.Mechanism != Name {
				t.Fatalf("err = %v done %v, want *sasl.MalformedError", err, done)
			}
			if u.Calls != 0 {
				t.Fatal("verifier called")
			}
			if _, _, err := s.Next([]byte("x")); !errors.Is(err, sasl.ErrDone) {
				t.Fatalf("Next after failure = %v", err)
			}
		})
	}
}

func TestServerLegacyPassword(t *testing.T) {
	// A Latin-1 password reaches the verifier byte for byte.
	u := testUsers()
	u.Passwords["tim"] = "caf\xe9"
	s := NewServer(context.Background(), u)
	_, _, _ = s.Next([]byte("tim"))
	if _, _, err := s.Next([]byte("caf\xe9")); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyIRMeansNone(t *testing.T) {
	s := NewServer(context.Background(), testUsers())
	if ch, done, err := s.Next([]byte{}); string(ch) != "Username:" || done || err != nil {
		t.Fatalf("Next([]byte{}) = %q %v %v", ch, done, err)
	}
}

func TestNoVerifier(t *testing.T) {
	if _, done, err := NewServer(context.Background(), nil).Next(nil); !errors.Is(err, sasl.ErrNoVerifier) || !done {
		t.Fatal(err)
	}
	if _, err := Mechanism().NewServer(context.Background(), &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatal(err)
	}
}

func TestDescriptor(t *testing.T) {
	m := Mechanism()
	if m.Name != "LOGIN" || m.Properties != sasl.SendsSecret || m.Needs != sasl.NeedPassword || m.Strength != 20 {
		t.Fatalf("%+v", m)
	}
	r := sasl.NewRegistry()
	r.MustRegister(m)
	ctx := context.Background()
	n, err := r.NewClient(ctx, "LOGIN", &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}, &sasl.ConnState{Host: "127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.NewServer(ctx, "LOGIN", &sasl.Verifiers{Password: testUsers()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mechtest.Drive(t, Name, n.Client, s).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestSecretHygiene(t *testing.T) {
	const pw = "s3cr3t-Pa55w0rd"
	sec := mechtest.NewSecrets(pw)
	u := testUsers()
	u.Passwords["tim"] = pw
	mid := NewServer(context.Background(), u)
	_, _, _ = mid.Next([]byte("tim"))
	done := NewServer(context.Background(), u)
	_, _, _ = done.Next([]byte("tim"))
	_, _, _ = done.Next([]byte(pw))
	c := NewClient("tim", pw)
	_, _, _ = c.Start()
	_, _ = c.Next(nil)
	_, _ = c.Next(nil)
	sec.Check(t, "value", NewClient("tim", pw), c, mid, done, NewServer(context.Background(), u))
	var errs []error
	u.Passwords["tim"] = "other"
	for _, p := range []string{pw, pw + "\x00", strings.Repeat(pw, 300)} {
		s := NewServer(context.Background(), u)
		_, _, _ = s.Next([]byte("tim"))
		_, _, err := s.Next([]byte(p))
		errs = append(errs, err)
	}
	_, err := c.Next(nil)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		sec.Check(t, "error", err)
	}
}
