package sasltest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	confUser     = "tim@example.test"
	confPassword = "Tanstaaf-Conformance-1"
	confToken    = "ya29.ConformanceGood-1f2e"
)

type staticTokens string

func (s staticTokens) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: string(s), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func confVerifiers() *sasl.Verifiers {
	salt := []byte("conformance-salt")
	return &sasl.Verifiers{
		Password: sasl.PasswordVerifierFunc(func(_ context.Context, authzid, u, p string) (sasl.Identity, error) {
			if u == confUser && p == confPassword {
				return sasl.Identity{Username: u, Authzid: authzid}, nil
			}
			return sasl.Identity{}, sasl.ErrAuthFailed
		}),
		Secret: sasl.SecretLookupFunc(func(_ context.Context, u string) (string, error) {
			if u == confUser {
				return confPassword, nil
			}
			return "", sasl.ErrUnknownUser
		}),
		SCRAM: sasl.SCRAMLookupFunc(func(_ context.Context, hash, u string) (sasl.SCRAMCredentials, error) {
			if u != confUser {
				return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
			}
			return scram.StoredCredentials(hash, confPassword, salt, 4096)
		}),
		Token: sasl.TokenVerifierFunc(func(_ context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
			if req.Token == confToken && req.Username == confUser {
				return sasl.Identity{Username: confUser}, nil
			}
			return sasl.Identity{}, &sasl.TokenError{Status: "401", Schemes: "bearer", Scope: "https://mail.google.com/"}
		}),
		External: sasl.ExternalVerifierFunc(func(_ context.Context, authzid string, conn *sasl.ConnState) (sasl.Identity, error) {
			if !conn.Encrypted() {
				return sasl.Identity{}, sasl.ErrAuthFailed
			}
			return sasl.Identity{Username: confUser, Authzid: authzid}, nil
		}),
		Anonymous: sasl.AnonymousVerifierFunc(func(context.Context, string) error { return nil }),
	}
}

func TestCheckMechanismBuiltins(t *testing.T) {
	reg := mechanisms.New(&mechanisms.Options{SCRAM: &scram.Options{FakeSaltKey: []byte("conformance-fake-salt-key-0123456")}})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cconn, sconn, err := sasltest.TLSConnStates(version)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reg.Mechanisms() {
			t.Run(tls.VersionName(version)+"/"+m.Name, func(t *testing.T) {
				good := &sasl.Credentials{Username: confUser, Password: confPassword, TokenSource: staticTokens(confToken), External: true, Trace: "trace"}
				bad := &sasl.Credentials{Username: confUser, Password: "Wrong-Password-9", TokenSource: staticTokens("ya29.Revoked-0000")}
				if m.Needs == sasl.NeedNothing || m.Needs == sasl.NeedExternal {
					bad = nil
				}
				sasltest.CheckMechanism(t, sasltest.MechanismCheck{
					Mechanism: m, Verifiers: confVerifiers(), Good: good, Bad: bad,
					ClientConn: cconn, ServerConn: sconn,
				})
			})
		}
	}
}

