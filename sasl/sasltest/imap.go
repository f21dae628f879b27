package sasltest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// imapCaps are the capabilities the IMAP server advertises besides those
// go-imap adds itself (SASL-IR, LITERAL-, STARTTLS, AUTH=, IDLE, UNSELECT).
var imapCaps = imap.CapSet{
	imap.CapIMAP4rev1: {},
	imap.CapNamespace: {},
	imap.CapUIDPlus:   {},
	imap.CapChildren:  {},
}

func (m *MailServer) newIMAPServer() *imapserver.Server {
	return imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			mc := frontOf(c.NetConn())
			if mc == nil {
				return nil, nil, errors.New("sasltest: connection without a recorder")
			}
			return &imapSession{m: m, mc: mc}, nil, nil
		},
		Caps:         imapCaps,
		Logger:       discardLogger,
		TLSConfig:    m.innerServerTLS,
		InsecureAuth: m.opts.AllowInsecureAuth,
	})
}

// imapSession is an IMAP session: not authenticated until a saslkit
// mechanism (or LOGIN) succeeds, then imapmemserver's session of the user.
// It records what enters and leaves mailboxes so that POP3 serves the same
// messages.
type imapSession struct {
	*imapmemserver.UserSession // nil until authenticated

	m        *MailServer
	mc       *mailConn
	user     *storeUser
	selected string
}

var (
	_ imapserver.SessionSASL      = (*imapSession)(nil)
	_ imapserver.SessionIMAP4rev2 = (*imapSession)(nil)
)

// Format prints the session's user and mailbox.
func (s *imapSession) Format(f fmt.State, verb rune) {
	name := ""
	if s.user != nil {
		name = s.user.name
	}
	redact.Format(f, verb, fmt.Sprintf("sasltest.imapSession{User:%q Selected:%q}", name, s.selected))
}

// imapErrors maps authentication outcomes to the profile's IMAP answers.
func (s *imapSession) imapErrors(o authOutcome) error {
	switch o {
	case outcomeTemporary:
		return s.m.spec.imapTemporary
	case outcomeMalformed:
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Invalid SASL response"}
	case outcomeUnsupported:
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	case outcomeTLSRequired:
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired, Text: "TLS is required to authenticate"}
	}
	return s.m.spec.imapRejected
}

// open makes the session the user's.
func (s *imapSession) open(user string) error {
	u := s.m.store.user(user)
	if u == nil {
		return s.m.spec.imapRejected
	}
	s.user = u
	s.UserSession = imapmemserver.NewUserSession(u.mem)
	return nil
}

// AuthenticateMechanisms implements imapserver.SessionSASL.
func (s *imapSession) AuthenticateMechanisms() []string { return s.m.mechanismsFor(s.mc) }

// Authenticate implements imapserver.SessionSASL.
func (s *imapSession) Authenticate(mech string) (sasl.Server, error) {
	return s.m.newAuth(s.mc, mech, s.imapErrors, s.open)
}

// Login implements imapserver.Session (the LOGIN command), where the
// profile allows it.
func (s *imapSession) Login(username, password string) error {
	if !s.m.spec.imapLogin || s.m.opts.DisablePasswordLogin {
		s.m.count(ProtocolIMAP, "LOGIN", func(st *AuthStats) { st.Rejected++ })
		if s.m.opts.Profile == ProfileMicrosoft {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "LOGIN failed."}
		}
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "LOGIN is disabled, use AUTHENTICATE"}
	}
	user, o := s.m.checkPassword(s.mc, "LOGIN", username, password)
	if o != 0 {
		return s.imapErrors(o)
	}
	if err := s.open(user); err != nil {
		return err
	}
	s.mc.authenticated(user, "LOGIN", nil)
	return nil
}

// Select implements imapserver.Session.
func (s *imapSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	data, err := s.UserSession.Select(mailbox, options)
	if err == nil {
		s.selected = mailbox
	}
	return data, err
}

// Unselect implements imapserver.Session.
func (s *imapSession) Unselect() error {
	s.selected = ""
	return s.UserSession.Unselect()
}

// Append implements imapserver.Session, keeping the message's bytes.
func (s *imapSession) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return nil, err
	}
	data, err := s.UserSession.Append(mailbox, bytes.NewReader(buf.Bytes()), options)
	if err == nil {
		s.user.record(mailbox, data.UID, buf.Bytes())
	}
	return data, err
}

// Copy implements imapserver.Session, keeping the copies' bytes.
func (s *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	data, err := s.UserSession.Copy(numSet, dest)
	if err != nil || data == nil {
		return data, err
	}
	src, _ := data.SourceUIDs.Nums()
	dst, _ := data.DestUIDs.Nums()
	for i := range min(len(src), len(dst)) {
		if raw, ok := s.user.rawOf(s.selected, src[i]); ok {
			s.user.record(dest, dst[i], raw)
		}
	}
	return data, nil
}

// Expunge implements imapserver.Session, forgetting expunged messages.
func (s *imapSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	err := s.UserSession.Expunge(w, uids)
	if err == nil && s.selected != "" {
		_, _ = s.user.sync(s.selected)
	}
	return err
}

// Move implements imapserver.SessionMove. MOVE is not advertised (a
// client uses COPY, STORE and EXPUNGE, which keep the store in step); a
// client that moves anyway loses the moved messages for POP3.
func (s *imapSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := s.UserSession.Move(w, numSet, dest); err != nil {
		return err
	}
	_, _ = s.user.sync(s.selected)
	return nil
}

// Delete implements imapserver.Session.
func (s *imapSession) Delete(mailbox string) error {
	err := s.UserSession.Delete(mailbox)
	if err == nil {
		s.user.deleteMailbox(mailbox)
	}
	return err
}

// Rename implements imapserver.Session.
func (s *imapSession) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	err := s.UserSession.Rename(mailbox, newName, options)
	if err == nil {
		if strings.EqualFold(mailbox, InboxName) {
			// Renaming INBOX moves its messages and leaves it empty
			// (RFC 9051 §6.3.6).
			s.user.renameMailbox(InboxName, newName)
		} else {
			s.user.renameMailbox(mailbox, newName)
		}
	}
	return err
}

// Close implements imapserver.Session.
func (s *imapSession) Close() error {
	if s.UserSession == nil {
		return nil
	}
	return s.UserSession.Close()
}
