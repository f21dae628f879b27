package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAuthorizeCode runs authorize with PKCE, the test playing the
// browser: it opens the printed URL, whose consent page redirects to the
// program's loopback listener.
func TestAuthorizeCode(t *testing.T) {
	e := newCLIEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, "authorize", "--no-browser", "test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout syncBuffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lr := newLineReader(stderr)
	authURL := lr.waitFor(t, regexp.MustCompile(`^\s+(http://\S+/authorize\?\S+)$`))
	for _, p := range []string{"code_challenge_method=S256", "code_challenge=", "state=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A", "login_hint=alice%40example.test", "access_type=offline"} {
		if !strings.Contains(authURL, p) {
			t.Errorf("authorization URL lacks %s: %s", p, authURL)
		}
	}
	resp, err := http.Get(authURL) // follows the redirect to the loopback listener
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Host == strings.TrimPrefix(e.oauth.URL, "http://") {
		t.Fatalf("the browser ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, page)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("authorize: %v; stderr:\n%s", err, lr.all)
	}
	if !strings.Contains(stdout.String(), "Authorized test (alice@example.test)") {
		t.Errorf("stdout %q", stdout.String())
	}
	tok := e.stored("test")
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token stored")
	}
	info, ok := e.oauth.Lookup(tok.RefreshToken)
	if !ok || info.User != testUser {
		t.Errorf("stored refresh token: %+v, known %v", info, ok)
	}
	if n := e.oauth.Issued("authorization_code"); n != 1 {
		t.Errorf("%d code exchanges, want 1", n)
	}
	e.noSecrets("authorize's stderr", lr.all.String())
	e.noSecrets("authorize's stdout", stdout.String())

	// The stored token works.
	code, out, errOut := e.run("token", "test")
	if code != 0 || strings.TrimSpace(out) != tok.AccessToken {
		t.Errorf("token after authorize: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestAuthorizeDevice runs authorize --device; the test approves the code
// on the OAuth server while the program polls.
func TestAuthorizeDevice(t *testing.T) {
	e := newCLIEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, "authorize", "test", "--device")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout syncBuffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lr := newLineReader(stderr)
	verify := lr.waitFor(t, regexp.MustCompile(`^\s+(http://\S+)$`))
	if !strings.HasPrefix(verify, e.oauth.URL) {
		t.Errorf("verification URL %q is not the server's", verify)
	}
	userCode := lr.waitFor(t, regexp.MustCompile(`^\s+([A-Z0-9-]{4,})$`))
	lr.waitFor(t, regexp.MustCompile(`^(Waiting for approval \.\.\.)$`))
	if err := e.oauth.ApproveDevice(userCode, testUser); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("authorize --device: %v; stderr:\n%s", err, lr.all)
	}
	if strings.Contains(lr.all.String(), "\r") || strings.Contains(lr.all.String(), "\x1b") {
		t.Errorf("progress drawn on a pipe:\n%q", lr.all)
	}
	tok := e.stored("test")
	if info, ok := e.oauth.Lookup(tok.RefreshToken); !ok || info.User != testUser {
		t.Errorf("stored refresh token: %+v, known %v", info, ok)
	}
	if !strings.Contains(stdout.String(), "Authorized test") {
		t.Errorf("stdout %q", stdout.String())
	}
	e.noSecrets("authorize --device's stderr", lr.all.String())
}

// TestAuthorizeDenied: a denied device authorization exits 3 and stores
// nothing.
func TestAuthorizeDenied(t *testing.T) {
	e := newCLIEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, "authorize", "--device", "test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lr := newLineReader(stderr)
	userCode := lr.waitFor(t, regexp.MustCompile(`^\s+([A-Z0-9-]{4,})$`))
	if err := e.oauth.DenyDevice(userCode); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitAuth {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitAuth, lr.all)
	}
	if !strings.Contains(lr.all.String(), "denied") {
		t.Errorf("stderr does not say denied:\n%s", lr.all)
	}
	if code, _, _ := e.run("token", "test"); code != exitAuth {
		t.Errorf("token after a denied authorization: exit %d, want %d", code, exitAuth)
	}
}

// TestAuthorizeForgedRedirect: a redirect to the loopback listener with
// another state ends the flow (exit 3) and no code is exchanged.
func TestAuthorizeForgedRedirect(t *testing.T) {
	e := newCLIEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, "authorize", "--no-browser", "test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lr := newLineReader(stderr)
	authURL := lr.waitFor(t, regexp.MustCompile(`^\s+(http://\S+/authorize\?\S+)$`))
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u.Query().Get("redirect_uri") + "?code=stolen&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitAuth {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitAuth, lr.all)
	}
	if !strings.Contains(lr.all.String(), "wrong state") {
		t.Errorf("stderr:\n%s", lr.all)
	}
	if n := e.oauth.Requests("authorization_code"); n != 0 {
		t.Errorf("%d code exchanges after a forged redirect", n)
	}
}
