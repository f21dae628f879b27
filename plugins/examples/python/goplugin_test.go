package python

import (
	"bufio"
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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/saslkit/saslkit/plugins"
	pb "github.com/saslkit/saslkit/plugins/proto"
)

// connPlugin hands the test the plugin's gRPC connection, for the clients
// generated from plugins/proto.
type connPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (connPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host side serves nothing")
}

func (connPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

// errorDetail returns the gRPC code of err and the saslkit Error the plugin
// put in the status details.
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

// TestGoPluginProtocol runs the Python plugin under hashicorp/go-plugin's
// own client, configured as the saslkit host configures it (gRPC only,
// AutoMTLS, the plugins handshake), and checks at the wire what
// plugins.Open hides: the status codes and Error details, the health
// check, GRPCStdio, that the TLS server turns away a client without the
// host's one-time certificate, the hclog levels of the plugin's log lines,
// and a graceful exit on GRPCController.Shutdown.
func TestGoPluginProtocol(t *testing.T) {
	requirePython(t)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	const first = "ya29.first-token-of-alice"
	writeTokens(t, tokens, map[string]fileToken{alice: {AccessToken: first}})

	var stderr, hostLog lockedBuffer
	cmd := exec.Command(scriptPath(t), tokens)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  plugins.ProtocolVersion,
			MagicCookieKey:   plugins.MagicCookieKey,
			MagicCookieValue: plugins.MagicCookieValue,
		},
		Plugins:          goplugin.PluginSet{"saslkit": connPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Stderr:           &stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: &hostLog, Level: hclog.Debug}),
		StartTimeout:     waitBound,
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
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	info, err := pb.NewPluginClient(conn).Info(ctx, &pb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetProtocolVersion() != plugins.ProtocolVersion || !info.GetTokenSource() || info.GetMechanism() || info.GetName() != "token-file" {
		t.Errorf("Info = %v", info)
	}
	ts := pb.NewTokenSourceClient(conn)
	if _, err := ts.Token(ctx, &pb.TokenRequest{Account: alice}); err != nil {
		t.Fatal(err)
	}

	t.Run("errors", func(t *testing.T) {
		if _, err := ts.Invalidate(ctx, &pb.InvalidateRequest{Account: alice, AccessToken: first}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			req  *pb.TokenRequest
			code codes.Code
			kind pb.Error_Kind
		}{
			{&pb.TokenRequest{Account: alice}, codes.FailedPrecondition, pb.Error_KIND_NO_TOKEN},
			{&pb.TokenRequest{Account: "bob@example.test"}, codes.PermissionDenied, pb.Error_KIND_REAUTH_REQUIRED},
			{&pb.TokenRequest{}, codes.InvalidArgument, pb.Error_KIND_INVALID},
		}
		for _, c := range cases {
			_, err := ts.Token(ctx, c.req)
			code, e := errorDetail(t, err)
			if code != c.code || e.GetKind() != c.kind || e.GetMessage() == "" || st(err).Message() != e.GetMessage() {
				t.Errorf("Token(%v): %v, %v; want %v, %v", c.req, code, e, c.code, c.kind)
			}
			if strings.Contains(err.Error(), first) {
				t.Errorf("the error shows the token: %v", err)
			}
		}
		_, err := ts.Invalidate(ctx, &pb.InvalidateRequest{Account: alice})
		if code, e := errorDetail(t, err); code != codes.InvalidArgument || e.GetKind() != pb.Error_KIND_INVALID {
			t.Errorf("Invalidate without a token: %v, %v", code, e)
		}
	})

	t.Run("malformed files", func(t *testing.T) {
		files := map[string]string{
			"not JSON":            `{"` + alice + `": {"access_token": "` + first + `"`,
			"not an object":       `["` + first + `"]`,
			"entry not an object": `{"` + alice + `": "` + first + `"}`,
			"no access_token":     `{"` + alice + `": {"token_type": "Bearer"}}`,
			"token with a space":  `{"` + alice + `": {"access_token": "` + first + ` x"}}`,
			"token with CR LF":    `{"` + alice + `": {"access_token": "` + first + `\r\nA1 LOGOUT"}}`,
			"expiry not a time":   `{"` + alice + `": {"access_token": "` + first + `", "expiry": "tomorrow"}}`,
			"expiry without zone": `{"` + alice + `": {"access_token": "` + first + `", "expiry": "2030-01-01T00:00:00"}}`,
			"scopes not strings":  `{"` + alice + `": {"access_token": "` + first + `", "scopes": [1]}}`,
			"not UTF-8":           "{\"" + alice + "\": {\"access_token\": \"\xff\xfe\"}}",
			"nested too deeply":   strings.Repeat("[", 100000),
			"expiry not RFC 3339": `{"` + alice + `": {"access_token": "` + first + `", "expiry": "2030-01-01 00:00:00Z"}}`,
		}
		for name, content := range files {
			writeRaw(t, tokens, []byte(content))
			_, err := ts.Token(ctx, &pb.TokenRequest{Account: alice})
			code, e := errorDetail(t, err)
			if code != codes.FailedPrecondition || e.GetKind() != pb.Error_KIND_NO_TOKEN || !strings.Contains(e.GetMessage(), tokens) {
				t.Errorf("%s: %v, %v", name, code, e)
			}
			if strings.Contains(e.GetMessage(), first) {
				t.Errorf("%s: the error quotes the file: %v", name, e.GetMessage())
			}
		}
		// Before 1970 is long expired, not "unknown" (0 on the wire).
		writeRaw(t, tokens, []byte(`{"`+alice+`": {"access_token": "ya29.token-of-1969", "expiry": "1969-12-31T23:59:59Z"}}`))
		_, err := ts.Token(ctx, &pb.TokenRequest{Account: alice})
		if _, e := errorDetail(t, err); e.GetKind() != pb.Error_KIND_TOKEN_EXPIRED {
			t.Errorf("a token that expired in 1969: %v", e)
		}

		writeTokens(t, tokens, map[string]fileToken{alice: {AccessToken: first}})
		if err := os.Chmod(tokens, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token(ctx, &pb.TokenRequest{Account: alice})
		if _, e := errorDetail(t, err); e.GetKind() != pb.Error_KIND_NO_TOKEN || !strings.Contains(e.GetMessage(), "chmod 600") {
			t.Errorf("a file others can read: %v", e)
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
		// A client without the host's one-time certificate is refused.
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} // the test is the intruder: it trusts anything
		c, err := d.DialContext(ctx, "tcp", client.ReattachConfig().Addr.String())
		if err == nil {
			// In TLS 1.3 the server's refusal arrives on the first read.
			_ = c.SetDeadline(time.Now().Add(waitBound))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("the plugin accepted a TLS client without the host's certificate")
		}
	})

	if strings.Contains(stderr.String(), first) || strings.Contains(hostLog.String(), first) {
		t.Errorf("the plugin's log shows the token:\n%s", stderr.String())
	}
	// hclog JSON lines are filed at their level under the plugin's name.
	if l := hostLog.String(); !strings.Contains(l, "[INFO]  "+script+": token invalidated: account="+alice) {
		t.Errorf("the host's log lacks the plugin's INFO line about Invalidate:\n%s", l)
	}

	pid := client.ReattachConfig().Pid
	client.Kill()
	waitGone(t, pid, "Kill")
	// go-plugin warns when it has to kill a plugin that did not exit on
	// GRPCController.Shutdown.
	if l := hostLog.String(); strings.Contains(l, "plugin failed to exit gracefully") {
		t.Errorf("the plugin ignored Shutdown:\n%s", l)
	}
}

// st returns the status of err.
func st(err error) *status.Status {
	s, _ := status.FromError(err)
	return s
}

// TestRefusesWhenRunByHand starts the plugin as a person would, without the
// magic cookie: it must say what it is and exit 1, and print nothing on
// standard output, where a host would look for the handshake.
func TestRefusesWhenRunByHand(t *testing.T) {
	requirePython(t)
	cmd := exec.Command(scriptPath(t), filepath.Join(t.TempDir(), "tokens.json"))
	cmd.Env = withoutEnv(plugins.MagicCookieKey)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: %v, want exit status 1", err)
	}
	if stdout.String() != "" {
		t.Errorf("standard output: %q, want nothing", stdout.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "saslkit plugin") || !strings.Contains(msg, "not meant to be run by hand") {
		t.Errorf("standard error does not explain: %q", msg)
	}
}

// hostCertificate returns a one-time certificate like the one go-plugin's
// host makes for AutoMTLS, in PEM, and as a tls.Certificate with its key.
func hostCertificate(t *testing.T) ([]byte, tls.Certificate) {
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
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake is the plugin's handshake line, checked as go-plugin reads it.
type handshake struct {
	addr string
	cert *x509.Certificate
}

// readHandshake reads and checks the handshake line:
// CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|PROTOCOL|CERT.
func readHandshake(t *testing.T, line string) handshake {
	t.Helper()
	parts := strings.Split(line, "|")
	if len(parts) != 6 || parts[0] != "1" || parts[1] != strconv.Itoa(plugins.ProtocolVersion) || parts[2] != "tcp" || parts[4] != "grpc" {
		t.Fatalf("handshake line %q", line)
	}
	if host, _, err := net.SplitHostPort(parts[3]); err != nil || host != "127.0.0.1" {
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
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	// As go-plugin's host checks it: trusted as its own root, for
	// "localhost", as a server.
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the plugin's certificate: %v", err)
	}
	return handshake{addr: parts[3], cert: cert}
}

// healthCheck asks the plugin at h for the health of service "plugin",
// over TLS with the client certificate client.
func healthCheck(ctx context.Context, h handshake, client tls.Certificate) error {
	pool := x509.NewCertPool()
	pool.AddCert(h.cert)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{client}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "plugin"})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health %v", resp.GetStatus())
	}
	return nil
}