// recorder collects violations instead of failing the test, to show that
// the checks catch broken implementations.
type recorder struct {
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) has(sub string) bool {
	for _, e := range r.errs {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// brokenServer wraps a real server and breaks one rule of the contract.
type brokenServer struct {
	sasl.ServerConversation
	how string
}

func (b *brokenServer) Next(resp []byte) ([]byte, bool, error) {
	switch b.how {
	case "accept-anything":
		return nil, true, nil
	case "panic-on-empty":
		if len(resp) == 0 {
			panic("broken server: empty response")
		}
	case "leak-secret":
		_, done, err := b.ServerConversation.Next(resp)
		if err != nil {
			return nil, done, fmt.Errorf("rejected %q: %w", resp, err)
		}
		return nil, done, nil
	}
	return b.ServerConversation.Next(resp)
}

// brokenPlain is the real PLAIN with one rule of the contract broken.
func brokenPlain(how string) sasl.Mechanism {
	m := plain.Mechanism()
	inner := m.NewServer
	m.NewServer = func(ctx context.Context, v *sasl.Verifiers, c *sasl.ConnState) (sasl.ServerConversation, error) {
		s, err := inner(ctx, v, c)
		if err != nil {
			return nil, err
		}
		if how == "accepts-after-done" {
			return &afterDone{s}, nil
		}
		return &brokenServer{s, how}, nil
	}
	if how == "nil-response" {
		m.NewClient = func(p *sasl.ClientParams) (sasl.Client, error) { return nilClient{}, nil }
	}
	return m
}

type afterDone struct{ sasl.ServerConversation }

func (a *afterDone) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := a.ServerConversation.Next(resp)
	if errors.Is(err, sasl.ErrDone) {
		return nil, true, nil
	}
	return ch, done, err
}

// nilClient sends no initial response and answers the server's empty
// challenge with nil, which go-smtp would take as the end.
type nilClient struct{}

func (nilClient) Start() (string, []byte, error) { return "PLAIN", nil, nil }
func (nilClient) Next([]byte) ([]byte, error)    { return nil, nil }

func TestCheckMechanismCatchesBrokenMechanisms(t *testing.T) {
	for _, tc := range []struct {
		how  string
		want string
	}{
		{"accept-anything", "bad credentials authenticated"},
		{"accept-anything", "server accepted hostile input"},
		{"panic-on-empty", "server panicked"},
		{"leak-secret", "a secret is visible"},
		{"accepts-after-done", "want an error wrapping sasl.ErrDone"},
		{"nil-response", "nil response"},
	} {
		t.Run(tc.how, func(t *testing.T) {
			var r recorder
			sasltest.CheckMechanism(&r, sasltest.MechanismCheck{
				Mechanism: brokenPlain(tc.how), Verifiers: confVerifiers(),
				Good: &sasl.Credentials{Username: confUser, Password: confPassword},
				Bad:  &sasl.Credentials{Username: confUser, Password: "Wrong-Password-9"},
			})
			if !r.has(tc.want) {
				t.Fatalf("check did not report %q; reported:\n%s", tc.want, strings.Join(r.errs, "\n"))
			}
		})
	}
	// The real PLAIN passes, so the findings above come from the breakage.
	var r recorder
	sasltest.CheckMechanism(&r, sasltest.MechanismCheck{
		Mechanism: plain.Mechanism(), Verifiers: confVerifiers(),
		Good: &sasl.Credentials{Username: confUser, Password: confPassword},
		Bad:  &sasl.Credentials{Username: confUser, Password: "Wrong-Password-9"},
	})
	if len(r.errs) != 0 {
		t.Fatalf("real PLAIN reported:\n%s", strings.Join(r.errs, "\n"))
	}
}

func TestCheckTokenSourceProviders(t *testing.T) {
	t.Run("Static", func(t *testing.T) {
		sasltest.CheckTokenSource(t, providers.Static(&oauth2.Token{AccessToken: "ya29.static-1234", Expiry: time.Now().Add(time.Hour)}), nil)
	})
	t.Run("Cache over refresh", func(t *testing.T) {
		srv := sasltest.NewOAuthServer(&sasltest.OAuthOptions{Refresh: sasltest.RefreshRotateDetectReuse})
		defer srv.Close()
		if err := srv.AddClient(sasltest.OAuthClient{ID: "conf-app", Secret: "conf-secret-77"}); err != nil {
			t.Fatal(err)
		}
		rt, err := srv.SeedRefreshToken("conf-app", confUser, sasltest.GmailScope)
		if err != nil {
			t.Fatal(err)
		}
		store := providers.NewMemoryStore()
		if err := store.Save(context.Background(), confUser, nil, &oauth2.Token{RefreshToken: rt}); err != nil {
			t.Fatal(err)
		}
		f, err := providers.NewRefreshFetcher(&oauth2.Config{ClientID: "conf-app", ClientSecret: "conf-secret-77",
			Endpoint: srv.Endpoint(), Scopes: []string{sasltest.GmailScope}}, store, confUser, nil)
		if err != nil {
			t.Fatal(err)
		}
		cache := providers.NewCache(f, nil)
		sasltest.CheckTokenSource(t, cache, &sasltest.TokenSourceCheck{Secrets: []string{rt, "conf-secret-77"}})
		if n := srv.Requests("refresh_token"); n != 1 {
			t.Errorf("refresh requests = %d, want 1", n)
		}
		if n := srv.ReuseDetected(); n != 0 {
			t.Errorf("refresh token reuse detected %d times", n)
		}
	})
}

type brokenSource struct{ how string }

func (b brokenSource) Token(ctx context.Context) (*oauth2.Token, error) {
	switch b.how {
	case "expired":
		return &oauth2.Token{AccessToken: "ya29.expired-5678", Expiry: time.Now().Add(-time.Minute)}, nil
	case "ignores-ctx":
		if ctx.Err() != nil {
			time.Sleep(300 * time.Millisecond) // blocks past the guard below
		}
		return &oauth2.Token{AccessToken: "ya29.slow-9012"}, nil
	case "leaky-format":
		return &oauth2.Token{AccessToken: "ya29.leaky-format-7890"}, nil
	}
	return nil, nil
}

func (b brokenSource) Format(f fmt.State, verb rune) {
	if b.how == "leaky-format" {
		fmt.Fprint(f, "source{ya29.leaky-format-7890}")
		return
	}
	fmt.Fprint(f, "source{}")
}

func TestCheckTokenSourceCatchesBrokenSources(t *testing.T) {
	for _, tc := range []struct {
		how, want string
	}{
		{"expired", "expired"},
		{"ignores-ctx", "ignores a cancelled context"},
		{"nil", "nil token"},
		{"leaky-format", "visible in its formatting"},
	} {
		t.Run(tc.how, func(t *testing.T) {
			var r recorder
			sasltest.CheckTokenSource(&r, brokenSource{tc.how}, &sasltest.TokenSourceCheck{HangGuard: 100 * time.Millisecond, Concurrency: 4})
			if !r.has(tc.want) {
				t.Fatalf("check did not report %q; reported:\n%s", tc.want, strings.Join(r.errs, "\n"))
			}
		})
	}
}
