// Command testplugin is the plugin the plugins package's tests run. It
// misbehaves on request, chosen by its environment and by the account or
// user name a call names:
//
//   - TESTPLUGIN_MODE=stdout writes to standard output before serving (a
//     broken handshake); =nostart never serves; =serve (or unset) serves.
//   - TESTPLUGIN_SENTINEL names a file created at start holding the
//     process id, so a test can tell whether the program ran at all and
//     check that the process is gone.
//   - TESTPLUGIN_CHILD names a file: the plugin starts a child process
//     (sleep) and writes its pid there.
//   - TESTPLUGIN_USERS holds "user:password" pairs separated by commas
//     for the PLAIN and SCRAM-SHA-256 servers.
//   - TESTPLUGIN_PANIC_ONCE names a file: the first crash request creates
//     it and crashes, later ones behave.
//
// Token accounts: "panic" panics, "exit" exits at once, "hang" blocks,
// "reauth" fails with ErrReauthRequired, "log" logs its token in several
// shapes before returning it; any other account gets a fresh token per
// call. Mechanism TEST-STEP's client (username "panic" or "hang") crashes
// or blocks in Next.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

var log *slog.Logger

func main() {
	if p := os.Getenv("TESTPLUGIN_SENTINEL"); p != "" {
		_ = os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
	if p := os.Getenv("TESTPLUGIN_CHILD"); p != "" {
		// A child that outlives nothing: it must end with the plugin.
		child := exec.Command("sleep", "300")
		if err := child.Start(); err == nil {
			_ = os.WriteFile(p, []byte(strconv.Itoa(child.Process.Pid)), 0o600)
		}
	}
	switch os.Getenv("TESTPLUGIN_MODE") {
	case "stdout":
		fmt.Println("hello from a plugin that forgot the handshake")
		time.Sleep(time.Minute)
		return
	case "nostart":
		time.Sleep(time.Hour)
		return
	}
	log = plugins.NewLogger(slog.LevelDebug)
	users := map[string]string{}
	for _, kv := range strings.Split(os.Getenv("TESTPLUGIN_USERS"), ",") {
		if u, p, ok := strings.Cut(kv, ":"); ok {
			users[u] = p
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	plugins.Serve(&plugins.ServeConfig{
		Name:       "testplugin",
		Version:    "1",
		Logger:     log,
		Mechanisms: []sasl.Mechanism{scram.SHA256(&scram.Options{FakeSaltKey: key, NoChannelBinding: true}), plain.Mechanism(), stepMechanism()},
		TokenSourceFor: func(_ context.Context, account string, _ []string) (sasl.TokenSource, error) {
			if account == "unknown" {
				return nil, fmt.Errorf("%w: no grant for %s", providers.ErrReauthRequired, account)
			}
			return &tokens{account: account}, nil
		},
		Verifiers: &sasl.Verifiers{
			Password: sasl.PasswordVerifierFunc(func(_ context.Context, authzid, username, password string) (sasl.Identity, error) {
				if want, ok := users[username]; !ok || want != password {
					return sasl.Identity{}, sasl.ErrAuthFailed
				}
				return sasl.Identity{Username: username, Authzid: authzid}, nil
			}),
			SCRAM: sasl.SCRAMLookupFunc(func(_ context.Context, hash, username string) (sasl.SCRAMCredentials, error) {
				pw, ok := users[username]
				if !ok {
					return sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
				}
				return scram.StoredCredentials(hash, pw, []byte("fixed-test-salt!"), 4096)
			}),
		},
	})
}

// misbehave crashes or blocks when asked by name.
func misbehave(name string) {
	switch name {
	case "panic":
		if f := os.Getenv("TESTPLUGIN_PANIC_ONCE"); f != "" {
			if _, err := os.Stat(f); err == nil {
				return
			}
			_ = os.WriteFile(f, nil, 0o600)
		}
		panic("testplugin: asked to panic")
	case "exit":
		os.Exit(3)
	case "hang":
		select {}
	}
}

type tokens struct {
	account string
	n       atomic.Int64
}

func (t *tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	misbehave(t.account)
	if t.account == "reauth" {
		return nil, &providers.OAuthError{Code: "invalid_grant", Description: "Token has been expired or revoked.", StatusCode: 400}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := &oauth2.Token{
		// Shaped like Google's: "ya29.a0A" and base64url.
		AccessToken: fmt.Sprintf("ya29.a0A%s%d", base64.RawURLEncoding.EncodeToString(b[:]), t.n.Add(1)),
		TokenType:   "Bearer",
		Expiry:      time.Now().Add(time.Hour).Round(time.Millisecond),
	}
	if t.account == "log" {
		ir := base64.StdEncoding.EncodeToString([]byte("user=log@example.com\x01auth=Bearer " + tok.AccessToken + "\x01\x01"))
		log.Info("fetched token "+tok.AccessToken, "access_token", tok.AccessToken, "note", "plain "+tok.AccessToken)
		log.Debug("sending", "header", "Authorization: Bearer "+tok.AccessToken, "ir", ir)
		fmt.Fprintln(os.Stderr, "raw stderr line with token "+tok.AccessToken+" and password=hunter2hunter2")
		fmt.Fprintf(os.Stderr, "{\"@level\":\"warn\",\"@message\":\"json with \\\"%s\\\"\",\"refresh_token\":\"1//0gLongRefresh\",\"n\":5}\n", tok.AccessToken)
		fmt.Fprintf(os.Stdout, "stdout after the handshake: %s\n", base64.RawURLEncoding.EncodeToString([]byte(tok.AccessToken)))
	}
	return tok, nil
}

func (t *tokens) Invalidate(tok *oauth2.Token) {
	log.Info("invalidated", "account", t.account)
}

// stepMechanism is a two-step test mechanism: the client sends its
// username, the server answers a challenge, the client answers "ok".
func stepMechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:     "TEST-STEP",
		Strength: 1,
		Needs:    sasl.NeedPassword,
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			return &stepClient{user: p.Username}, nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, _ *sasl.ConnState) (sasl.ServerConversation, error) {
			return &stepServer{}, nil
		},
	}
}

type stepClient struct{ user string }

func (c *stepClient) Start() (string, []byte, error) { return "TEST-STEP", []byte(c.user), nil }

func (c *stepClient) Next(challenge []byte) ([]byte, error) {
	misbehave(c.user)
	if string(challenge) != "go on" {
		return nil, sasl.ErrUnexpectedChallenge
	}
	return []byte("ok"), nil
}

type stepServer struct {
	user  string
	state int
}

func (s *stepServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		if resp == nil {
			return nil, true, errors.New("teststep: initial response required")
		}
		s.user, s.state = string(resp), 1
		misbehave(s.user)
		return []byte("go on"), false, nil
	case 1:
		if string(resp) != "ok" {
			s.state = 3
			return nil, true, sasl.ErrAuthFailed
		}
		s.state = 2
		return nil, true, nil
	}
	return nil, true, sasl.ErrDone
}

func (s *stepServer) Identity() (sasl.Identity, bool) {
	if s.state != 2 {
		return sasl.Identity{}, false
	}
	return sasl.Identity{Mechanism: "TEST-STEP", Username: s.user}, true
}
