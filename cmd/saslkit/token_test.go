package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/saslkit/saslkit/providers"
)

// TestTokenValidAndExpired: a stored token still valid is printed as it
// is; an expired one is refreshed once (counted on the OAuth server) and
// the new pair is stored, so the next run refreshes nothing.
func TestTokenValidAndExpired(t *testing.T) {
	e := newCLIEnv(t, nil)
	seeded := e.seed("test", testUser, false)

	code, out, errOut := e.run("token", "test")
	if code != 0 || out != seeded.AccessToken+"\n" || errOut != "" {
		t.Fatalf("valid token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if n := e.oauth.Requests("refresh_token"); n != 0 {
		t.Errorf("%d refresh requests for a valid token", n)
	}

	e.seed("test", testUser, true)
	code, out, errOut = e.run("token", "test")
	if code != 0 || errOut != "" {
		t.Fatalf("expired token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	fresh := strings.TrimSuffix(out, "\n")
	if n := e.oauth.Requests("refresh_token"); n != 1 {
		t.Errorf("%d refresh requests after expiry, want 1", n)
	}
	if info, ok := e.oauth.Lookup(fresh); !ok || info.User != testUser || strings.Contains(fresh, "\n") {
		t.Errorf("printed token %q unknown to the server (%+v)", fresh, info)
	}
	if stored := e.stored("test"); stored.AccessToken != fresh {
		t.Error("the refreshed token was not stored")
	}

	code, out, _ = e.run("token", "--json", "test")
	if code != 0 {
		t.Fatalf("token --json: exit %d", code)
	}
	var j tokenJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("token --json: %v: %q", err, out)
	}
	if j.AccessToken != fresh || j.TokenType != "Bearer" || j.Account != "test" || j.User != testUser ||
		len(j.Scopes) != 1 || j.Scopes[0] != "https://mail.google.com/" || j.ExpiresIn == nil || *j.ExpiresIn < 3000 {
		t.Errorf("token --json: %+v", j)
	}
	if exp, err := time.Parse(time.RFC3339, j.Expiry); err != nil || time.Until(exp) < 50*time.Minute {
		t.Errorf("expiry %q", j.Expiry)
	}
	if n := e.oauth.Requests("refresh_token"); n != 1 {
		t.Errorf("%d refresh requests after the stored fresh token was reused, want 1", n)
	}
}

// TestTokenFailures: the exit codes and messages of token, with no secret
// in them.
func TestTokenFailures(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.writeConfig(e.account("test", testUser, ""), `[accounts.pw]
user = "bob"
provider = "password"
password_env = "NOPE_NOT_SET"
`)
	code, out, errOut := e.run("token", "test")
	if code != exitAuth || out != "" || !strings.Contains(errOut, "not authorized yet: run 'saslkit authorize test'") {
		t.Errorf("never authorized: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A revoked grant: the refresh is refused with invalid_grant.
	e.seed("test", testUser, true)
	e.oauth.RevokeUser(testUser)
	code, out, errOut = e.run("token", "test")
	if code != exitAuth || out != "" || !strings.Contains(errOut, "run 'saslkit authorize test'") {
		t.Errorf("revoked: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	e.noSecrets("token's stderr", errOut)

	code, _, errOut = e.run("token", "nosuch")
	if code != exitUsage || !strings.Contains(errOut, `no account "nosuch"`) || !strings.Contains(errOut, "accounts: test, pw") {
		t.Errorf("unknown account: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = e.run("token", "pw")
	if code != exitFailure || !strings.Contains(errOut, "password, not with OAuth 2.0 tokens") {
		t.Errorf("password account: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = e.run("token")
	if code != exitUsage || !strings.Contains(errOut, "want one ACCOUNT") {
		t.Errorf("no account: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = e.run("token", "test", "--config", e.dir+"/missing.toml")
	if code != exitConfig || !strings.Contains(errOut, "no accounts file at "+e.dir+"/missing.toml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

// TestPersistWarning: a refreshed token that could not be saved is
// reported on standard error; other refresh errors are not (they reach
// the caller).
func TestPersistWarning(t *testing.T) {
	var b bytes.Buffer
	warn := persistWarning(&b, "work")
	warn(&providers.PersistError{Account: "work", Err: os.ErrPermission})
	warn(providers.ErrReauthRequired)
	if got := b.String(); !strings.HasPrefix(got, "saslkit: warning: account work: ") || !strings.Contains(got, "permission denied") || strings.Count(got, "\n") != 1 {
		t.Errorf("warning %q", got)
	}
}

func TestOpenBrowserWithoutDesktop(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("a desktop is assumed there")
	}
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := openBrowser("http://127.0.0.1:1/"); !errors.Is(err, errNoBrowser) {
		t.Errorf("openBrowser without a desktop: %v", err)
	}
}
