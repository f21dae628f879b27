package sasltest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/internal/redact"
)

// SMTP answers common to every profile.
var (
	smtpMalformed   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Invalid base64 data or malformed authentication message"}
	smtpUnsupported = &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 7, 4}, Message: "Unrecognized authentication type"}
	// RFC 4954 §6: 538 5.7.11 for a mechanism that needs an encrypted
	// connection.
	smtpTLSRequired   = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	smtpStartTLSFirst = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first."}
	smtpAuthRequired  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication Required."}
	smtpBadMailbox    = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Invalid recipient address"}
)

func (m *MailServer) newSMTPServer() *smtp.Server {
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		if frontOf(c.Conn()) == nil {
			return nil, errors.New("sasltest: connection without a recorder")
		}
		return &smtpSession{m: m, conn: c}, nil
	}))
	s.Domain = m.opts.Hostname
	s.TLSConfig = m.innerServerTLS
	// Authentication before TLS is refused by the session with 538 (and
	// AUTH is left out of EHLO), so go-smtp's own check stays open.
	s.AllowInsecureAuth = true
	s.MaxLineLength = smtpMaxLineLength
	s.MaxMessageBytes = smtpMaxMessageBytes
	s.MaxRecipients = 100
	s.ReadTimeout = m.idle
	s.WriteTimeout = m.idle
	s.ErrorLog = discardLogger
	return s
}

// smtpSession is a submission session: MAIL needs an authenticated user,
// and DATA delivers into each recipient's INBOX in the store.
type smtpSession struct {
	m    *MailServer
	conn *smtp.Conn

	mu    sync.Mutex
	user  string
	from  string
	rcpts []string
}

func (s *smtpSession) front() *mailConn { return frontOf(s.conn.Conn()) }

// Format prints the session's user.
func (s *smtpSession) Format(f fmt.State, verb rune) {
	s.mu.Lock()
	defer s.mu.Unlock()
	redact.Format(f, verb, fmt.Sprintf("sasltest.smtpSession{User:%q}", s.user))
}

func (s *smtpSession) smtpErrors(o authOutcome) error {
	switch o {
	case outcomeTemporary:
		return s.m.spec.smtpTemporary
	case outcomeMalformed:
		return smtpMalformed
	case outcomeUnsupported:
		return smtpUnsupported
	case outcomeTLSRequired:
		return smtpTLSRequired
	}
	return s.m.spec.smtpRejected
}

// AuthMechanisms implements smtp.AuthSession: none before TLS.
func (s *smtpSession) AuthMechanisms() []string {
	mc := s.front()
	if mc == nil {
		return nil
	}
	return s.m.mechanismsFor(mc)
}

// Auth implements smtp.AuthSession.
func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	mc := s.front()
	if mc == nil {
		return nil, smtpTLSRequired
	}
	return s.m.newAuth(mc, mech, s.smtpErrors, func(user string) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.user = user
		return nil
	})
}

// Mail implements smtp.Session.
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == "" {
		if mc := s.front(); mc != nil && !mc.canAuth() {
			return smtpStartTLSFirst
		}
		return smtpAuthRequired
	}
	s.from = from
	return nil
}

// Rcpt implements smtp.Session. Every well-formed address is accepted;
// its account is created on delivery.
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == "" {
		return smtpAuthRequired
	}
	if to == "" || strings.ContainsAny(to, " \t\r\n\x00") || !strings.Contains(to, "@") {
		return smtpBadMailbox
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data implements smtp.Session: the message goes into every recipient's
// INBOX, unchanged but for line endings.
func (s *smtpSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	s.mu.Lock()
	rcpts := append([]string(nil), s.rcpts...)
	s.mu.Unlock()
	for _, to := range rcpts {
		if _, err := s.m.store.Deliver(to, buf.Bytes()); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Delivery failed, try again later"}
		}
	}
	return nil
}

// Reset implements smtp.Session.
func (s *smtpSession) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from, s.rcpts = "", nil
}

// Logout implements smtp.Session.
func (s *smtpSession) Logout() error { return nil }
