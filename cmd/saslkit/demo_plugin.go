package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// demoPluginArg, as the first argument of saslkit demo, runs the demo's
// token plugin instead of the demo: the demo starts this same program
// again as a plugin (saslkit demo plugin-serve --token-url ...). It is not
// meant to be typed, and the help does not list it.
const demoPluginArg = "plugin-serve"

// demoPluginSecretEnv carries the OAuth client secret to the plugin: in
// its environment, which other users cannot read, rather than in its
// arguments, which they can.
const demoPluginSecretEnv = "SASLKIT_DEMO_CLIENT_SECRET"

// demoPluginName is the plugin's name in the host's logs and errors.
const demoPluginName = "saslkit-demo-plugin"

// plugin starts this program again as a token plugin (checked by its
// SHA-256, over go-plugin's gRPC with mutual TLS), and logs in over IMAP
// with a token the plugin obtains: the refresh token and the client secret
// live in the plugin process, the host only ever sees access tokens.
func (d *demo) plugin(ctx context.Context, r *stepResult) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program: %w", err)
	}
	sum, err := fileSHA256(exe)
	if err != nil {
		return err
	}
	checksum := sum
	if d.breakPlugin {
		// The checksum of another file: the host must refuse to run it.
		other := sha256.Sum256([]byte("not this program"))
		checksum = hex.EncodeToString(other[:])
	}
	d.out.detail("plugin", "%s (this program, as a plugin), sha256 %s…", exe, sum[:16])

	// The plugin keeps its own token store, holding a refresh token the
	// user granted earlier (issued here by the test server).
	dir := filepath.Join(d.tmp, "plugin-tokens")
	rt, err := d.oauth.SeedRefreshToken(demoClientID, demoUser, sasltest.GmailScope)
	if err != nil {
		return err
	}
	d.secret(rt)
	if err := providers.NewFileStore(dir, nil).Save(ctx, demoUser, nil, &oauth2.Token{RefreshToken: rt}); err != nil {
		return err
	}

	p, err := plugins.Open(ctx, exe, &plugins.Options{
		Checksum: checksum,
		Name:     demoPluginName,
		Args:     []string{"demo", demoPluginArg, "--token-url", d.oauth.TokenURL(), "--client-id", demoClientID, "--store", dir},
		Env:      append(programEnv(), demoPluginSecretEnv+"="+d.clientSecret),
	})
	if err != nil {
		return err
	}
	defer p.Close()
	d.out.detail("started", "%s over gRPC with mutual TLS (go-plugin), the file's SHA-256 checked first", p.Name())

	tokens := p.TokenSource(demoUser, sasltest.GmailScope)
	refreshes := d.oauth.Requests(sasltest.GrantRefreshToken)
	mark := transcriptMark(d.ms)
	c, n, err := d.dialIMAP(ctx, &sasl.Credentials{Username: demoUser, TokenSource: tokens})
	if err != nil {
		_ = d.showExchange(ctx, d.ms, mark, sasltest.ProtocolIMAP, nil, r)
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer c.Close()
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("LOGOUT: %w", err)
	}
	if err := d.showExchange(ctx, d.ms, mark, sasltest.ProtocolIMAP, n, r); err != nil {
		return err
	}
	tok, err := tokens.Token(ctx)
	if err != nil {
		return err
	}
	d.secret(tok.AccessToken)
	made := d.oauth.Requests(sasltest.GrantRefreshToken) - refreshes
	d.out.detail("token", "%s, from the plugin, which made %d refresh(es) at the token endpoint", shortToken(tok.AccessToken), made)
	if made != 1 {
		return fmt.Errorf("the plugin made %d refreshes, want 1", made)
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("stopping the plugin: %w", err)
	}
	d.out.detail("stopped", "the plugin process has exited")
	r.Outcome = fmt.Sprintf("%s with a token from a plugin process", n.Mechanism.Name)
	return nil
}

// fileSHA256 returns the SHA-256 of a file, in hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// programEnv returns the SASLKIT_ variables of this process's environment.
// A plugin gets only a few harmless variables of its host's environment;
// this plugin is the same program, so it gets the program's own settings
// too.
func programEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SASLKIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// runDemoPlugin is the plugin side: it serves tokens for the accounts of
// a file token store, refreshing them at the token endpoint with the
// client in its arguments and its secret in demoPluginSecretEnv.
func runDemoPlugin(st *stdio, args []string) error {
	fs := newFlagSet(st, "demo "+demoPluginArg, "", "Serve the demo's token plugin to a host that started it.")
	tokenURL := fs.String("token-url", "", "the token endpoint")
	clientID := fs.String("client-id", "", "the OAuth client id")
	dir := fs.String("store", "", "the token store directory")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *tokenURL == "" || *clientID == "" || *dir == "" {
		return fs.usage("--token-url, --client-id and --store are required")
	}
	secret := os.Getenv(demoPluginSecretEnv)
	if secret == "" {
		return errors.New("demo plugin: " + demoPluginSecretEnv + " is not set")
	}
	store := providers.NewFileStore(*dir, nil)
	plugins.Serve(&plugins.ServeConfig{
		Name:    demoPluginName,
		Version: "1",
		TokenSourceFor: func(_ context.Context, account string, scopes []string) (sasl.TokenSource, error) {
			conf := &oauth2.Config{
				ClientID:     *clientID,
				ClientSecret: secret,
				Endpoint:     oauth2.Endpoint{TokenURL: *tokenURL, AuthStyle: oauth2.AuthStyleInParams},
				Scopes:       scopes,
			}
			f, err := providers.NewRefreshFetcher(conf, store, account, nil)
			if err != nil {
				return nil, err
			}
			return providers.NewCache(f, &providers.CacheOptions{Name: account}), nil
		},
	})
	return nil
}
