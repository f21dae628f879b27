package sasltest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

// fuzzBackend is a self-contained POP3 back end: one user (fuzz/secret),
// PLAIN and LOGIN through saslkit, three messages.
type fuzzBackend struct {
	reg *sasl.Registry
}

func (b *fuzzBackend) greeting(*pop3Conn) string               { return "fuzz POP3 ready" }
func (b *fuzzBackend) canAuth(*pop3Conn) bool                  { return true }
func (b *fuzzBackend) mechanisms(*pop3Conn) []string           { return []string{"PLAIN", "LOGIN"} }
func (b *fuzzBackend) userPass(*pop3Conn) bool                 { return true }
func (b *fuzzBackend) authenticated(*pop3Conn, string, string) {}

func (b *fuzzBackend) verifiers() *sasl.Verifiers {
	return &sasl.Verifiers{Password: sasl.PasswordVerifierFunc(func(_ context.Context, authzid, user, pass string) (sasl.Identity, error) {
		if user == "fuzz" && pass == "secret" {
			return sasl.Identity{Username: user}, nil
		}
		return sasl.Identity{}, sasl.ErrAuthFailed
	})}
}

func (b *fuzzBackend) newAuth(c *pop3Conn, mech string, onSuccess func(string) error) (sasl.Server, error) {
	if mech != "PLAIN" && mech != "LOGIN" {
		return nil, popErr("Unrecognized authentication type")
	}
	conv, err := b.reg.NewServer(c.ctx, mech, b.verifiers(), nil)
	if err != nil {
		return nil, popErr("[SYS/TEMP] " + mech)
	}
	return &fuzzConv{conv: conv, onSuccess: onSuccess}, nil
}

type fuzzConv struct {
	conv      sasl.ServerConversation
	onSuccess func(string) error
}

func (f *fuzzConv) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := f.conv.Next(resp)
	if err != nil {
		return nil, true, popErr("[AUTH] Authentication failed")
	}
	if done {
		id, _ := f.conv.Identity()
		if err := f.onSuccess(id.Username); err != nil {
			return nil, true, err
		}
	}
	return ch, done, nil
}

func (b *fuzzBackend) checkPass(c *pop3Conn, user, pass string) (string, error) {
	if user == "fuzz" && pass == "secret" {
		return user, nil
	}
	return "", popErr("[AUTH] Authentication failed")
}

func (b *fuzzBackend) openMaildrop(user string) (maildrop, error) {
	return &memDrop{msgs: []pop3Message{
		{uid: "a1", body: []byte("Subject: a\r\n\r\nline\r\n.dot\r\n")},
		{uid: "b2", body: []byte("Subject: b\r\n\r\n")},
		{uid: "c3", body: []byte("no header break")},
	}}, nil
}

type memDrop struct {
	msgs []pop3Message
}

func (d *memDrop) messages() []pop3Message { return d.msgs }
func (d *memDrop) commit(del []int) error {
	for _, i := range del {
		if i < 0 || i >= len(d.msgs) {
			panic("commit of a message that does not exist")
		}
	}
	return nil
}
func (d *memDrop) release() {}

// runPOP3 feeds input to a POP3 session over net.Pipe and returns what the
// server wrote. It fails the test if the session outlives the input (a
// hang) or the server panics.
func runPOP3(t testing.TB, srv *pop3Server, input []byte) []byte {
	client, server := net.Pipe()
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(&out, client)
	}()
	go func() {
		defer wg.Done()
		_, _ = client.Write(input)
		// Give the session the end of input: the server sees EOF.
		client.Close()
	}()
	srv.serveConn(context.Background(), server)
	wg.Wait()
	return out.Bytes()
}

