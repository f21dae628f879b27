package sasltest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// mailSession is a client session of any protocol, for tests that run the
// same scenario over IMAP, SMTP and POP3 with each protocol's real client
// (imapclient, go-smtp's client, the raw POP3 client).
type mailSession interface {
	// auth authenticates with mech; it returns the saslkit client (for
	// sasl.FailureOf) and the protocol's error.
	auth(mech string, creds *sasl.Credentials) (sasl.Client, error)
	// check runs a command that needs an authenticated session.
	check() error
	// noop runs a command valid in any state.
	noop() error
	// mechanisms returns the advertised mechanisms.
	mechanisms() []string
	// local is the client's local address, to find the transcript.
	local() string
	// close closes the client's connection.
	close()
}

// popError is a POP3 -ERR line.
type popError struct{ line string }

func (e *popError) Error() string { return e.line }

// openSession connects a client of proto to ms in mode. cfg, when not nil,
// replaces the client TLS configuration.
func openSession(t testing.TB, ms *sasltest.MailServer, proto sasltest.Protocol, mode sasltest.TLSMode, cfg *tls.Config) mailSession {
	t.Helper()
	if cfg == nil {
		cfg = ms.ClientTLSConfig()
	}
	addr := ms.Addr(proto, mode)
	var conn net.Conn
	var err error
	if mode == sasltest.ImplicitTLS {
		conn, err = tls.Dial("tcp", addr, cfg)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	local := conn.LocalAddr().String()
	switch proto {
	case sasltest.ProtocolIMAP:
		s := &imapSession{t: t, localAddr: local, cs: connState(conn, addr)}
		if mode == sasltest.ImplicitTLS {
			s.c = imapclient.New(conn, nil)
		} else {
			// imapclient keeps its STARTTLS connection to itself: the
			// session has no TLS state, so -PLUS mechanisms cannot run.
			s.c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: cfg})
			if err != nil {
				t.Fatalf("STARTTLS: %v", err)
			}
		}
		if err := s.c.WaitGreeting(); err != nil {
			t.Fatalf("greeting: %v", err)
		}
		t.Cleanup(s.close)
		return s
	case sasltest.ProtocolSMTP:
		var c *smtp.Client
		if mode == sasltest.ImplicitTLS {
			c = smtp.NewClient(conn)
		} else if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		if err := c.Hello("client.example.test"); err != nil {
			t.Fatalf("EHLO: %v", err)
		}
		st, _ := c.TLSConnectionState()
		cs := connState(conn, addr)
		cs.TLS = &st
		s := &smtpSession{c: c, conn: conn, localAddr: local, cs: cs}
		t.Cleanup(s.close)
		return s
	}
	pc := newPopClient(t, conn)
	if mode == sasltest.StartTLS {
		pc.expectOK("STLS")
		pc.upgrade(cfg)
	}
	return &popSession{c: pc}
}

type imapSession struct {
	t         testing.TB
	c         *imapclient.Client
	cs        *sasl.ConnState
	localAddr string
}

func (s *imapSession) auth(mech string, creds *sasl.Credentials) (sasl.Client, error) {
	n, err := mechanisms.Builtin().NewClient(context.Background(), mech, creds, s.cs, nil)
	if err != nil {
		return nil, err
	}
	return n.Client, s.c.Authenticate(n.Client)
}
func (s *imapSession) check() error {
	_, err := s.c.Select("INBOX", nil).Wait()
	return err
}
func (s *imapSession) noop() error { return s.c.Noop().Wait() }
func (s *imapSession) mechanisms() []string {
	caps, err := s.c.Capability().Wait()
	if err != nil {
		return nil
	}
	return caps.AuthMechanisms()
}
func (s *imapSession) local() string { return s.localAddr }
func (s *imapSession) close()        { s.c.Close() }

type smtpSession struct {
	c         *smtp.Client
	conn      net.Conn // under c; after STARTTLS the TLS layer is c's
	cs        *sasl.ConnState
	localAddr string
}

func (s *smtpSession) auth(mech string, creds *sasl.Credentials) (sasl.Client, error) {
	n, err := mechanisms.Builtin().NewClient(context.Background(), mech, creds, s.cs, nil)
	if err != nil {
		return nil, err
	}
	return n.Client, s.c.Auth(n.Client)
}
func (s *smtpSession) check() error {
	if err := s.c.Mail(alice, nil); err != nil {
		return err
	}
	return s.c.Reset()
}
func (s *smtpSession) noop() error { return s.c.Noop() }
func (s *smtpSession) mechanisms() []string {
	_, list := s.c.Extension("AUTH")
	return strings.Fields(list)
}
func (s *smtpSession) local() string { return s.localAddr }
func (s *smtpSession) close()        { s.c.Close() }

type popSession struct{ c *popClient }

func (s *popSession) auth(mech string, creds *sasl.Credentials) (sasl.Client, error) {
	n, err := mechanisms.Builtin().NewClient(context.Background(), mech, creds, s.c.cs(), nil)
	if err != nil {
		return nil, err
	}
	if l := s.c.auth(n.Client, true); !strings.HasPrefix(l, "+OK") {
		return n.Client, &popError{l}
	}
	return n.Client, nil
}
func (s *popSession) check() error {
	if l := s.c.cmd("STAT"); !strings.HasPrefix(l, "+OK") {
		return &popError{l}
	}
	return nil
}
func (s *popSession) noop() error {
	s.c.send("CAPA")
	if l := s.c.line(); !strings.HasPrefix(l, "+OK") {
		return &popError{l}
	}
	s.c.multi()
	return nil
}
func (s *popSession) mechanisms() []string {
	s.c.send("CAPA")
	s.c.line()
	for _, l := range s.c.multi() {
		if rest, ok := strings.CutPrefix(l, "SASL "); ok {
			return strings.Fields(rest)
		}
	}
	return nil
}
func (s *popSession) local() string { return s.c.local }
func (s *popSession) close()        { s.c.tp.Close() }

// errText renders a protocol error for assertions.
func errText(err error) string {
	var pe *popError
	if errors.As(err, &pe) {
		return pe.line
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

var (
	allProtocols = []sasltest.Protocol{sasltest.ProtocolIMAP, sasltest.ProtocolSMTP, sasltest.ProtocolPOP3}
	allModes     = []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS}
)
