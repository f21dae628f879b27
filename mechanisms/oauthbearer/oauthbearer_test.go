package oauthbearer

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
	testUser  = "user@example.com"
	testToken = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
)

func validIR() []byte {
	return []byte("n,a=" + testUser + ",\x01host=" + rfcHost + "\x01port=143\x01auth=Bearer " + testToken + "\x01\x01")
}

func TestClientRejectsUnencodableInput(t *testing.T) {
	tests := []struct {
		name string
		o    ClientOptions
	}{
		{"empty token", ClientOptions{Authzid: testUser}},
		{"^A in token", ClientOptions{Token: "a\x01b"}},
		{"space in token", ClientOptions{Token: "a b"}},
		{"= inside token", ClientOptions{Token: "a=b"}},
		{"NUL in authzid", ClientOptions{Authzid: "a\x00b", Token: "t"}},
		{"^A in authzid", ClientOptions{Authzid: "a\x01b", Token: "t"}},
		{"LF in authzid", ClientOptions{Authzid: "a\nb", Token: "t"}},
		{"invalid UTF-8 authzid", ClientOptions{Authzid: "\xff", Token: "t"}},
		{"^A in host", ClientOptions{Token: "t", Host: "a\x01b"}},
		{"space in host", ClientOptions{Token: "t", Host: "a b"}},
		{"non-ASCII host", ClientOptions{Token: "t", Host: "b\u00fccher.example"}},
		{"negative port", ClientOptions{Token: "t", Port: -1}},
		{"port too big", ClientOptions{Token: "t", Port: 65536}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mech, ir, err := NewClient(tt.o).Start()
			if !errors.Is(err, ErrInvalidInput) || ir != nil || mech != Name {
				t.Fatalf("Start = %q, %q, %v; want ErrInvalidInput", mech, ir, err)
			}
		})
	}
	// No authzid, host or port: the shortest valid response.
	_, ir, err := NewClient(ClientOptions{Token: "t"}).Start()
	if err != nil || string(ir) != "n,,\x01auth=Bearer t\x01\x01" {
		t.Fatalf("minimal IR %q %v", ir, err)
	}
}

// "," and "=" in the authzid are escaped as =2C and =3D, and the server
// decodes them back.
func TestSASLNameEscaping(t *testing.T) {
	const odd = "a,b=c@\u00e9xample.com"
	_, ir, err := NewClient(ClientOptions{Authzid: odd, Token: testToken}).Start()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ir, []byte("n,a=a=2Cb=3Dc@\u00e9xample.com,\x01")) {
		t.Fatalf("IR %q", ir)
	}
	v := newTable(odd, testToken)
	s := NewServer(context.Background(), v, nil)
	if _, done, err := s.Next(ir); !done || err != nil {
		t.Fatalf("server: %v %v", done, err)
	}
	if id, _ := s.Identity(); id.Username != odd {
		t.Fatalf("identity %q", id.Username)
	}
}

