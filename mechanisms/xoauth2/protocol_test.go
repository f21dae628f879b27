package xoauth2

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// startIMAP starts a go-imap server that offers XOAUTH2 only and serves an
// in-memory mailbox once authenticated.
func startIMAP(t *testing.T, v sasl.TokenVerifier, opts *ServerOptions) *mechtest.IMAP {
	return mechtest.StartIMAP(t, mechtest.IMAPOptions{
		Mechanism: Name,
		User:      testUser,
		NewServer: func(ctx context.Context, _ *sasl.ConnState) sasl.ServerConversation { return NewServer(ctx, v, opts) },
	})
}

func TestIMAPSuccessInOneRoundTrip(t *testing.T) {
	srv := startIMAP(t, newTable(testUser, testToken), nil)
	c := srv.Dial(t)
	sc := NewClient(testUser, testToken)
	if err := c.Authenticate(sc); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if err := srv.Outcome(t); err != nil {
		t.Fatalf("server: %v", err)
	}
	// imapclient records the new state just after Authenticate returns.
	for i := 0; c.State() != imap.ConnStateAuthenticated; i++ {
		if i == 100 {
			t.Fatalf("state %v", c.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range srv.Log.Lines() {
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
	srv := startIMAP(t, newTable(testUser, testToken), nil)
	conn, err := net.Dial("tcp", srv.Addr)
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
	if err := srv.Outcome(t); err != nil {
		t.Fatal(err)
	}
}

func TestIMAPRejectedStaysInSync(t *testing.T) {
	srv := startIMAP(t, newTable(testUser, "the-right-token"), nil)
	c := srv.Dial(t)
	sc := NewClient(testUser, testToken)
	err := c.Authenticate(sc)
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("Authenticate: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(srv.Outcome(t), &te) || te.Status != "401" {
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
	if err := srv.Outcome(t); err != nil {
		t.Fatal(err)
	}
}

// Exchange Online's way: NO without a challenge. The client has nothing to
// record, and the connection stays usable.
func TestIMAPRejectedWithoutChallenge(t *testing.T) {
	srv := startIMAP(t, newTable(testUser, "the-right-token"), MicrosoftServerOptions())
	c := srv.Dial(t)
	sc := NewClient(testUser, testToken)
	var ie *imap.Error
	if err := c.Authenticate(sc); !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		t.Fatalf("Authenticate: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(srv.Outcome(t), &te) {
		t.Fatal("server did not fail with the token error")
	}
	if sasl.FailureOf(sc) != nil {
		t.Fatal("client recorded a failure it was never sent")
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after rejection: %v", err)
	}
	for _, l := range srv.Log.Lines() {
		if strings.HasPrefix(l, "+") {
			t.Fatal("server sent a continuation")
		}
	}
}

// startSMTP starts a go-smtp server that offers XOAUTH2 only and accepts
// mail once authenticated.
func startSMTP(t *testing.T, v sasl.TokenVerifier) *mechtest.SMTP {
	return mechtest.StartSMTP(t, mechtest.SMTPOptions{
		Mechanism: Name,
		NewServer: func(ctx context.Context, _ *sasl.ConnState) sasl.ServerConversation { return NewServer(ctx, v, nil) },
	})
}

func TestSMTPSuccessInOneRoundTrip(t *testing.T) {
	srv := startSMTP(t, newTable(testUser, testToken))
	c := srv.Dial(t)
	tr := &mechtest.Log{}
	c.DebugWriter = tr
	if err := c.Auth(NewClient(testUser, testToken)); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if err := srv.Outcome(t); err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := c.Mail("someuser@example.com", nil); err != nil {
		t.Fatalf("MAIL after authentication: %v", err)
	}
	var auth, cont int
	for _, l := range tr.Lines() {
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
	srv := startSMTP(t, newTable(testUser, "the-right-token"))
	c := srv.Dial(t)
	tr := &mechtest.Log{}
	c.DebugWriter = tr
	sc := NewClient(testUser, testToken)
	err := c.Auth(sc)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("Auth: %v", err)
	}
	var te *sasl.TokenError
	if !errors.As(srv.Outcome(t), &te) {
		t.Fatal("server did not fail with the token error")
	}
	if !errors.As(sasl.FailureOf(sc), &te) || te.Status != "401" || te.Scope != "https://mail.google.com/" {
		t.Fatalf("client recorded %v", sasl.FailureOf(sc))
	}
	// One error challenge, answered with an empty line.
	lines := tr.Lines()
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
