package sasltest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// exampleTokens is a sasl.TokenSource holding one token.
type exampleTokens struct{ tok *oauth2.Token }

func (s exampleTokens) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }

// xoauth2Over returns a saslkit XOAUTH2 client for user over conn.
func xoauth2Over(conn net.Conn, addr, user string, tok *oauth2.Token) (sasl.Client, error) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	n, err := mechanisms.Builtin().NewClient(context.Background(), "XOAUTH2",
		&sasl.Credentials{Username: user, TokenSource: exampleTokens{tok}}, sasl.ConnStateOf(conn, host, p), nil)
	if err != nil {
		return nil, err
	}
	return n.Client, nil
}

// A test starts Gmail-like servers, gets a token from their OAuth server,
// submits a message over SMTP with XOAUTH2 and reads it back over IMAP.
func ExampleNewMailServer() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileGmail})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, err := ms.IssueToken("alice@example.test") // scope https://mail.google.com/
	if err != nil {
		panic(err)
	}

	// Submission with implicit TLS (SMTPS); the CA comes from the server.
	addr := ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS)
	conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	sc := smtp.NewClient(conn)
	cl, err := xoauth2Over(conn, addr, "alice@example.test", tok)
	if err != nil {
		panic(err)
	}
	if err := sc.Auth(cl); err != nil {
		panic(err)
	}
	msg := "Subject: hello\r\n\r\nHi Bob.\r\n"
	if err := sc.SendMail("alice@example.test", []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
		panic(err)
	}
	sc.Quit()

	// Bob reads it over IMAP with STARTTLS, with a token of his own.
	bobTok, _ := ms.IssueToken("bob@example.test")
	addr = ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	ic, err := imapclient.NewStartTLS(raw, &imapclient.Options{TLSConfig: ms.ClientTLSConfig()})
	if err != nil {
		panic(err)
	}
	defer ic.Close()
	cl, _ = xoauth2Over(raw, addr, "bob@example.test", bobTok)
	if err := ic.Authenticate(cl); err != nil {
		panic(err)
	}
	sel, _ := ic.Select("INBOX", nil).Wait()
	fmt.Println("messages:", sel.NumMessages)
	msgs, _ := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	fmt.Println("subject:", msgs[0].Envelope.Subject)
	// Output:
	// messages: 1
	// subject: hello
}

// Faults: the next authentication fails as if the credential store were
// down, and Gmail's IMAP says so with [UNAVAILABLE].
func ExampleMailServer_InjectFault() {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, _ := ms.IssueToken("alice@example.test")
	ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolIMAP})

	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	ic := imapclient.New(conn, nil)
	defer ic.Close()
	cl, _ := xoauth2Over(conn, addr, "alice@example.test", tok)
	var ierr *imap.Error
	if err := ic.Authenticate(cl); errors.As(err, &ierr) {
		fmt.Println(ierr.Type, ierr.Code, ierr.Text)
	}
	cl, _ = xoauth2Over(conn, addr, "alice@example.test", tok)
	fmt.Println("retry:", ic.Authenticate(cl))
	fmt.Printf("%+v\n", ms.AuthStats(sasltest.ProtocolIMAP, "XOAUTH2"))
	// Output:
	// NO UNAVAILABLE Temporary System Error
	// retry: <nil>
	// {Attempts:2 Succeeded:1 Rejected:0 Temporary:1}
}

// Every connection has a transcript; AUTH payloads never appear in it.
func ExampleMailServer_Transcripts() {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, _ := ms.IssueToken("alice@example.test")
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	ic := imapclient.New(conn, nil)
	cl, _ := xoauth2Over(conn, addr, "alice@example.test", tok)
	if err := ic.Authenticate(cl); err != nil {
		panic(err)
	}
	ic.Logout().Wait()
	ic.Close()

	tr, _ := ms.TranscriptOf(conn.LocalAddr().String())
	<-tr.Done // the connection has ended: the transcript is complete
	tr, _ = ms.TranscriptOf(conn.LocalAddr().String())
	for _, l := range tr.Lines {
		if strings.Contains(l.Text, "AUTHENTICATE") || strings.HasPrefix(l.Text, "authenticated") {
			fmt.Println(l)
		}
	}
	// Output:
	// C: T1 AUTHENTICATE XOAUTH2 [REDACTED]
	// *: authenticated as alice@example.test with XOAUTH2
}

// A Gmail OAuth session ends when its token does. With a fake clock the
// test moves time and asks the server to check; without one, a timer ends
// the session at the token's expiry.
func ExampleMailServer_CheckSessions() {
	clock := &exampleClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Clock: clock.Now})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, _ := ms.IssueToken("alice@example.test") // valid for one hour
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	ic := imapclient.New(conn, nil)
	defer ic.Close()
	cl, _ := xoauth2Over(conn, addr, "alice@example.test", tok)
	if err := ic.Authenticate(cl); err != nil {
		panic(err)
	}
	clock.Advance(61 * time.Minute)
	fmt.Println("sessions ended:", ms.CheckSessions())
	<-ic.Closed()
	tr, _ := ms.TranscriptOf(conn.LocalAddr().String())
	<-tr.Done
	tr, _ = ms.TranscriptOf(conn.LocalAddr().String())
	fmt.Println(tr.Lines[len(tr.Lines)-2])
	// Output:
	// sessions ended: 1
	// S: * BYE Session expired, please login again.
}

type exampleClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *exampleClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *exampleClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