// TestSignalsAndCertificates starts the plugin as go-plugin would, with a
// certificate the test holds the key of: the plugin answers that
// certificate and no other; it ignores SIGINT (a Ctrl-C reaches the whole
// terminal's process group, and the host decides) and exits cleanly on
// SIGTERM.
func TestSignalsAndCertificates(t *testing.T) {
	requirePython(t)
	hostPEM, hostCert := hostCertificate(t)
	_, strangerCert := hostCertificate(t)
	cmd := exec.Command(scriptPath(t), filepath.Join(t.TempDir(), "tokens.json"))
	cmd.Env = append(withoutEnv("PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"),
		plugins.MagicCookieKey+"="+plugins.MagicCookieValue,
		"PLUGIN_CLIENT_CERT="+string(hostPEM),
	)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no handshake line; stderr:\n%s", stderr.String())
	}
	h := readHandshake(t, lines.Text())
	go func() {
		for lines.Scan() {
			t.Errorf("more on standard output after the handshake: %q", lines.Text())
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	if err := healthCheck(ctx, h, hostCert); err != nil {
		t.Fatalf("with the host's certificate: %v", err)
	}
	if err := healthCheck(ctx, h, strangerCert); status.Code(err) != codes.Unavailable {
		t.Errorf("with another certificate: %v, want the TLS handshake refused", err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := healthCheck(ctx, h, hostCert); err != nil {
		t.Fatalf("after SIGINT: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0; stderr:\n%s", err, stderr.String())
		}
		exited <- err
	case <-ctx.Done():
		t.Fatal("the plugin did not exit on SIGTERM")
	}
}

// TestHandshakeAndHostDeath starts the plugin from a shell that stands in
// for the host, reads the handshake line as go-plugin parses it, then kills
// the shell with SIGKILL, as when a host crashes: the orphaned plugin must
// notice and exit. (The saslkit host also asks Linux for a parent-death
// signal; a shell does not, so this proves the plugin's own watch.)
func TestHandshakeAndHostDeath(t *testing.T) {
	requirePython(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see an orphaned process exit")
	}
	hostPEM, _ := hostCertificate(t)
	sh := exec.Command("/bin/sh", "-c", `"$0" "$1" & echo "$!"; wait`, scriptPath(t), filepath.Join(t.TempDir(), "tokens.json"))
	sh.Env = append(withoutEnv("PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"),
		plugins.MagicCookieKey+"="+plugins.MagicCookieValue,
		"PLUGIN_CLIENT_CERT="+string(hostPEM),
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

	readHandshake(t, lines.Text())

	if err := sh.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sh.Wait()
	waitGone(t, pid, "its parent was killed")
}

// TestStartupRefusals starts the plugin with a bad environment: each time
// it exits 1 before the handshake, with an hclog line that says why.
func TestStartupRefusals(t *testing.T) {
	requirePython(t)
	hostPEM, _ := hostCertificate(t)
	cookie := plugins.MagicCookieKey + "=" + plugins.MagicCookieValue
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"no AutoMTLS", []string{cookie}, "PLUGIN_CLIENT_CERT is not set"},
		{"not a certificate", []string{cookie, "PLUGIN_CLIENT_CERT=-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "PLUGIN_CLIENT_CERT holds no PEM certificate"},
		{"port not a number", []string{cookie, "PLUGIN_CLIENT_CERT=" + string(hostPEM), "PLUGIN_MIN_PORT=ten"}, "PLUGIN_MIN_PORT is not a number"},
		{"ports reversed", []string{cookie, "PLUGIN_CLIENT_CERT=" + string(hostPEM), "PLUGIN_MIN_PORT=20000", "PLUGIN_MAX_PORT=10000"}, "greater than PLUGIN_MAX_PORT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(scriptPath(t), filepath.Join(t.TempDir(), "tokens.json"))
			cmd.Env = append(withoutEnv(plugins.MagicCookieKey, "PLUGIN_CLIENT_CERT", "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"), c.env...)
			var stdout, stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("%v, want exit status 1; stderr:\n%s", err, stderr.String())
			}
			if stdout.String() != "" {
				t.Errorf("standard output %q, want no handshake", stdout.String())
			}
			var line struct {
				Level   string `json:"@level"`
				Message string `json:"@message"`
			}
			if err := json.Unmarshal([]byte(stderr.String()), &line); err != nil || line.Level != "error" || !strings.Contains(line.Message, c.want) {
				t.Errorf("stderr %q (%v), want an hclog error line with %q", stderr.String(), err, c.want)
			}
		})
	}
}

// TestPortRange gives the plugin a range of one port, as go-plugin's
// PLUGIN_MIN_PORT and PLUGIN_MAX_PORT may: it listens there.
func TestPortRange(t *testing.T) {
	requirePython(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	hostPEM, _ := hostCertificate(t)
	cmd := exec.Command(scriptPath(t), filepath.Join(t.TempDir(), "tokens.json"))
	cmd.Env = append(withoutEnv("PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"),
		plugins.MagicCookieKey+"="+plugins.MagicCookieValue,
		"PLUGIN_CLIENT_CERT="+string(hostPEM),
		"PLUGIN_MIN_PORT="+port, "PLUGIN_MAX_PORT="+port,
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatal("no handshake line")
	}
	if h := readHandshake(t, lines.Text()); h.addr != "127.0.0.1:"+port {
		t.Errorf("listening on %s, want port %s", h.addr, port)
	}
}

// TestStdoutReachesHost runs testdata/print_plugin.py, whose Info prints a
// line after the handshake: go-plugin's client receives it through
// GRPCStdio, in its SyncStdout.
func TestStdoutReachesHost(t *testing.T) {
	requirePython(t)
	path, err := filepath.Abs("testdata/print_plugin.py")
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan string, 1)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  plugins.ProtocolVersion,
			MagicCookieKey:   plugins.MagicCookieKey,
			MagicCookieValue: plugins.MagicCookieValue,
		},
		Plugins:          goplugin.PluginSet{"saslkit": connPlugin{}},
		Cmd:              exec.Command(path),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		SyncStdout:       lineWriter(synced),
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     waitBound,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense("saslkit")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if _, err := pb.NewPluginClient(raw.(*grpc.ClientConn)).Info(ctx, &pb.InfoRequest{}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-synced:
		if got != "Info was called\n" {
			t.Errorf("SyncStdout got %q", got)
		}
	case <-ctx.Done():
		t.Fatal("the plugin's print() never reached SyncStdout")
	}
}

// lineWriter sends what is written to it to ch, once.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	select {
	case w <- string(p):
	default:
	}
	return len(p), nil
}