func TestDescriptor(t *testing.T) {
	m := Mechanism()
	if m.Name != "OAUTHBEARER" || m.Properties != sasl.SendsSecret || m.Needs != sasl.NeedToken || m.Strength != 50 || m.Standard != "RFC 7628" {
		t.Fatalf("descriptor %+v", m)
	}
	if _, err := m.NewClient(&sasl.ClientParams{Username: testUser}); !errors.Is(err, sasl.ErrNoCredentials) {
		t.Fatalf("no token: %v", err)
	}
	if _, err := m.NewServer(context.Background(), &sasl.Verifiers{}, nil); !errors.Is(err, sasl.ErrNoVerifier) {
		t.Fatalf("no verifier: %v", err)
	}
	if _, err := m.NewClient(&sasl.ClientParams{Token: &oauth2.Token{AccessToken: "a b"}}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad token: %v", err)
	}
	// Authzid wins over Username; no Conn means no host and port.
	c, err := m.NewClient(&sasl.ClientParams{Username: "login", Authzid: "boss@example.com", Token: &oauth2.Token{AccessToken: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ir, _ := c.Start(); string(ir) != "n,a=boss@example.com,\x01auth=Bearer t\x01\x01" {
		t.Fatalf("IR %q", ir)
	}
	// Through a registry, client and server.
	r := sasl.NewRegistry()
	r.MustRegister(m)
	creds := &sasl.Credentials{Username: testUser, TokenSource: tokenSourceFunc(func(context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: testToken}, nil
	})}
	conn := &sasl.ConnState{Host: rfcHost, Port: 143}
	n, err := r.NewClient(context.Background(), "oauthbearer", creds, conn, &sasl.Policy{AllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := r.NewServer(context.Background(), Name, &sasl.Verifiers{Token: newTable(testUser, testToken)}, conn)
	if err != nil {
		t.Fatal(err)
	}
	if res := mechtest.Drive(t, Name, n.Client, srv); res.ServerErr != nil || !res.Done {
		t.Fatalf("registry exchange %+v", res)
	}
	if !bytes.Equal(mustIR(t, n.Client), validIR()) {
		t.Fatal("registry client IR differs")
	}
	// The descriptor's server checks the connection's host and port.
	srv, _ = r.NewServer(context.Background(), Name, &sasl.Verifiers{Token: newTable(testUser, testToken)}, &sasl.ConnState{Host: rfcHost, Port: 993})
	if _, _, err := srv.Next(validIR()); !errors.Is(err, ErrWrongServer) {
		t.Fatalf("port mismatch through the descriptor: %v", err)
	}
}

func mustIR(t *testing.T, c sasl.Client) []byte {
	t.Helper()
	_, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	return ir
}

type tokenSourceFunc func(context.Context) (*oauth2.Token, error)

func (f tokenSourceFunc) Token(ctx context.Context) (*oauth2.Token, error) { return f(ctx) }

func TestClientChallengeHandling(t *testing.T) {
	blob := []byte(`{"status":"invalid_token"}`)
	t.Run("not JSON cancels", func(t *testing.T) {
		for _, ch := range [][]byte{nil, {}, {1}, []byte("null"), []byte(`"x"`), []byte(`{"status"`), bytes.Repeat([]byte(" "), MaxChallenge+1)} {
			c := NewClient(ClientOptions{Token: testToken})
			c.Start()
			resp, err := c.Next(ch)
			var me *sasl.MalformedError
			if resp != nil || !errors.As(err, &me) || me.Mechanism != Name {
				t.Fatalf("Next(%.20q) = %q, %v", ch, resp, err)
			}
			if sasl.FailureOf(c) != nil {
				t.Fatal("recorded a failure for a malformed challenge")
			}
		}
	})
	t.Run("second challenge", func(t *testing.T) {
		c := NewClient(ClientOptions{Token: testToken})
		c.Start()
		if resp, err := c.Next(blob); err != nil || !bytes.Equal(resp, []byte{1}) {
			t.Fatalf("first: %q %v", resp, err)
		}
		if resp, err := c.Next(blob); !errors.Is(err, sasl.ErrUnexpectedChallenge) || resp != nil {
			t.Fatalf("second: %q %v", resp, err)
		}
	})
	t.Run("before Start", func(t *testing.T) {
		if _, err := NewClient(ClientOptions{Token: testToken}).Next(blob); !errors.Is(err, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("Next before Start: %v", err)
		}
	})
}

func TestExchangeSuccess(t *testing.T) {
	s := NewServer(context.Background(), newTable(testUser, testToken), &ServerOptions{Host: rfcHost, Port: 143})
	c := NewClient(ClientOptions{Authzid: testUser, Token: testToken, Host: rfcHost, Port: 143})
	res := mechtest.Drive(t, Name, c, s)
	if res.ClientErr != nil || res.ServerErr != nil || !res.Done || res.Rounds != 0 {
		t.Fatalf("exchange %+v", res)
	}
	id, ok := s.Identity()
	if !ok || id != (sasl.Identity{Mechanism: Name, Username: testUser}) {
		t.Fatalf("identity %+v %v", id, ok)
	}
	assertDoneForever(t, s)
}

func TestExchangeRejected(t *testing.T) {
	s := NewServer(context.Background(), newTable(testUser, "another"), nil)
	c := NewClient(ClientOptions{Authzid: testUser, Token: testToken})
	res := mechtest.Drive(t, Name, c, s)
	if res.ClientErr != nil || !res.Done || res.Rounds != 1 {
		t.Fatalf("exchange %+v", res)
	}
	if !bytes.Equal(res.Wire[2], []byte{1}) {
		t.Fatalf("answer to the error challenge %q, want 0x01", res.Wire[2])
	}
	want := sasl.TokenError{Mechanism: Name, Status: "invalid_token", Schemes: "bearer mac", Scope: "https://mail.example.com/"}
	var se, ce *sasl.TokenError
	if !errors.As(res.ServerErr, &se) || *se != want {
		t.Fatalf("server error %#v", res.ServerErr)
	}
	if !errors.As(sasl.FailureOf(c), &ce) || *ce != want {
		t.Fatalf("client recorded %#v", sasl.FailureOf(c))
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("identity after failure")
	}
	assertDoneForever(t, s)
}

// Regression: whatever answers the error challenge — the RFC's 0x01, an
// empty response (what go-sasl's server panics on), 0x01 followed by
// garbage, a nil response, a new initial response — the server fails the
// exchange with the token error and never panics.
func TestServerAfterErrorChallengeNeverPanics(t *testing.T) {
	for _, reply := range [][]byte{{1}, {}, nil, []byte("\x01garbage"), []byte("*"), validIR(), bytes.Repeat([]byte{1}, 1<<20)} {
		s := NewServer(context.Background(), newTable(testUser, "another"), nil)
		if _, done, err := s.Next(validIR()); done || err != nil {
			t.Fatal("no error challenge")
		}
		var te *sasl.TokenError
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("reply %.12q: panic %v", reply, r)
				}
			}()
			_, done, err := s.Next(reply)
			if !done || !errors.As(err, &te) {
				t.Fatalf("reply %.12q: done=%v err=%v", reply, done, err)
			}
		}()
		assertDoneForever(t, s)
	}
}

func TestServerOptionsAndVerifier(t *testing.T) {
	t.Run("defaults fill the verifier's blanks", func(t *testing.T) {
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{}, fmt.Errorf("wrapped: %w", &sasl.TokenError{Scope: "own"})
		})
		ch, _, _ := NewServer(context.Background(), v, &ServerOptions{Schemes: "bearer", Scope: "default", OpenIDConfiguration: "https://o"}).Next(validIR())
		if string(ch) != `{"status":"invalid_token","schemes":"bearer","scope":"own","openid-configuration":"https://o"}` {
			t.Fatalf("challenge %s", ch)
		}
		ch, _, _ = NewServer(context.Background(), v, nil).Next(validIR())
		if string(ch) != `{"status":"invalid_token","scope":"own"}` {
			t.Fatalf("challenge %s", ch)
		}
	})
	t.Run("other verifier errors end at once", func(t *testing.T) {
		boom := errors.New("introspection endpoint down")
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) { return sasl.Identity{}, boom })
		s := NewServer(context.Background(), v, nil)
		ch, done, err := s.Next(validIR())
		if ch != nil || !done || !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "oauthbearer: ") {
			t.Fatalf("= %q %v %v", ch, done, err)
		}
		assertDoneForever(t, s)
	})
	t.Run("verifier names nobody", func(t *testing.T) {
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) { return sasl.Identity{}, nil })
		s := NewServer(context.Background(), v, nil)
		if _, done, err := s.Next([]byte("n,,\x01auth=Bearer t\x01\x01")); !done || err == nil {
			t.Fatal("anonymous success")
		}
		if _, ok := s.Identity(); ok {
			t.Fatal("identity without a user")
		}
	})
	t.Run("verifier's identity wins", func(t *testing.T) {
		v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{Username: "alice"}, nil
		})
		s := NewServer(context.Background(), v, nil)
		s.Next(validIR())
		if id, ok := s.Identity(); !ok || id != (sasl.Identity{Mechanism: Name, Username: "alice"}) {
			t.Fatalf("identity %+v", id)
		}
	})
	t.Run("context and nil verifier", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := NewServer(ctx, newTable(testUser, testToken), nil).Next(validIR()); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled ctx: %v", err)
		}
		if _, _, err := NewServer(context.Background(), nil, nil).Next(validIR()); !errors.Is(err, sasl.ErrNoVerifier) {
			t.Fatalf("nil verifier: %v", err)
		}
	})
}

