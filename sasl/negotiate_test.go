package sasl_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/sasl"
)

// fixedClient is a client that sends a fixed initial response; the tests
// here exercise selection, not the mechanisms themselves.
type fixedClient struct {
	mech string
	p    *sasl.ClientParams
}

func (c *fixedClient) Start() (string, []byte, error) { return c.mech, []byte{}, nil }
func (c *fixedClient) Next([]byte) ([]byte, error)    { return nil, sasl.ErrUnexpectedChallenge }
func (c *fixedClient) Format(f fmt.State, verb rune)  { fmt.Fprintf(f, "fixedClient{%s}", c.mech) }
func newFixed(name string) func(*sasl.ClientParams) (sasl.Client, error) {
	return func(p *sasl.ClientParams) (sasl.Client, error) { return &fixedClient{mech: name, p: p}, nil }
}

func requireTLS(conn *sasl.ConnState) error {
	if !conn.Encrypted() {
		return errors.New("no TLS channel binding")
	}
	return nil
}

// testRegistry holds descriptors shaped like the built-in mechanisms.
func testRegistry(t testing.TB) *sasl.Registry {
	fail := func(err error) {
		if t != nil {
			t.Fatal(err)
		}
		panic(err)
	}
	r := sasl.NewRegistry()
	for _, m := range []sasl.Mechanism{
		{Name: "ANONYMOUS", Properties: sasl.Anonymous | sasl.OffByDefault, Needs: sasl.NeedNothing, Strength: 0},
		{Name: "CRAM-MD5", Properties: sasl.OffByDefault | sasl.Dictionary, Needs: sasl.NeedPassword, Strength: 10},
		{Name: "LOGIN", Properties: sasl.SendsSecret, Needs: sasl.NeedPassword, Strength: 20},
		{Name: "PLAIN", Properties: sasl.SendsSecret, Needs: sasl.NeedPassword, Strength: 30},
		{Name: "XOAUTH2", Properties: sasl.SendsSecret, Needs: sasl.NeedToken, Strength: 40},
		{Name: "OAUTHBEARER", Properties: sasl.SendsSecret, Needs: sasl.NeedToken, Strength: 50},
		{Name: "SCRAM-SHA-1", Properties: sasl.MutualAuth, Needs: sasl.NeedPassword, Strength: 60},
		{Name: "SCRAM-SHA-256", Properties: sasl.MutualAuth, Needs: sasl.NeedPassword, Strength: 62},
		{Name: "SCRAM-SHA-256-PLUS", Properties: sasl.MutualAuth | sasl.ChannelBinding, Needs: sasl.NeedPassword, Strength: 72, Usable: requireTLS},
		{Name: "EXTERNAL", Needs: sasl.NeedExternal, Strength: 80},
	} {
		m.NewClient = newFixed(m.Name)
		if err := r.Register(m); err != nil {
			fail(err)
		}
	}
	return r
}

type countingSource struct {
	calls atomic.Int32
	tok   *oauth2.Token
	err   error
}

func (s *countingSource) Token(ctx context.Context) (*oauth2.Token, error) {
	s.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.tok, s.err
}

func verifiedTLS() *sasl.ConnState {
	return &sasl.ConnState{Host: "imap.example.com", Port: 993, TLS: &tls.ConnectionState{
		Version: tls.VersionTLS13, HandshakeComplete: true,
		VerifiedChains: [][]*x509.Certificate{{{}}},
	}}
}

func cleartext() *sasl.ConnState {
	return &sasl.ConnState{Host: "mail.example.com", Port: 143,
		RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 143}}
}

func loopback() *sasl.ConnState {
	return &sasl.ConnState{Host: "mail.example.com", Port: 143,
		RemoteAddr: &net.TCPAddr{IP: net.IPv6loopback, Port: 143}}
}

func unverifiedTLS() *sasl.ConnState {
	c := verifiedTLS()
	c.TLS.VerifiedChains = nil
	return c
}

