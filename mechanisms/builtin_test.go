package mechanisms_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/sasl"
)

const (
	user      = "tim@example.com"
	password  = "tanstaaftanstaaf-Secret-7"
	goodToken = "ya29.GoodToken-5f0e9c"
	badToken  = "ya29.RevokedToken-77aa31"
)

// tlsPair performs a real TLS handshake over loopback and returns the
// client's and the server's view of the connection.
func tlsPair(t testing.TB, version uint16) (client, server *sasl.ConnState) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		DNSNames: []string{"mail.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	var srvState tls.ConnectionState
	var srvErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			MinVersion: version, MaxVersion: version})
		srvErr = tc.Handshake()
		srvState = tc.ConnectionState()
		t.Cleanup(func() { tc.Close() })
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "mail.test", RootCAs: pool, MinVersion: version, MaxVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	wg.Wait()
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	client = sasl.ConnStateOf(c, "mail.test", 993)
	server = &sasl.ConnState{Host: "mail.test", Port: 993, TLS: &srvState, RemoteAddr: c.LocalAddr()}
	return client, server
}

type tokenSource struct{ tok string }

func (s tokenSource) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: s.tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// verifiers accept exactly user/password and goodToken.
func verifiers(t testing.TB) *sasl.Verifiers {
	salt := []byte("0123456789abcdef")
	return &sasl.Verifiers{
		Password: sasl.PasswordVerifierFunc(func(_ context.Context, authzid, u, p string) (sasl.Identity, error) {
			if u == user && p == password {
				return sasl.Identity{Username: u, Authzid: authzid}, nil
			}
			return sasl.Identity{}, sasl.ErrAuthFailed
		}),
		Secret: sasl.SecretLookupFunc(func(_ context.Context, u string) (string, error) {
			if u == user {
				return password, nil
			}
			return "", sasl.ErrUnknownUser
		}),
		SCRAM: sasl.SCRAMLookupFunc(func(_ context.Context, hash, u string) (sasl.SCRAMCredentials, error) {
			if u != user {
				return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
			}
			return scram.StoredCredentials(hash, password, salt, 4096)
		}),
		Token: sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
			if req.Token == goodToken && req.Username == user {
				return sasl.Identity{Username: user}, nil
			}
			return sasl.Identity{}, &sasl.TokenError{Status: "401", Schemes: "bearer", Scope: "https://mail.google.com/"}
		}),
		External: sasl.ExternalVerifierFunc(func(_ context.Context, authzid string, conn *sasl.ConnState) (sasl.Identity, error) {
			if conn.Encrypted() {
				return sasl.Identity{Username: user, Authzid: authzid}, nil
			}
			return sasl.Identity{}, sasl.ErrAuthFailed
		}),
		Anonymous: sasl.AnonymousVerifierFunc(func(context.Context, string) error { return nil }),
	}
}

// exchange runs client against server in memory, as a protocol would carry
// the messages, and returns the server's verdict. transcript collects every
// message and error text, so tests can search it for secrets.
func exchange(t testing.TB, c sasl.Client, s sasl.Server, transcript *strings.Builder) error {
	t.Helper()
	note := func(dir string, b []byte) {
		fmt.Fprintf(transcript, "%s %q %s\n", dir, b, base64.StdEncoding.EncodeToString(b))
	}
	_, resp, err := c.Start()
	if err != nil {
		return fmt.Errorf("client start: %w", err)
	}
	note("C:", resp)
	for i := 0; i < 10; i++ {
		ch, done, err := s.Next(resp)
		note("S:", ch)
		if err != nil {
			return err
		}
		if done {
			if ch != nil {
				// Additional data with success (SCRAM's v=) is checked by the client.
				if _, err := c.Next(ch); err != nil {
					return fmt.Errorf("client final: %w", err)
				}
			}
			return nil
		}
		resp, err = c.Next(ch)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		note("C:", resp)
	}
	return errors.New("exchange did not finish")
}

// creds returns credentials able to drive m, right or wrong.
func creds(m sasl.Mechanism, right bool) *sasl.Credentials {
	c := &sasl.Credentials{Username: user, Password: password, TokenSource: tokenSource{goodToken}}
	if !right {
		c.Password = "wrong-Password-42"
		c.TokenSource = tokenSource{badToken}
	}
	if m.Needs&sasl.NeedExternal != 0 {
		c.External = true
	}
	return c
}

