package imap_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	imapv1 "github.com/emersion/go-imap"
	imapv1client "github.com/emersion/go-imap/client"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Connect to a Gmail-like IMAP server with implicit TLS and a cached token
// source, and read the session's deadline.
func ExampleDialTLS() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileGmail})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tokens := providers.NewCache(providers.FetcherFunc(func(ctx context.Context) (*oauth2Token, error) {
		return ms.IssueToken("alice@example.test")
	}), nil)

	c, n, err := imapadapter.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.Options{
		Credentials: &sasl.Credentials{Username: "alice@example.test", TokenSource: tokens},
		Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, hasDeadline := adapters.Deadline(n, 0)
	fmt.Println(n.Mechanism.Name, c.State(), hasDeadline)
	// Output: OAUTHBEARER authenticated true
}

// The errors say what happened: here Microsoft 365's IMAP offers only
// XOAUTH2, and the credentials hold only a password.
func ExampleDialStartTLS_noMechanism() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	_, _, err = imapadapter.DialStartTLS(context.Background(), ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS), &imapadapter.Options{
		Credentials: &sasl.Credentials{Username: "alice@example.test", Password: "secret"},
		Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
	})
	fmt.Println(errors.Is(err, sasl.ErrNoMechanism))
	// Output: true
}

// go-imap v1's client sends "*" itself when a mechanism cancels, and takes
// a saslkit client directly: negotiate with the registry, then hand over
// the client.
func Example_goIMAPv1() {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, _ := ms.IssueToken("alice@example.test")
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)

	c, err := imapv1client.DialTLS(addr, ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	defer c.Logout()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	n, err := mechanisms.Builtin().NewClient(context.Background(), "XOAUTH2",
		&sasl.Credentials{Username: "alice@example.test", TokenSource: staticToken{tok}},
		&sasl.ConnState{Host: host, Port: p}, nil)
	if err != nil {
		panic(err)
	}
	if err := c.Authenticate(n.Client); err != nil {
		panic(err)
	}
	fmt.Println(c.State() == imapv1.AuthenticatedState)
	// Output: true
}

// A Session hands out a live connection: after the server ends the session
// (as Gmail does when the token expires), the next call reconnects with a
// fresh token and selects the mailbox again.
func ExampleSession() {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tokens := providers.NewCache(providers.FetcherFunc(func(ctx context.Context) (*oauth2Token, error) {
		return ms.IssueToken("alice@example.test")
	}), nil)
	s := imapadapter.NewSession(ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.SessionOptions{
		Options: &imapadapter.Options{
			Credentials: &sasl.Credentials{Username: "alice@example.test", TokenSource: tokens},
			Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
		},
	})
	defer s.Close()
	ctx := context.Background()

	if _, err := s.Select(ctx, "INBOX", nil); err != nil {
		panic(err)
	}
	first, _ := s.Client(ctx)
	ms.EndSessions(sasltest.ProtocolIMAP, "alice@example.test") // * BYE
	<-first.Closed()

	c, err := s.Client(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(c != first, c.Mailbox().Name)
	// Output: true INBOX
}