func TestServerWithoutInitialResponse(t *testing.T) {
	for _, first := range [][]byte{nil, {}} {
		s := NewServer(context.Background(), newTable(testUser, testToken), nil)
		if ch, done, err := s.Next(first); ch != nil || done || err != nil {
			t.Fatalf("first Next: %q %v %v", ch, done, err)
		}
		if _, done, err := s.Next(validIR()); !done || err != nil {
			t.Fatalf("second Next: %v %v", done, err)
		}
	}
	s := NewServer(context.Background(), newTable(testUser, testToken), nil)
	s.Next(nil)
	if _, done, err := s.Next(nil); !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("two empty responses: %v %v", done, err)
	}
}

func TestServerRejectsMalformed(t *testing.T) {
	const kv = "\x01auth=Bearer " + testToken + "\x01\x01"
	long := strings.Repeat("A", 1<<20)
	tests := map[string]string{
		"no kvsep":                "n,,auth=Bearer " + testToken,
		"no kvsep after header":   "n,,auth=Bearer t\x01\x01",
		"missing auth":            "n,,\x01host=x\x01\x01",
		"no pairs":                "n,,\x01\x01",
		"non-ALPHA key":           "n,,\x01h0st=x" + kv,
		"dash in key":             "n,,\x01x-y=1" + kv,
		"no equals":               "n,,\x01host" + kv,
		"NUL in value":            "n,,\x01auth=Bearer a\x00b\x01\x01",
		"NUL in unknown value":    "n,,\x01x=\x00" + kv,
		"DEL in value":            "n,,\x01x=\x7f" + kv,
		"UTF-8 in value":          "n,,\x01x=\u00e9" + kv,
		"1 MiB value":             "n,,\x01x=" + long + kv,
		"trailing data":           "n,," + kv + "x",
		"extra kvsep":             "n,," + kv + "\x01",
		"dummy as first message":  "\x01",
		"channel binding p=":      "p=tls-exporter,," + kv,
		"bad flag":                "x,," + kv,
		"nonstandard F flag":      "F,n,," + kv,
		"flag without comma":      "n" + kv,
		"no second comma":         "n,a=user" + kv,
		"RFC 7628 §4.4 n,user=":   "n,user=someuser@example.com," + kv,
		"empty a=":                "n,a=," + kv,
		"bad escape =2X":          "n,a=us=2Xer," + kv,
		"lower-case escape =2c":   "n,a=a=2cb," + kv,
		"truncated escape":        "n,a=a=2," + kv,
		"bare = in authzid":       "n,a=a=b," + kv,
		"NUL in authzid":          "n,a=a\x00b," + kv,
		"control in authzid":      "n,a=a\x1bb," + kv,
		"invalid UTF-8 authzid":   "n,a=\xff," + kv,
		"auth twice":              "n,,\x01auth=Bearer a\x01auth=Bearer b\x01\x01",
		"host twice":              "n,,\x01host=a\x01host=b" + kv,
		"port twice":              "n,,\x01port=1\x01port=1" + kv,
		"empty host":              "n,,\x01host=" + kv,
		"space in host":           "n,,\x01host=a b" + kv,
		"port zero":               "n,,\x01port=0" + kv,
		"port leading zero":       "n,,\x01port=0143" + kv,
		"port too big":            "n,,\x01port=65536" + kv,
		"port sign":               "n,,\x01port=+143" + kv,
		"port not a number":       "n,,\x01port=imap" + kv,
		"port empty":              "n,,\x01port=" + kv,
		"port overflow":           "n,,\x01port=99999999999999999999" + kv,
		"only one closing kvsep":  "n,,\x01auth=Bearer t\x01",
		"empty pair list closing": "n,,",
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			v := newTable("", testToken)
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

func TestServerAcceptsGrammarEdges(t *testing.T) {
	tests := map[string]string{
		"y flag":                  "y,a=" + testUser + ",\x01auth=Bearer " + testToken + "\x01\x01",
		"unknown key ignored":     "n,a=" + testUser + ",\x01mfa=ok\x01auth=Bearer " + testToken + "\x01\x01",
		"value with HTAB CR LF":   "n,a=" + testUser + ",\x01x=a\tb\r\nc\x01auth=Bearer " + testToken + "\x01\x01",
		"upper-case host matches": "n,a=" + testUser + ",\x01host=SERVER.example.COM\x01port=143\x01auth=Bearer " + testToken + "\x01\x01",
		"auth before host":        "n,a=" + testUser + ",\x01auth=Bearer " + testToken + "\x01host=" + rfcHost + "\x01\x01",
		"lower-case scheme":       "n,a=" + testUser + ",\x01auth=bearer " + testToken + "\x01\x01",
		"several spaces":          "n,a=" + testUser + ",\x01auth=Bearer   " + testToken + "\x01\x01",
		"no host or port":         "n,a=" + testUser + ",\x01auth=Bearer " + testToken + "\x01\x01",
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewServer(context.Background(), newTable(testUser, testToken), &ServerOptions{Host: rfcHost, Port: 143})
			if _, done, err := s.Next([]byte(msg)); !done || err != nil {
				t.Fatalf("refused: %v %v", done, err)
			}
		})
	}
}