func TestNegotiateTable(t *testing.T) {
	pw := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}
	tok := &sasl.Credentials{Username: "tim@example.com", TokenSource: &countingSource{tok: &oauth2.Token{AccessToken: "ya29.x"}}}
	both := &sasl.Credentials{Username: "tim", Password: "pw", TokenSource: &countingSource{tok: &oauth2.Token{AccessToken: "ya29.x"}}}
	ext := &sasl.Credentials{External: true, Password: "pw"}
	none := &sasl.Credentials{}
	gmail := []string{"XOAUTH2", "OAUTHBEARER", "PLAIN", "PLAIN-CLIENTTOKEN", "XOAUTH"}
	all := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER", "ANONYMOUS", "EXTERNAL"}

	tests := []struct {
		name       string
		advertised []string
		creds      *sasl.Credentials
		conn       *sasl.ConnState
		policy     *sasl.Policy
		want       string
		wantErr    []error
	}{
		{"gmail token over TLS", gmail, tok, verifiedTLS(), nil, "OAUTHBEARER", nil},
		{"gmail password over TLS", gmail, pw, verifiedTLS(), nil, "PLAIN", nil},
		{"microsoft XOAUTH2 only", []string{"XOAUTH2"}, tok, verifiedTLS(), nil, "XOAUTH2", nil},
		{"lower-case advertised", []string{"xoauth2", "plain"}, tok, verifiedTLS(), nil, "XOAUTH2", nil},
		{"all with password over TLS picks PLUS", all, pw, verifiedTLS(), nil, "SCRAM-SHA-256-PLUS", nil},
		{"all with password cleartext picks SCRAM", all, pw, cleartext(), nil, "SCRAM-SHA-256", nil},
		{"password and token: SCRAM beats OAUTHBEARER", all, both, verifiedTLS(), nil, "SCRAM-SHA-256-PLUS", nil},
		{"token only ignores password mechanisms", all, tok, verifiedTLS(), nil, "OAUTHBEARER", nil},
		{"external requested", all, ext, verifiedTLS(), nil, "EXTERNAL", nil},
		{"prefer overrides strength", all, pw, verifiedTLS(), &sasl.Policy{Prefer: []string{"plain"}}, "PLAIN", nil},
		{"prefer order among preferred", all, both, verifiedTLS(), &sasl.Policy{Prefer: []string{"XOAUTH2", "PLAIN"}}, "XOAUTH2", nil},
		{"prefer unusable falls back", all, tok, verifiedTLS(), &sasl.Policy{Prefer: []string{"PLAIN"}}, "OAUTHBEARER", nil},
		{"deny", all, pw, verifiedTLS(), &sasl.Policy{Deny: []string{"SCRAM-SHA-256-PLUS", "scram-sha-256"}}, "SCRAM-SHA-1", nil},
		{"cram-md5 off by default", []string{"CRAM-MD5", "LOGIN"}, pw, cleartext(), nil, "", []error{sasl.ErrNoMechanism, sasl.ErrInsecureTransport}},
		{"cram-md5 opt-in", []string{"CRAM-MD5", "LOGIN"}, pw, cleartext(), &sasl.Policy{Allow: []string{"CRAM-MD5"}}, "CRAM-MD5", nil},
		{"anonymous off by default", []string{"ANONYMOUS"}, none, verifiedTLS(), nil, "", []error{sasl.ErrNoMechanism}},
		{"anonymous opt-in", []string{"ANONYMOUS", "PLAIN"}, none, verifiedTLS(), &sasl.Policy{Allow: []string{"ANONYMOUS"}}, "ANONYMOUS", nil},
		{"plain refused in cleartext", []string{"PLAIN", "LOGIN"}, pw, cleartext(), nil, "", []error{sasl.ErrNoMechanism, sasl.ErrInsecureTransport}},
		{"xoauth2 refused in cleartext", gmail, tok, cleartext(), nil, "", []error{sasl.ErrNoMechanism, sasl.ErrInsecureTransport}},
		{"unverified TLS is insecure", gmail, tok, unverifiedTLS(), nil, "", []error{sasl.ErrInsecureTransport}},
		{"loopback allows plain", []string{"PLAIN"}, pw, loopback(), nil, "PLAIN", nil},
		{"localhost name allows plain", []string{"PLAIN"}, pw, &sasl.ConnState{Host: "localhost"}, nil, "PLAIN", nil},
		{"policy allows insecure", []string{"PLAIN"}, pw, cleartext(), &sasl.Policy{AllowInsecure: true}, "PLAIN", nil},
		{"minimum refuses weaker", []string{"PLAIN", "XOAUTH2"}, both, verifiedTLS(), &sasl.Policy{Minimum: "SCRAM-SHA-256"}, "", []error{sasl.ErrNoMechanism}},
		{"minimum admits equal", []string{"PLAIN", "SCRAM-SHA-256"}, pw, verifiedTLS(), &sasl.Policy{Minimum: "SCRAM-SHA-256"}, "SCRAM-SHA-256", nil},
		{"minimum unknown", []string{"PLAIN"}, pw, verifiedTLS(), &sasl.Policy{Minimum: "NOPE"}, "", []error{sasl.ErrNotRegistered}},
		{"nothing advertised", nil, pw, verifiedTLS(), nil, "", []error{sasl.ErrNoMechanism}},
		{"nothing known", []string{"GSSAPI", "NTLM"}, pw, verifiedTLS(), nil, "", []error{sasl.ErrNoMechanism}},
		{"no credentials", gmail, none, verifiedTLS(), nil, "", []error{sasl.ErrNoMechanism}},
		{"nil credentials", gmail, nil, verifiedTLS(), nil, "", []error{sasl.ErrNoMechanism}},
		{"nil conn is cleartext", []string{"PLAIN", "SCRAM-SHA-1"}, pw, nil, nil, "SCRAM-SHA-1", nil},
		{"PLUS unusable without TLS", []string{"SCRAM-SHA-256-PLUS"}, pw, loopback(), nil, "", []error{sasl.ErrNoMechanism}},
		{"duplicates in advertised", []string{"PLAIN", "plain", "PLAIN"}, pw, verifiedTLS(), nil, "PLAIN", nil},
	}
	r := testRegistry(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := r.Negotiate(context.Background(), tt.advertised, tt.creds, tt.conn, tt.policy)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Negotiate: %v", err)
				}
				if n.Mechanism.Name != tt.want {
					t.Fatalf("chose %s, want %s (%s)", n.Mechanism.Name, tt.want, n.Reason())
				}
				mech, _, err := n.Client.Start()
				if err != nil || mech != tt.want {
					t.Fatalf("client Start = %q, %v", mech, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("chose %s, want an error", n.Mechanism.Name)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("error %q does not match %v", err, want)
				}
			}
		})
	}
}

