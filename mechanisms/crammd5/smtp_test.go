package crammd5

import (
	"context"
	"errors"
	"io"
	"net"
	netsmtp "net/smtp"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
)

type smtpSession struct{ ctx context.Context }

func (s *smtpSession) AuthMechanisms() []string { return []string{Name} }

func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	if mech != Name {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return smtpAuth{NewServer(s.ctx, testSecrets(), &ServerOptions{Hostname: "localhost"})}, nil
}

func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }

// smtpAuth maps failures to 535 and malformed messages to 501.
type smtpAuth struct{ sasl.ServerConversation }

func (a smtpAuth) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := a.ServerConversation.Next(resp)
	switch {
	case err == nil:
		return ch, done, nil
	case errors.Is(err, sasl.ErrAuthFailed):
		return nil, true, smtp.ErrAuthFailed
	case errors.Is(err, sasl.ErrMalformed):
		return nil, true, &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication message"}
	default:
		return nil, true, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	}
}

func startSMTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{ctx: t.Context()}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback test server
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// TestSMTPInterop runs CRAM-MD5 over real SMTP: this package's client through
// go-smtp, and the standard library's net/smtp CRAM-MD5 client, both against
// this package's server behind go-smtp's server.
func TestSMTPInterop(t *testing.T) {
	addr := startSMTP(t)
	gs := func(c sasl.Client) error {
		cl, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Hello("client.example.com"); err != nil {
			t.Fatal(err)
		}
		return cl.Auth(c)
	}
	std := func(a netsmtp.Auth) error {
		cl, err := netsmtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Hello("client.example.com"); err != nil {
			t.Fatal(err)
		}
		return cl.Auth(a)
	}

	if err := gs(NewClient("tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("go-smtp client: %v", err)
	}
	if err := std(netsmtp.CRAMMD5Auth("rjs3", "1234")); err != nil {
		t.Fatalf("net/smtp client: %v", err)
	}
	var se *smtp.SMTPError
	if err := gs(NewClient("tim", "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("wrong password: %v", err)
	}
	if err := std(netsmtp.CRAMMD5Auth("nobody", "1234")); err == nil {
		t.Fatal("net/smtp: unknown user accepted")
	}
}