func TestEveryBuiltinClientAgainstServer(t *testing.T) {
	reg := mechanisms.New(&mechanisms.Options{SCRAM: &scram.Options{FakeSaltKey: []byte("fake-salt-key-for-tests-32-bytes")}})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cconn, sconn := tlsPair(t, version)
		for _, m := range reg.Mechanisms() {
			for _, right := range []bool{true, false} {
				if m.Needs == sasl.NeedNothing && !right || m.Needs == sasl.NeedExternal && !right {
					continue // nothing to get wrong
				}
				name := fmt.Sprintf("%s/%s/right=%v", tls.VersionName(version), m.Name, right)
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					n, err := reg.NewClient(ctx, m.Name, creds(m, right), cconn, nil)
					if err != nil {
						t.Fatalf("NewClient: %v", err)
					}
					srv, err := reg.NewServer(ctx, m.Name, verifiers(t), sconn)
					if err != nil {
						t.Fatalf("NewServer: %v", err)
					}
					var transcript strings.Builder
					err = exchange(t, n.Client, srv, &transcript)
					id, ok := srv.Identity()
					if right {
						if err != nil {
							t.Fatalf("exchange failed: %v\n%s", err, transcript.String())
						}
						if !ok || id.Mechanism != m.Name || (m.Needs != sasl.NeedNothing && id.Username != user) {
							t.Fatalf("Identity = %+v, %v", id, ok)
						}
						if err := sasl.CheckServerAuth(n.Client); err != nil {
							t.Fatalf("CheckServerAuth after a full exchange: %v", err)
						}
					} else {
						if err == nil {
							t.Fatalf("wrong credentials authenticated\n%s", transcript.String())
						}
						if !errors.Is(err, sasl.ErrAuthFailed) {
							t.Errorf("error %v does not wrap sasl.ErrAuthFailed", err)
						}
						if ok {
							t.Errorf("Identity reported after failure: %+v", id)
						}
						if m.Needs == sasl.NeedToken {
							var te *sasl.TokenError
							if !errors.As(sasl.FailureOf(n.Client), &te) || te.Status == "" {
								t.Errorf("client recorded %v, want a *sasl.TokenError", sasl.FailureOf(n.Client))
							}
						}
					}
					// After the end, the server accepts nothing more.
					if _, _, err := srv.Next([]byte("more")); !errors.Is(err, sasl.ErrDone) {
						t.Errorf("Next after the end: %v, want sasl.ErrDone", err)
					}
					checkNoSecrets(t, m.Name, err, n.Client, srv, n)
				})
			}
		}
	}
}

// checkNoSecrets fails when a password or token, raw or base64-encoded,
// appears in the error or in any formatting of the values.
func checkNoSecrets(t *testing.T, mech string, err error, values ...any) {
	t.Helper()
	var texts []string
	if err != nil {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
	if f := sasl.FailureOf(values[0].(sasl.Client)); f != nil {
		texts = append(texts, f.Error(), fmt.Sprintf("%#v", f))
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
	}
	for _, secret := range []string{password, "wrong-Password-42", goodToken, badToken} {
		forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), fmt.Sprintf("%x", secret)}
		for _, text := range texts {
			for _, form := range forms {
				if strings.Contains(text, form) {
					t.Errorf("%s: secret %q visible in %q", mech, form, text)
				}
			}
		}
	}
}

