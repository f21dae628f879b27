package login

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/sasl"
)

// smtpSession is a go-smtp session that authenticates with this package's
// server and records who authenticated.
type smtpSession struct {
	ctx context.Context
	v   sasl.PasswordVerifier
	mu  *sync.Mutex
	ids *[]sasl.Identity
}

func (s *smtpSession) AuthMechanisms() []string { return []string{Name} }

func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	if mech != Name {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &smtpAuth{conv: NewServer(s.ctx, s.v), sess: s}, nil
}

func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }

// smtpAuth maps the conversation's errors to SMTP replies, as a protocol
// adapter does: wrong credentials 535, a malformed message 501, anything
// else 454 (temporary).
type smtpAuth struct {
	conv sasl.ServerConversation
	sess *smtpSession
}

func (a *smtpAuth) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := a.conv.Next(resp)
	switch {
	case err == nil:
		if done {
			id, _ := a.conv.Identity()
			a.sess.mu.Lock()
			*a.sess.ids = append(*a.sess.ids, id)
			a.sess.mu.Unlock()
		}
		return ch, done, nil
	case errors.Is(err, sasl.ErrAuthFailed):
		return nil, true, smtp.ErrAuthFailed
	case errors.Is(err, sasl.ErrMalformed):
		return nil, true, &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication message"}
	default:
		return nil, true, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
	}
}

type smtpServer struct {
	addr string
	mu   sync.Mutex
	ids  []sasl.Identity
	wire bytes.Buffer // the server's debug transcript
}

func (s *smtpServer) identities() []sasl.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sasl.Identity(nil), s.ids...)
}

func (s *smtpServer) transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wire.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func startSMTP(t *testing.T, v sasl.PasswordVerifier) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := &smtpServer{addr: ln.Addr().String()}
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{ctx: t.Context(), v: v, mu: &st.mu, ids: &st.ids}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback test server
	srv.Debug = lockedWriter{&st.mu, &st.wire}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return st
}

func smtpAuthenticate(t *testing.T, addr string, c sasl.Client) error {
	t.Helper()
	cl, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Hello("client.example.com"); err != nil {
		t.Fatal(err)
	}
	if !cl.SupportsAuth(Name) {
		t.Fatal("server does not advertise AUTH LOGIN")
	}
	return cl.Auth(c)
}

func TestSMTPLoopback(t *testing.T) {
	st := startSMTP(t, testUsers())

	// Our client: no initial response, then the username and the password
	// in answer to the server's two challenges.
	if err := smtpAuthenticate(t, st.addr, NewClient("tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	for _, line := range []string{"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n", "dGlt\r\n", "334 UGFzc3dvcmQ6\r\n", "dGFuc3RhYWZ0YW5zdGFhZg==\r\n"} {
		if !strings.Contains(st.transcript(), line) {
			t.Fatalf("wire lacks %q:\n%s", line, st.transcript())
		}
	}

	// go-sasl's client sends the username as an initial response.
	if err := smtpAuthenticate(t, st.addr, gosasl.NewLoginClient("tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("go-sasl client: %v", err)
	}
	if !strings.Contains(st.transcript(), "AUTH LOGIN dGlt\r\n") {
		t.Fatal("wire lacks the initial-response form")
	}

	var se *smtp.SMTPError
	for _, c := range []sasl.Client{NewClient("tim", "wrong"), NewClient("nobody", "x")} {
		err := smtpAuthenticate(t, st.addr, c)
		if !errors.As(err, &se) || se.Code != 535 {
			t.Fatalf("bad credentials: %v, want 535", err)
		}
	}

	want := sasl.Identity{Mechanism: Name, Username: "tim"}
	if got := st.identities(); len(got) != 2 || got[0] != want || got[1] != want {
		t.Fatalf("identities = %+v", got)
	}
}

// TestSMTPRawWire replays the draft's §2.3 client lines over SMTP by hand,
// and shows the reply to a malformed username.
func TestSMTPRawWire(t *testing.T) {
	st := startSMTP(t, testUsers())
	dial := func() *textproto.Conn {
		c, err := textproto.Dial("tcp", st.addr)
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
	expect := func(c *textproto.Conn, line string, code int, msg string) {
		t.Helper()
		if _, err := c.Cmd("%s", line); err != nil {
			t.Fatal(err)
		}
		got, text, err := c.ReadResponse(code)
		if err != nil || (msg != "" && text != msg) {
			t.Fatalf("%s: %d %q %v, want %d %q", line, got, text, err, code, msg)
		}
	}

	c := dial()
	expect(c, "AUTH LOGIN", 334, "VXNlcm5hbWU6")
	expect(c, "dGlt", 334, "UGFzc3dvcmQ6")
	expect(c, "dGFuc3RhYWZ0YW5zdGFhZg==", 235, "")

	c = dial()
	expect(c, "AUTH LOGIN", 334, "VXNlcm5hbWU6")
	expect(c, "dABpbQ==", 501, "") // "t\x00im"

	if got := st.identities(); len(got) != 1 || got[0].Username != "tim" {
		t.Fatalf("identities = %+v", got)
	}
}
