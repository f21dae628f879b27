package crammd5

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// secrets is a secret lookup over a fixed table.
type secrets struct {
	m     map[string]string
	calls int
	err   error
}

func testSecrets() *secrets {
	return &secrets{m: map[string]string{"tim": "tanstaaftanstaaf", "rjs3": "1234"}}
}

func (s *secrets) LookupSecret(_ context.Context, username string) (string, error) {
	s.calls++
	if s.err != nil {
		return "", s.err
	}
	pw, ok := s.m[username]
	if !ok {
		return "", fmt.Errorf("no user %q: %w", username, sasl.ErrUnknownUser)
	}
	return pw, nil
}

// fixed returns options that reproduce the challenge <random.unix@host>.
func fixed(random uint64, unix int64, host string) *ServerOptions {
	return &ServerOptions{
		Hostname: host,
		Rand:     bytes.NewReader(binary.BigEndian.AppendUint64(nil, random)),
		Now:      func() time.Time { return time.Unix(unix, 0) },
	}
}

func TestVectors(t *testing.T) {
	tests := []struct {
		file, user, secret string
		opts               func() *ServerOptions
	}{
		{"rfc2195.txt", "tim", "tanstaaftanstaaf", func() *ServerOptions { return fixed(1896, 697170952, "postoffice.reston.mci.net") }},
		{"rfc4954.txt", "rjs3", "1234", func() *ServerOptions { return fixed(4192942341, 12828472, "sourcefour.andrew.cmu.edu") }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			steps := mechtest.ReadTranscript(t, tt.file)
			mechtest.ReplayClient(t, NewClient(tt.user, tt.secret), steps)

			sec := testSecrets()
			s := NewServer(context.Background(), sec, tt.opts())
			if err := mechtest.ReplayServer(t, s, steps); err != nil {
				t.Fatal(err)
			}
			if id, ok := s.Identity(); !ok || id != (sasl.Identity{Mechanism: Name, Username: tt.user}) {
				t.Fatalf("Identity = %+v %v", id, ok)
			}

			// With another secret the same response fails.
			sec.m[tt.user] = tt.secret + "x"
			if err := mechtest.ReplayServer(t, NewServer(context.Background(), sec, tt.opts()), steps); !errors.Is(err, sasl.ErrAuthFailed) {
				t.Fatalf("another secret: %v", err)
			}
			// And so does the same response to another challenge.
			sec.m[tt.user] = tt.secret
			s = NewServer(context.Background(), sec, fixed(1, 1, "h"))
			_, _, _ = s.Next(nil)
			if _, _, err := s.Next(steps[1].Data); !errors.Is(err, sasl.ErrAuthFailed) {
				t.Fatalf("replayed response: %v", err)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	s := NewServer(context.Background(), testSecrets(), fixed(1<<64-1, -5, "mail.example.com"))
	ch, done, err := s.Next(nil)
	if err != nil || done || string(ch) != "<18446744073709551615.-5@mail.example.com>" {
		t.Fatalf("%q %v %v", ch, done, err)
	}
	// Host names that cannot stand in a msg-id fall back to localhost.
	for _, h := range []string{"", "bad host", "x>y", "a@b", "\x00", strings.Repeat("a", 254)} {
		ch, _, _ := NewServer(context.Background(), testSecrets(), fixed(1, 2, h)).Next(nil)
		if string(ch) != "<1.2@localhost>" {
			t.Errorf("host %q: challenge %q", h, ch)
		}
	}
	// The descriptor names the server with ConnState.Host; the default
	// challenges are random.
	m := Mechanism()
	a, _ := m.NewServer(context.Background(), &sasl.Verifiers{Secret: testSecrets()}, &sasl.ConnState{Host: "imap.example.org"})
	b, _ := m.NewServer(context.Background(), &sasl.Verifiers{Secret: testSecrets()}, nil)
	cha, _, _ := a.Next(nil)
	chb, _, _ := b.Next(nil)
	if !strings.HasSuffix(string(cha), "@imap.example.org>") || !strings.HasSuffix(string(chb), "@localhost>") || bytes.Equal(cha, chb) {
		t.Fatalf("%q %q", cha, chb)
	}
	// A failing random source is an error, not a predictable challenge.
	bad := &ServerOptions{Rand: iotest.ErrReader(errors.New("no entropy"))}
	if _, done, err := NewServer(context.Background(), testSecrets(), bad).Next(nil); err == nil || !done {
		t.Fatal("challenge without randomness")
	}
	short := &ServerOptions{Rand: strings.NewReader("1234")}
	if _, _, err := NewServer(context.Background(), testSecrets(), short).Next(nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short random source: %v", err)
	}
}

func TestClientServer(t *testing.T) {
	tests := []struct {
		name, user, secret string
		ok                 bool
	}{
		{"ok", "tim", "tanstaaftanstaaf", true},
		{"wrong password", "tim", "tanstaaftanstaaF", false},
		{"unknown user", "nobody", "tanstaaftanstaaf", false},
		{"user with space", "tim smith", "pw", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := testSecrets()
			sec.m["tim smith"] = "pw"
			s := NewServer(context.Background(), sec, nil)
			err := mechtest.Drive(t, Name, NewClient(tt.user, tt.secret), s).Err()
			id, ok := s.Identity()
			if tt.ok != (err == nil) || ok != tt.ok {
				t.Fatalf("err = %v, ok %v", err, ok)
			}
			if tt.ok && id.Username != tt.user {
				t.Fatalf("Identity = %+v", id)
			}
			if !tt.ok && (err != errAuthFailed || !errors.Is(err, sasl.ErrAuthFailed) || errors.Is(err, sasl.ErrUnknownUser)) {
				t.Fatalf("err = %v, want the one auth failure", err)
			}
			mechtest.AssertDone(t, s, []byte("tim 00000000000000000000000000000000"))
		})
	}
}

// TestUnknownUserSameAsWrongPassword: the two failures cannot be told apart
// by their error.
func TestUnknownUserSameAsWrongPassword(t *testing.T) {
	var errs []error
	for _, user := range []string{"tim", "nobody"} {
		s := NewServer(context.Background(), testSecrets(), fixed(1, 1, "h"))
		_, _, _ = s.Next(nil)
		_, _, err := s.Next([]byte(user + " 0123456789abcdef0123456789abcdef"))
		errs = append(errs, err)
	}
	if errs[0] != errs[1] || errs[0].Error() != errs[1].Error() {
		t.Fatalf("%v vs %v", errs[0], errs[1])
	}
	// So is a lookup that reports the unknown user with ErrAuthFailed.
	sec := testSecrets()
	sec.err = fmt.Errorf("lookup: %w", sasl.ErrAuthFailed)
	s := NewServer(context.Background(), sec, nil)
	_, _, _ = s.Next(nil)
	if _, _, err := s.Next([]byte("tim 0123456789abcdef0123456789abcdef")); err != errs[0] {
		t.Fatalf("err = %v", err)
	}
}

func TestEmptySecretNeverMatches(t *testing.T) {
	sec := testSecrets()
	sec.m["empty"] = ""
	s := NewServer(context.Background(), sec, fixed(1, 1, "h"))
	ch, _, _ := s.Next(nil)
	resp := appendResponse(nil, "empty", "", ch)
	if _, _, err := s.Next(resp); !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("err = %v", err)
	}
}

func TestLookupInfrastructureError(t *testing.T) {
	down := errors.New("database down")
	sec := testSecrets()
	sec.err = down
	s := NewServer(context.Background(), sec, nil)
	_, _, _ = s.Next(nil)
	_, done, err := s.Next([]byte("tim 0123456789abcdef0123456789abcdef"))
	if !done || !errors.Is(err, down) || errors.Is(err, sasl.ErrAuthFailed) || !strings.HasPrefix(err.Error(), "crammd5: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestServerRejects(t *testing.T) {
	const d = "b913a602c7eda7a495b4e6e7334d3890"
	tests := map[string]string{
		"empty":             "",
		"no space":          "tim" + d,
		"only digest":       " " + d,
		"short digest":      "tim " + d[:31],
		"long digest":       "tim " + d + "0",
		"uppercase digest":  "tim " + strings.ToUpper(d),
		"non-hex digest":    "tim " + d[:31] + "g",
		"space in digest":   "tim " + d[:16] + " " + d[17:],
		"trailing space":    "tim " + d + " ",
		"NUL username":      "t\x00m " + d,
		"bad UTF-8":         "t\xffm " + d,
		"truncated UTF-8":   "tim\xe2\x82 " + d,
		"long username":     strings.Repeat("u", MaxUsernameLen+1) + " " + d,
		"huge":              strings.Repeat("x", 1<<20),
		"NUL in digest":     "tim " + d[:31] + "\x00",
		"digest with UTF-8": "tim " + d[:30] + "é",
	}
	for name, resp := range tests {
		t.Run(name, func(t *testing.T) {
			sec := testSecrets()
			s := NewServer(context.Background(), sec, nil)
			if _, _, err := s.Next(nil); err != nil {
				t.Fatal(err)
			}
			_, done, err := s.Next([]byte(resp))
			var me *sasl.MalformedError
			if !errors.As(err, &me) || !done || me.Mechanism != Name {
				t.Fatalf("err = %v, done %v", err, done)
			}
			if sec.calls != 0 {
				t.Fatal("lookup called for a malformed response")
			}
			if _, _, err := s.Next([]byte("tim " + d)); !errors.Is(err, sasl.ErrDone) {
				t.Fatalf("Next after failure = %v", err)
			}
		})
	}
}

func TestInitialResponseRefused(t *testing.T) {
	for _, ir := range [][]byte{{}, []byte("tim b913a602c7eda7a495b4e6e7334d3890")} {
		s := NewServer(context.Background(), testSecrets(), nil)
		if _, done, err := s.Next(ir); !errors.Is(err, sasl.ErrMalformed) || !done {
			t.Fatalf("IR %q: %v", ir, err)
		}
		if _, _, err := s.Next(nil); !errors.Is(err, sasl.ErrDone) {
			t.Fatal(err)
		}
	}
}

func TestClient(t *testing.T) {
	c := NewClient("tim", "tanstaaftanstaaf")
	if mech, ir, err := c.Start(); mech != Name || ir != nil || err != nil {
		t.Fatal(mech, ir, err)
	}
	if r, err := c.Next(nil); r != nil || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("empty challenge: %q %v", r, err)
	}
	if r, err := c.Next([]byte("<1.2@h>")); r != nil || !errors.Is(err, sasl.ErrUnexpectedChallenge) {
		t.Fatalf("second challenge: %q %v", r, err)
	}
	for _, tt := range [][2]string{{"", "pw"}, {"tim", ""}} {
		if _, _, err := NewClient(tt[0], tt[1]).Start(); err == nil {
			t.Errorf("Start(%q) succeeded", tt)
		}
		if _, err := Mechanism().NewClient(&sasl.ClientParams{Username: tt[0], Password: tt[1]}); err == nil {
			t.Errorf("descriptor NewClient(%q) succeeded", tt)
		}
	}
	if _, err := Mechanism().NewClient(&sasl.ClientParams{Username: "tim", Password: "pw", Authzid: "x"}); err == nil {
		t.Error("descriptor accepted an authzid")
	}
	if _, err := Mechanism().NewClient(nil); err == nil {
		t.Error("NewClient(nil) succeeded")
	}
}

func TestNoVerifier(t *testing.T) {
	if _, done, err := NewServer(context.Background(), nil, nil).Next(nil); !errors.Is(err, sasl.ErrNoVerifier) || !done {
		t.Fatal(err)
	}
	if _, err := Mechanism().NewServer(context.Background(), &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatal(err)
	}
}

func TestDescriptor(t *testing.T) {
	m := Mechanism()
	if m.Name != "CRAM-MD5" || m.Properties != sasl.OffByDefault|sasl.Dictionary || m.Properties.Has(sasl.SendsSecret) ||
		m.Needs != sasl.NeedPassword || m.Strength != 10 || m.Standard != "RFC 2195" {
		t.Fatalf("%+v", m)
	}
	r := sasl.NewRegistry()
	r.MustRegister(m)
	ctx := context.Background()
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}
	// Off by default: negotiation passes it over unless the policy allows it.
	if _, err := r.Negotiate(ctx, []string{"CRAM-MD5"}, creds, nil, nil); !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("negotiated CRAM-MD5 by default: %v", err)
	}
	n, err := r.Negotiate(ctx, []string{"CRAM-MD5"}, creds, nil, &sasl.Policy{Allow: []string{"CRAM-MD5"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.NewServer(ctx, "CRAM-MD5", &sasl.Verifiers{Secret: testSecrets()}, nil)
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
	secrets := testSecrets()
	secrets.m["tim"] = pw
	s := NewServer(context.Background(), secrets, nil)
	ch, _, _ := s.Next(nil)
	c := NewClient("tim", pw)
	_, _, _ = c.Start()
	resp, _ := c.Next(ch)
	_, _, _ = s.Next(resp)
	sec.Check(t, "value", c, NewClient("tim", pw), s, NewServer(context.Background(), secrets, nil))
	if bytes.Contains(resp, []byte(pw)) {
		t.Fatal("response carries the password")
	}
	_, err := c.Next(ch)
	sec.Check(t, "error", err)
}