func TestNegotiateFetchesTokenOnceWithCallerContext(t *testing.T) {
	r := testRegistry(t)
	src := &countingSource{tok: &oauth2.Token{AccessToken: "tok"}}
	creds := &sasl.Credentials{Username: "u", TokenSource: src}
	n, err := r.Negotiate(context.Background(), []string{"XOAUTH2", "OAUTHBEARER"}, creds, verifiedTLS(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("token fetched %d times, want 1", got)
	}
	if p := n.Client.(*fixedClient).p; p.Token == nil || p.Token.AccessToken != "tok" {
		t.Fatalf("client did not receive the token")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Negotiate(ctx, []string{"XOAUTH2", "PLAIN"}, &sasl.Credentials{Username: "u", Password: "p", TokenSource: src}, verifiedTLS(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: got %v, want context.Canceled", err)
	}
}

func TestNegotiateTokenErrorFallsBackAndSurfaces(t *testing.T) {
	r := testRegistry(t)
	errReauth := errors.New("providers: authorize again")
	src := &countingSource{err: errReauth}
	// With a password too, a failing token source falls back to PLAIN.
	n, err := r.Negotiate(context.Background(), []string{"XOAUTH2", "PLAIN"},
		&sasl.Credentials{Username: "u", Password: "p", TokenSource: src}, verifiedTLS(), nil)
	if err != nil || n.Mechanism.Name != "PLAIN" {
		t.Fatalf("got %v, %v; want PLAIN", n, err)
	}
	if len(n.Rejected) != 1 || !errors.Is(n.Rejected[0].Err, errReauth) {
		t.Fatalf("rejected = %v", n.Rejected)
	}
	if got, want := n.Reason(), "PLAIN chosen; not usable: XOAUTH2 (fetching token: providers: authorize again)"; got != want {
		t.Errorf("Reason() = %q, want %q (the mechanism named once)", got, want)
	}
	// Without, the token source's error is reachable through errors.Is.
	_, err = r.Negotiate(context.Background(), []string{"XOAUTH2", "OAUTHBEARER"},
		&sasl.Credentials{Username: "u", TokenSource: src}, verifiedTLS(), nil)
	if !errors.Is(err, errReauth) || !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("got %v", err)
	}
	var ne *sasl.NegotiationError
	if !errors.As(err, &ne) || len(ne.Rejected) != 2 {
		t.Fatalf("got %#v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "XOAUTH2: XOAUTH2") || !strings.Contains(msg, "XOAUTH2: fetching token: providers: authorize again") {
		t.Errorf("error names the mechanism twice or lost the reason: %s", msg)
	}
	// An empty token is an error, never sent.
	_, err = r.Negotiate(context.Background(), []string{"XOAUTH2"},
		&sasl.Credentials{Username: "u", TokenSource: &countingSource{tok: &oauth2.Token{}}}, verifiedTLS(), nil)
	if err == nil || !strings.Contains(err.Error(), "empty token") {
		t.Fatalf("empty token: got %v", err)
	}
}

func TestNegotiationErrorExplains(t *testing.T) {
	r := testRegistry(t)
	_, err := r.Negotiate(context.Background(), []string{"GSSAPI", "PLAIN", "XOAUTH2"},
		&sasl.Credentials{Username: "u", Password: "hunter2"}, cleartext(), nil)
	want := "sasl: no mechanism in common (server offers GSSAPI PLAIN XOAUTH2): " +
		"GSSAPI: mechanism not registered; PLAIN: refusing to send a secret over an insecure connection; " +
		"XOAUTH2: no token source"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if errors.Is(err, sasl.ErrNotRegistered) {
		t.Errorf("routine rejections must not leak into errors.Is")
	}
}

func TestNegotiatedReasonAndInvalidate(t *testing.T) {
	r := testRegistry(t)
	src := &invalidatingSource{tok: &oauth2.Token{AccessToken: "tok-1"}}
	n, err := r.Negotiate(context.Background(), []string{"SCRAM-SHA-256", "XOAUTH2"},
		&sasl.Credentials{Username: "u", TokenSource: src}, verifiedTLS(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.Reason(), "XOAUTH2 chosen; not usable: SCRAM-SHA-256 (no password)"; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
	if !n.InvalidateToken() || src.invalidated != src.tok {
		t.Errorf("InvalidateToken did not pass the used token to the source")
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, n); strings.Contains(s, "tok-1") {
			t.Errorf("%s of Negotiated reveals the token: %s", verb, s)
		}
	}
	n2, _ := r.Negotiate(context.Background(), []string{"XOAUTH2"},
		&sasl.Credentials{Username: "u", TokenSource: &countingSource{tok: &oauth2.Token{AccessToken: "x"}}}, verifiedTLS(), nil)
	if n2.InvalidateToken() {
		t.Errorf("InvalidateToken reported support for a source without Invalidate")
	}
}

// TestNegotiateSaysWhatIsMissing: a mechanism the credentials cannot drive
// is rejected with a CredentialsError naming what is missing, which matches
// ErrNoCredentials and reads the same in Reason and in a NegotiationError.
func TestNegotiateSaysWhatIsMissing(t *testing.T) {
	r := testRegistry(t)
	if err := r.Register(sasl.Mechanism{Name: "X-BOTH", Needs: sasl.NeedPassword | sasl.NeedToken, Strength: 90, NewClient: newFixed("X-BOTH")}); err != nil {
		t.Fatal(err)
	}
	advertised := []string{"X-BOTH", "EXTERNAL", "SCRAM-SHA-256", "OAUTHBEARER", "PLAIN", "ANONYMOUS"}
	tok := &sasl.Credentials{Username: "u", TokenSource: &countingSource{tok: &oauth2.Token{AccessToken: "ya29.x"}}}
	n, err := r.Negotiate(context.Background(), advertised, tok, verifiedTLS(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "OAUTHBEARER chosen; not usable: X-BOTH (no password), EXTERNAL (no external identity), " +
		"SCRAM-SHA-256 (no password), PLAIN (no password), ANONYMOUS (mechanism not allowed by policy)"
	if got := n.Reason(); got != want {
		t.Errorf("Reason = %q\nwant     %q", got, want)
	}
	if !slices.Equal(n.Advertised(), advertised) {
		t.Errorf("Advertised = %q, want %q", n.Advertised(), advertised)
	}
	wantMissing := map[string]sasl.Need{"X-BOTH": sasl.NeedPassword, "EXTERNAL": sasl.NeedExternal, "SCRAM-SHA-256": sasl.NeedPassword, "PLAIN": sasl.NeedPassword}
	for _, rj := range n.Rejected {
		need, ok := wantMissing[rj.Mechanism]
		var ce sasl.CredentialsError
		if errors.As(rj.Err, &ce) != ok || errors.Is(rj.Err, sasl.ErrNoCredentials) != ok || ce.Missing != need {
			t.Errorf("%s: %v (%+v)", rj.Mechanism, rj.Err, ce)
		}
	}

	_, err = r.Negotiate(context.Background(), []string{"X-BOTH", "XOAUTH2", "EXTERNAL"}, &sasl.Credentials{Username: "u"}, verifiedTLS(), nil)
	if got, want := fmt.Sprint(err), "sasl: no mechanism in common (server offers X-BOTH XOAUTH2 EXTERNAL): "+
		"X-BOTH: no password, no token source; XOAUTH2: no token source; EXTERNAL: no external identity"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Missing credentials are routine: the NegotiationError does not
	// match ErrNoCredentials because of them.
	if !errors.Is(err, sasl.ErrNoMechanism) || errors.Is(err, sasl.ErrNoCredentials) {
		t.Errorf("errors.Is: %v", err)
	}
	// A token source's own error wrapping ErrNoCredentials is not routine:
	// it stays reachable.
	errSource := fmt.Errorf("plugin: %w: no refresh token", sasl.ErrNoCredentials)
	_, err = r.Negotiate(context.Background(), []string{"XOAUTH2"}, &sasl.Credentials{Username: "u", TokenSource: &countingSource{err: errSource}}, verifiedTLS(), nil)
	if !errors.Is(err, errSource) || !errors.Is(err, sasl.ErrNoCredentials) {
		t.Errorf("token source error hidden: %v", err)
	}
}

func TestCredentialsErrorText(t *testing.T) {
	for _, tc := range []struct {
		missing sasl.Need
		want    string
	}{
		{sasl.NeedPassword, "sasl: no password"},
		{sasl.NeedToken, "sasl: no token source"},
		{sasl.NeedExternal, "sasl: no external identity"},
		{sasl.NeedPassword | sasl.NeedExternal, "sasl: no password, no external identity"},
		{sasl.NeedToken | 1<<20, "sasl: no token source, credentials missing for mechanism"},
		{1 << 20, "sasl: credentials missing for mechanism"},
		{sasl.NeedNothing, "sasl: credentials missing for mechanism"},
	} {
		err := sasl.CredentialsError{Missing: tc.missing}
		if err.Error() != tc.want || !errors.Is(err, sasl.ErrNoCredentials) {
			t.Errorf("%v: %q", tc.missing, err.Error())
		}
	}
	// Registry.NewClient names the mechanism after what is missing.
	_, err := testRegistry(t).NewClient(context.Background(), "EXTERNAL", &sasl.Credentials{Password: "p"}, verifiedTLS(), nil)
	if got, want := fmt.Sprint(err), "sasl: no external identity: EXTERNAL"; got != want {
		t.Errorf("NewClient: %q, want %q", got, want)
	}
}

type invalidatingSource struct {
	tok, invalidated *oauth2.Token
}

func (s *invalidatingSource) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }
func (s *invalidatingSource) Invalidate(t *oauth2.Token)                   { s.invalidated = t }

func TestNewClientExplicit(t *testing.T) {
	r := testRegistry(t)
	pw := &sasl.Credentials{Username: "u", Password: "p"}
	if n, err := r.NewClient(context.Background(), "CRAM-MD5", pw, cleartext(), nil); err != nil {
		t.Errorf("explicitly named off-by-default mechanism: %v", err)
	} else if n.Advertised() != nil {
		t.Errorf("NewClient: advertised %q, want nil", n.Advertised())
	}
	if _, err := r.NewClient(context.Background(), "PLAIN", pw, cleartext(), nil); !errors.Is(err, sasl.ErrInsecureTransport) {
		t.Errorf("PLAIN in cleartext: %v", err)
	}
	if _, err := r.NewClient(context.Background(), "NOPE", pw, nil, nil); !errors.Is(err, sasl.ErrNotRegistered) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := r.NewClient(context.Background(), "XOAUTH2", pw, verifiedTLS(), nil); !errors.Is(err, sasl.ErrNoCredentials) {
		t.Errorf("missing token source: %v", err)
	}
	if _, err := r.NewClient(context.Background(), "PLAIN", pw, verifiedTLS(), &sasl.Policy{Deny: []string{"PLAIN"}}); !errors.Is(err, sasl.ErrDenied) {
		t.Errorf("denied: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	r := testRegistry(t)
	err := r.Register(sasl.Mechanism{Name: "PLAIN", NewClient: newFixed("PLAIN")})
	if !errors.Is(err, sasl.ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	for _, bad := range []string{"", "plain", "TOO-LONG-MECHANISM-NAME", "SP ACE", "A\x00"} {
		if err := r.Register(sasl.Mechanism{Name: bad, NewClient: newFixed(bad)}); err == nil {
			t.Errorf("Register(%q) accepted an invalid name", bad)
		}
	}
	if err := r.Register(sasl.Mechanism{Name: "X-NOTHING"}); err == nil {
		t.Errorf("Register accepted a mechanism with no factories")
	}
	if m, ok := r.Lookup("scram-sha-256"); !ok || m.Name != "SCRAM-SHA-256" {
		t.Errorf("Lookup is not case-insensitive: %v %v", m.Name, ok)
	}
	names := r.Names()
	if names[0] != "EXTERNAL" || names[len(names)-1] != "ANONYMOUS" {
		t.Errorf("Names not strongest first: %v", names)
	}
	if _, err := r.NewServer(context.Background(), "PLAIN", nil, nil); !errors.Is(err, sasl.ErrClientOnly) {
		t.Errorf("NewServer on a client-only mechanism: %v", err)
	}
	if _, err := r.NewServer(context.Background(), "NOPE", nil, nil); !errors.Is(err, sasl.ErrNotRegistered) {
		t.Errorf("NewServer unknown: %v", err)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := testRegistry(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			name := fmt.Sprintf("X-%d", i)
			if err := r.Register(sasl.Mechanism{Name: name, NewClient: newFixed(name)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	creds := &sasl.Credentials{Username: "u", Password: "p"}
	for i := 0; i < 200; i++ {
		if _, err := r.Negotiate(context.Background(), []string{"PLAIN", "SCRAM-SHA-256"}, creds, verifiedTLS(), nil); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if _, ok := r.Lookup("X-199"); !ok {
		t.Fatal("registration lost")
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := sasl.Credentials{Username: "tim", Authzid: "admin", Password: "tanstaaftanstaaf", TokenSource: &countingSource{}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{c, &c, struct{ C sasl.Credentials }{c}} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, "tanstaaf") {
				t.Errorf("%s of %T reveals the password: %s", verb, v, s)
			}
		}
	}
	p := &sasl.ClientParams{Username: "u", Password: "hunter2", Token: &oauth2.Token{AccessToken: "ya29.secret"}}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		if s := fmt.Sprintf(verb, p); strings.Contains(s, "hunter2") || strings.Contains(s, "ya29") {
			t.Errorf("%s of ClientParams reveals a secret: %s", verb, s)
		}
	}
	req := sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "u", Token: "ya29.secret"}
	if s := fmt.Sprintf("%+v", req); strings.Contains(s, "ya29") {
		t.Errorf("TokenRequest reveals the token: %s", s)
	}
	sc := sasl.SCRAMCredentials{StoredKey: []byte("stored-key-bytes"), ServerKey: []byte("server-key-bytes")}
	if s := fmt.Sprintf("%#v", sc); strings.Contains(s, "stored-key") || strings.Contains(s, "115") {
		t.Errorf("SCRAMCredentials reveals keys: %s", s)
	}
}

func TestConnState(t *testing.T) {
	for _, tc := range []struct {
		conn     *sasl.ConnState
		loopback bool
	}{
		{&sasl.ConnState{Host: "localhost"}, true},
		{&sasl.ConnState{Host: "127.0.0.1"}, true},
		{&sasl.ConnState{Host: "[::1]"}, true},
		{&sasl.ConnState{Host: "mail.example.com"}, false},
		{&sasl.ConnState{Host: "localhost", RemoteAddr: &net.TCPAddr{IP: net.ParseIP("203.0.113.1")}}, false},
		{&sasl.ConnState{RemoteAddr: &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1")}}, true},
		{nil, false},
	} {
		if got := tc.conn.Loopback(); got != tc.loopback {
			t.Errorf("%+v Loopback = %v", tc.conn, got)
		}
	}
	var nilConn *sasl.ConnState
	if nilConn.Secure() || nilConn.Encrypted() {
		t.Error("nil ConnState is secure")
	}
	if !verifiedTLS().Secure() || unverifiedTLS().Secure() || !unverifiedTLS().Encrypted() {
		t.Error("Secure/Encrypted wrong")
	}
}

func TestServerMechanisms(t *testing.T) {
	r := sasl.NewRegistry()
	srv := func(context.Context, *sasl.Verifiers, *sasl.ConnState) (sasl.ServerConversation, error) {
		return nil, errors.New("unused")
	}
	r.MustRegister(sasl.Mechanism{Name: "PLAIN", Properties: sasl.SendsSecret, Strength: 30, NewServer: srv})
	r.MustRegister(sasl.Mechanism{Name: "SCRAM-SHA-256", Strength: 62, NewServer: srv})
	r.MustRegister(sasl.Mechanism{Name: "SCRAM-SHA-256-PLUS", Strength: 72, NewServer: srv, Usable: requireTLS})
	r.MustRegister(sasl.Mechanism{Name: "CRAM-MD5", Properties: sasl.OffByDefault, Strength: 10, NewServer: srv})
	r.MustRegister(sasl.Mechanism{Name: "LOGIN", Properties: sasl.SendsSecret, Strength: 20, NewClient: newFixed("LOGIN")})

	got := strings.Join(r.ServerMechanisms(cleartext(), nil), " ")
	if got != "SCRAM-SHA-256" {
		t.Errorf("cleartext: %s", got)
	}
	got = strings.Join(r.ServerMechanisms(unverifiedTLS(), &sasl.Policy{Allow: []string{"CRAM-MD5"}}), " ")
	if got != "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN CRAM-MD5" {
		t.Errorf("TLS: %s", got)
	}
}

type verifyingClient struct {
	fixedClient
	ok bool
}

func (c *verifyingClient) Verified() bool { return c.ok }

func TestCheckServerAuth(t *testing.T) {
	if err := sasl.CheckServerAuth(&fixedClient{}); err != nil {
		t.Errorf("client without mutual auth: %v", err)
	}
	if err := sasl.CheckServerAuth(&verifyingClient{ok: true}); err != nil {
		t.Errorf("verified: %v", err)
	}
	if err := sasl.CheckServerAuth(&verifyingClient{}); !errors.Is(err, sasl.ErrServerAuth) {
		t.Errorf("unverified: %v", err)
	}
}
