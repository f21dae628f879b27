package external

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// certVerifier maps the TLS client certificate's common name to a user. A
// user may act as itself only.
type certVerifier struct {
	calls int
	last  string
	err   error
}

func (v *certVerifier) VerifyExternal(_ context.Context, authzid string, conn *sasl.ConnState) (sasl.Identity, error) {
	v.calls++
	v.last = authzid
	if v.err != nil {
		return sasl.Identity{}, v.err
	}
	if conn == nil || conn.TLS == nil || len(conn.TLS.PeerCertificates) == 0 {
		return sasl.Identity{}, fmt.Errorf("no client certificate: %w", sasl.ErrAuthFailed)
	}
	cn := conn.TLS.PeerCertificates[0].Subject.CommonName
	if authzid != "" && authzid != cn {
		return sasl.Identity{}, fmt.Errorf("%q cannot assume %q: %w", cn, authzid, sasl.ErrAuthFailed)
	}
	return sasl.Identity{Username: cn, Authzid: authzid}, nil
}

// certFor returns a self-signed certificate for cn.
func certFor(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsConnState runs a real TLS handshake in memory, the client presenting a
// certificate for cn, and returns the server side's connection facts.
func tlsConnState(t *testing.T, cn string) *sasl.ConnState {
	t.Helper()
	srvCert := certFor(t, "mail.example.com")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAnyClientCert})
	cli := tls.Client(b, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{certFor(t, cn)}}) // test peer with a throwaway certificate
	errc := make(chan error, 1)
	go func() { errc <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return sasl.ConnStateOf(srv, "mail.example.com", 993)
}

