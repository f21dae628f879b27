package xoauth2

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
)

// transcript is a goroutine-safe debug writer.
type transcript struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *transcript) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *transcript) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Split(w.b.String(), "\r\n")
}

// mapped runs a saslkit server conversation inside a protocol server: it
// maps the conversation's errors to the protocol's "authentication failed"
// (go-imap and go-smtp would report any other error as a server fault) and
// reports the outcome.
type mapped struct {
	conv    sasl.ServerConversation
	failure error
	outcome chan<- error
	onOK    func(sasl.Identity)
}

func (m *mapped) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := m.conv.Next(resp)
	switch {
	case err != nil:
		m.outcome <- err
		return nil, true, m.failure
	case done:
		id, _ := m.conv.Identity()
		m.onOK(id)
		m.outcome <- nil
	}
	return ch, done, nil
}

// imapSession authenticates with XOAUTH2 only, then serves an in-memory
// mailbox.
type imapSession struct {
	*imapmemserver.UserSession // nil until authenticated
	user                       *imapmemserver.User
	verifier                   sasl.TokenVerifier
	opts                       *ServerOptions
	outcome                    chan<- error
}

func (s *imapSession) Login(string, string) error       { return imapserver.ErrAuthFailed }
func (s *imapSession) AuthenticateMechanisms() []string { return []string{Name} }
func (s *imapSession) Authenticate(mech string) (gosasl.Server, error) {
	if mech != Name {
		return nil, imapserver.ErrAuthFailed
	}
	return &mapped{
		conv:    NewServer(context.Background(), s.verifier, s.opts),
		failure: imapserver.ErrAuthFailed,
		outcome: s.outcome,
		onOK:    func(sasl.Identity) { s.UserSession = imapmemserver.NewUserSession(s.user) },
	}, nil
}

