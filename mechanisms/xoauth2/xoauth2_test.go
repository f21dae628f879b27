package xoauth2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

const (
	testUser  = "someuser@example.com"
	testToken = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
)

func validIR() []byte {
	return []byte("user=" + testUser + "\x01auth=Bearer " + testToken + "\x01\x01")
}

func TestClientRejectsUnencodableInput(t *testing.T) {
	tests := []struct{ name, user, token string }{
		{"empty user", "", testToken},
		{"empty token", testUser, ""},
		{"^A in user", "a\x01b@example.com", testToken},
		{"^A in token", testUser, "abc\x01def"},
		{"NUL in user", "a\x00b", testToken},
		{"CR LF in user", "a\r\nb", testToken},
		{"tab in user", "a\tb", testToken},
		{"invalid UTF-8 user", "\xff@example.com", testToken},
		{"space in token", testUser, "abc def"},
		{"= inside token", testUser, "ab=cd"},
		{"non-ASCII token", testUser, "t\u00f6ken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, err := NewClient(tt.user, tt.token).Start()
			if !errors.Is(err, ErrInvalidInput) || ir != nil || mech != Name {
				t.Fatalf("Start = %q, %q, %v; want ErrInvalidInput and no response", mech, ir, err)
			}
			_, err = Mechanism().NewClient(&sasl.ClientParams{Username: tt.user, Token: &oauth2.Token{AccessToken: tt.token}})
			if tt.token != "" && !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("descriptor NewClient err = %v", err)
			}
		})
	}
	// A UTF-8 address is fine.
	if _, ir, err := NewClient("j\u00f6rg@example.com", "t").Start(); err != nil || !bytes.Contains(ir, []byte("j\u00f6rg")) {
		t.Fatalf("UTF-8 user: %v", err)
	}
}

