package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSandboxJSON checks the --json object against the documented shape
// and checks that what it names works: the CA file verifies every TLS
// listener, the token endpoint refreshes with the printed client, and
// SIGTERM stops the sandbox with exit 0 and removes the temporary CA.
func TestSandboxJSON(t *testing.T) {
	t.Parallel()
	p := launchSandbox(t, "--user", "alice@example.test,bob@example.test", "--user", "carol@example.test", "--token-lifetime", "90s")

	var shape map[string]any
	if err := json.Unmarshal(p.raw, &shape); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"ca_file", "hostname", "imap", "oauth", "pid", "pop3", "profile", "smtp", "users"}
	if got := sortedKeys(shape); !slices.Equal(got, wantKeys) {
		t.Errorf("top-level keys %v, want %v", got, wantKeys)
	}
	oauth := shape["oauth"].(map[string]any)
	wantOAuth := []string{"auth_url", "client_id", "client_secret", "device_auth_url", "introspection_url", "revocation_url", "scopes", "token_lifetime_seconds", "token_url", "url"}
	if got := sortedKeys(oauth); !slices.Equal(got, wantOAuth) {
		t.Errorf("oauth keys %v, want %v", got, wantOAuth)
	}
	user := shape["users"].([]any)[0].(map[string]any)
	wantUser := []string{"access_token", "address", "password", "refresh_token", "token_expiry", "xoauth2"}
	if got := sortedKeys(user); !slices.Equal(got, wantUser) {
		t.Errorf("user keys %v, want %v", got, wantUser)
	}
	listener := shape["imap"].(map[string]any)["implicit_tls"].(map[string]any)
	if got := sortedKeys(listener); !slices.Equal(got, []string{"host", "port", "url"}) {
		t.Errorf("listener keys %v", got)
	}

	info := p.info
	if info.PID != p.cmd.Process.Pid {
		t.Errorf("pid %d, want %d", info.PID, p.cmd.Process.Pid)
	}
	if info.Profile != "gmail" || info.Hostname != "localhost" {
		t.Errorf("profile %q hostname %q", info.Profile, info.Hostname)
	}
	if info.OAuth.ClientID != sandboxClientID || info.OAuth.ClientSecret == "" || info.OAuth.TokenLifetime != 90 {
		t.Errorf("oauth client %q, secret set %t, lifetime %v", info.OAuth.ClientID, info.OAuth.ClientSecret != "", info.OAuth.TokenLifetime)
	}
	if !slices.Equal(info.OAuth.Scopes, []string{"https://mail.google.com/"}) {
		t.Errorf("scopes %q", info.OAuth.Scopes)
	}
	var addrs []string
	for _, u := range info.Users {
		addrs = append(addrs, u.Address)
		if u.Password == "" || u.AccessToken == "" || u.RefreshToken == "" {
			t.Errorf("%s: missing credentials", u.Address)
		}
		if left := time.Until(u.TokenExpiry); left < 30*time.Second || left > 91*time.Second {
			t.Errorf("%s: token expires in %s, want about 90s", u.Address, left)
		}
		ir, err := base64.StdEncoding.DecodeString(u.XOAUTH2)
		if err != nil || string(ir) != "user="+u.Address+"\x01auth=Bearer "+u.AccessToken+"\x01\x01" {
			t.Errorf("%s: xoauth2 is not the initial response for the token", u.Address)
		}
	}
	if want := []string{"alice@example.test", "bob@example.test", "carol@example.test"}; !slices.Equal(addrs, want) {
		t.Errorf("users %q, want %q", addrs, want)
	}
	if info.Users[0].Password == info.Users[1].Password {
		t.Error("two users got the same password")
	}

	// The CA file verifies every implicit-TLS listener, by IP address and
	// by name.
	pemBytes, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(info.CAFile) || filepath.Base(info.CAFile) != "ca.pem" {
		t.Errorf("ca_file %q, want an absolute path to ca.pem", info.CAFile)
	}
	if b, _ := pem.Decode(pemBytes); b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("ca_file does not hold a PEM certificate")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	for name, l := range map[string]sandboxListener{"imaps": info.IMAP.ImplicitTLS, "smtps": info.SMTP.ImplicitTLS, "pop3s": info.POP3.ImplicitTLS} {
		if l.Host != "127.0.0.1" || l.URL != name+"://127.0.0.1:"+strconv.Itoa(l.Port) {
			t.Errorf("%s listener %+v", name, l)
		}
		for _, server := range []string{"127.0.0.1", "localhost"} {
			d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: server, MinVersion: tls.VersionTLS12}}
			c, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(l.Host, strconv.Itoa(l.Port)))
			if err != nil {
				t.Errorf("%s as %s: %v", name, server, err)
				continue
			}
			c.Close()
		}
	}
	for name, l := range map[string]sandboxListener{"imap": info.IMAP.StartTLS, "smtp": info.SMTP.StartTLS, "pop3": info.POP3.StartTLS} {
		if l.URL != name+"://127.0.0.1:"+strconv.Itoa(l.Port) {
			t.Errorf("%s listener %+v", name, l)
		}
	}

	// The printed client refreshes the printed refresh token.
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {info.OAuth.ClientID},
		"client_secret": {info.OAuth.ClientSecret},
		"refresh_token": {info.Users[1].RefreshToken},
	}
	resp, err := http.PostForm(info.OAuth.TokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" || tok.ExpiresIn != 90 {
		t.Errorf("refresh: status %d, err %v, expires_in %d", resp.StatusCode, err, tok.ExpiresIn)
	}
	form.Set("client_secret", "wrong")
	resp, err = http.PostForm(info.OAuth.TokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh with a wrong client secret: status %d", resp.StatusCode)
	}

	if code := p.stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
	}
	if _, err := os.Stat(filepath.Dir(info.CAFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary CA directory is still there after exit (%v)", err)
	}
	if rest := p.rest.String(); rest != "" {
		t.Errorf("output after the JSON object: %q", rest)
	}
	if s := p.stderr.String(); s != "" {
		t.Errorf("stderr: %q", s)
	}
}

func sortedKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestSandboxText runs the sandbox for a person: text output, no colour
// when standard output is not a terminal, SIGINT stops it with exit 0.
func TestSandboxText(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	caFile := filepath.Join(t.TempDir(), "sandbox-ca.pem")
	cmd := programCmd(ctx, "sandbox", "--profile", "microsoft", "--ca-file", caFile)
	cmd.Env = append(cmd.Env, "TERM=xterm")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		text.WriteString(line)
		if err != nil {
			t.Fatalf("output ended before the sandbox was ready (%v):\n%s\nstderr:\n%s", err, text.String(), stderr)
		}
		if strings.HasPrefix(line, "Press Ctrl-C to stop.") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v; stderr:\n%s", err, stderr)
	}
	out := text.String()
	for _, want := range []string{
		"saslkit sandbox running: microsoft profile, access tokens live 1h0m0s",
		"CA certificate  " + caFile,
		"IMAP  implicit TLS  imaps://127.0.0.1:",
		"SMTP  implicit TLS  smtps://127.0.0.1:",
		"POP3  implicit TLS  pop3s://127.0.0.1:",
		"STLS      pop3://127.0.0.1:",
		"client id       saslkit-sandbox",
		"client secret   ",
		"scopes          https://outlook.office365.com/IMAP.AccessAsUser.All",
		"alice@example.test\n    password       ",
		"access token   ",
		"refresh token  ",
		"curl --cacert " + caFile + " --oauth2-bearer ",
		"-d grant_type=refresh_token",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour escapes in output that is not a terminal")
	}
	if string(rest) != "\nStopped.\n" {
		t.Errorf("output after SIGINT %q, want %q", rest, "\nStopped.\n")
	}
	if _, err := os.Stat(caFile); err != nil {
		t.Errorf("a --ca-file must stay after exit: %v", err)
	}
}

// TestSandboxPortBase checks the documented fixed-port layout.
func TestSandboxPortBase(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	var p *sandboxProc
	var base int
	for try := 0; ; try++ {
		// A base whose ports are all unprivileged and below the usual
		// ephemeral range; if one is taken, try another.
		base = 20000 + 1000*rand.IntN(12)
		var err error
		p, err = tryLaunchSandbox(t, "--port-base", strconv.Itoa(base), "--ca-file", caFile)
		if err == nil {
			break
		}
		var se *startError
		if try < 5 && errors.As(err, &se) && se.code == exitFailure && strings.Contains(se.stderr, "address already in use") {
			continue
		}
		t.Fatal(err)
	}
	defer func() {
		// SIGHUP (the terminal closed) stops it cleanly too.
		if code := p.stopWith(syscall.SIGHUP); code != 0 {
			t.Errorf("exit code %d after SIGHUP", code)
		}
	}()
	for _, c := range []struct {
		l    sandboxListener
		port int
	}{
		{p.info.IMAP.ImplicitTLS, 993}, {p.info.IMAP.StartTLS, 143},
		{p.info.SMTP.ImplicitTLS, 465}, {p.info.SMTP.StartTLS, 587},
		{p.info.POP3.ImplicitTLS, 995}, {p.info.POP3.StartTLS, 110},
	} {
		if c.l.Port != base+c.port {
			t.Errorf("%s: port %d, want %d+%d", c.l.URL, c.l.Port, base, c.port)
		}
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(base+80) + "/token"; p.info.OAuth.TokenURL != want {
		t.Errorf("token URL %q, want %q", p.info.OAuth.TokenURL, want)
	}
	if p.info.CAFile != caFile {
		t.Errorf("ca_file %q, want %q", p.info.CAFile, caFile)
	}
}

// TestSandboxPortInUse: a port that cannot be had is a failure (exit 1)
// with a message that says so.
func TestSandboxPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if port-993 < 1 || port-993 > 65535-maxPortOffset {
		t.Skipf("port %d cannot be reached from a base", port)
	}
	_, err = tryLaunchSandbox(t, "--port-base", strconv.Itoa(port-993))
	var se *startError
	if !errors.As(err, &se) {
		t.Fatalf("the sandbox started on a port in use (%v)", err)
	}
	if se.code != exitFailure || !strings.HasPrefix(se.stderr, "saslkit: sandbox: ") || !strings.Contains(se.stderr, "address already in use") {
		t.Errorf("exit code %d, stderr %q; want 1 and a saslkit: sandbox: message", se.code, se.stderr)
	}
}

// TestSandboxCAFileError: an unwritable --ca-file fails before anything is
// printed, and leaves no listener behind.
func TestSandboxCAFileError(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runInProcess(t.Context(), "sandbox", "--ca-file", filepath.Join(t.TempDir(), "missing", "ca.pem"))
	if code != exitFailure || stdout != "" || !strings.HasPrefix(stderr, "saslkit: sandbox: writing the CA file: ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestSandboxInProcess runs the command in this process and stops it by
// cancelling its context, as a signal does.
func TestSandboxInProcess(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncBuffer{}
	errb := &syncBuffer{}
	codes := make(chan int, 1)
	go func() {
		codes <- run(ctx, &stdio{stdout: out, stderr: errb}, []string{"sandbox", "--json", "--profile", "all"})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasSuffix(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no JSON after 30 s; stderr %q", errb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var info sandboxInfo
	if err := json.Unmarshal([]byte(out.String()), &info); err != nil {
		t.Fatal(err)
	}
	if info.Profile != "all" {
		t.Errorf("profile %q", info.Profile)
	}
	cancel()
	select {
	case code := <-codes:
		if code != exitOK {
			t.Errorf("exit code %d; stderr %q", code, errb)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sandbox did not stop")
	}
	// Every listener is closed.
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(info.IMAP.ImplicitTLS.Host, strconv.Itoa(info.IMAP.ImplicitTLS.Port)), time.Second); err == nil {
		c.Close()
		t.Error("IMAPS still accepts after the sandbox stopped")
	}
}