func TestVectors(t *testing.T) {
	conn := tlsConnState(t, "fred@example.com")
	tests := []struct {
		file, authzid string
		ok            bool
	}{
		{"rfc4422-a2-1.txt", "", true},
		{"rfc4422-a2-2.txt", "fred@example.com", false},
		{"rfc4954.txt", "", true},
		{"rfc4959-ir.txt", "", true},
		{"rfc4959-noir.txt", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			steps := mechtest.ReadTranscript(t, tt.file)
			mechtest.ReplayClient(t, NewClient(tt.authzid), steps)

			v := &certVerifier{}
			c := conn
			if !tt.ok {
				// The RFC's server refuses fred: here the certificate
				// names somebody else.
				c = tlsConnState(t, "barney@example.com")
			}
			s := NewServer(context.Background(), v, c)
			err := mechtest.ReplayServer(t, s, steps)
			if v.calls != 1 || v.last != tt.authzid {
				t.Fatalf("verifier calls %d, authzid %q", v.calls, v.last)
			}
			id, ok := s.Identity()
			if tt.ok != (err == nil) || ok != tt.ok {
				t.Fatalf("err = %v, ok %v", err, ok)
			}
			if ok && id != (sasl.Identity{Mechanism: Name, Username: "fred@example.com"}) {
				t.Fatalf("Identity = %+v", id)
			}
			if !tt.ok && !errors.Is(err, sasl.ErrAuthFailed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestClient(t *testing.T) {
	for _, authzid := range []string{"", "fred@example.com", "Jürgen"} {
		c := NewClient(authzid)
		mech, ir, err := c.Start()
		if mech != Name || err != nil || ir == nil || string(ir) != authzid {
			t.Fatalf("Start(%q) = %q %q %v", authzid, mech, ir, err)
		}
		if r, err := c.Next([]byte{}); r != nil || !errors.Is(err, sasl.ErrUnexpectedChallenge) {
			t.Fatalf("Next = %q %v", r, err)
		}
		// go-sasl's client says the same on the wire.
		_, gir, _ := gosasl.NewExternalClient(authzid).Start()
		if string(gir) != string(ir) {
			t.Fatalf("go-sasl IR %q", gir)
		}
	}
	for _, bad := range []string{"a\x00b", "\xff"} {
		if _, ir, err := NewClient(bad).Start(); err == nil || ir != nil || !strings.HasPrefix(err.Error(), "external: ") {
			t.Errorf("Start(%q) = %q %v", bad, ir, err)
		}
		if _, err := Mechanism().NewClient(&sasl.ClientParams{Authzid: bad}); err == nil {
			t.Errorf("descriptor accepted %q", bad)
		}
	}
	if _, err := Mechanism().NewClient(nil); err == nil {
		t.Error("NewClient(nil) succeeded")
	}
}

func TestClientServer(t *testing.T) {
	fred := tlsConnState(t, "fred")
	tests := []struct {
		name, authzid string
		conn          *sasl.ConnState
		want          error
	}{
		{"derived identity", "", fred, nil},
		{"explicit own identity", "fred", fred, nil},
		{"other identity", "root", fred, sasl.ErrAuthFailed},
		{"no certificate", "", &sasl.ConnState{}, sasl.ErrAuthFailed},
		{"nil conn", "", nil, sasl.ErrAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ir := range []bool{true, false} {
				s := NewServer(context.Background(), &certVerifier{}, tt.conn)
				_, msg, _ := NewClient(tt.authzid).Start()
				if !ir {
					ch, done, err := s.Next(nil)
					if ch == nil || len(ch) != 0 || done || err != nil {
						t.Fatalf("Next(nil) = %q %v %v", ch, done, err)
					}
				}
				_, done, err := s.Next(msg)
				if !done || !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				id, ok := s.Identity()
				if ok != (tt.want == nil) || (ok && (id.Username != "fred" || id.Authzid != tt.authzid)) {
					t.Fatalf("Identity = %+v %v", id, ok)
				}
				mechtest.AssertDone(t, s, msg)
			}
		})
	}
}

func TestServerRejects(t *testing.T) {
	tests := map[string]string{
		"NUL":             "fred\x00root",
		"only NUL":        "\x00",
		"bad UTF-8":       "fr\xffed",
		"truncated UTF-8": "fred\xe2\x82",
		"surrogate":       "\xed\xa0\x80",
		"long":            strings.Repeat("a", MaxAuthzidLen+1),
		"huge":            strings.Repeat("a", 1<<20),
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			v := &certVerifier{}
			s := NewServer(context.Background(), v, nil)
			_, done, err := s.Next([]byte(msg))
			var me *sasl.MalformedError
			if !errors.As(err, &me) || !done || me.Mechanism != Name || v.calls != 0 {
				t.Fatalf("err = %v, done %v, calls %d", err, done, v.calls)
			}
		})
	}
	// The longest accepted identity.
	v := &certVerifier{}
	_, _, _ = NewServer(context.Background(), v, nil).Next([]byte(strings.Repeat("a", MaxAuthzidLen)))
	if v.calls != 1 {
		t.Fatal("255-octet authzid not passed to the verifier")
	}
}

func TestVerifierErrors(t *testing.T) {
	down := errors.New("directory down")
	_, _, err := NewServer(context.Background(), &certVerifier{err: down}, nil).Next([]byte{})
	if !errors.Is(err, down) || errors.Is(err, sasl.ErrAuthFailed) || !strings.HasPrefix(err.Error(), "external: ") {
		t.Fatalf("err = %v", err)
	}
	_, _, err = NewServer(context.Background(), &certVerifier{err: sasl.ErrUnknownUser}, nil).Next([]byte{})
	if !errors.Is(err, sasl.ErrAuthFailed) || !errors.Is(err, sasl.ErrUnknownUser) {
		t.Fatalf("err = %v", err)
	}
	// A verifier that accepts without naming a user is a fault, not a login.
	anon := sasl.ExternalVerifierFunc(func(context.Context, string, *sasl.ConnState) (sasl.Identity, error) {
		return sasl.Identity{}, nil
	})
	s := NewServer(context.Background(), anon, nil)
	if _, done, err := s.Next([]byte{}); err == nil || !done {
		t.Fatal("accepted an identity without a user")
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("identity reported")
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
	if m.Name != "EXTERNAL" || m.Properties != 0 || m.Needs != sasl.NeedExternal || m.Strength != 80 || m.Standard != "RFC 4422" {
		t.Fatalf("%+v", m)
	}
	r := sasl.NewRegistry()
	r.MustRegister(m)
	ctx := context.Background()
	conn := tlsConnState(t, "fred")
	// Username is for other mechanisms; EXTERNAL sends only the authzid.
	n, err := r.Negotiate(ctx, []string{"EXTERNAL"}, &sasl.Credentials{Username: "ignored", External: true}, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ir, _ := n.Client.Start()
	s, err := r.NewServer(ctx, "EXTERNAL", &sasl.Verifiers{External: &certVerifier{}}, conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next(ir); err != nil {
		t.Fatal(err)
	}
	if id, _ := s.Identity(); id.AuthorizedAs() != "fred" {
		t.Fatalf("Identity = %+v", id)
	}
	if _, err := r.Negotiate(ctx, []string{"EXTERNAL"}, &sasl.Credentials{Username: "u", Password: "p"}, conn, nil); !errors.Is(err, sasl.ErrNoMechanism) {
		t.Fatalf("negotiated EXTERNAL without External credentials: %v", err)
	}
}

func TestFormat(t *testing.T) {
	if got := fmt.Sprintf("%+v", NewClient("fred")); got != `external.Client{Authzid:"fred"}` {
		t.Fatal(got)
	}
	s := NewServer(context.Background(), &certVerifier{}, tlsConnState(t, "fred"))
	_, _, _ = s.Next([]byte{})
	if got := fmt.Sprintf("%#v", s); got != `external.Server{state:done Username:"fred"}` {
		t.Fatal(got)
	}
}