func TestDescriptor(t *testing.T) {
	m := Mechanism()
	if m.Name != "XOAUTH2" || m.Properties != sasl.SendsSecret || m.Needs != sasl.NeedToken || m.Strength != 40 || m.Standard != "Google/Microsoft XOAUTH2" {
		t.Fatalf("descriptor %+v", m)
	}
	if _, err := m.NewClient(&sasl.ClientParams{Username: testUser}); !errors.Is(err, sasl.ErrNoCredentials) {
		t.Fatalf("no token: %v", err)
	}
	if _, err := m.NewServer(context.Background(), &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("no verifier: %v", err)
	}
	// Through a registry: the token source is asked once, with the
	// caller's context, and the token type does not matter.
	r := sasl.NewRegistry()
	r.MustRegister(m)
	src := tokenSourceFunc(func(context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: testToken, TokenType: "bearer"}, nil
	})
	creds := &sasl.Credentials{Username: testUser, TokenSource: src}
	n, err := r.NewClient(context.Background(), Name, creds, &sasl.ConnState{Host: "localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ir, err := n.Client.Start()
	if err != nil || !bytes.Equal(ir, validIR()) {
		t.Fatalf("registry client IR %q %v", ir, err)
	}
	v := newTable(testUser, testToken)
	srv, err := r.NewServer(context.Background(), Name, &sasl.Verifiers{Token: v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := mechtest.Drive(t, Name, n.Client, srv); res.ServerErr != nil || !res.Done {
		t.Fatalf("registry exchange: %+v", res)
	}
	if id, ok := srv.Identity(); !ok || id != (sasl.Identity{Mechanism: Name, Username: testUser}) {
		t.Fatalf("identity %+v %v", id, ok)
	}
}

type tokenSourceFunc func(context.Context) (*oauth2.Token, error)

func (f tokenSourceFunc) Token(ctx context.Context) (*oauth2.Token, error) { return f(ctx) }

func TestClientChallengeHandling(t *testing.T) {
	blob := []byte(`{"status":"401","schemes":"bearer","scope":"s"}`)

	t.Run("not JSON cancels", func(t *testing.T) {
		for _, ch := range [][]byte{nil, {}, []byte("+ go ahead"), []byte("null"), []byte("[1]"), []byte(`{"status":`), bytes.Repeat([]byte(" "), MaxChallenge+1)} {
			c := NewClient(testUser, testToken)
			c.Start()
			resp, err := c.Next(ch)
			var me *sasl.MalformedError
			if resp != nil || !errors.As(err, &me) || me.Mechanism != Name || !errors.Is(err, sasl.ErrMalformed) {
				t.Fatalf("Next(%.20q) = %q, %v; want a malformed error", ch, resp, err)
			}
			if sasl.FailureOf(c) != nil {
				t.Fatal("recorded a failure for a malformed challenge")
			}
			if _, err := c.Next(blob); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
				t.Fatalf("Next after cancel: %v", err)
			}
		}
	})
	t.Run("second challenge", func(t *testing.T) {
		c := NewClient(testUser, testToken)
		c.Start()
		if resp, err := c.Next(blob); err != nil || resp == nil || len(resp) != 0 {
			t.Fatalf("first: %q %v", resp, err)
		}
		if resp, err := c.Next(blob); !errors.Is(err, sasl.ErrUnexpectedChallenge) || resp != nil {
			t.Fatalf("second: %q %v", resp, err)
		}
		if sasl.FailureOf(c) == nil {
			t.Fatal("first rejection forgotten")
		}
	})
	t.Run("before Start", func(t *testing.T) {
		if _, err := NewClient(testUser, testToken).Next(blob); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("Next before Start: %v", err)
		}
	})
	t.Run("Start again resets", func(t *testing.T) {
		c := NewClient(testUser, testToken)
		c.Start()
		c.Next(blob)
		c.Start()
		if sasl.FailureOf(c) != nil {
			t.Fatal("failure survived a new Start")
		}
		if _, err := c.Next(blob); err != nil {
			t.Fatalf("new exchange: %v", err)
		}
	})
	t.Run("numeric status", func(t *testing.T) {
		c := NewClient(testUser, testToken)
		c.Start()
		c.Next([]byte(`{"status":401}`))
		var te *sasl.TokenError
		if !errors.As(sasl.FailureOf(c), &te) || te.Status != "401" {
			t.Fatalf("recorded %v", sasl.FailureOf(c))
		}
	})
}

func TestExchangeSuccess(t *testing.T) {
	v := newTable(testUser, testToken)
	s := NewServer(context.Background(), v, nil)
	c := NewClient(testUser, testToken)
	res := mechtest.Drive(t, Name, c, s)
	if res.ClientErr != nil || res.ServerErr != nil || !res.Done || res.Rounds != 0 {
		t.Fatalf("exchange %+v", res)
	}
	id, ok := s.Identity()
	if !ok || id.Username != testUser || id.Mechanism != Name || id.Authzid != "" {
		t.Fatalf("identity %+v %v", id, ok)
	}
	if sasl.FailureOf(c) != nil {
		t.Fatal("failure recorded on success")
	}
	assertDoneForever(t, s)
}

func TestExchangeRejected(t *testing.T) {
	v := newTable(testUser, "another-token")
	s := NewServer(context.Background(), v, nil)
	c := NewClient(testUser, testToken)
	res := mechtest.Drive(t, Name, c, s)
	if res.ClientErr != nil || !res.Done || res.Rounds != 1 {
		t.Fatalf("exchange %+v", res)
	}
	if len(res.Wire) != 3 || len(res.Wire[2]) != 0 {
		t.Fatalf("client's answer to the error challenge is %q, want empty", res.Wire[2])
	}
	var se *sasl.TokenError
	if !errors.As(res.ServerErr, &se) || !errors.Is(res.ServerErr, sasl.ErrAuthFailed) {
		t.Fatalf("server error %v", res.ServerErr)
	}
	var ce *sasl.TokenError
	if !errors.As(sasl.FailureOf(c), &ce) {
		t.Fatal("client recorded nothing")
	}
	want := sasl.TokenError{Mechanism: Name, Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}
	if *ce != want || *se != want {
		t.Fatalf("client %#v server %#v want %#v", ce, se, want)
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("identity after failure")
	}
	assertDoneForever(t, s)
}

func TestServerAfterErrorChallenge(t *testing.T) {
	for _, reply := range [][]byte{{}, nil, {1}, []byte("\x01garbage"), validIR(), bytes.Repeat([]byte{0}, 1<<20)} {
		s := NewServer(context.Background(), newTable(testUser, "other"), nil)
		if _, done, err := s.Next(validIR()); done || err != nil {
			t.Fatal("no challenge")
		}
		_, done, err := s.Next(reply)
		var te *sasl.TokenError
		if !done || !errors.As(err, &te) {
			t.Fatalf("reply %.10q: done=%v err=%v", reply, done, err)
		}
		assertDoneForever(t, s)
	}
}

func TestServerOptions(t *testing.T) {
	t.Run("Microsoft fails without challenge", func(t *testing.T) {
		s := NewServer(context.Background(), newTable(testUser, "other"), MicrosoftServerOptions())
		ch, done, err := s.Next(validIR())
		var te *sasl.TokenError
		if ch != nil || !done || !errors.As(err, &te) || te.Mechanism != Name {
			t.Fatalf("= %q %v %v", ch, done, err)
		}
		assertDoneForever(t, s)
	})
	t.Run("defaults fill the verifier's blanks", func(t *testing.T) {
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{}, fmt.Errorf("wrapped: %w", &sasl.TokenError{})
		})
		ch, _, _ := NewServer(context.Background(), v, &ServerOptions{Scope: "sc"}).Next(validIR())
		if string(ch) != `{"status":"401","schemes":"bearer","scope":"sc"}` {
			t.Fatalf("challenge %s", ch)
		}
		ch, _, _ = NewServer(context.Background(), v, GoogleServerOptions()).Next(validIR())
		if string(ch) != `{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}` {
			t.Fatalf("challenge %s", ch)
		}
	})
	t.Run("other verifier errors end at once", func(t *testing.T) {
		boom := errors.New("introspection endpoint down")
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{}, boom
		})
		s := NewServer(context.Background(), v, nil)
		ch, done, err := s.Next(validIR())
		if ch != nil || !done || !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "xoauth2: ") {
			t.Fatalf("= %q %v %v", ch, done, err)
		}
		assertDoneForever(t, s)
	})
	t.Run("context reaches the verifier", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, done, err := NewServer(ctx, newTable(testUser, testToken), nil).Next(validIR())
		if !done || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled ctx: %v %v", done, err)
		}
	})
	t.Run("nil verifier", func(t *testing.T) {
		_, done, err := NewServer(context.Background(), nil, nil).Next(validIR())
		if !done || !errors.Is(err, sasl.ErrNoVerifier) {
			t.Fatalf("nil verifier: %v %v", done, err)
		}
	})
	t.Run("nil context", func(t *testing.T) {
		//lint:ignore SA1012 a nil context must not crash the server
		_, done, err := NewServer(nil, newTable(testUser, testToken), nil).Next(validIR())
		if !done || err != nil {
			t.Fatalf("nil ctx: %v %v", done, err)
		}
	})
}

