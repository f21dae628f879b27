package oauthbearer

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// startIMAP starts a go-imap server that offers OAUTHBEARER only, knows its
// own host and port (as the descriptor's server learns them from the
// sasl.ConnState), and serves an in-memory mailbox once authenticated.
func startIMAP(t *testing.T, v sasl.TokenVerifier) *mechtest.IMAP {
	return startIMAPWith(t, v, listenerOptions)
}

// startIMAPWith is startIMAP with the server options optsFor makes of the
// connection.
func startIMAPWith(t *testing.T, v sasl.TokenVerifier, optsFor func(conn *sasl.ConnState) *ServerOptions) *mechtest.IMAP {
	return mechtest.StartIMAP(t, mechtest.IMAPOptions{
		Mechanism: Name,
		User:      testUser,
		NewServer: func(ctx context.Context, conn *sasl.ConnState) sasl.ServerConversation {
			return NewServer(ctx, v, optsFor(conn))
		},
	})
}

// listenerOptions are the options of a server that knows the host and port
// it listens on.
func listenerOptions(conn *sasl.ConnState) *ServerOptions {
	return &ServerOptions{Host: conn.Host, Port: conn.Port}
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

func TestIMAPSuccessInOneRoundTrip(t *testing.T) {
	srv := startIMAP(t, newTable(testUser, testToken))
	c := srv.Dial(t)
	if err := c.Authenticate(clientFor(t, srv.Addr, testToken)); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := srv.Outcome(t); err != nil {
		t.Fatalf("server: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range srv.Log.Lines() {
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
	srv := startIMAP(t, newTable(testUser, "the-right-token"))
	c := srv.Dial(t)
	sc := clientFor(t, srv.Addr, testToken)
	err := c.Authenticate(sc)
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("Authenticate: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(srv.Outcome(t), &te) || te.Status != "invalid_token" {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "invalid_token" || te.Scope != "https://mail.example.com/" || te.Schemes != "bearer mac" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// The error challenge was answered with AQ== (0x01).
	lines := srv.Log.Lines()
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
	if err := c.Authenticate(clientFor(t, srv.Addr, "the-right-token")); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if err := srv.Outcome(t); err != nil {
		t.Fatal(err)
	}
}

// A client that names another server is refused without a challenge.
func TestIMAPWrongServer(t *testing.T) {
	srv := startIMAPWith(t, newTable(testUser, testToken), func(*sasl.ConnState) *ServerOptions {
		return &ServerOptions{Host: "imap.example.net"}
	})
	c := srv.Dial(t)
	if err := c.Authenticate(clientFor(t, srv.Addr, testToken)); err == nil {
		t.Fatal("authenticated against the wrong host")
	}
	if err := srv.Outcome(t); !errors.Is(err, ErrWrongServer) {
		t.Fatalf("server: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
}

// startSMTP starts a go-smtp server that offers OAUTHBEARER only, knows its
// own host and port, and accepts mail once authenticated.
func startSMTP(t *testing.T, v sasl.TokenVerifier) *mechtest.SMTP {
	return mechtest.StartSMTP(t, mechtest.SMTPOptions{
		Mechanism: Name,
		NewServer: func(ctx context.Context, conn *sasl.ConnState) sasl.ServerConversation {
			return NewServer(ctx, v, listenerOptions(conn))
		},
	})
}

func TestSMTPSuccessInOneRoundTrip(t *testing.T) {
	srv := startSMTP(t, newTable(testUser, testToken))
	c := srv.Dial(t)
	tr := &mechtest.Log{}
	c.DebugWriter = tr
	if err := c.Auth(clientFor(t, srv.Addr, testToken)); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if err := srv.Outcome(t); err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := c.Mail(testUser, nil); err != nil {
		t.Fatalf("MAIL after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range tr.Lines() {
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
	srv := startSMTP(t, newTable(testUser, "the-right-token"))
	c := srv.Dial(t)
	tr := &mechtest.Log{}
	c.DebugWriter = tr
	sc := clientFor(t, srv.Addr, testToken)
	err := c.Auth(sc)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("Auth: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(srv.Outcome(t), &te) {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "invalid_token" || te.Scope != "https://mail.example.com/" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// One error challenge, answered with AQ== (0x01).
	lines := tr.Lines()
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
	srv := startSMTP(t, newTable(testUser, testToken))
	conn, err := net.Dial("tcp", srv.Addr)
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
	_, ir, err := clientFor(t, srv.Addr, testToken).Start()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "%s\r\n", base64.StdEncoding.EncodeToString(ir))
	if l := reply(); !strings.HasPrefix(l, "235 ") {
		t.Fatalf("reply %q", l)
	}
	if err := srv.Outcome(t); err != nil {
		t.Fatal(err)
	}
}
