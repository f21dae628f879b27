package pop3_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/sasl"
)

// peer is the server side of a scripted POP3 connection.
type peer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// send writes each line with CRLF; errors end the script quietly (the
// client may have gone).
func (p *peer) send(lines ...string) bool {
	for _, l := range lines {
		if _, err := io.WriteString(p.conn, l+"\r\n"); err != nil {
			return false
		}
	}
	return true
}

// expect reads a line and checks it is want, byte for byte (CRLF
// included).
func (p *peer) expect(want string) bool {
	got, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Errorf("server: waiting for %q: %v", want, err)
		return false
	}
	if got != want+"\r\n" {
		p.t.Errorf("server: got %q, want %q", got, want+"\r\n")
		return false
	}
	return true
}

// drain reads until the client closes.
func (p *peer) drain() { io.Copy(io.Discard, p.r) }

// startTLS upgrades the server side.
func (p *peer) startTLS(cfg *tls.Config) bool {
	tc := tls.Server(p.conn, cfg)
	if err := tc.Handshake(); err != nil {
		p.t.Errorf("server: TLS: %v", err)
		return false
	}
	p.conn, p.r = tc, bufio.NewReader(tc)
	return true
}

// scripted starts a one-connection server on loopback running script and
// returns its address. The test waits for the script to end.
func scripted(t *testing.T, script func(p *peer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		p := &peer{t: t, conn: conn, r: bufio.NewReader(conn)}
		script(p)
		p.conn.Close()
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// loggedInScript greets and accepts USER u / PASS p.
func loggedInScript(p *peer) bool {
	return p.send("+OK ready") && p.expect("USER u") && p.send("+OK") && p.expect("PASS p") && p.send("+OK in")
}

func dialLoggedIn(t *testing.T, ctx context.Context, addr string, opts *pop3.Options) *pop3.Client {
	t.Helper()
	c, err := pop3.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(ctx, "u", "p"); err != nil {
		t.Fatal(err)
	}
	return c
}

// The first example of RFC 5034 §6, byte for byte, STLS included.
func TestRFC5034Example1(t *testing.T) {
	ms := newMail(t, 0, nil)
	cert, err := ms.CA().IssueServer("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	addr := scripted(t, func(p *peer) {
		_ = p.send("+OK pop.example.com BlurdyBlurp POP3 server ready") &&
			p.expect("CAPA") &&
			p.send("+OK List of capabilities follows", "SASL DIGEST-MD5 GSSAPI ANONYMOUS", "STLS",
				"IMPLEMENTATION BlurdyBlurp POP3 server", ".") &&
			p.expect("STLS") &&
			p.send("+OK Begin TLS negotiation now") &&
			p.startTLS(srvTLS) &&
			p.expect("CAPA") &&
			p.send("+OK List of capabilities follows", "SASL PLAIN DIGEST-MD5 GSSAPI ANONYMOUS",
				"IMPLEMENTATION BlurdyBlurp POP3 server", ".") &&
			p.expect("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=") &&
			p.send("+OK Maildrop locked and ready")
		p.drain()
	})
	ctx := context.Background()
	c, err := pop3.Dial(ctx, addr, &pop3.Options{TLSConfig: ms.ClientTLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capabilities(ctx)
	if err != nil || !caps.STLS || caps.Implementation != "BlurdyBlurp POP3 server" {
		t.Fatalf("%+v %v", caps, err)
	}
	if err := c.STLS(ctx); err != nil {
		t.Fatal(err)
	}
	o := &pop3.AuthOptions{}
	o.Credentials = &sasl.Credentials{Username: "test", Authzid: "test", Password: "test"}
	res, err := c.Authenticate(ctx, o)
	if err != nil || res.Mechanism != "PLAIN" {
		t.Fatalf("%+v %v", res, err)
	}
}

// noIR withholds the initial response until the server asks.
type noIR struct {
	sasl.Client
	ir []byte
}

func (c *noIR) Start() (string, []byte, error) {
	m, ir, err := c.Client.Start()
	c.ir = ir
	return m, nil, err
}

func (c *noIR) Next(ch []byte) ([]byte, error) {
	if c.ir != nil {
		ir := c.ir
		c.ir = nil
		return ir, nil
	}
	return c.Client.Next(ch)
}

// The second example of RFC 5034 §6: no initial response, "+ ", then the
// response.
func TestRFC5034Example2(t *testing.T) {
	addr := scripted(t, func(p *peer) {
		_ = p.send("+OK ready") &&
			p.expect("CAPA") &&
			p.send("+OK List of capabilities follows", "SASL PLAIN DIGEST-MD5 GSSAPI ANONYMOUS",
				"IMPLEMENTATION BlurdyBlurp POP3 server", ".") &&
			p.expect("AUTH PLAIN") &&
			p.send("+ ") &&
			p.expect("dGVzdAB0ZXN0AHRlc3Q=") &&
			p.send("+OK Maildrop locked and ready")
		p.drain()
	})
	reg := sasl.NewRegistry()
	m := plain.Mechanism()
	orig := m.NewClient
	m.NewClient = func(p *sasl.ClientParams) (sasl.Client, error) {
		c, err := orig(p)
		return &noIR{Client: c}, err
	}
	reg.MustRegister(m)
	ctx := context.Background()
	c, err := pop3.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := &pop3.AuthOptions{}
	o.Registry = reg
	o.Credentials = &sasl.Credentials{Username: "test", Authzid: "test", Password: "test"}
	if _, err := c.Authenticate(ctx, o); err != nil {
		t.Fatal(err)
	}
}

func TestBadGreetings(t *testing.T) {
	for _, g := range []string{"HELLO", "+OKAY", "-ERRx", "", "OK"} {
		t.Run(g, func(t *testing.T) {
			addr := scripted(t, func(p *peer) { p.send(g); p.drain() })
			_, err := pop3.Dial(context.Background(), addr, nil)
			if !errors.Is(err, pop3.ErrProtocol) {
				t.Fatalf("got %v", err)
			}
		})
	}
	addr := scripted(t, func(p *peer) { p.send("-ERR [SYS/TEMP] busy"); p.drain() })
	_, err := pop3.Dial(context.Background(), addr, nil)
	var pe *pop3.Error
	if !errors.As(err, &pe) || pe.Code != "SYS/TEMP" || !pe.Temporary() || pe.Text != "busy" {
		t.Fatalf("got %v", err)
	}
}

func TestOversizedLine(t *testing.T) {
	addr := scripted(t, func(p *peer) {
		io.WriteString(p.conn, "+OK "+strings.Repeat("A", 100<<10))
		p.drain()
	})
	_, err := pop3.Dial(context.Background(), addr, &pop3.Options{MaxLineLength: 4096})
	if !errors.Is(err, pop3.ErrLineTooLong) {
		t.Fatalf("got %v", err)
	}
}

// A listing that never ends: the context ends it, and the client is then
// unusable rather than desynchronised.
func TestEndlessListing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := scripted(t, func(p *peer) {
		if !loggedInScript(p) || !p.expect("LIST") || !p.send("+OK") {
			return
		}
		for i := 1; i <= 1000; i++ {
			if !p.send("1 100") {
				return
			}
		}
		cancel()
		p.drain()
	})
	c := dialLoggedIn(t, ctx, addr, nil)
	_, err := c.List(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if err := c.Noop(context.Background()); !errors.Is(err, pop3.ErrClosed) {
		t.Fatalf("after: %v", err)
	}
}

func TestListingLineCap(t *testing.T) {
	addr := scripted(t, func(p *peer) {
		_ = loggedInScript(p) && p.expect("UIDL") && p.send("+OK")
		for i := 0; i < 20; i++ {
			p.send("1 abc")
		}
		p.drain()
	})
	c := dialLoggedIn(t, context.Background(), addr, &pop3.Options{MaxListLines: 10})
	if _, err := c.UIDL(context.Background()); !errors.Is(err, pop3.ErrProtocol) {
		t.Fatalf("got %v", err)
	}
}

func TestEndlessMessage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := scripted(t, func(p *peer) {
		if !loggedInScript(p) || !p.expect("RETR 1") || !p.send("+OK") {
			return
		}
		for p.send(".stuffed line that never ends the message") {
		}
	})
	c := dialLoggedIn(t, ctx, addr, nil)
	r, err := c.Retr(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(buf), "\n.stuffed") {
		t.Fatal("not unstuffed")
	}
	cancel()
	if _, err := io.Copy(io.Discard, r); err == nil {
		t.Fatal("endless message ended")
	}
	if err := r.Close(); err == nil {
		t.Fatal("Close of a broken reader succeeded")
	}
	if err := c.Noop(context.Background()); !errors.Is(err, pop3.ErrClosed) {
		t.Fatalf("after: %v", err)
	}
}

func TestMessageHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"eof", "line\r\nno terminator", io.ErrUnexpectedEOF},
		{"dot-eof", "line\r\n.", io.ErrUnexpectedEOF},
		{"long", strings.Repeat("x", 5000) + "\r\n.\r\n", pop3.ErrLineTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := scripted(t, func(p *peer) {
				if loggedInScript(p) && p.expect("RETR 1") && p.send("+OK") {
					io.WriteString(p.conn, tc.data)
				}
			})
			c := dialLoggedIn(t, context.Background(), addr, &pop3.Options{MaxLineLength: 1024})
			r, err := c.Retr(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(r); !errors.Is(err, tc.want) {
				t.Fatalf("got %v", err)
			}
			if err := c.Noop(context.Background()); !errors.Is(err, pop3.ErrClosed) {
				t.Fatalf("after: %v", err)
			}
		})
	}
}