// Without an initial response the server sends an empty challenge and reads
// the message from the next response.
func TestServerWithoutInitialResponse(t *testing.T) {
	for _, first := range [][]byte{nil, {}} {
		s := NewServer(context.Background(), newTable(testUser, testToken), nil)
		ch, done, err := s.Next(first)
		if ch != nil || done || err != nil {
			t.Fatalf("first Next(%q) = %q %v %v", first, ch, done, err)
		}
		if _, done, err := s.Next(validIR()); !done || err != nil {
			t.Fatalf("second Next: %v %v", done, err)
		}
	}
	s := NewServer(context.Background(), newTable(testUser, testToken), nil)
	s.Next(nil)
	if _, done, err := s.Next([]byte{}); !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("two empty responses: %v %v", done, err)
	}
	assertDoneForever(t, s)
}

func TestServerRejectsMalformed(t *testing.T) {
	long := strings.Repeat("A", 1<<20)
	tests := map[string]string{
		"no kvsep":               "user=" + testUser + "auth=Bearer " + testToken,
		"missing auth":           "user=" + testUser + "\x01\x01",
		"missing user":           "auth=Bearer " + testToken + "\x01\x01",
		"fields swapped":         "auth=Bearer " + testToken + "\x01user=" + testUser + "\x01\x01",
		"user twice":             "user=a\x01user=b\x01auth=Bearer t\x01\x01",
		"extra field":            "user=a\x01auth=Bearer t\x01host=x\x01\x01",
		"upper-case key":         "USER=a\x01auth=Bearer t\x01\x01",
		"non-ALPHA key":          "us3r=a\x01auth=Bearer t\x01\x01",
		"no equals":              "user\x01auth=Bearer t\x01\x01",
		"NUL in value":           "user=a\x00b\x01auth=Bearer t\x01\x01",
		"NUL in token":           "user=a\x01auth=Bearer t\x00\x01\x01",
		"1 MiB value":            "user=a\x01auth=Bearer " + long + "\x01\x01",
		"trailing data":          string(validIR()) + "x",
		"third kvsep":            string(validIR()) + "\x01",
		"single kvsep":           "\x01",
		"empty user":             "user=\x01auth=Bearer t\x01\x01",
		"tab in user":            "user=a\tb\x01auth=Bearer t\x01\x01",
		"invalid UTF-8 in user":  "user=\xff\x01auth=Bearer t\x01\x01",
		"only one closing kvsep": "user=a\x01auth=Bearer t\x01",
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			v := newTable(testUser, testToken)
			s := NewServer(context.Background(), v, nil)
			ch, done, err := s.Next([]byte(msg))
			var me *sasl.MalformedError
			if ch != nil || !done || !errors.As(err, &me) || me.Mechanism != Name {
				t.Fatalf("= %q %v %v; want a malformed error", ch, done, err)
			}
			if len(v.Calls()) != 0 {
				t.Fatal("verifier asked about a malformed message")
			}
			assertDoneForever(t, s)
		})
	}
}

