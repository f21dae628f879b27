package pop3_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// oneToken is a sasl.TokenSource holding one token. Real programs use a
// providers.Cache, which can also invalidate a rejected token.
type oneToken struct{ tok *oauth2.Token }

func (s oneToken) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }

// Connect to a Gmail-like POP3S server, authenticate with an OAuth token
// and read the mailbox.
func ExampleDialTLS() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileGmail})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	ms.Store().Deliver("alice@example.test", []byte("Subject: hello\r\n\r\n.a line that starts with a dot\r\n"))
	tok, _ := ms.IssueToken("alice@example.test")

	ctx := context.Background()
	c, err := pop3.DialTLS(ctx, ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS),
		&pop3.Options{TLSConfig: ms.ClientTLSConfig()})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	opts := &pop3.AuthOptions{}
	opts.Credentials = &sasl.Credentials{Username: "alice@example.test", TokenSource: oneToken{tok}}
	res, err := c.Authenticate(ctx, opts)
	if err != nil {
		panic(err)
	}
	fmt.Println("authenticated with", res.Mechanism)

	n, size, _ := c.Stat(ctx)
	fmt.Println(n, "message,", size, "octets")
	r, err := c.Retr(ctx, 1)
	if err != nil {
		panic(err)
	}
	msg, _ := io.ReadAll(r)
	r.Close()
	fmt.Printf("%q\n", msg)
	if err := c.Quit(ctx); err != nil {
		panic(err)
	}
	// Output:
	// authenticated with OAUTHBEARER
	// 1 message, 50 octets
	// "Subject: hello\r\n\r\n.a line that starts with a dot\r\n"
}

// Connect in clear text on port 110 and upgrade with STLS before
// authenticating. The capabilities read before STLS are discarded.
func ExampleClient_STLS() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	ctx := context.Background()
	c, err := pop3.Dial(ctx, ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS),
		&pop3.Options{TLSConfig: ms.ClientTLSConfig()})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	caps, _ := c.Capabilities(ctx)
	fmt.Println("before STLS:", caps.STLS, caps.SASL)
	if err := c.STLS(ctx); err != nil {
		panic(err)
	}
	caps, _ = c.Capabilities(ctx)
	fmt.Println("after STLS:", caps.STLS, caps.SASL)
	// Output:
	// before STLS: true []
	// after STLS: false [XOAUTH2]
}

// Failures are typed: a rejected token (after one retry with a fresh
// token, when the source can invalidate it) matches adapters.ErrRejected.
func ExampleClient_Authenticate_rejected() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, _ := ms.IssueToken("alice@example.test")
	ms.OAuth().Revoke(tok.AccessToken)

	ctx := context.Background()
	c, err := pop3.DialTLS(ctx, ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS),
		&pop3.Options{TLSConfig: ms.ClientTLSConfig()})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	opts := &pop3.AuthOptions{}
	opts.Credentials = &sasl.Credentials{Username: "alice@example.test", TokenSource: oneToken{tok}}
	_, err = c.Authenticate(ctx, opts)
	fmt.Println(errors.Is(err, adapters.ErrRejected))
	var pe *pop3.Error
	if errors.As(err, &pe) {
		fmt.Println(pe)
	}
	// Output:
	// true
	// pop3: AUTH: -ERR Authentication failure: unknown user name or bad password.
}

// The package-level AuthenticateText works on a POP3 connection the
// program manages itself.
func ExampleAuthenticateText() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileAll,
		Users: []sasltest.MailUser{{Address: "alice@example.test", Password: "correct horse"}}})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	addr := ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS)
	conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	tc := textproto.NewConn(conn)
	defer tc.Close()
	greeting, _ := tc.ReadLine()
	fmt.Println(greeting)

	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	opts := &pop3.AuthOptions{}
	opts.Credentials = &sasl.Credentials{Username: "alice@example.test", Password: "correct horse"}
	res, err := pop3.AuthenticateText(context.Background(), tc, sasl.ConnStateOf(conn, host, p), opts)
	if err != nil {
		panic(err)
	}
	fmt.Println("authenticated with", res.Mechanism)
	tc.PrintfLine("STAT")
	stat, _ := tc.ReadLine()
	fmt.Println(stat)
	// Output:
	// +OK saslkit sasltest POP3 server ready
	// authenticated with SCRAM-SHA-512-PLUS
	// +OK 0 0
}