func TestServerHostPort(t *testing.T) {
	ir := validIR() // host=server.example.com, port=143
	for _, tt := range []struct {
		name string
		opts ServerOptions
		ok   bool
	}{
		{"both match", ServerOptions{Host: rfcHost, Port: 143}, true},
		{"server knows neither", ServerOptions{}, true},
		{"server knows host only", ServerOptions{Host: rfcHost}, true},
		{"other host", ServerOptions{Host: "mail.example.net", Port: 143}, false},
		{"other port", ServerOptions{Host: rfcHost, Port: 993}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newTable(testUser, testToken)
			_, done, err := NewServer(context.Background(), v, &tt.opts).Next(ir)
			if !done || (err == nil) != tt.ok {
				t.Fatalf("done=%v err=%v", done, err)
			}
			if !tt.ok && (!errors.Is(err, ErrWrongServer) || len(v.Calls()) != 0) {
				t.Fatalf("mismatch: %v, %d verifier calls", err, len(v.Calls()))
			}
		})
	}
}

func TestServerTruncated(t *testing.T) {
	ir := validIR()
	for i := 1; i < len(ir); i++ {
		v := newTable(testUser, testToken)
		_, done, err := NewServer(context.Background(), v, nil).Next(ir[:i])
		if err == nil || !done {
			t.Fatalf("prefix %d accepted", i)
		}
		if len(v.Calls()) != 0 {
			t.Fatalf("prefix %d reached the verifier", i)
		}
	}
}