// Every strict prefix of a valid message is refused without asking the
// verifier: a truncated message never authenticates.
func TestServerTruncated(t *testing.T) {
	ir := validIR()
	for i := 1; i < len(ir); i++ {
		v := newTable(testUser, testToken)
		s := NewServer(context.Background(), v, nil)
		_, done, err := s.Next(ir[:i])
		if err == nil || !done {
			t.Fatalf("prefix %d accepted", i)
		}
		if len(v.Calls()) != 0 {
			t.Fatalf("prefix %d reached the verifier", i)
		}
	}
}

func TestServerSizeCap(t *testing.T) {
	big := []byte("user=a\x01auth=Bearer " + strings.Repeat("A", DefaultMaxSize) + "\x01\x01")
	_, done, err := NewServer(context.Background(), newTable("a", "x"), nil).Next(big)
	if !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("oversized: %v %v", done, err)
	}
	tok := strings.Repeat("A", DefaultMaxSize)
	_, done, err = NewServer(context.Background(), newTable("a", tok), &ServerOptions{MaxSize: 2 * DefaultMaxSize}).Next(big)
	if !done || err != nil {
		t.Fatalf("raised cap: %v %v", done, err)
	}
}

// Credentials that are well framed but unusable get a 400 challenge without
// reaching the verifier; the scheme is matched without regard to case.
func TestServerCredentials(t *testing.T) {
	for _, auth := range []string{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Bearer\ttok"} {
		v := newTable(testUser, testToken)
		s := NewServer(context.Background(), v, nil)
		ch, done, err := s.Next([]byte("user=" + testUser + "\x01auth=" + auth + "\x01\x01"))
		if done || err != nil || !bytes.HasPrefix(ch, []byte(`{"status":"400"`)) {
			t.Fatalf("auth=%q: %q %v %v", auth, ch, done, err)
		}
		if len(v.Calls()) != 0 {
			t.Fatalf("auth=%q reached the verifier", auth)
		}
		_, done, err = s.Next([]byte{})
		var te *sasl.TokenError
		if !done || !errors.As(err, &te) || te.Status != "400" {
			t.Fatalf("auth=%q final: %v %v", auth, done, err)
		}
	}
	for _, scheme := range []string{"bearer", "BEARER", "BeArEr"} {
		_, done, err := NewServer(context.Background(), newTable(testUser, testToken), nil).
			Next([]byte("user=" + testUser + "\x01auth=" + scheme + " " + testToken + "\x01\x01"))
		if !done || err != nil {
			t.Fatalf("scheme %q: %v %v", scheme, done, err)
		}
	}
}

