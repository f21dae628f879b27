package pop3_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	alice   = "alice@example.test"
	alicePW = "alice-password-1234"
)

// tokenSeq hands out tokens in order; Invalidate moves to the next one.
type tokenSeq struct {
	mu          sync.Mutex
	toks        []*oauth2.Token
	i           int
	invalidated int
	fetched     int
}

func (s *tokenSeq) Token(context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched++
	return s.toks[min(s.i, len(s.toks)-1)], nil
}

func (s *tokenSeq) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.toks[min(s.i, len(s.toks)-1)] == tok {
		s.i++
		s.invalidated++
	}
}

func (s *tokenSeq) counts() (fetched, invalidated int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetched, s.invalidated
}

// recConn records what the client writes and can claim a remote address.
type recConn struct {
	net.Conn
	remote net.Addr
	mu     sync.Mutex
	out    bytes.Buffer
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (c *recConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

var profiles = []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft, sasltest.ProfileAll}
var modes = []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS}

func newMail(t testing.TB, p sasltest.MailProfile, tweak func(*sasltest.MailOptions)) *sasltest.MailServer {
	t.Helper()
	opts := &sasltest.MailOptions{Profile: p, Users: []sasltest.MailUser{{Address: alice, Password: alicePW}}}
	if tweak != nil {
		tweak(opts)
	}
	ms, err := sasltest.NewMailServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

// connect dials the POP3 listener of mode and, for StartTLS, upgrades.
func connect(t testing.TB, ms *sasltest.MailServer, mode sasltest.TLSMode, opts *pop3.Options) *pop3.Client {
	t.Helper()
	if opts == nil {
		opts = &pop3.Options{}
	}
	opts.TLSConfig = ms.ClientTLSConfig()
	ctx := context.Background()
	addr := ms.Addr(sasltest.ProtocolPOP3, mode)
	var c *pop3.Client
	var err error
	if mode == sasltest.ImplicitTLS {
		c, err = pop3.DialTLS(ctx, addr, opts)
	} else {
		c, err = pop3.Dial(ctx, addr, opts)
		if err == nil {
			err = c.STLS(ctx)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func issue(t testing.TB, ms *sasltest.MailServer, user string) *oauth2.Token {
	t.Helper()
	tok, err := ms.IssueToken(user)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func tokenAuth(src sasl.TokenSource) *pop3.AuthOptions {
	o := &pop3.AuthOptions{}
	o.Credentials = &sasl.Credentials{Username: alice, TokenSource: src}
	return o
}

func passwordAuth() *pop3.AuthOptions {
	o := &pop3.AuthOptions{}
	o.Credentials = &sasl.Credentials{Username: alice, Password: alicePW}
	return o
}

// clientLines returns the lines the server saw from the client on the last
// POP3 connection.
func clientLines(ms *sasltest.MailServer) []string {
	var last sasltest.Transcript
	for _, tr := range ms.Transcripts() {
		if tr.Protocol == sasltest.ProtocolPOP3 {
			last = tr
		}
	}
	var out []string
	for _, l := range last.Lines {
		if l.Dir == sasltest.FromClient {
			out = append(out, l.Text)
		}
	}
	return out
}