func TestBadListings(t *testing.T) {
	for _, tc := range []struct{ cmd, answer string }{
		{"STAT", "+OK x y"},
		{"STAT", "+OK 1"},
		{"STAT", "+OK -1 20"},
		{"LIST 1", "+OK 1"},
		{"UIDL 1", "+OK 1 has\x01control"},
		{"UIDL 1", "+OK 1 " + strings.Repeat("u", 71)},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			addr := scripted(t, func(p *peer) {
				_ = loggedInScript(p) && p.expect(tc.cmd) && p.send(tc.answer)
				p.drain()
			})
			c := dialLoggedIn(t, context.Background(), addr, nil)
			var err error
			ctx := context.Background()
			switch tc.cmd {
			case "STAT":
				_, _, err = c.Stat(ctx)
			case "LIST 1":
				_, err = c.ListOne(ctx, 1)
			default:
				_, err = c.UIDLOne(ctx, 1)
			}
			if !errors.Is(err, pop3.ErrProtocol) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// authServer greets, answers CAPA with SASL mechs, and runs then.
func authServer(t *testing.T, mechs string, then func(p *peer) bool) string {
	return scripted(t, func(p *peer) {
		if p.send("+OK ready") && p.expect("CAPA") && p.send("+OK", "SASL "+mechs, "USER", ".") && then(p) {
			p.drain()
		}
	})
}

func plainCreds() *pop3.AuthOptions {
	o := &pop3.AuthOptions{}
	o.Credentials = &sasl.Credentials{Username: "u", Password: "p"}
	return o
}

// A challenge that is not strict base64 gets "*"; the session stays in
// step (USER/PASS works afterwards).
func TestNonBase64Challenge(t *testing.T) {
	for _, bad := range []string{"+ !!!!", "+ =AAA", "+ AAA=BBB", "+ QUFB\tQUFB", "+ QUFB QUFB"} {
		t.Run(bad, func(t *testing.T) {
			addr := authServer(t, "LOGIN", func(p *peer) bool {
				return p.expect("AUTH LOGIN") && p.send(bad) && p.expect("*") && p.send("-ERR cancelled") &&
					p.expect("USER u") && p.send("+OK") && p.expect("PASS p") && p.send("+OK")
			})
			ctx := context.Background()
			c, err := pop3.Dial(ctx, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Authenticate(ctx, plainCreds())
			if !errors.Is(err, adapters.ErrCancelled) || !errors.Is(err, pop3.ErrProtocol) {
				t.Fatalf("got %v", err)
			}
			if err := c.Login(ctx, "u", "p"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// XOAUTH2 given a challenge that is not its JSON error: the mechanism
// fails and the client cancels with "*".
func TestMechanismErrorCancels(t *testing.T) {
	junk := base64.StdEncoding.EncodeToString([]byte("not json"))
	addr := authServer(t, "XOAUTH2", func(p *peer) bool {
		line, err := p.r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "AUTH XOAUTH2 ") {
			p.t.Errorf("server: got %q", line)
			return false
		}
		return p.send("+ "+junk) && p.expect("*") && p.send("-ERR [AUTH] cancelled")
	})
	ctx := context.Background()
	c, err := pop3.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := &pop3.AuthOptions{}
	o.Credentials = &sasl.Credentials{Username: "u", TokenSource: &tokenSeq{toks: []*oauth2.Token{{AccessToken: "tok"}}}}
	_, err = c.Authenticate(ctx, o)
	if !errors.Is(err, adapters.ErrCancelled) {
		t.Fatalf("got %v", err)
	}
}

func TestServerMisbehavesInAuth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server func(p *peer) bool
		want   error
	}{
		{"close", func(p *peer) bool { p.r.ReadString('\n'); return false }, io.ErrUnexpectedEOF},
		{"garbage", func(p *peer) bool { p.r.ReadString('\n'); return p.send("HUH") }, pop3.ErrProtocol},
		{"accepts-cancel", func(p *peer) bool {
			p.r.ReadString('\n')
			return p.send("+ !!") && p.expect("*") && p.send("+OK sure")
		}, pop3.ErrProtocol},
		{"endless-challenges", func(p *peer) bool {
			p.r.ReadString('\n')
			for {
				if !p.send("+ ") {
					return false
				}
				line, err := p.r.ReadString('\n')
				if err != nil {
					return false
				}
				if line == "*\r\n" {
					return p.send("-ERR bye")
				}
			}
		}, adapters.ErrCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := authServer(t, "PLAIN", tc.server)
			ctx := context.Background()
			c, err := pop3.Dial(ctx, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Authenticate(ctx, plainCreds()); !errors.Is(err, tc.want) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// Bytes after STLS's +OK and before the handshake are an injection.
func TestSTLSInjection(t *testing.T) {
	addr := scripted(t, func(p *peer) {
		_ = p.send("+OK ready") && p.expect("STLS")
		io.WriteString(p.conn, "+OK go ahead\r\n-ERR injected\r\n")
		p.drain()
	})
	ctx := context.Background()
	c, err := pop3.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.STLS(ctx); !errors.Is(err, pop3.ErrProtocol) {
		t.Fatalf("got %v", err)
	}
}

// A context that is already over sends nothing.
func TestCancelledContext(t *testing.T) {
	addr := scripted(t, func(p *peer) { p.send("+OK ready"); p.drain() })
	c, err := pop3.Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Capabilities(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// emptyIR is a one-step mechanism whose initial response is empty.
type emptyIR struct{}

func (emptyIR) Start() (string, []byte, error) { return "X-EMPTY", []byte{}, nil }
func (emptyIR) Next([]byte) ([]byte, error)    { return nil, sasl.ErrUnexpectedChallenge }

// An empty initial response is sent as "=" (RFC 5034 §4).
func TestEmptyInitialResponse(t *testing.T) {
	addr := authServer(t, "X-EMPTY", func(p *peer) bool {
		return p.expect("AUTH X-EMPTY =") && p.send("+OK")
	})
	reg := sasl.NewRegistry()
	reg.MustRegister(sasl.Mechanism{Name: "X-EMPTY", Strength: 1,
		NewClient: func(*sasl.ClientParams) (sasl.Client, error) { return emptyIR{}, nil }})
	ctx := context.Background()
	c, err := pop3.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := &pop3.AuthOptions{}
	o.Registry = reg
	if _, err := c.Authenticate(ctx, o); err != nil {
		t.Fatal(err)
	}
}
