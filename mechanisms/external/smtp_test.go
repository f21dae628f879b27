package external

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
)

type smtpSession struct {
	ctx  context.Context
	conn *smtp.Conn
}

func (s *smtpSession) AuthMechanisms() []string { return []string{Name} }

func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	if mech != Name {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	cs := &sasl.ConnState{Host: "localhost", RemoteAddr: s.conn.Conn().RemoteAddr()}
	if st, ok := s.conn.TLSConnectionState(); ok {
		cs.TLS = &st
	}
	return smtpAuth{NewServer(s.ctx, &certVerifier{}, cs)}, nil
}

func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }

type smtpAuth struct{ sasl.ServerConversation }

func (a smtpAuth) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := a.ServerConversation.Next(resp)
	switch {
	case err == nil:
		return ch, done, nil
	case errors.Is(err, sasl.ErrAuthFailed):
		return nil, true, smtp.ErrAuthFailed
	default:
		return nil, true, &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Bad authentication exchange"}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestSMTPOverTLS authenticates with a TLS client certificate over implicit
// TLS through go-smtp's client and server: the empty initial response goes
// on the wire as "AUTH EXTERNAL =" (RFC 4954 §4.1).
func TestSMTPOverTLS(t *testing.T) {
	srvCert := certFor(t, "localhost")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequestClientCert})
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{ctx: t.Context(), conn: c}, nil
	}))
	srv.Domain = "localhost"
	var wire syncBuffer
	srv.Debug = &wire
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})

	leaf, err := x509.ParseCertificate(srvCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	auth := func(cert *tls.Certificate, c sasl.Client) error {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		cl, err := smtp.DialTLS(ln.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Hello("client.example.com"); err != nil {
			t.Fatal(err)
		}
		return cl.Auth(c)
	}

	fred := certFor(t, "fred@example.com")
	if err := auth(&fred, NewClient("")); err != nil {
		t.Fatalf("derived identity: %v", err)
	}
	if !strings.Contains(wire.String(), "AUTH EXTERNAL =\r\n") {
		t.Fatalf("wire lacks AUTH EXTERNAL =:\n%s", wire.String())
	}
	if err := auth(&fred, NewClient("fred@example.com")); err != nil {
		t.Fatalf("explicit identity: %v", err)
	}
	var se *smtp.SMTPError
	if err := auth(&fred, NewClient("root")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("other identity: %v", err)
	}
	if err := auth(nil, NewClient("")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("no certificate: %v", err)
	}
}
