package sasltest_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strconv"
	"strings"
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

// popClient is a minimal POP3 client on net/textproto for the tests (the
// project's POP3 client lives in adapters/pop3).
type popClient struct {
	t     testing.TB
	conn  net.Conn
	tp    *textproto.Conn
	local string
}

// dialPOP3 connects to the POP3 listener in mode, upgrading with STLS for
// StartTLS, and reads the greeting.
func dialPOP3(t testing.TB, ms *sasltest.MailServer, mode sasltest.TLSMode) *popClient {
	t.Helper()
	c := dialPOP3Plain(t, ms, mode)
	if mode == sasltest.StartTLS {
		c.expectOK("STLS")
		c.upgrade(ms.ClientTLSConfig())
	}
	return c
}

// dialPOP3Plain connects without upgrading.
func dialPOP3Plain(t testing.TB, ms *sasltest.MailServer, mode sasltest.TLSMode) *popClient {
	t.Helper()
	addr := ms.Addr(sasltest.ProtocolPOP3, mode)
	var conn net.Conn
	var err error
	if mode == sasltest.ImplicitTLS {
		conn, err = tls.Dial("tcp", addr, ms.ClientTLSConfig())
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return newPopClient(t, conn)
}

// newPopClient wraps conn and reads the greeting.
func newPopClient(t testing.TB, conn net.Conn) *popClient {
	t.Helper()
	c := &popClient{t: t, conn: conn, tp: textproto.NewConn(conn), local: conn.LocalAddr().String()}
	t.Cleanup(func() { c.tp.Close() })
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func (c *popClient) upgrade(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STLS: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
}

// send writes one command line.
func (c *popClient) send(line string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// line reads one response line.
func (c *popClient) line() string {
	c.t.Helper()
	l, err := c.tp.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

// cmd sends line and returns the first response line.
func (c *popClient) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// expectOK sends line and fails unless the answer is +OK.
func (c *popClient) expectOK(line string) string {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("%s: %q", strings.Fields(line)[0], r)
	}
	return r
}

// expectErr sends line and fails unless the answer is -ERR.
func (c *popClient) expectErr(line string) string {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r, "-ERR") {
		c.t.Fatalf("%q: want -ERR, got %q", line, r)
	}
	return r
}

// multi reads a multi-line response body, dot-unstuffed.
func (c *popClient) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// auth runs AUTH mech with client cl, with the initial response inline
// when ir is set, and returns the final line.
func (c *popClient) auth(cl sasl.Client, ir bool) string {
	c.t.Helper()
	mech, resp, err := cl.Start()
	if err != nil {
		c.t.Fatalf("Start: %v", err)
	}
	if ir && resp != nil {
		enc := base64.StdEncoding.EncodeToString(resp)
		if len(resp) == 0 {
			enc = "="
		}
		c.send("AUTH " + mech + " " + enc)
	} else {
		c.send("AUTH " + mech)
		if resp != nil {
			if l := c.line(); l != "+ " && l != "+" {
				return l
			}
			c.send(base64.StdEncoding.EncodeToString(resp))
		}
	}
	for {
		l := c.line()
		if !strings.HasPrefix(l, "+ ") && l != "+" || strings.HasPrefix(l, "+OK") {
			return l
		}
		ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "+")))
		if err != nil {
			c.t.Fatalf("challenge %q: %v", l, err)
		}
		r, err := cl.Next(ch)
		if err != nil {
			c.send("*")
			continue
		}
		c.send(base64.StdEncoding.EncodeToString(r))
	}
}

// cs describes the client's connection, TLS included.
func (c *popClient) cs() *sasl.ConnState {
	return connState(c.conn, c.conn.RemoteAddr().String())
}

// saslClientInsecure makes a client that may send its secret in clear
// text, to show that the server refuses it.
func saslClientInsecure(t testing.TB, mech string, creds *sasl.Credentials) sasl.Client {
	t.Helper()
	n, err := mechanisms.Builtin().NewClient(context.Background(), mech, creds, &sasl.ConnState{}, &sasl.Policy{AllowInsecure: true})
	if err != nil {
		t.Fatalf("NewClient(%s): %v", mech, err)
	}
	return n.Client
}

// dialIMAPPlain connects to the STARTTLS listener without upgrading.
func dialIMAPPlain(t testing.TB, ms *sasltest.MailServer) (*imapclient.Client, net.Conn, string) {
	t.Helper()
	conn, err := net.Dial("tcp", ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS))
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c, conn, conn.LocalAddr().String()
}

// passCreds returns password credentials.
func passCreds(user, pass string) *sasl.Credentials {
	return &sasl.Credentials{Username: user, Password: pass}
}

func netDial(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }
