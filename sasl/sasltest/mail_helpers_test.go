package sasltest_test

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	alice     = "alice@example.test"
	alicePass = "alice-Pa55word-9f3c"
	bob       = "bob@example.test"
	bobPass   = "bob-Pa55word-1d2e"
)

// startMail starts a MailServer for the test and closes it at the end.
func startMail(t testing.TB, opts *sasltest.MailOptions) *sasltest.MailServer {
	t.Helper()
	if opts == nil {
		opts = &sasltest.MailOptions{}
	}
	if opts.Users == nil {
		opts.Users = []sasltest.MailUser{{Address: alice, Password: alicePass}, {Address: bob, Password: bobPass}}
	}
	ms, err := sasltest.NewMailServer(opts)
	if err != nil {
		t.Fatalf("NewMailServer: %v", err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

// mailTokenSource is a sasl.TokenSource returning one token.
type mailTokenSource struct{ tok *oauth2.Token }

func (s mailTokenSource) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }

// saslClient makes a saslkit client of mech for creds over conn.
func saslClient(t testing.TB, mech string, creds *sasl.Credentials, cs *sasl.ConnState) sasl.Client {
	t.Helper()
	n, err := mechanisms.Builtin().NewClient(context.Background(), mech, creds, cs, nil)
	if err != nil {
		t.Fatalf("NewClient(%s): %v", mech, err)
	}
	return n.Client
}

// tokenCreds returns credentials carrying tok for user.
func tokenCreds(user string, tok *oauth2.Token) *sasl.Credentials {
	return &sasl.Credentials{Username: user, TokenSource: mailTokenSource{tok}}
}

// connState describes a client connection to addr.
func connState(conn net.Conn, addr string) *sasl.ConnState {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return sasl.ConnStateOf(conn, host, p)
}

// dialIMAP connects an imapclient over implicit TLS or STARTTLS and returns
// it with the client's view of the connection (TLS state only for implicit
// TLS: imapclient hides its STARTTLS connection).
func dialIMAP(t testing.TB, ms *sasltest.MailServer, mode sasltest.TLSMode) (*imapclient.Client, *sasl.ConnState, string) {
	t.Helper()
	addr := ms.Addr(sasltest.ProtocolIMAP, mode)
	var c *imapclient.Client
	var cs *sasl.ConnState
	var local string
	if mode == sasltest.ImplicitTLS {
		conn, err := tls.Dial("tcp", addr, ms.ClientTLSConfig())
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		local = conn.LocalAddr().String()
		cs = connState(conn, addr)
		c = imapclient.New(conn, nil)
	} else {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		local = conn.LocalAddr().String()
		cs = connState(conn, addr)
		c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: ms.ClientTLSConfig()})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, cs, local
}