func TestServerSizeCap(t *testing.T) {
	tok := strings.Repeat("A", DefaultMaxSize)
	big := []byte("n,,\x01auth=Bearer " + tok + "\x01\x01")
	if _, done, err := NewServer(context.Background(), newTable("", tok), nil).Next(big); !done || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("oversized: %v %v", done, err)
	}
	v := sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
		return sasl.Identity{Username: "u"}, nil
	})
	if _, done, err := NewServer(context.Background(), v, &ServerOptions{MaxSize: 2 * DefaultMaxSize}).Next(big); !done || err != nil {
		t.Fatalf("raised cap: %v %v", done, err)
	}
}

func TestServerCredentials(t *testing.T) {
	for auth, status := range map[string]string{
		"":                   "invalid_token",
		"Basic dXNlcjpwYXNz": "invalid_request",
		"Bearer":             "invalid_request",
		"Bearer a b":         "invalid_request",
		"MAC id=x":           "invalid_request",
	} {
		v := newTable(testUser, testToken)
		s := NewServer(context.Background(), v, nil)
		ch, done, err := s.Next([]byte("n,a=" + testUser + ",\x01auth=" + auth + "\x01\x01"))
		if done || err != nil || !bytes.HasPrefix(ch, []byte(`{"status":"`+status+`"`)) {
			t.Fatalf("auth=%q: %q %v %v", auth, ch, done, err)
		}
		if len(v.Calls()) != 0 {
			t.Fatalf("auth=%q reached the verifier", auth)
		}
		var te *sasl.TokenError
		if _, done, err := s.Next([]byte{1}); !done || !errors.As(err, &te) || te.Status != status {
			t.Fatalf("auth=%q final: %v %v", auth, done, err)
		}
	}
}

