package interop

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	serverName   = "mail.example.test"
	oauthClient  = "interop-client"
	oauthSecret  = "cs-interop-secret"
	userAlice    = "alice@example.test"
	passwordOK   = "correct horse battery staple"
	startTimeout = 15 * time.Second
)

// introspection faults the proxy in front of the token server serves for a
// marked token.
const (
	faultNone = iota
	fault5xx
	faultDown
)

// dovecotEnv is one running Dovecot and everything it talks to, shared by
// every test of the binary.
type dovecotEnv struct {
	dir   string
	cmd   *exec.Cmd
	ended chan struct{}
	log   string

	oauth  *sasltest.OAuthServer
	proxy  *httptest.Server
	faults sync.Map // access token -> fault kind
	sink   net.Listener
	relays atomic.Int64

	tls    *tls.Config
	caFile string // the PEM of the CA that signed Dovecot's certificate

	imap, imaps, pop3, pop3s, submission, submissions string
}

var (
	envOnce sync.Once
	env     *dovecotEnv
	envErr  error
	envSkip string
)

func TestMain(m *testing.M) {
	// The subtests mostly wait on Dovecot (failures are flushed on a
	// 500 ms timer), not on the CPU: unless -parallel was given, run more
	// of them at once than GOMAXPROCS.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "16")
	}
	code := m.Run()
	if env != nil {
		env.stop()
	}
	if cliDir != "" {
		os.RemoveAll(cliDir)
	}
	os.Exit(code)
}

// dovecot returns the shared Dovecot, starting it on first use. Without
// dovecot installed it skips the test, or fails it when CI=true.
func dovecot(t *testing.T) *dovecotEnv {
	t.Helper()
	envOnce.Do(func() {
		if _, err := exec.LookPath("dovecot"); err != nil {
			envSkip = "dovecot not in PATH (Debian: apt-get install dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond)"
			return
		}
		if os.Geteuid() != 0 {
			envSkip = "the Dovecot suite runs dovecot as root (its login and mail users are dovenull, dovecot and nobody)"
			return
		}
		// The ports are chosen free but released before Dovecot binds
		// them; another process may take one meanwhile, so try again.
		for range 3 {
			if env, envErr = startDovecot(); envErr == nil {
				break
			}
		}
	})
	if envSkip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(envSkip)
		}
		t.Skip(envSkip)
	}
	if envErr != nil {
		t.Fatalf("starting dovecot: %v", envErr)
	}
	return env
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startDovecot() (e *dovecotEnv, err error) {
	dir, err := os.MkdirTemp(reachableTempDir(), "saslkit-interop-")
	if err != nil {
		return nil, err
	}
	e = &dovecotEnv{dir: dir, ended: make(chan struct{})}
	close(e.ended) // nothing running yet
	defer func() {
		if err != nil {
			e.stop()
			e = nil
		}
	}()
	// Dovecot's auth user and the mail user (nobody) must reach the files.
	if err := os.Chmod(dir, 0o711); err != nil {
		return e, err
	}
	for _, d := range []string{"run", "lib", "log", "etc", "tls"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return e, err
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "home"), 0o777); err != nil {
		return e, err
	}
	if err := os.Chmod(filepath.Join(dir, "home"), 0o777); err != nil {
		return e, err
	}

	certPEM, keyPEM, caPEM, pool, err := makeCert()
	if err != nil {
		return e, err
	}
	e.tls = &tls.Config{RootCAs: pool, ServerName: serverName}
	e.caFile = filepath.Join(dir, "tls", "ca.pem")
	if err := os.WriteFile(e.caFile, caPEM, 0o644); err != nil {
		return e, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "cert.pem"), certPEM, 0o644); err != nil {
		return e, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "key.pem"), keyPEM, 0o600); err != nil {
		return e, err
	}

	e.oauth = sasltest.NewOAuthServer(&sasltest.OAuthOptions{IntrospectionAuth: true})
	if err := e.oauth.AddClient(sasltest.OAuthClient{ID: oauthClient, Secret: oauthSecret}); err != nil {
		return e, err
	}
	e.proxy = httptest.NewServer(http.HandlerFunc(e.introspect))

	e.sink, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, err
	}
	go e.serveSink()

	ports, err := freePorts(6)
	if err != nil {
		return e, err
	}
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	e.imap, e.imaps, e.pop3, e.pop3s, e.submission, e.submissions =
		addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3]), addr(ports[4]), addr(ports[5])

	users := fmt.Sprintf("%s:{PLAIN}%s::::::\nbob@example.test:{PLAIN}other-password::::::\n", userAlice, passwordOK)
	if err := os.WriteFile(filepath.Join(dir, "etc", "users.passwd"), []byte(users), 0o644); err != nil {
		return e, err
	}
	oauthConf := fmt.Sprintf(`introspection_mode = post
introspection_url = %s/introspect
client_id = %s
client_secret = %s
username_attribute = username
username_format = %%Lu
active_attribute = active
active_value = true
scope = mail
timeout_msecs = 5000
`, e.proxy.URL, oauthClient, oauthSecret)
	if err := os.WriteFile(filepath.Join(dir, "etc", "dovecot-oauth2.conf.ext"), []byte(oauthConf), 0o644); err != nil {
		return e, err
	}
	sinkPort := e.sink.Addr().(*net.TCPAddr).Port
	conf := fmt.Sprintf(`protocols = imap pop3 submission
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/lib
instance_name = interop-%[2]s
log_path = %[1]s/log/dovecot.log
info_log_path = %[1]s/log/dovecot.log
debug_log_path = %[1]s/log/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256 xoauth2 oauthbearer
auth_cache_size = 0
auth_failure_delay = 0
hostname = %[3]s
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %[1]s/etc/dovecot-oauth2.conf.ext
}
passdb {
  driver = passwd-file
  mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
  args = scheme=PLAIN username_format=%%Lu %[1]s/etc/users.passwd
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[1]s/home/%%Lu
}
mail_location = maildir:~/Maildir
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    port = %[4]d
  }
  inet_listener imaps {
    port = %[5]d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %[6]d
  }
  inet_listener pop3s {
    port = %[7]d
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    port = %[8]d
  }
  inet_listener submissions {
    port = %[9]d
    ssl = yes
  }
}
ssl = yes
ssl_cert = <%[1]s/tls/cert.pem
ssl_key = <%[1]s/tls/key.pem
submission_relay_host = 127.0.0.1
submission_relay_port = %[10]d
submission_relay_trusted = yes
submission_relay_ssl = no
default_internal_user = dovecot
default_login_user = dovenull
`, dir, filepath.Base(dir), serverName, ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], sinkPort)
	if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
		conf += "ssl_dh = </usr/share/dovecot/dh.pem\n"
	}
	confPath := filepath.Join(dir, "etc", "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return e, err
	}
	e.log = filepath.Join(dir, "log", "dovecot.log")

	var out bytes.Buffer
	cmd := exec.Command("dovecot", "-c", confPath, "-F")
	cmd.Stdout, cmd.Stderr = &out, &out
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return e, err
	}
	e.cmd = cmd
	e.ended = make(chan struct{})
	go func() { cmd.Wait(); close(e.ended) }()

	deadline := time.Now().Add(startTimeout)
	for _, a := range []string{e.imap, e.imaps, e.pop3, e.pop3s, e.submission, e.submissions} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-e.ended:
				return e, fmt.Errorf("dovecot exited: %s%s", out.String(), e.tail())
			default:
			}
			if time.Now().After(deadline) {
				return e, fmt.Errorf("dovecot did not listen on %s within %v: %v%s", a, startTimeout, err, e.tail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return e, nil
}

// reachableTempDir is os.TempDir when Dovecot's unprivileged users can
// traverse every directory above it, otherwise /tmp.
func reachableTempDir() string {
	d := os.TempDir()
	for p := d; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if p == filepath.Dir(p) {
			return d
		}
	}
}