func startIMAP(t *testing.T, v sasl.TokenVerifier, opts *ServerOptions) (addr string, outcome <-chan error, log *transcript) {
	t.Helper()
	ch := make(chan error, 4)
	user := imapmemserver.NewUser(testUser, "")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	tr := &transcript{}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{user: user, verifier: v, opts: opts, outcome: ch}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapSASLIR: {}},
		InsecureAuth: true,
		DebugWriter:  tr,
		Logger:       discardLogger(),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), ch, tr
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func TestIMAPSuccessInOneRoundTrip(t *testing.T) {
	addr, outcome, tr := startIMAP(t, newTable(testUser, testToken), nil)
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := NewClient(testUser, testToken)
	if err := c.Authenticate(sc); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := <-outcome; err != nil {
		t.Fatalf("server: %v", err)
	}
	if c.State() != imap.ConnStateAuthenticated {
		t.Fatalf("state %v", c.State())
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range tr.lines() {
		if strings.Contains(l, "AUTHENTICATE XOAUTH2 ") {
			auth++
		}
		if strings.HasPrefix(l, "+") {
			cont++
		}
	}
	if auth != 1 || cont != 0 {
		t.Fatalf("want one AUTHENTICATE with its initial response and no continuation; got %d and %d", auth, cont)
	}
}

// A client that sends AUTHENTICATE without an initial response gets an
// empty continuation ("+ ", not "+ =") and sends its message after it.
// imapclient always uses SASL-IR with imapserver, so this speaks IMAP
// directly.
func TestIMAPWithoutInitialResponse(t *testing.T) {
	addr, outcome, _ := startIMAP(t, newTable(testUser, testToken), nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readLine := func() string {
		t.Helper()
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	readLine() // greeting
	fmt.Fprintf(conn, "A1 AUTHENTICATE XOAUTH2\r\n")
	if l := readLine(); l != "+ \r\n" {
		t.Fatalf("continuation %q, want an empty one", l)
	}
	fmt.Fprintf(conn, "%s\r\n", base64.StdEncoding.EncodeToString(validIR()))
	if l := readLine(); !strings.HasPrefix(l, "A1 OK ") {
		t.Fatalf("reply %q", l)
	}
	if err := <-outcome; err != nil {
		t.Fatal(err)
	}
}

func TestIMAPRejectedStaysInSync(t *testing.T) {
	addr, outcome, _ := startIMAP(t, newTable(testUser, "the-right-token"), nil)
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := NewClient(testUser, testToken)
	err = c.Authenticate(sc)
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("Authenticate: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(<-outcome, &te) || te.Status != "401" {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "401" || te.Scope != "https://mail.google.com/" || te.Schemes != "bearer mac" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// The connection is still in step: a NOOP and a second attempt work.
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after rejection: %v", err)
	}
	if err := c.Authenticate(NewClient(testUser, "the-right-token")); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if err := <-outcome; err != nil {
		t.Fatal(err)
	}
}

// Exchange Online's way: NO without a challenge. The client has nothing to
// record, and the connection stays usable.
func TestIMAPRejectedWithoutChallenge(t *testing.T) {
	addr, outcome, tr := startIMAP(t, newTable(testUser, "the-right-token"), MicrosoftServerOptions())
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := NewClient(testUser, testToken)
	var ie *imap.Error
	if err := c.Authenticate(sc); !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		t.Fatalf("Authenticate: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(<-outcome, &te) {
		t.Fatal("server did not fail with the token error")
	}
	if sasl.FailureOf(sc) != nil {
		t.Fatal("client recorded a failure it was never sent")
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after rejection: %v", err)
	}
	for _, l := range tr.lines() {
		if strings.HasPrefix(l, "+") {
			t.Fatal("server sent a continuation")
		}
	}
}

// smtpSession authenticates with XOAUTH2 only and accepts mail once
// authenticated.
type smtpSession struct {
	verifier sasl.TokenVerifier
	outcome  chan<- error
	authed   bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{Name} }
func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	return &mapped{
		conv:    NewServer(context.Background(), s.verifier, nil),
		failure: smtp.ErrAuthFailed,
		outcome: s.outcome,
		onOK:    func(sasl.Identity) { s.authed = true },
	}, nil
}
func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T, v sasl.TokenVerifier) (addr string, outcome <-chan error) {
	t.Helper()
	ch := make(chan error, 4)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{verifier: v, outcome: ch}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxLineLength = 12288
	srv.ErrorLog = discardLogger()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), ch
}

func TestSMTPSuccessInOneRoundTrip(t *testing.T) {
	addr, outcome := startSMTP(t, newTable(testUser, testToken))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := &transcript{}
	c.DebugWriter = tr
	if err := c.Auth(NewClient(testUser, testToken)); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if err := <-outcome; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := c.Mail("someuser@example.com", nil); err != nil {
		t.Fatalf("MAIL after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range tr.lines() {
		if strings.HasPrefix(l, "AUTH XOAUTH2 ") {
			auth++
		}
		if strings.HasPrefix(l, "334") {
			cont++
		}
	}
	if auth != 1 || cont != 0 {
		t.Fatalf("want one AUTH with its initial response and no 334; got %d and %d", auth, cont)
	}
}

func TestSMTPRejectedStaysInSync(t *testing.T) {
	addr, outcome := startSMTP(t, newTable(testUser, "the-right-token"))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := &transcript{}
	c.DebugWriter = tr
	sc := NewClient(testUser, testToken)
	err = c.Auth(sc)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("Auth: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(<-outcome, &te) {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "401" || te.Scope != "https://mail.google.com/" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// One error challenge, answered with an empty line.
	lines := tr.lines()
	challenges := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "334 ") {
			challenges++
			if i+1 >= len(lines) || lines[i+1] != "" {
				t.Fatalf("answer to the error challenge is not an empty line")
			}
		}
	}
	if challenges != 1 {
		t.Fatalf("%d challenges, want 1", challenges)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP after rejection: %v", err)
	}
	if err := c.Mail("someuser@example.com", nil); err == nil {
		t.Fatal("MAIL accepted without authentication")
	}
}