// No token, in any form, appears in an error, in %v of a client or server,
// or in a TokenRequest.
func TestSecretHygiene(t *testing.T) {
	const secret = "ya29.SECRET-token.value_1234567890"
	ir := []byte("user=" + testUser + "\x01auth=Bearer " + secret + "\x01\x01")
	sec := mechtest.NewSecrets(secret, string(ir))
	// The detector itself: an unredacted value is caught in each form.
	for _, f := range sec.Forms() {
		if sec.Find(fmt.Sprintf("%+v", struct{ T string }{f})) == "" {
			t.Fatal("detector misses a form")
		}
	}

	var errs []error
	c := NewClient(testUser, secret)
	sec.Check(t, "client", c)
	c.Start()
	c.Next([]byte(`{"status":"401"}`))
	sec.Check(t, "client after failure", c)
	errs = append(errs, sasl.FailureOf(c))
	_, err := c.Next([]byte(secret))
	errs = append(errs, err)
	c2 := NewClient(testUser, secret)
	c2.Start()
	_, err = c2.Next([]byte(secret))
	errs = append(errs, err)
	for _, bad := range []string{secret + "\x01", "a b" + secret} {
		_, _, err := NewClient(testUser, bad).Start()
		errs = append(errs, err)
		_, _, err = NewClient(bad, secret).Start()
		errs = append(errs, err)
	}

	var seen []sasl.TokenRequest
	v := sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
		seen = append(seen, req)
		if req.Token == secret {
			return sasl.Identity{}, fmt.Errorf("db down")
		}
		return sasl.Identity{}, &sasl.TokenError{Status: "401"}
	})
	for _, msg := range [][]byte{
		ir,
		[]byte("user=a\x01auth=Bearer " + secret + "x\x01\x01"),
		[]byte("user=a\x01auth=Bearer " + secret + "\x00\x01\x01"),
		[]byte("user=a\x01auth=Bearer " + secret + "\x01"),
		[]byte("user=a\x01auth=Bearer " + secret + "\x01\x01trailing"),
		[]byte("user=a\x01auth=Bearer " + secret + "\x01x=" + secret + "\x01\x01"),
		[]byte("user=a\x01auth=Basic " + secret + "\x01\x01"),
		append(append([]byte("user=a\x01auth=Bearer "), bytes.Repeat([]byte(secret), 3000)...), 1, 1),
	} {
		s := NewServer(context.Background(), v, nil)
		_, _, err := s.Next(msg)
		errs = append(errs, err)
		_, _, err = s.Next([]byte(secret))
		errs = append(errs, err)
		sec.Check(t, "server", s)
	}
	for _, req := range seen {
		sec.Check(t, "TokenRequest", req)
	}
	if len(seen) == 0 {
		t.Fatal("verifier never called")
	}
	for _, err := range errs {
		sec.Check(t, "error", err)
	}
}
