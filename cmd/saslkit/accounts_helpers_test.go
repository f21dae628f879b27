package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// testClientID is the OAuth client the account tests register.
const testClientID = "saslkit-cli-test"

// testUser is the mailbox the account tests use.
const testUser = "alice@example.test"

// secretEnv is the variable the test accounts take their client secret from.
const secretEnv = "SASLKIT_TEST_CLIENT_SECRET"

// cliEnv is a sasltest mail server with its OAuth server, a CA file, a
// token directory and an accounts file pointing at them, for running the
// program as a subprocess.
type cliEnv struct {
	t        testing.TB
	ms       *sasltest.MailServer
	oauth    *sasltest.OAuthServer
	dir      string
	caFile   string
	tokenDir string
	config   string
	secret   string
	// secrets are values that must never appear in the program's output
	// (other than token's standard output).
	secrets []string
}

// newCLIEnv starts a mail server with opts (nil: the gmail profile) and
// writes an accounts file with one oauth2 account, "test", for testUser.
func newCLIEnv(t testing.TB, opts *sasltest.MailOptions) *cliEnv {
	t.Helper()
	if opts == nil {
		opts = &sasltest.MailOptions{}
	}
	if opts.OAuthOptions == nil {
		opts.OAuthOptions = &sasltest.OAuthOptions{DeviceInterval: time.Second}
	}
	opts.Users = append(opts.Users, sasltest.MailUser{Address: testUser})
	ms, err := sasltest.NewMailServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	e := &cliEnv{t: t, ms: ms, oauth: ms.OAuth(), dir: t.TempDir(), secret: rand.Text()}
	e.secrets = append(e.secrets, e.secret)
	if err := e.oauth.AddClient(sasltest.OAuthClient{ID: testClientID, Secret: e.secret, LoopbackRedirect: true}); err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(e.caFile, ms.CA().PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	e.tokenDir = filepath.Join(e.dir, "tokens")
	e.config = filepath.Join(e.dir, "accounts.toml")
	e.writeConfig(e.account("test", testUser, ""))
	return e
}

// trust adds the CA of another mail server to the accounts' CA file.
func (e *cliEnv) trust(ms *sasltest.MailServer) {
	e.t.Helper()
	f, err := os.OpenFile(e.caFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ms.CA().PEM()); err != nil {
		e.t.Fatal(err)
	}
}

// scopes are the scopes the server's profile wants.
func (e *cliEnv) scopes() []string {
	if e.ms.Profile() == sasltest.ProfileMicrosoft {
		return []string{sasltest.OutlookIMAPScope, sasltest.OutlookPOPScope, sasltest.OutlookSMTPScope, "offline_access"}
	}
	return []string{sasltest.GmailScope}
}

// account returns the TOML table of an oauth2 account on the test server;
// extra lines are appended.
func (e *cliEnv) account(name, user, extra string) string {
	sc, _ := json.Marshal(e.scopes())
	return fmt.Sprintf(`[accounts.%s]
user = %q
provider = "oauth2"
client_id = %q
client_secret_env = %q
auth_url = %q
token_url = %q
device_auth_url = %q
scopes = %s
ca_file = %q
imap = "imaps://%s"
smtp = "smtp://%s"
pop3 = "pop3s://%s"
%s
`, name, user, testClientID, secretEnv, e.oauth.AuthURL(), e.oauth.TokenURL(), e.oauth.DeviceAuthURL(), sc, e.caFile,
		e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), e.ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS),
		e.ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS), extra)
}

// writeConfig writes the accounts file: token_dir and the tables given.
func (e *cliEnv) writeConfig(tables ...string) {
	e.t.Helper()
	text := fmt.Sprintf("token_dir = %q\n\n", e.tokenDir) + strings.Join(tables, "\n")
	if err := os.WriteFile(e.config, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// seed stores a token for account as authorize would, issued by the OAuth
// server for user; expired makes its access token already expired.
func (e *cliEnv) seed(account, user string, expired bool) *oauth2.Token {
	e.t.Helper()
	tok, err := e.oauth.IssueToken(testClientID, user, e.scopes()...)
	if err != nil {
		e.t.Fatal(err)
	}
	stored := *tok
	if expired {
		stored.Expiry = time.Now().Add(-time.Minute)
	}
	if err := providers.NewFileStore(e.tokenDir, nil).Save(context.Background(), account, nil, &stored); err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok.AccessToken, tok.RefreshToken)
	return tok
}

// stored returns the token stored for account, adding it to the secrets.
func (e *cliEnv) stored(account string) *oauth2.Token {
	e.t.Helper()
	tok, err := providers.NewFileStore(e.tokenDir, nil).Load(context.Background(), account)
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok.AccessToken, tok.RefreshToken)
	return tok
}

// cmd returns the program with args, the test's environment and
// --config-free defaults: SASLKIT_CONFIG names the accounts file.
func (e *cliEnv) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := programCmd(ctx, args...)
	cmd.Env = append(cmd.Env, configEnv+"="+e.config, secretEnv+"="+e.secret, noBrowserEnv+"=1",
		"XDG_STATE_HOME="+filepath.Join(e.dir, "state"), "NO_COLOR=1", "DISPLAY=", "WAYLAND_DISPLAY=")
	return cmd
}

// run runs the program to completion and returns its exit code and output.
func (e *cliEnv) run(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		e.t.Fatalf("running %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// noSecrets fails the test if any secret appears in s.
func (e *cliEnv) noSecrets(what, s string) {
	e.t.Helper()
	for _, sec := range e.secrets {
		if sec != "" && strings.Contains(s, sec) {
			e.t.Errorf("%s holds a secret (%.6s…):\n%s", what, sec, s)
		}
	}
}

// lineReader reads a subprocess's stream line by line in the background.
type lineReader struct {
	lines chan string
	all   *syncBuffer
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 100), all: &syncBuffer{}}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.all.Write([]byte(sc.Text() + "\n"))
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

// waitFor returns the first submatch of re in the next lines.
func (lr *lineReader) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				t.Fatalf("output ended before %v; it was:\n%s", re, lr.all)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m[len(m)-1]
			}
		case <-timeout:
			t.Fatalf("no line matching %v in a minute; output:\n%s", re, lr.all)
		}
	}
}
