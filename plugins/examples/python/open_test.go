package python

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	alice     = "alice@example.test"
	gmailMail = "https://mail.google.com/"
)

// openPython starts the Python plugin at path through plugins.Open, with
// the script's SHA-256 and tokens as its argument, logging to logs.
func openPython(t *testing.T, path, tokens string, logs *lockedBuffer) *plugins.Plugin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	p, err := plugins.Open(ctx, path, &plugins.Options{
		Checksum: fileSum(t, path),
		Args:     []string{tokens},
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("Open: %v\nlog:\n%s", err, logs.String())
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestOpen loads the Python plugin as a saslkit program does, with
// plugins.Open and the script's checksum, and uses it as a sasl.TokenSource:
// the token, its type, expiry and scopes cross the protocol intact; a
// rejected token is not served again until the file holds a new one; each
// failure arrives as the providers error a caller branches on; no token
// reaches an error, a log line or a %v; and Close leaves no process.
func TestOpen(t *testing.T) {
	requirePython(t)
	const (
		first  = "ya29.first-token-of-alice"
		second = "ya29.second-token-of-alice"
		carols = "ya29.expired-token-of-carol"
	)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	expiry := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	writeTokens(t, tokens, map[string]fileToken{
		alice:                {AccessToken: first, Expiry: expiry, Scopes: []string{gmailMail}},
		"carol@example.test": {AccessToken: carols, Expiry: time.Now().Add(-time.Minute)},
	})
	path := install(t)
	installed := pluginFiles(t, filepath.Dir(path))
	var logs lockedBuffer
	p := openPython(t, path, tokens, &logs)
	pids := childrenWithArg(t, tokens)
	if len(pids) != 1 {
		t.Fatalf("plugin processes with the token file as argument: %v, want one", pids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	src := p.TokenSource(alice, gmailMail)
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != first || tok.TokenType != "Bearer" || !tok.Expiry.Equal(expiry) || tok.Extra("scope") != gmailMail {
		t.Errorf("token %q %q %v scope %v, want %q Bearer %v %q", tok.AccessToken, tok.TokenType, tok.Expiry, tok.Extra("scope"), first, expiry, gmailMail)
	}

	// A server rejected it: the plugin is told, and does not serve it
	// again while the file still holds it.
	inv, ok := src.(sasl.TokenInvalidator)
	if !ok {
		t.Fatalf("%T is not a sasl.TokenInvalidator", src)
	}
	inv.Invalidate(tok)
	_, err = src.Token(ctx)
	if !errors.Is(err, providers.ErrNoToken) {
		t.Fatalf("Token after Invalidate: %v, want providers.ErrNoToken", err)
	}
	var remote *plugins.RemoteError
	if !errors.As(err, &remote) || !strings.Contains(remote.Message, "was rejected") {
		t.Errorf("Token after Invalidate: %v, want the plugin's reason", err)
	}

	// The refresher writes a new token: it is served.
	writeTokens(t, tokens, map[string]fileToken{alice: {AccessToken: second, TokenType: "bearer"}})
	tok, err = src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != second || tok.TokenType != "bearer" || !tok.Expiry.IsZero() {
		t.Errorf("after the rewrite: %q %q %v", tok.AccessToken, tok.TokenType, tok.Expiry)
	}

	writeTokens(t, tokens, map[string]fileToken{
		alice:                {AccessToken: second, Scopes: []string{gmailMail}},
		"carol@example.test": {AccessToken: carols, Expiry: time.Now().Add(-time.Minute)},
	})
	failures := []struct {
		name    string
		source  sasl.TokenSource
		want    error // nil: no sentinel, only the plugin's message
		message string
	}{
		{"unknown account", p.TokenSource("bob@example.test"), providers.ErrReauthRequired, "no token for 'bob@example.test'"},
		{"expired", p.TokenSource("carol@example.test"), providers.ErrTokenExpired, "expired"},
		{"scope not granted", p.TokenSource(alice, "https://outlook.office.com/IMAP.AccessAsUser.All"), nil, "not granted the scopes"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			_, err := f.source.Token(ctx)
			if err == nil || (f.want != nil && !errors.Is(err, f.want)) || !strings.Contains(err.Error(), f.message) {
				t.Fatalf("Token: %v, want %v with %q", err, f.want, f.message)
			}
			if !errors.As(err, &remote) {
				t.Errorf("Token: %T, want a *plugins.RemoteError", err)
			}
		})
	}

	t.Run("no secret shown", func(t *testing.T) {
		shown := fmt.Sprintf("%v %+v %#v %v %+v", p, p, p, src, src) + logs.String()
		for _, secret := range []string{first, second, carols} {
			if strings.Contains(shown, secret) {
				t.Errorf("a token is shown:\n%s", shown)
			}
		}
		// The plugin's own hclog lines reached the host's logger.
		if !strings.Contains(logs.String(), "token invalidated") {
			t.Errorf("the host's log lacks the plugin's line about Invalidate:\n%s", logs.String())
		}
	})

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !pidGone(pids[0]) {
		t.Errorf("plugin process %d still running after Close", pids[0])
	}
	if _, err := p.TokenSource("dave@example.test").Token(ctx); !errors.Is(err, plugins.ErrClosed) {
		t.Errorf("Token after Close: %v, want plugins.ErrClosed", err)
	}
	// The plugin wrote nothing beside itself (no __pycache__): its
	// directory is still what was installed and checksummed.
	if after := pluginFiles(t, filepath.Dir(path)); !slices.Equal(after, installed) {
		t.Errorf("the plugin's directory changed: %v, was %v", after, installed)
	}
}

// TestOpenChecksumMismatch changes one byte of a copy of the script: Open
// refuses it and runs nothing.
func TestOpenChecksumMismatch(t *testing.T) {
	requirePython(t)
	path := scriptPath(t)
	want := fileSum(t, path)
	sum := []byte(want)
	if sum[0] == '0' {
		sum[0] = '1'
	} else {
		sum[0] = '0'
	}
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	p, err := plugins.Open(ctx, path, &plugins.Options{Checksum: string(sum), Args: []string{tokens}})
	if err == nil {
		p.Close()
		t.Fatal("Open ran a plugin whose checksum differs")
	}
	var ce *plugins.ChecksumError
	if !errors.Is(err, plugins.ErrChecksum) || !errors.As(err, &ce) || ce.Got != want {
		t.Fatalf("Open: %v, want a *plugins.ChecksumError with the script's digest", err)
	}
	if pids := childrenWithArg(t, tokens); len(pids) != 0 {
		t.Errorf("processes started: %v", pids)
	}
}

// TestIMAPLogin logs in to a Gmail-like IMAP server with tokens served by
// the Python plugin: a revoked token in the file is rejected by the server,
// which the adapter reports and the plugin learns; once the refresher has
// written a token the OAuth server issued, the login succeeds.
func TestIMAPLogin(t *testing.T) {
	requirePython(t)
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileGmail})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	writeTokens(t, tokens, map[string]fileToken{alice: {AccessToken: "ya29.never-issued", Expiry: time.Now().Add(time.Hour)}})
	var logs lockedBuffer
	p := openPython(t, scriptPath(t), tokens, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	opts := &imapadapter.Options{
		Credentials: &sasl.Credentials{Username: alice, TokenSource: p.TokenSource(alice, gmailMail)},
		Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
	}
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)

	_, _, err = imapadapter.DialTLS(ctx, addr, opts)
	var rejected *sasl.TokenError
	if !errors.As(err, &rejected) && !errors.Is(err, providers.ErrNoToken) {
		t.Fatalf("login with a token the server never issued: %v", err)
	}
	if !strings.Contains(logs.String(), "token invalidated") {
		t.Errorf("the plugin was not told of the rejection:\n%s", logs.String())
	}

	issued, err := ms.IssueToken(alice)
	if err != nil {
		t.Fatal(err)
	}
	writeTokens(t, tokens, map[string]fileToken{alice: {AccessToken: issued.AccessToken, Expiry: issued.Expiry, Scopes: []string{gmailMail}}})
	c, n, err := imapadapter.DialTLS(ctx, addr, opts)
	if err != nil {
		t.Fatalf("login with an issued token: %v", err)
	}
	defer c.Close()
	if n.Mechanism.Name != "OAUTHBEARER" && n.Mechanism.Name != "XOAUTH2" {
		t.Errorf("mechanism %s", n.Mechanism.Name)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Errorf("SELECT after login: %v", err)
	}
	if strings.Contains(logs.String(), issued.AccessToken) {
		t.Errorf("the log shows the token:\n%s", logs.String())
	}
}
