package oauthbearer

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
	"strconv"
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

// imapSession authenticates with OAUTHBEARER only, then serves an in-memory
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

func startIMAP(t *testing.T, v sasl.TokenVerifier) (addr string, outcome <-chan error, log *transcript) {
	t.Helper()
	return startIMAPOn(t, v, func(addr string) *ServerOptions { return listenerOptions(t, addr) })
}

func startIMAPOn(t *testing.T, v sasl.TokenVerifier, optsFor func(addr string) *ServerOptions) (addr string, outcome <-chan error, log *transcript) {
	t.Helper()
	var opts *ServerOptions
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
	opts = optsFor(ln.Addr().String())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), ch, tr
}

// listenerOptions are the server options of a server listening on addr.
func listenerOptions(t *testing.T, addr string) *ServerOptions {
	t.Helper()
	host, port := splitAddr(t, addr)
	return &ServerOptions{Host: host, Port: port}
}

// clientFor returns a client that names the server at addr, as a client
// built from a dialed connection's sasl.ConnState does.
func clientFor(t *testing.T, addr, token string) sasl.Client {
	t.Helper()
	host, port := splitAddr(t, addr)
	return NewClient(ClientOptions{Authzid: testUser, Token: token, Host: host, Port: port})
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func TestIMAPSuccessInOneRoundTrip(t *testing.T) {
	addr, outcome, tr := startIMAP(t, newTable(testUser, testToken))
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(clientFor(t, addr, testToken)); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := <-outcome; err != nil {
		t.Fatalf("server: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range tr.lines() {
		if strings.Contains(l, "AUTHENTICATE OAUTHBEARER ") {
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

func TestIMAPRejectedStaysInSync(t *testing.T) {
	addr, outcome, tr := startIMAP(t, newTable(testUser, "the-right-token"))
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := clientFor(t, addr, testToken)
	err = c.Authenticate(sc)
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("Authenticate: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(<-outcome, &te) || te.Status != "invalid_token" {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "invalid_token" || te.Scope != "https://mail.example.com/" || te.Schemes != "bearer mac" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// The error challenge was answered with AQ== (0x01).
	lines := tr.lines()
	answered := false
	for i, l := range lines {
		if strings.HasPrefix(l, "+ ") && i+1 < len(lines) {
			answered = lines[i+1] == "AQ=="
		}
	}
	if !answered {
		t.Fatal("the error challenge was not answered with AQ==")
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after rejection: %v", err)
	}
	if err := c.Authenticate(clientFor(t, addr, "the-right-token")); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if err := <-outcome; err != nil {
		t.Fatal(err)
	}
}

// A client that names another server is refused without a challenge.
func TestIMAPWrongServer(t *testing.T) {
	addr, outcome, _ := startIMAPOn(t, newTable(testUser, testToken), func(addr string) *ServerOptions {
		return &ServerOptions{Host: "imap.example.net"}
	})
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(clientFor(t, addr, testToken)); err == nil {
		t.Fatal("authenticated against the wrong host")
	}
	if err := <-outcome; !errors.Is(err, ErrWrongServer) {
		t.Fatalf("server: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
}

// smtpSession authenticates with OAUTHBEARER only and accepts mail once
// authenticated.
type smtpSession struct {
	verifier sasl.TokenVerifier
	opts     *ServerOptions
	outcome  chan<- error
	authed   bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{Name} }
func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	return &mapped{
		conv:    NewServer(context.Background(), s.verifier, s.opts),
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := listenerOptions(t, ln.Addr().String())
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{verifier: v, opts: opts, outcome: ch}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxLineLength = 12288
	srv.ErrorLog = discardLogger()
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
	if err := c.Auth(clientFor(t, addr, testToken)); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if err := <-outcome; err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := c.Mail(testUser, nil); err != nil {
		t.Fatalf("MAIL after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range tr.lines() {
		if strings.HasPrefix(l, "AUTH OAUTHBEARER ") {
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
	sc := clientFor(t, addr, testToken)
	err = c.Auth(sc)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("Auth: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(<-outcome, &te) {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "invalid_token" || te.Scope != "https://mail.example.com/" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// One error challenge, answered with AQ== (0x01).
	lines := tr.lines()
	challenges := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "334 ") {
			challenges++
			if i+1 >= len(lines) || lines[i+1] != "AQ==" {
				t.Fatal("the error challenge was not answered with AQ==")
			}
		}
	}
	if challenges != 1 {
		t.Fatalf("%d challenges, want 1", challenges)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP after rejection: %v", err)
	}
	if err := c.Mail(testUser, nil); err == nil {
		t.Fatal("MAIL accepted without authentication")
	}
}

// A client that sends AUTH without an initial response gets an empty
// "334 " and sends its message after it. go-smtp's client always sends the
// initial response, so this speaks SMTP directly.
func TestSMTPWithoutInitialResponse(t *testing.T) {
	addr, outcome := startSMTP(t, newTable(testUser, testToken))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	// reply reads one (possibly multi-line) reply and returns its last line.
	reply := func() string {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	reply() // greeting
	fmt.Fprintf(conn, "EHLO client.example.com\r\n")
	reply()
	fmt.Fprintf(conn, "AUTH OAUTHBEARER\r\n")
	if l := reply(); l != "334 \r\n" {
		t.Fatalf("continuation %q, want an empty one", l)
	}
	_, ir, err := clientFor(t, addr, testToken).Start()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "%s\r\n", base64.StdEncoding.EncodeToString(ir))
	if l := reply(); !strings.HasPrefix(l, "235 ") {
		t.Fatalf("reply %q", l)
	}
	if err := <-outcome; err != nil {
		t.Fatal(err)
	}
}