// tail is the end of Dovecot's log, for failure messages.
func (e *dovecotEnv) tail() string {
	b, err := os.ReadFile(e.log)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\n--- dovecot.log ---\n" + string(b)
}

func (e *dovecotEnv) stop() {
	if e.cmd != nil && e.cmd.Process != nil {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.ended:
		case <-time.After(10 * time.Second):
			e.cmd.Process.Kill()
			<-e.ended
		}
	}
	if e.proxy != nil {
		e.proxy.Close()
	}
	if e.oauth != nil {
		e.oauth.Close()
	}
	if e.sink != nil {
		e.sink.Close()
	}
	os.RemoveAll(e.dir)
}

// introspect forwards Dovecot's introspection request to the token server,
// unless the token is marked to fail: then it answers 503 or drops the
// connection, as an endpoint that is down would.
func (e *dovecotEnv) introspect(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, _ := url.ParseQuery(string(body))
	if k, ok := e.faults.Load(form.Get("token")); ok {
		switch k.(int) {
		case fault5xx:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case faultDown:
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, e.oauth.IntrospectionURL(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}

// serveSink is the SMTP server submission relays to: it accepts every
// message and counts them.
func (e *dovecotEnv) serveSink() {
	for {
		c, err := e.sink.Accept()
		if err != nil {
			return
		}
		go e.sinkConn(c)
	}
}

func (e *dovecotEnv) sinkConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "220 sink.example.test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		switch verb {
		case "EHLO":
			fmt.Fprintf(c, "250-sink.example.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			fmt.Fprintf(c, "250 OK\r\n")
		case "DATA":
			fmt.Fprintf(c, "354 go ahead\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
			}
			e.relays.Add(1)
			fmt.Fprintf(c, "250 OK queued\r\n")
		case "QUIT":
			fmt.Fprintf(c, "221 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "502 not implemented\r\n")
		}
	}
}

// makeCert returns a certificate for serverName and 127.0.0.1 signed by a
// fresh CA, its key, the CA's certificate, and a pool trusting that CA.
func makeCert() (certPEM, keyPEM, caPEM []byte, pool *x509.CertPool, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "saslkit interop CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: serverName},
		DNSNames:     []string{serverName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return certPEM, keyPEM, caPEM, pool, nil
}