func TestSecretHygiene(t *testing.T) {
	const secret = "SECRET-token.value_1234567890"
	ir := []byte("n,a=" + testUser + ",\x01auth=Bearer " + secret + "\x01\x01")
	sec := mechtest.NewSecrets(secret, string(ir))
	for _, f := range sec.Forms() {
		if sec.Find(fmt.Sprintf("%+v", struct{ T string }{f})) == "" {
			t.Fatal("detector misses a form")
		}
	}

	var errs []error
	opts := ClientOptions{Authzid: testUser, Token: secret, Host: rfcHost, Port: 143}
	sec.Check(t, "options", opts, &opts)
	c := NewClient(opts)
	sec.Check(t, "client", c)
	c.Start()
	c.Next([]byte(`{"status":"invalid_token"}`))
	sec.Check(t, "client after failure", c)
	errs = append(errs, sasl.FailureOf(c))
	_, err := c.Next([]byte(secret))
	errs = append(errs, err)
	c2 := NewClient(opts)
	c2.Start()
	_, err = c2.Next([]byte(secret))
	errs = append(errs, err)
	for _, bad := range []ClientOptions{{Token: secret + " "}, {Token: secret + "\x01"}, {Token: secret, Host: "a b"}, {Token: secret, Authzid: "\x00"}} {
		_, _, err := NewClient(bad).Start()
		errs = append(errs, err)
		sec.Check(t, "options", bad)
	}

	var seen []sasl.TokenRequest
	v := sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
		seen = append(seen, req)
		if req.Token == secret {
			return sasl.Identity{}, errors.New("db down")
		}
		return sasl.Identity{}, &sasl.TokenError{Status: "invalid_token"}
	})
	for _, msg := range [][]byte{
		ir,
		[]byte("n,,\x01auth=Bearer " + secret + "x\x01\x01"),
		[]byte("n,,\x01auth=Bearer " + secret + "\x00\x01\x01"),
		[]byte("n,,\x01auth=Bearer " + secret + "\x01"),
		[]byte("n,,\x01auth=Bearer " + secret + "\x01\x01trailing"),
		[]byte("n,,\x01auth=Bearer " + secret + "\x01auth=Bearer " + secret + "\x01\x01"),
		[]byte("n,a=" + secret + "=2X,\x01auth=Bearer " + secret + "\x01\x01"),
		[]byte("p=" + secret + ",,\x01auth=Bearer " + secret + "\x01\x01"),
		[]byte("n,,\x01port=" + secret + "\x01auth=Bearer " + secret + "\x01\x01"),
		[]byte("n,,\x01auth=Basic " + secret + "\x01\x01"),
		append(append([]byte("n,,\x01auth=Bearer "), bytes.Repeat([]byte(secret), 3000)...), 1, 1),
	} {
		s := NewServer(context.Background(), v, &ServerOptions{Host: "h", Port: 1})
		_, _, err := s.Next(msg)
		errs = append(errs, err)
		_, _, err = s.Next([]byte(secret))
		errs = append(errs, err)
		sec.Check(t, "server", s)
	}
	if len(seen) == 0 {
		t.Fatal("verifier never called")
	}
	for _, req := range seen {
		sec.Check(t, "TokenRequest", req)
	}
	for _, err := range errs {
		sec.Check(t, "error", err)
	}
}
