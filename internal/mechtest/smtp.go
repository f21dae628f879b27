package mechtest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/textproto"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
)

// SMTPOptions configure StartSMTP.
type SMTPOptions struct {
	// Mechanism is the one SASL mechanism the server offers.
	Mechanism string
	// NewServer creates the conversation for each AUTH command.
	NewServer NewServerFunc
	// TLS, when set, makes the server speak implicit TLS (SMTPS) with this
	// configuration.
	TLS *tls.Config
}

// SMTP is a go-smtp server on the loopback interface that authenticates with
// a saslkit server conversation. It accepts MAIL only once a client has
// authenticated, and discards messages.
type SMTP struct {
	// Addr is the address it listens on.
	Addr string
	// Log is the server's debug output: every line it read and wrote.
	Log *Log
	results
	opts SMTPOptions
}

// StartSMTP starts an SMTP server for the rest of the test. The
// conversation's errors reach the client as SMTPReply makes them.
func StartSMTP(t testing.TB, opts SMTPOptions) *SMTP {
	t.Helper()
	ln := listen(t, opts.TLS)
	s := &SMTP{Addr: ln.Addr().String(), Log: &Log{}, results: newResults(), opts: opts}
	ctx := t.Context()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{ctx: ctx, srv: s, cs: func() *sasl.ConnState {
			var st *tls.ConnectionState
			if state, ok := c.TLSConnectionState(); ok {
				st = &state
			}
			return connState(ln, c.Conn(), st)
		}}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback test server
	srv.MaxLineLength = 12288    // RFC 4954's limit for an AUTH line
	srv.Debug = s.Log
	srv.ErrorLog = discardLogger()
	serve(t, ln, srv.Serve, srv.Close)
	return s
}

// SMTPReply maps a conversation's error to an SMTP reply, as a protocol
// adapter does: wrong credentials 535, a malformed message 501, anything
// else 454 (temporary).
func SMTPReply(err error) error {
	switch {
	case errors.Is(err, sasl.ErrAuthFailed):
		return smtp.ErrAuthFailed
	case errors.Is(err, sasl.ErrMalformed):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication message"}
	default:
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	}
}

// Dial connects a go-smtp client without TLS and says EHLO. The connection
// is closed when the test ends.
func (s *SMTP) Dial(t testing.TB) *smtp.Client {
	t.Helper()
	cl, err := smtp.Dial(s.Addr)
	return s.hello(t, cl, err)
}

// DialTLS connects a go-smtp client over TLS with cfg and says EHLO. The
// connection is closed when the test ends.
func (s *SMTP) DialTLS(t testing.TB, cfg *tls.Config) *smtp.Client {
	t.Helper()
	cl, err := smtp.DialTLS(s.Addr, cfg)
	return s.hello(t, cl, err)
}

func (s *SMTP) hello(t testing.TB, cl *smtp.Client, err error) *smtp.Client {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Hello("client.example.com"); err != nil {
		t.Fatal(err)
	}
	return cl
}

// DialText connects without a client library, reads the greeting and says
// EHLO, for a test that speaks SMTP by hand. The connection is closed when
// the test ends.
func (s *SMTP) DialText(t testing.TB) *textproto.Conn {
	t.Helper()
	c, err := textproto.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cmd("EHLO client.example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	return c
}

// ExpectReply sends line on c and fails t unless the reply has code and,
// when msg is not empty, the text msg.
func ExpectReply(t testing.TB, c *textproto.Conn, line string, code int, msg string) {
	t.Helper()
	if _, err := c.Cmd("%s", line); err != nil {
		t.Fatal(err)
	}
	got, text, err := c.ReadResponse(code)
	if err != nil || (msg != "" && text != msg) {
		t.Fatalf("%s: %d %q %v, want %d %q", line, got, text, err, code, msg)
	}
}

// Authenticate dials without TLS, checks that the server advertises its
// mechanism, and authenticates with c on a connection of its own.
func (s *SMTP) Authenticate(t testing.TB, c sasl.Client) error {
	t.Helper()
	cl := s.Dial(t)
	defer cl.Close()
	if !cl.SupportsAuth(s.opts.Mechanism) {
		t.Fatalf("server does not advertise AUTH %s", s.opts.Mechanism)
	}
	return cl.Auth(c)
}

type smtpSession struct {
	ctx    context.Context
	srv    *SMTP
	cs     func() *sasl.ConnState
	authed bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{s.srv.opts.Mechanism} }

func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	if mech != s.srv.opts.Mechanism {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &conversation{
		conv:   s.srv.opts.NewServer(s.ctx, s.cs()),
		res:    &s.srv.results,
		mapErr: SMTPReply,
		onOK:   func(sasl.Identity) { s.authed = true },
	}, nil
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }
