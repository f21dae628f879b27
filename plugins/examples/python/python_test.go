package python

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/saslkit/saslkit/plugins/proto"
)

// interpreter is the Python the plugin is written for: Debian's, which has
// the python3-grpcio, python3-protobuf and python3-cryptography packages.
// A python3 earlier in PATH (pyenv, a virtualenv) may lack them, and the
// script's own #! line names this one too.
const interpreter = "/usr/bin/python3"

// script is the plugin under test.
const script = "token_file_plugin.py"

// Handshake values of token_file_plugin.py.
const (
	cookieKey   = "SASLKIT_PLUGIN"
	cookieValue = "d1a3c0e2-saslkit-plugin-v1"
)

// requirePython skips the test when Debian's Python or one of the modules
// the plugin imports is missing, or fails it when CI=true: .ci/run installs
// them from .ci/packages.
func requirePython(t *testing.T) {
	t.Helper()
	pythonOnce.Do(func() {
		if _, err := os.Stat(interpreter); err != nil {
			pythonMissing = interpreter + " is not installed"
			return
		}
		out, err := exec.Command(interpreter, "-I", "-c", "import grpc, google.protobuf, cryptography").CombinedOutput()
		if err != nil {
			pythonMissing = fmt.Sprintf("%s lacks python3-grpcio, python3-protobuf or python3-cryptography: %v: %s", interpreter, err, bytes.TrimSpace(out))
		}
	})
	if pythonMissing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI=true: .ci/run installs it from .ci/packages", pythonMissing)
	}
	t.Skipf("%s; skipping (CI installs it from .ci/packages)", pythonMissing)
}

var (
	pythonOnce    sync.Once
	pythonMissing string
)

// scriptPath returns the absolute path of the plugin script.
func scriptPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenFile is the file token_file_plugin.py reads.
type tokenFile struct {
	Accounts map[string]fileToken `json:"accounts"`
}

type fileToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"`
	Expiry      time.Time `json:"expiry"`
	Scopes      []string  `json:"scopes,omitempty"`
}

// writeTokens replaces path with f the way a refresher should: a temporary
// file renamed over the old one.
func writeTokens(t *testing.T, path string, f tokenFile) {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer collects a plugin's standard error.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// connPlugin hands the test the plugin's gRPC connection, for the
// generated clients of plugins/proto.
type connPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (connPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side has no server")
}

func (connPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

// pidGone reports whether process pid has exited: it no longer exists, or
// is a zombie waiting for a parent that is not this test.
func pidGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) STATE ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// waitGone waits for pid to exit; the bound only catches a hang.
func waitGone(t *testing.T, pid int, why string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !pidGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still running 15 s after %s", pid, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errorDetail returns the saslkit Error a plugin put in a gRPC status.
func errorDetail(t *testing.T, err error) (codes.Code, *pb.Error) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %v", err)
	}
	for _, d := range st.Details() {
		if e, ok := d.(*pb.Error); ok {
			return st.Code(), e
		}
	}
	t.Fatalf("status %v has no saslkit Error detail", st)
	return 0, nil
}

// TestGoPluginClient runs the Python plugin through hashicorp/go-plugin's
// own client, with the settings the saslkit host uses (gRPC only, AutoMTLS,
// the protocol's handshake), and drives it with the Go code generated from
// plugins/proto: the handshake line, the one-time certificates and the
// health check are all the Python side's, and every call, failure and
// error detail crosses a real TLS connection.
func TestGoPluginClient(t *testing.T) {
	requirePython(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	const (
		alice  = "alice@example.test"
		first  = "ya29.first-token-for-alice"
		second = "ya29.second-token-for-alice"
		scope  = "https://mail.google.com/"
	)
	expiry := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	writeTokens(t, tokens, tokenFile{Accounts: map[string]fileToken{
		alice: {AccessToken: first, Expiry: expiry, Scopes: []string{scope}},
	}})

	var stderr, hostLog lockedBuffer
	cmd := exec.Command(scriptPath(t))
	cmd.Env = append(os.Environ(), "SASLKIT_TOKEN_FILE="+tokens)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   cookieKey,
			MagicCookieValue: cookieValue,
		},
		Plugins:          goplugin.PluginSet{"saslkit": connPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Stderr:           &stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: &hostLog, Level: hclog.Debug}),
		StartTimeout:     30 * time.Second,
	})
	defer client.Kill()

	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start: %v\nplugin stderr:\n%s", err, stderr.String())
	}
	if err := rpc.Ping(); err != nil {
		t.Fatalf("health check: %v", err)
	}
	raw, err := rpc.Dispense("saslkit")
	if err != nil {
		t.Fatal(err)
	}
	conn := raw.(*grpc.ClientConn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, err := pb.NewPluginClient(conn).Info(ctx, &pb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetProtocolVersion() != 1 || !info.GetTokenSource() || info.GetMechanism() || info.GetName() != "token-file" {
		t.Errorf("Info = %v", info)
	}

	ts := pb.NewTokenSourceClient(conn)
	tok, err := ts.Token(ctx, &pb.TokenRequest{Account: alice, Scopes: []string{scope}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.GetAccessToken() != first || tok.GetTokenType() != "Bearer" ||
		tok.GetExpiryUnixMillis() != expiry.UnixMilli() || len(tok.GetScopes()) != 1 || tok.GetScopes()[0] != scope {
		t.Errorf("Token = %v, want %s, Bearer, expiry %d, [%s]", tok, first, expiry.UnixMilli(), scope)
	}

	t.Run("unknown account", func(t *testing.T) {
		_, err := ts.Token(ctx, &pb.TokenRequest{Account: "bob@example.test"})
		code, e := errorDetail(t, err)
		if code != codes.NotFound || e.GetKind() != pb.Error_KIND_INVALID || !strings.Contains(e.GetMessage(), "bob@example.test") {
			t.Errorf("code %v, error %v", code, e)
		}
	})
	t.Run("scope not granted", func(t *testing.T) {
		_, err := ts.Token(ctx, &pb.TokenRequest{Account: alice, Scopes: []string{"https://outlook.office.com/IMAP.AccessAsUser.All"}})
		code, e := errorDetail(t, err)
		if code != codes.FailedPrecondition || e.GetKind() != pb.Error_KIND_INVALID {
			t.Errorf("code %v, error %v", code, e)
		}
	})

	// The server rejected the first token: the plugin must not serve it
	// again, and says why while the file still holds it.
	if _, err := ts.Invalidate(ctx, &pb.InvalidateRequest{Account: alice, AccessToken: first}); err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token(ctx, &pb.TokenRequest{Account: alice})
	code, e := errorDetail(t, err)
	if code != codes.Unavailable || e.GetKind() != pb.Error_KIND_TRANSIENT || e.GetRetryAfterMillis() <= 0 {
		t.Errorf("after Invalidate: code %v, error %v", code, e)
	}
	if strings.Contains(err.Error(), first) || strings.Contains(e.String(), first) {
		t.Errorf("the error reveals the token: %v", err)
	}

	// The refresher rewrites the file: the new token is served.
	writeTokens(t, tokens, tokenFile{Accounts: map[string]fileToken{
		alice: {AccessToken: second, TokenType: "bearer"},
	}})
	tok, err = ts.Token(ctx, &pb.TokenRequest{Account: alice})
	if err != nil {
		t.Fatal(err)
	}
	if tok.GetAccessToken() != second || tok.GetTokenType() != "bearer" || tok.GetExpiryUnixMillis() != 0 {
		t.Errorf("after the rewrite: Token = %v", tok)
	}

	t.Run("expired", func(t *testing.T) {
		writeTokens(t, tokens, tokenFile{Accounts: map[string]fileToken{
			alice: {AccessToken: second, Expiry: time.Now().Add(-time.Minute)},
		}})
		_, err := ts.Token(ctx, &pb.TokenRequest{Account: alice})
		if _, e := errorDetail(t, err); e.GetKind() != pb.Error_KIND_TOKEN_EXPIRED {
			t.Errorf("error %v", e)
		}
	})
	t.Run("file open to others", func(t *testing.T) {
		if err := os.Chmod(tokens, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ts.Token(ctx, &pb.TokenRequest{Account: alice})
		if _, e := errorDetail(t, err); e.GetKind() != pb.Error_KIND_NO_TOKEN || !strings.Contains(e.GetMessage(), "chmod 600") {
			t.Errorf("error %v", e)
		}
	})
	t.Run("broken file", func(t *testing.T) {
		if err := os.Remove(tokens); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tokens, []byte(`{"accounts": {"`+alice+`": {"access_token": "`+second+`"`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ts.Token(ctx, &pb.TokenRequest{Account: alice})
		_, e := errorDetail(t, err)
		if e.GetKind() != pb.Error_KIND_NO_TOKEN || !strings.Contains(e.GetMessage(), "invalid JSON") || strings.Contains(e.GetMessage(), second) {
			t.Errorf("error %v", e)
		}
	})

	t.Run("GRPCStdio", func(t *testing.T) {
		// go-plugin's client took the plugin's standard output stream when
		// it connected; the service allows one taker.
		desc := &grpc.StreamDesc{StreamName: "StreamStdio", ServerStreams: true}
		s, err := conn.NewStream(ctx, desc, "/plugin.GRPCStdio/StreamStdio")
		if err == nil {
			if err = s.SendMsg(&emptypb.Empty{}); err == nil {
				if err = s.CloseSend(); err == nil {
					err = s.RecvMsg(&emptypb.Empty{})
				}
			}
		}
		if status.Code(err) != codes.AlreadyExists {
			t.Errorf("a second StreamStdio: %v, want AlreadyExists", err)
		}
	})
	t.Run("AutoMTLS", func(t *testing.T) {
		// A second client without the host's one-time certificate is
		// refused by the plugin's TLS server.
		addr := client.ReattachConfig().Addr.String()
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // The test is the attacker: it connects without the host's certificate.
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			// TLS 1.3 reports the missing client certificate on the
			// first read.
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("the plugin accepted a TLS client without the host's certificate")
		}
	})

	logs := stderr.String()
	for _, secret := range []string{first, second} {
		if strings.Contains(logs, secret) || strings.Contains(hostLog.String(), secret) {
			t.Errorf("the plugin's log reveals a token:\n%s", logs)
		}
	}
	// The plugin's hclog JSON lines reach the host's logger at their level.
	if l := hostLog.String(); !strings.Contains(l, "[INFO]  "+script+": token invalidated: account="+alice) {
		t.Errorf("the host's log lacks the plugin's line about Invalidate:\n%s", l)
	}

	pid := client.ReattachConfig().Pid
	client.Kill()
	if !client.Exited() {
		t.Error("go-plugin does not see the plugin as exited after Kill")
	}
	waitGone(t, pid, "Kill")
	// go-plugin warns when a plugin lacks GRPCStdio, and when it had to
	// kill a plugin that did not exit on GRPCController.Shutdown.
	for _, warning := range []string{"stdio service not available", "plugin failed to exit gracefully"} {
		if l := hostLog.String(); strings.Contains(l, warning) {
			t.Errorf("go-plugin warned %q:\n%s", warning, l)
		}
	}
}

// withoutEnv returns the environment less the variables named.
func withoutEnv(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

// TestRefusesWhenRunByHand starts the plugin as a person would, without the
// magic cookie: it must say what it is and exit 1, and print nothing on
// standard output, where a host would look for the handshake.
func TestRefusesWhenRunByHand(t *testing.T) {
	requirePython(t)
	cmd := exec.Command(scriptPath(t))
	cmd.Env = withoutEnv(cookieKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("standard output: %q, want nothing", stdout.String())
	}
	if !strings.Contains(stderr.String(), "saslkit plugin") || !strings.Contains(stderr.String(), "not meant to be run by hand") {
		t.Errorf("standard error does not explain: %q", stderr.String())
	}
}

// hostCertificate returns a certificate like the one go-plugin's host
// passes in PLUGIN_CLIENT_CERT, in PEM.
func hostCertificate(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestHandshakeAndHostDeath starts the plugin from a shell that stands in
// for the host, reads the handshake line as go-plugin parses it, then kills
// the shell with SIGKILL, as when a host crashes: the orphaned plugin must
// notice and exit.
func TestHandshakeAndHostDeath(t *testing.T) {
	requirePython(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see an orphaned process exit")
	}
	sh := exec.Command("/bin/sh", "-c", `"$0" & echo "$!"; wait`, scriptPath(t))
	sh.Env = append(withoutEnv("PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"),
		cookieKey+"="+cookieValue,
		"PLUGIN_CLIENT_CERT="+string(hostCertificate(t)),
		"SASLKIT_TOKEN_FILE="+filepath.Join(t.TempDir(), "tokens.json"),
	)
	// A file, not a pipe, for standard error: the orphaned plugin keeps
	// it open, and Wait would wait for the plugin to close a pipe.
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	sh.Stderr = errFile
	stderr := func() string { b, _ := os.ReadFile(errFile.Name()); return string(b) }
	sh.WaitDelay = time.Second
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = sh.Process.Kill()
		_ = sh.Wait()
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatalf("no process id from the shell; stderr:\n%s", stderr())
	}
	pid, err := strconv.Atoi(lines.Text())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGKILL) }()
	if !lines.Scan() {
		t.Fatalf("no handshake line; plugin stderr:\n%s", stderr())
	}

	// CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|PROTOCOL|CERT
	parts := strings.Split(lines.Text(), "|")
	if len(parts) != 6 || parts[0] != "1" || parts[1] != "1" || parts[2] != "tcp" || parts[4] != "grpc" {
		t.Fatalf("handshake line %q", lines.Text())
	}
	host, _, err := net.SplitHostPort(parts[3])
	if err != nil || host != "127.0.0.1" {
		t.Errorf("address %q (%v), want one on 127.0.0.1", parts[3], err)
	}
	// go-plugin decodes the certificate with base64.RawStdEncoding.
	der, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil {
		t.Fatalf("certificate field: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the certificate does not verify against itself, as go-plugin's host checks it: %v", err)
	}

	if err := sh.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sh.Wait()
	waitGone(t, pid, "its parent was killed")
}