// A SCRAM server that reports success without sending its proof (v=) has
// not authenticated itself; CheckServerAuth says so.
func TestCheckServerAuthCatchesMissingProof(t *testing.T) {
	reg := mechanisms.New(&mechanisms.Options{SCRAM: &scram.Options{FakeSaltKey: []byte("fake-salt-key-for-tests-32-bytes")}})
	ctx := context.Background()
	n, err := reg.NewClient(ctx, "SCRAM-SHA-256", &sasl.Credentials{Username: user, Password: password}, &sasl.ConnState{Host: "localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := reg.NewServer(ctx, "SCRAM-SHA-256", verifiers(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, first, _ := n.Client.Start()
	serverFirst, _, err := srv.Next(first)
	if err != nil {
		t.Fatal(err)
	}
	final, err := n.Client.Next(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Next(final); err != nil {
		t.Fatal(err)
	}
	// The server's v= is dropped: a protocol's success reply arrives instead.
	if err := sasl.CheckServerAuth(n.Client); !errors.Is(err, sasl.ErrServerAuth) {
		t.Fatalf("CheckServerAuth without the server's proof: %v", err)
	}
}

func TestBuiltinNegotiation(t *testing.T) {
	reg := mechanisms.Builtin()
	cconn, _ := tlsPair(t, tls.VersionTLS13)
	ctx := context.Background()
	pw := &sasl.Credentials{Username: user, Password: password}
	tok := &sasl.Credentials{Username: user, TokenSource: tokenSource{goodToken}}
	for _, tc := range []struct {
		advertised []string
		creds      *sasl.Credentials
		conn       *sasl.ConnState
		want       string
	}{
		{[]string{"XOAUTH2", "OAUTHBEARER", "PLAIN", "PLAIN-CLIENTTOKEN", "XOAUTH"}, tok, cconn, "OAUTHBEARER"}, // Gmail
		{[]string{"XOAUTH2"}, tok, cconn, "XOAUTH2"},                                                            // Microsoft 365
		{[]string{"PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "CRAM-MD5"}, pw, cconn, "SCRAM-SHA-256-PLUS"},
		{[]string{"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}, pw, &sasl.ConnState{Host: "mail.test"}, "SCRAM-SHA-256"},
		{[]string{"PLAIN", "LOGIN"}, pw, cconn, "PLAIN"},
	} {
		n, err := reg.Negotiate(ctx, tc.advertised, tc.creds, tc.conn, nil)
		if err != nil {
			t.Errorf("%v: %v", tc.advertised, err)
			continue
		}
		if n.Mechanism.Name != tc.want {
			t.Errorf("%v: chose %s, want %s", tc.advertised, n.Mechanism.Name, tc.want)
		}
	}
	_, err := reg.Negotiate(ctx, []string{"PLAIN", "LOGIN", "XOAUTH2"}, pw,
		&sasl.ConnState{Host: "mail.example.com", RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1")}}, nil)
	if !errors.Is(err, sasl.ErrInsecureTransport) {
		t.Errorf("cleartext PLAIN/LOGIN: %v", err)
	}
}

func TestBuiltinRegistriesAreIndependent(t *testing.T) {
	a, b := mechanisms.Builtin(), mechanisms.Builtin()
	a.MustRegister(sasl.Mechanism{Name: "X-LOCAL", NewClient: func(*sasl.ClientParams) (sasl.Client, error) { return nil, errors.New("unused") }})
	if _, ok := b.Lookup("X-LOCAL"); ok {
		t.Fatal("registering into one built-in registry changed another")
	}
	want := []string{"EXTERNAL", "SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512",
		"SCRAM-SHA-256", "SCRAM-SHA-1", "OAUTHBEARER", "XOAUTH2", "PLAIN", "LOGIN", "CRAM-MD5", "ANONYMOUS"}
	if got := strings.Join(b.Names(), " "); got != strings.Join(want, " ") {
		t.Fatalf("Names = %s\nwant    %s", got, strings.Join(want, " "))
	}
}

// BenchmarkNegotiateBuiltin chooses among a 10-mechanism advertised list
// with the real built-in registry. "token" ends in OAUTHBEARER, whose client
// is a few field copies, so it measures the selection itself; "password" ends
// in SCRAM-SHA-256-PLUS, whose client construction runs SASLprep on the
// credentials and derives the TLS channel binding.
func BenchmarkNegotiateBuiltin(b *testing.B) {
	reg := mechanisms.Builtin()
	cconn, _ := tlsPair(b, tls.VersionTLS13)
	advertised := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER", "ANONYMOUS", "GSSAPI"}
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		creds *sasl.Credentials
		want  string
	}{
		{"token", &sasl.Credentials{Username: user, TokenSource: tokenSource{goodToken}}, "OAUTHBEARER"},
		{"password", &sasl.Credentials{Username: user, Password: password}, "SCRAM-SHA-256-PLUS"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := reg.Negotiate(ctx, advertised, bc.creds, cconn, nil)
				if err != nil || n.Mechanism.Name != bc.want {
					b.Fatal(n, err)
				}
			}
		})
	}
}