func fuzzServer(t testing.TB, withTLS bool) *pop3Server {
	s := &pop3Server{backend: &fuzzBackend{reg: mechanisms.Builtin()}, idle: 10 * time.Second}
	if withTLS {
		ca, err := newCA("fuzz CA", nil)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.IssueServer("localhost")
		if err != nil {
			t.Fatal(err)
		}
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	return s
}

var pop3Seeds = []string{
	"CAPA\r\nQUIT\r\n",
	"USER fuzz\r\nPASS secret\r\nSTAT\r\nLIST\r\nLIST 1\r\nUIDL\r\nUIDL 2\r\nRETR 1\r\nTOP 1 1\r\nTOP 3 5\r\nDELE 1\r\nRSET\r\nDELE 2\r\nNOOP\r\nQUIT\r\n",
	"AUTH PLAIN AGZ1enoAc2VjcmV0\r\nSTAT\r\nQUIT\r\n",
	"AUTH PLAIN\r\nAGZ1enoAc2VjcmV0\r\nRETR 3\r\nQUIT\r\n",
	"AUTH LOGIN\r\nZnV6eg==\r\nc2VjcmV0\r\nQUIT\r\n",
	"AUTH PLAIN =AAA\r\nAUTH PLAIN\r\nAAA=BBB\r\nAUTH PLAIN\r\n*\r\n",
	"AUTH PLAIN\r\nAAAA\rBBBB\r\n",
	"RETR 1\r\nPASS x\r\nUSER\r\nSTLS\r\nAUTH\r\n",
	"STLS\r\n\x16\x03\x01\x00\x05hello",
	"USER fuzz\r\nPASS secret\r\nTOP 1 99999999999\r\nLIST 99999999999999999999\r\nDELE 0\r\nRETR -1\r\n",
	strings.Repeat("X", 300) + "\r\nCAPA\r\n",
	"\x00\r\n\r\n \r\nQUIT extra\r\nQUIT\r\n",
}

// FuzzPOP3Session runs whole sessions on hostile input: the server must
// answer, never panic, never hang, and every reply line must be +OK, -ERR,
// a continuation, or part of a multi-line answer.
func FuzzPOP3Session(f *testing.F) {
	for _, s := range pop3Seeds {
		f.Add([]byte(s))
	}
	srv := fuzzServer(f, true)
	f.Fuzz(func(t *testing.T, input []byte) {
		out := runPOP3(t, srv, input)
		if !bytes.HasPrefix(out, []byte("+OK fuzz POP3 ready\r\n")) {
			t.Fatalf("no greeting: %q", out)
		}
		if bytes.Contains(out, []byte("secret")) {
			t.Fatalf("the password was echoed: %q", out)
		}
	})
}

// FuzzPOP3Command dispatches single command lines, in the AUTHORIZATION
// and TRANSACTION states, straight into the command parser.
func FuzzPOP3Command(f *testing.F) {
	for _, s := range []string{"STAT", "LIST 1", "TOP 1 0", "RETR 2", "DELE 3", "UIDL", "AUTH PLAIN =", "USER x", "PASS y", "CAPA", "RSET", "NOOP", "QUIT", "TOP 1 -0", "LIST +1", "AUTH X Y Z"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	srv := fuzzServer(f, false)
	f.Fuzz(func(t *testing.T, line string, authenticated bool) {
		var out bytes.Buffer
		c := &pop3Conn{srv: srv, ctx: context.Background(), conn: nopConn{}}
		c.br = bufioReader(strings.NewReader(""))
		c.bw = bufioWriter(&out)
		if authenticated {
			if err := c.open("fuzz"); err != nil {
				t.Fatal(err)
			}
		}
		c.command([]byte(line))
		reply := out.String()
		if !strings.HasPrefix(reply, "+OK") && !strings.HasPrefix(reply, "-ERR") && !strings.HasPrefix(reply, "+ ") {
			t.Fatalf("%q answered %q", line, reply)
		}
	})
}

// nopConn is a connection for the command fuzzer, which reads nothing.
type nopConn struct{ net.Conn }

func (nopConn) SetDeadline(time.Time) error { return nil }
func (nopConn) Close() error                { return nil }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }
