package interop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

var (
	passwordMechs = []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}
	tokenMechs    = []string{"XOAUTH2", "OAUTHBEARER"}
)

// transport is one adapter over one TLS mode. run dials, authenticates
// with opts, and on success uses the session once.
type transport struct {
	name string
	run  func(ctx context.Context, e *dovecotEnv, opts *adapters.Options) (mech string, err error)
}

var transports = []transport{
	{"IMAP/TLS", func(ctx context.Context, e *dovecotEnv, o *adapters.Options) (string, error) {
		return runIMAP(ctx, e, o, false)
	}},
	{"IMAP/STARTTLS", func(ctx context.Context, e *dovecotEnv, o *adapters.Options) (string, error) {
		return runIMAP(ctx, e, o, true)
	}},
	{"POP3/TLS", func(ctx context.Context, e *dovecotEnv, o *adapters.Options) (string, error) {
		return runPOP3(ctx, e, o, false)
	}},
	{"POP3/STLS", func(ctx context.Context, e *dovecotEnv, o *adapters.Options) (string, error) {
		return runPOP3(ctx, e, o, true)
	}},
	{"submission/TLS", func(ctx context.Context, e *dovecotEnv, o *adapters.Options) (string, error) {
		return runSMTP(ctx, e, o, false)
	}},
	{"submission/STARTTLS", func(ctx context.Context, e *dovecotEnv, o *adapters.Options) (string, error) {
		return runSMTP(ctx, e, o, true)
	}},
}

func runIMAP(ctx context.Context, e *dovecotEnv, o *adapters.Options, startTLS bool) (string, error) {
	opts := &imap.Options{
		Registry: o.Registry, Policy: o.Policy, Credentials: o.Credentials,
		Client: &imapclient.Options{TLSConfig: e.tls.Clone()},
	}
	dial, addr := imap.DialTLS, e.imaps
	if startTLS {
		dial, addr = imap.DialStartTLS, e.imap
	}
	c, n, err := dial(ctx, addr, opts)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Noop().Wait(); err != nil {
		return n.Mechanism.Name, fmt.Errorf("NOOP after login: %w", err)
	}
	if _, err := c.List("", "INBOX", nil).Collect(); err != nil {
		return n.Mechanism.Name, fmt.Errorf("LIST after login: %w", err)
	}
	return n.Mechanism.Name, c.Logout().Wait()
}

func runPOP3(ctx context.Context, e *dovecotEnv, o *adapters.Options, stls bool) (string, error) {
	popts := &pop3.Options{TLSConfig: e.tls.Clone()}
	var (
		c   *pop3.Client
		err error
	)
	if stls {
		c, err = pop3.Dial(ctx, e.pop3, popts)
		if err == nil {
			if err = c.STLS(ctx); err != nil {
				c.Close()
			}
		}
	} else {
		c, err = pop3.DialTLS(ctx, e.pop3s, popts)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	res, err := c.Authenticate(ctx, &pop3.AuthOptions{Options: *o})
	if err != nil {
		return "", err
	}
	if _, _, err := c.Stat(ctx); err != nil {
		return res.Mechanism, fmt.Errorf("STAT after login: %w", err)
	}
	return res.Mechanism, c.Quit(ctx)
}

func runSMTP(ctx context.Context, e *dovecotEnv, o *adapters.Options, startTLS bool) (string, error) {
	opts := &gosmtp.Options{
		Registry: o.Registry, Policy: o.Policy, Credentials: o.Credentials,
		TLSConfig: e.tls.Clone(), LocalName: "client.example.test",
	}
	dial, addr := gosmtp.DialTLS, e.submissions
	if startTLS {
		dial, addr = gosmtp.DialStartTLS, e.submission
	}
	c, n, err := dial(ctx, addr, opts)
	if err != nil {
		return "", err
	}
	defer c.Close()
	before := e.relays.Load()
	msg := "From: <" + userAlice + ">\r\nTo: <bob@example.test>\r\nSubject: interop\r\n\r\nhello\r\n"
	if err := c.SendMail(userAlice, []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
		return n.Mechanism.Name, fmt.Errorf("send after login: %w", err)
	}
	if e.relays.Load() <= before {
		return n.Mechanism.Name, errors.New("the message was accepted but the sink saw no relay")
	}
	return n.Mechanism.Name, c.Quit()
}

// only is a registry holding the one mechanism, with a policy that allows
// it (CRAM-MD5 is off by default).
func only(t *testing.T, mech string, creds *sasl.Credentials) *adapters.Options {
	t.Helper()
	m, ok := mechanisms.Builtin().Lookup(mech)
	if !ok {
		t.Fatalf("mechanism %s not built in", mech)
	}
	r := sasl.NewRegistry()
	r.MustRegister(m)
	return &adapters.Options{Registry: r, Policy: &sasl.Policy{Prefer: []string{mech}, Allow: []string{mech}}, Credentials: creds}
}

// tokens hands out its tokens in order: the first until invalidated, then
// the next; the last one stays.
type tokens struct {
	mu          sync.Mutex
	toks        []*oauth2.Token
	i           int
	fetches     int
	invalidated int
}

func (s *tokens) Token(context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	return s.toks[s.i], nil
}

func (s *tokens) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.toks[s.i] == tok {
		s.invalidated++
		if s.i < len(s.toks)-1 {
			s.i++
		}
	}
}

func (e *dovecotEnv) issue(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := e.oauth.IssueToken(oauthClient, userAlice, "mail")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDovecotPasswordMechanisms(t *testing.T) {
	e := dovecot(t)
	for _, tr := range transports {
		for _, mech := range passwordMechs {
			t.Run(tr.name+"/"+mech, func(t *testing.T) {
				t.Parallel()
				ctx := ctxFor(t)
				got, err := tr.run(ctx, e, only(t, mech, &sasl.Credentials{Username: userAlice, Password: passwordOK}))
				if err != nil {
					t.Fatalf("%s %s: %v%s", tr.name, mech, err, e.tail())
				}
				if got != mech {
					t.Fatalf("authenticated with %s, want %s", got, mech)
				}
			})
			t.Run(tr.name+"/"+mech+"/wrong-password", func(t *testing.T) {
				t.Parallel()
				ctx := ctxFor(t)
				_, err := tr.run(ctx, e, only(t, mech, &sasl.Credentials{Username: userAlice, Password: "wrong"}))
				if !errors.Is(err, adapters.ErrRejected) {
					t.Fatalf("wrong password: %v, want ErrRejected", err)
				}
			})
		}
	}
}

func TestDovecotTokenMechanisms(t *testing.T) {
	e := dovecot(t)
	for _, tr := range transports {
		for _, mech := range tokenMechs {
			t.Run(tr.name+"/"+mech, func(t *testing.T) {
				t.Parallel()
				src := &tokens{toks: []*oauth2.Token{e.issue(t)}}
				got, err := tr.run(ctxFor(t), e, only(t, mech, &sasl.Credentials{Username: userAlice, TokenSource: src}))
				if err != nil {
					t.Fatalf("%s %s: %v%s", tr.name, mech, err, e.tail())
				}
				if got != mech {
					t.Fatalf("authenticated with %s, want %s", got, mech)
				}
			})
			t.Run(tr.name+"/"+mech+"/revoked-then-fresh", func(t *testing.T) {
				t.Parallel()
				bad, good := e.issue(t), e.issue(t)
				e.oauth.Revoke(bad.AccessToken)
				src := &tokens{toks: []*oauth2.Token{bad, good}}
				if _, err := tr.run(ctxFor(t), e, only(t, mech, &sasl.Credentials{Username: userAlice, TokenSource: src})); err != nil {
					t.Fatalf("revoked then fresh: %v%s", err, e.tail())
				}
				if src.invalidated != 1 {
					t.Fatalf("invalidated %d times, want 1", src.invalidated)
				}
			})
			t.Run(tr.name+"/"+mech+"/rejected-twice", func(t *testing.T) {
				t.Parallel()
				revoked := e.issue(t)
				e.oauth.Revoke(revoked.AccessToken)
				unknown := &oauth2.Token{AccessToken: "at-unknown-to-the-server", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
				src := &tokens{toks: []*oauth2.Token{revoked, unknown}}
				_, err := tr.run(ctxFor(t), e, only(t, mech, &sasl.Credentials{Username: userAlice, TokenSource: src}))
				if !errors.Is(err, adapters.ErrRejected) {
					t.Fatalf("rejected twice: %v, want ErrRejected", err)
				}
				var te *sasl.TokenError
				if !errors.As(err, &te) {
					t.Fatalf("no *sasl.TokenError from Dovecot's error challenge: %v", err)
				}
				want := map[string]string{"XOAUTH2": "401", "OAUTHBEARER": "invalid_token"}[mech]
				if te.Status != want {
					t.Fatalf("TokenError status %q, want %q", te.Status, want)
				}
				if src.fetches != 2 || src.invalidated != 1 {
					t.Fatalf("fetches %d, invalidations %d: want exactly one retry (2, 1)", src.fetches, src.invalidated)
				}
			})
			for _, f := range []struct {
				name string
				kind int
			}{{"introspection-5xx", fault5xx}, {"introspection-down", faultDown}} {
				t.Run(tr.name+"/"+mech+"/"+f.name, func(t *testing.T) {
					t.Parallel()
					tok := e.issue(t)
					e.faults.Store(tok.AccessToken, f.kind)
					src := &tokens{toks: []*oauth2.Token{tok}}
					_, err := tr.run(ctxFor(t), e, only(t, mech, &sasl.Credentials{Username: userAlice, TokenSource: src}))
					if !errors.Is(err, adapters.ErrTemporary) {
						t.Fatalf("%s: %v, want ErrTemporary", f.name, err)
					}
				})
			}
		}
	}
}
