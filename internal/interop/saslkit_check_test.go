package interop

// The saslkit check cases run the saslkit program itself, built once from
// cmd/saslkit, against the shared Dovecot: an accounts file written by the
// test, refresh tokens stored as "saslkit authorize" stores them, and the
// command's text and JSON output read as a person and a script would.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	// cliClient is the OAuth client the accounts file names; its secret
	// is random and, like every secret here, must never be printed.
	cliClient = "saslkit-check"
	// The variables the accounts file takes its secrets from.
	cliSecretEnv   = "SASLKIT_INTEROP_CLIENT_SECRET"
	cliPasswordEnv = "SASLKIT_INTEROP_PASSWORD"
	cliWrongEnv    = "SASLKIT_INTEROP_WRONG_PASSWORD"
	// cliTimeout detects a hung check; a check against Dovecot on
	// loopback takes well under a second.
	cliTimeout = 2 * time.Minute
)

// dovecotAdvertised is what Dovecot advertises on every port: the
// harness's auth_mechanisms, in its order.
var dovecotAdvertised = []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER"}

var (
	cliOnce   sync.Once
	cliDir    string // removed by TestMain
	cliBin    string
	cliSecret string
	cliErr    error
)

// saslkitBinary builds cmd/saslkit once and registers its OAuth client
// with the shared Dovecot's token server.
func saslkitBinary(t *testing.T, e *dovecotEnv) string {
	t.Helper()
	cliOnce.Do(func() {
		cliSecret = rand.Text()
		if cliErr = e.oauth.AddClient(sasltest.OAuthClient{ID: cliClient, Secret: cliSecret}); cliErr != nil {
			return
		}
		if cliDir, cliErr = os.MkdirTemp("", "saslkit-interop-bin-"); cliErr != nil {
			return
		}
		// go test puts its own go first in PATH.
		goTool, err := exec.LookPath("go")
		if err != nil {
			cliErr = err
			return
		}
		bin := filepath.Join(cliDir, "saslkit")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/saslkit/saslkit/cmd/saslkit").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build cmd/saslkit: %v\n%s", err, out)
			return
		}
		cliBin = bin
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// checkEnv is an accounts file for one test: a token account "token" for
// user, whose stored token the test controls, and two password accounts
// for userAlice, "password" with her password and "wrong" with another.
type checkEnv struct {
	t        *testing.T
	e        *dovecotEnv
	bin      string
	dir      string
	config   string
	tokenDir string
	user     string
	wrong    string
	// secrets must appear in no output of the program; outputs is every
	// output, checked when the test ends, once the secrets are all known.
	secrets []string
	outputs [][2]string // what, text
}

// newCheckEnv writes the accounts file; the token account's scopes are
// scopes.
func newCheckEnv(t *testing.T, user string, scopes ...string) *checkEnv {
	t.Helper()
	e := dovecot(t)
	c := &checkEnv{t: t, e: e, bin: saslkitBinary(t, e), dir: t.TempDir(), user: user, wrong: "wrong-" + rand.Text()}
	c.config = filepath.Join(c.dir, "accounts.toml")
	c.tokenDir = filepath.Join(c.dir, "tokens")
	c.secrets = []string{cliSecret, passwordOK, c.wrong}
	sc, err := json.Marshal(scopes)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`token_dir = %[1]q

[accounts.token]
user = %[2]q
provider = "oauth2"
client_id = %[3]q
client_secret_env = %[4]q
auth_url = %[5]q
token_url = %[6]q
scopes = %[7]s
ca_file = %[8]q
imap = "imaps://127.0.0.1:%[9]s"
pop3 = "pop3s://127.0.0.1:%[10]s"
smtp = "smtps://127.0.0.1:%[11]s"

[accounts.password]
user = %[12]q
provider = "password"
password_env = %[13]q
ca_file = %[8]q

[accounts.wrong]
user = %[12]q
provider = "password"
password_env = %[14]q
ca_file = %[8]q
`, c.tokenDir, user, cliClient, cliSecretEnv, e.oauth.AuthURL(), e.oauth.TokenURL(), sc, e.caFile,
		portOf(e.imaps), portOf(e.pop3s), portOf(e.submissions), userAlice, cliPasswordEnv, cliWrongEnv)
	if err := os.WriteFile(c.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The token the last check left stored is in play too.
		if tok, err := providers.NewFileStore(c.tokenDir, nil).Load(context.Background(), "token"); err == nil {
			c.secrets = append(c.secrets, tok.AccessToken, tok.RefreshToken)
		}
		for _, out := range c.outputs {
			c.noSecrets(out[0], out[1])
		}
	})
	return c
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// seed stores a token for the token account as "saslkit authorize" does,
// issued for the account's user with scopes; expired makes its access
// token look expired to saslkit, so that the check refreshes it.
func (c *checkEnv) seed(expired bool, scopes ...string) *oauth2.Token {
	c.t.Helper()
	tok, err := c.e.oauth.IssueToken(cliClient, c.user, scopes...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.secrets = append(c.secrets, tok.AccessToken, tok.RefreshToken)
	stored := *tok
	if expired {
		stored.Expiry = time.Now().Add(-time.Minute)
	}
	c.save(&stored)
	return tok
}

// save stores tok for the token account.
func (c *checkEnv) save(tok *oauth2.Token) {
	c.t.Helper()
	if err := providers.NewFileStore(c.tokenDir, nil).Save(context.Background(), "token", nil, tok); err != nil {
		c.t.Fatal(err)
	}
}

// stored returns the token account's stored token.
func (c *checkEnv) stored() *oauth2.Token {
	c.t.Helper()
	tok, err := providers.NewFileStore(c.tokenDir, nil).Load(context.Background(), "token")
	if err != nil {
		c.t.Fatal(err)
	}
	c.secrets = append(c.secrets, tok.AccessToken, tok.RefreshToken)
	return tok
}

// run runs saslkit with args and returns its exit code and output.
func (c *checkEnv) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(c.dir, "config"),
		"XDG_STATE_HOME=" + filepath.Join(c.dir, "state"),
		"NO_COLOR=1",
		"SASLKIT_CONFIG=" + c.config,
		cliSecretEnv + "=" + cliSecret,
		cliPasswordEnv + "=" + passwordOK,
		cliWrongEnv + "=" + c.wrong,
	}
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("running saslkit %v: %v", args, err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("saslkit %v did not finish in %v; output:\n%s%s", args, cliTimeout, out.String(), errb.String())
	}
	what := "saslkit " + strings.Join(args, " ")
	c.outputs = append(c.outputs, [2]string{what + ": standard output", out.String()}, [2]string{what + ": standard error", errb.String()})
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// noSecrets fails the test if s holds a secret, as it is or inside a
// base64 word (an authentication payload that escaped redaction).
func (c *checkEnv) noSecrets(what, s string) {
	c.t.Helper()
	texts := []string{s}
	for _, w := range base64Word.FindAllString(s, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(w); err == nil {
				texts = append(texts, string(b))
			}
		}
	}
	for _, sec := range c.secrets {
		for _, t := range texts {
			if sec != "" && strings.Contains(t, sec) {
				c.t.Errorf("%s holds a secret (%.4s…)", what, sec)
			}
		}
	}
}

var base64Word = regexp.MustCompile(`[A-Za-z0-9+/]{16,}={0,2}`)

// checkReport is the object check --json prints for one server
// (docs/cli.md lists its fields).
type checkReport struct {
	URL       string `json:"url"`
	Account   string `json:"account"`
	User      string `json:"user"`
	Protocol  string `json:"protocol"`
	StartTLS  bool   `json:"starttls"`
	Address   string `json:"address"`
	Connected bool   `json:"connected"`
	TLS       *struct {
		Version     string `json:"version"`
		CipherSuite string `json:"cipher_suite"`
		Verified    bool   `json:"verified"`
		VerifyError string `json:"verify_error"`
		Certificate *struct {
			Subject   string   `json:"subject"`
			Issuer    string   `json:"issuer"`
			NotBefore string   `json:"not_before"`
			NotAfter  string   `json:"not_after"`
			Names     []string `json:"names"`
		} `json:"certificate"`
	} `json:"tls"`
	Advertised []string `json:"advertised"`
	Mechanism  string   `json:"mechanism"`
	Reason     string   `json:"reason"`
	PassedOver []struct {
		Mechanism string `json:"mechanism"`
		Reason    string `json:"reason"`
	} `json:"passed_over"`
	Authenticated bool   `json:"authenticated"`
	TokenExpiry   string `json:"token_expiry"`
	Failure       *struct {
		Stage       string `json:"stage"`
		Kind        string `json:"kind"`
		Error       string `json:"error"`
		Explanation string `json:"explanation"`
		ServerCode  string `json:"server_code"`
		ServerText  string `json:"server_text"`
	} `json:"failure"`
	ExitCode   int      `json:"exit_code"`
	Transcript []string `json:"transcript"`
}

// checkFacts are the facts check's text output states; the JSON object
// must state the same.
type checkFacts struct {
	URL, User, Account, Address string
	Upgrade                     string // "", STARTTLS or STLS
	TLSVersion, CipherSuite     string
	Subject, Issuer, NotAfter   string
	Names                       []string
	Verified                    bool
	Advertised                  []string
	Mechanism, Reason           string
	PassedOver                  []string // "MECH: reason", sorted
	Authenticated               bool
	TokenExpiry                 string
	Stage                       string
	ExitCode                    int
	Error, Explanation          string
	Transcript                  []string
}

func (r *checkReport) facts() *checkFacts {
	f := &checkFacts{URL: r.URL, User: r.User, Account: r.Account, Address: r.Address, Advertised: r.Advertised,
		Mechanism: r.Mechanism, Reason: r.Reason, Authenticated: r.Authenticated, TokenExpiry: r.TokenExpiry,
		ExitCode: r.ExitCode, Transcript: r.Transcript}
	if r.StartTLS {
		f.Upgrade = "STARTTLS"
		if r.Protocol == "POP3" {
			f.Upgrade = "STLS"
		}
	}
	if t := r.TLS; t != nil {
		f.TLSVersion, f.CipherSuite, f.Verified = t.Version, t.CipherSuite, t.Verified
		if c := t.Certificate; c != nil {
			f.Subject, f.Issuer, f.NotAfter, f.Names = c.Subject, c.Issuer, c.NotAfter, c.Names
		}
	}
	for _, p := range r.PassedOver {
		f.PassedOver = append(f.PassedOver, p.Mechanism+": "+p.Reason)
	}
	slices.Sort(f.PassedOver)
	if r.Failure != nil {
		f.Stage, f.Error, f.Explanation = r.Failure.Stage, r.Failure.Error, r.Failure.Explanation
	}
	return f
}

var (
	textHeader     = regexp.MustCompile(`^Checking (\S+) as (\S+) \(account (\S+)\)$`)
	textConnection = regexp.MustCompile(`^(\S+), (?:TLS from the first byte|upgraded with (STARTTLS|STLS))$`)
	textTLS        = regexp.MustCompile(`^(TLS [0-9.]+), (\S+)$`)
	textValid      = regexp.MustCompile(`^valid until (\S+), for (.+)$`)
	textOK         = regexp.MustCompile(`^OK, authenticated as (\S+?)(?:; the token, and so the session, ends at (\S+))?$`)
	textFailed     = regexp.MustCompile(`^FAILED at (\S+) \(exit (\d+)\): (.+)$`)
)

// parseCheckText reads the facts of check's text output for one server:
// a header, then "  LABEL       value" lines (12 columns of label; a
// blank label continues the one above), the transcript indented by four.
func parseCheckText(t *testing.T, out string) *checkFacts {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	m := textHeader.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("no header in check's output:\n%s", out)
	}
	f := &checkFacts{URL: m[1], User: m[2], Account: m[3]}
	label, inTranscript, certLine := "", false, 0
	bad := func(l string) { t.Fatalf("unexpected line %q in check's output:\n%s", l, out) }
	for _, l := range lines[1:] {
		if inTranscript && strings.HasPrefix(l, "    ") {
			f.Transcript = append(f.Transcript, l[4:])
			continue
		}
		inTranscript = false
		if len(l) < 14 || !strings.HasPrefix(l, "  ") {
			bad(l)
		}
		if l[2] != ' ' {
			label = strings.TrimSpace(l[2:14])
		} else if strings.TrimSpace(l[:14]) != "" {
			bad(l)
		}
		v := l[14:]
		switch label {
		case "connection":
			m := textConnection.FindStringSubmatch(v)
			if m == nil {
				bad(l)
			}
			f.Address, f.Upgrade = m[1], m[2]
		case "TLS":
			m := textTLS.FindStringSubmatch(v)
			if m == nil {
				bad(l)
			}
			f.TLSVersion, f.CipherSuite = m[1], m[2]
		case "certificate":
			certLine++
			switch certLine {
			case 1:
				f.Subject = v
			case 2:
				f.Issuer = strings.TrimPrefix(v, "issued by ")
			case 3:
				m := textValid.FindStringSubmatch(v)
				if m == nil {
					bad(l)
				}
				f.NotAfter, f.Names = m[1], strings.Split(m[2], ", ")
			default:
				bad(l)
			}
		case "verified":
			f.Verified = v == "yes"
		case "mechanisms":
			if v != "(none)" {
				f.Advertised = strings.Fields(v)
			}
		case "chosen":
			f.Mechanism, f.Reason, _ = strings.Cut(v, ": ")
		case "passed over":
			f.PassedOver = append(f.PassedOver, v)
		case "transcript":
			inTranscript = true
		case "result":
			if m := textOK.FindStringSubmatch(v); m != nil {
				f.Authenticated, f.TokenExpiry = true, m[2]
			} else if m := textFailed.FindStringSubmatch(v); m != nil {
				f.Stage, f.Error = m[1], m[3]
				fmt.Sscan(m[2], &f.ExitCode)
			} else {
				bad(l)
			}
		case "what to do":
			f.Explanation = v
		default:
			bad(l)
		}
	}
	slices.Sort(f.PassedOver)
	return f
}

// checkBoth runs check with args twice, for text and with --json, and
// fails the test unless both exit alike, print nothing on standard error
// and state the same facts (the text states the exit code of a failure
// only; a success is 0). between, when not nil, runs between the two,
// to restore what the first changed. Transcripts differ between two runs
// (SCRAM nonces, Dovecot's timings), so they only have to be there or not
// alike.
func (c *checkEnv) checkBoth(between func(), args ...string) (code int, f *checkFacts, r *checkReport) {
	c.t.Helper()
	code, out, errOut := c.run(append([]string{"check"}, args...)...)
	if errOut != "" {
		c.t.Errorf("check %v wrote to standard error: %q", args, errOut)
	}
	f = parseCheckText(c.t, out)
	if between != nil {
		between()
	}
	jcode, r := c.checkJSON(args...)
	if code != jcode || r.ExitCode != code || f.ExitCode != code {
		c.t.Errorf("check %v exited %d with text (whose result says %d), %d with --json (exit_code %d)", args, code, f.ExitCode, jcode, r.ExitCode)
	}
	sameFacts(c.t, fmt.Sprint("check ", args), f, r, out)
	return code, f, r
}

// sameFacts fails the test unless f, read from the text output out, and
// the --json object r state the same facts.
func sameFacts(t *testing.T, what string, f *checkFacts, r *checkReport, out string) {
	t.Helper()
	if f.Authenticated == (f.Stage != "") {
		t.Fatalf("%s: the text output states not exactly one of success and failure:\n%s", what, out)
	}
	tf, tj := *f, *r.facts()
	if (len(tf.Transcript) == 0) != (len(tj.Transcript) == 0) {
		t.Errorf("%s: a transcript in one output only: text %d lines, --json %d", what, len(tf.Transcript), len(tj.Transcript))
	}
	tf.Transcript, tj.Transcript = nil, nil
	if d := diffFacts(&tf, &tj); d != "" {
		t.Errorf("%s: text and --json disagree:\n%s\ntext output:\n%s", what, d, out)
	}
}

// checkJSON runs check --json with args and decodes its object.
func (c *checkEnv) checkJSON(args ...string) (int, *checkReport) {
	c.t.Helper()
	code, out, errOut := c.run(append([]string{"check", "--json"}, args...)...)
	if errOut != "" {
		c.t.Errorf("check --json %v wrote to standard error: %q", args, errOut)
	}
	var r checkReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		c.t.Fatalf("check --json %v printed no JSON object (%v):\n%s", args, err, out)
	}
	return code, &r
}

// diffFacts shows a and b when they state different facts.
func diffFacts(a, b *checkFacts) string {
	for _, f := range []*checkFacts{a, b} {
		for _, l := range []*[]string{&f.Names, &f.Advertised, &f.PassedOver} {
			if len(*l) == 0 {
				*l = nil
			}
		}
	}
	ja, _ := json.MarshalIndent(a, "", "  ")
	jb, _ := json.MarshalIndent(b, "", "  ")
	if bytes.Equal(ja, jb) {
		return ""
	}
	return "text says:\n" + string(ja) + "\n--json says:\n" + string(jb)
}

// dovecotTarget is one of Dovecot's listeners as a check URL, with the
// lines Dovecot answers there.
type dovecotTarget struct {
	name, url, addr string
	upgrade         string // "", STARTTLS or STLS
	greeting        *regexp.Regexp
	advertised      string   // the line advertising the mechanisms
	mechanisms      []string // the list check reports
	loggedIn        *regexp.Regexp
	failed          string // the final answer to a failed authentication
	serverCode      string // failure.server_code for it
}

func dovecotTargets(e *dovecotEnv) []dovecotTarget {
	var imapAdv, saslAdv []string
	for _, m := range dovecotAdvertised {
		imapAdv = append(imapAdv, "AUTH="+m)
	}
	saslAdv = dovecotAdvertised
	// IMAP capabilities form a set: the IMAP adapter negotiates from, and
	// check reports, its AUTH= capabilities in alphabetical order.
	sorted := slices.Sorted(slices.Values(dovecotAdvertised))
	imap := dovecotTarget{
		greeting:   regexp.MustCompile(`^\* OK \[CAPABILITY .*\] Dovecot.* ready\.$`),
		advertised: strings.Join(imapAdv, " "),
		mechanisms: sorted,
		loggedIn:   regexp.MustCompile(`^T\d+ OK \[CAPABILITY .*\] Logged in$`),
		failed:     " NO [AUTHENTICATIONFAILED] Authentication failed.",
		serverCode: "AUTHENTICATIONFAILED",
	}
	pop3 := dovecotTarget{
		greeting:   regexp.MustCompile(`^S: \+OK Dovecot.* ready\.$`),
		advertised: "S: SASL " + strings.Join(saslAdv, " "),
		mechanisms: dovecotAdvertised,
		loggedIn:   regexp.MustCompile(`^S: \+OK Logged in\.$`),
		failed:     "S: -ERR [AUTH] Authentication failed.",
		serverCode: "AUTH",
	}
	smtp := dovecotTarget{
		greeting:   regexp.MustCompile(`^220 ` + regexp.QuoteMeta(serverName) + ` Dovecot.* ready\.$`),
		advertised: "250-AUTH " + strings.Join(saslAdv, " "),
		mechanisms: dovecotAdvertised,
		loggedIn:   regexp.MustCompile(`^235 2\.7\.0 Logged in\.$`),
		failed:     "535 5.7.8 Authentication failed.",
		serverCode: "535",
	}
	at := func(base dovecotTarget, name, scheme, addr, upgrade string) dovecotTarget {
		base.name, base.url, base.addr, base.upgrade = name, scheme+"://"+addr, addr, upgrade
		return base
	}
	return []dovecotTarget{
		at(imap, "imaps", "imaps", e.imaps, ""),
		at(imap, "imap", "imap", e.imap, "STARTTLS"),
		at(pop3, "pop3s", "pop3s", e.pop3s, ""),
		at(pop3, "pop3", "pop3", e.pop3, "STLS"),
		at(smtp, "smtps", "smtps", e.submissions, ""),
		at(smtp, "smtp", "smtp", e.submission, "STARTTLS"),
	}
}

// authCommand matches the command that starts an authentication in any of
// the three transcripts.
var authCommand = regexp.MustCompile(`^(?:T\d+ AUTHENTICATE|C: AUTH|AUTH) (\S+)`)

// checkTranscript fails the test unless the transcript holds Dovecot's
// greeting (when the connection was TLS from the start, or for POP3, whose
// client shows the clear-text part too), its mechanism list as Dovecot
// sends it, authCommands AUTH commands for mech, each with its payload
// redacted, and Dovecot's failure answer failures times, then its success
// answer when ok.
func (tg *dovecotTarget) checkTranscript(t *testing.T, transcript []string, mech string, authCommands, failures int, ok bool) {
	t.Helper()
	text := strings.Join(transcript, "\n")
	greeted, advertised, auths, failed, loggedIn := false, false, 0, 0, false
	for _, l := range transcript {
		greeted = greeted || tg.greeting.MatchString(l)
		advertised = advertised || strings.Contains(l, tg.advertised)
		if m := authCommand.FindStringSubmatch(l); m != nil {
			auths++
			if m[1] != mech || !strings.HasSuffix(l, " [REDACTED]") {
				t.Errorf("authentication command %q, want %s with its payload redacted", l, mech)
			}
		}
		if strings.HasSuffix(l, tg.failed) {
			failed++
		}
		loggedIn = loggedIn || tg.loggedIn.MatchString(l)
	}
	if !greeted && (tg.upgrade == "" || tg.upgrade == "STLS") {
		t.Errorf("the transcript lacks Dovecot's greeting:\n%s", text)
	}
	if !advertised {
		t.Errorf("the transcript lacks Dovecot's line %q:\n%s", tg.advertised, text)
	}
	if auths != authCommands || failed != failures || loggedIn != ok {
		t.Errorf("the transcript shows %d authentication commands, %d failures (%q), logged in %v; want %d, %d, %v:\n%s",
			auths, failed, tg.failed, loggedIn, authCommands, failures, ok, text)
	}
}

// dovecotTLS is what a TLS client of our own sees on Dovecot's implicit
// TLS port: check must report the same version, cipher suite and
// certificate.
func dovecotTLS(t *testing.T, e *dovecotEnv) (version, suite string, cert *x509.Certificate) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(e.dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		t.Fatal("tls/cert.pem holds no PEM block")
	}
	if cert, err = x509.ParseCertificate(b.Bytes); err != nil {
		t.Fatal(err)
	}
	cfg := e.tls.Clone()
	cfg.ServerName, cfg.MinVersion = "127.0.0.1", tls.VersionTLS12
	d := &tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", e.imaps)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	return tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), cert
}

// checkConnection fails the test unless f states tg's connection as it is:
// the URL, address and upgrade, the TLS version and cipher suite, the
// certificate Dovecot presents, verified, and the mechanisms Dovecot
// advertises (in its order, but for IMAP's set).
func checkConnection(t *testing.T, f *checkFacts, tg *dovecotTarget, version, suite string, cert *x509.Certificate) {
	t.Helper()
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	got := []string{f.URL, f.Address, f.Upgrade, f.TLSVersion, f.CipherSuite, f.Subject, f.Issuer, f.NotAfter, strings.Join(f.Names, ", "), strings.Join(f.Advertised, " ")}
	want := []string{tg.url, tg.addr, tg.upgrade, version, suite, cert.Subject.String(), cert.Issuer.String(),
		cert.NotAfter.UTC().Format(time.RFC3339), strings.Join(names, ", "), strings.Join(tg.mechanisms, " ")}
	if !slices.Equal(got, want) || !f.Verified {
		t.Errorf("check reported url, address, upgrade, TLS, cipher suite, subject, issuer, expiry, names, mechanisms\n%q\nwant\n%q\nverified %v", got, want, f.Verified)
	}
}

// TestDovecotCheckTokenAccount runs saslkit check with an OAuth 2.0
// account against every Dovecot listener. The stored access token has
// expired, so each check refreshes it once and authenticates with the
// fresh token; the second run (--json) reuses it.
func TestDovecotCheckTokenAccount(t *testing.T) {
	e := dovecot(t)
	version, suite, cert := dovecotTLS(t, e)
	targets := dovecotTargets(e)
	refreshes := e.oauth.Requests("refresh_token")
	t.Run("servers", func(t *testing.T) {
		for _, tg := range targets {
			t.Run(tg.name, func(t *testing.T) {
				t.Parallel()
				c := newCheckEnv(t, "check-"+tg.name+"@example.test", "mail")
				seeded := c.seed(true, "mail")
				code, f, r := c.checkBoth(nil, "-v", "--account", "token", tg.url)
				if code != 0 || !f.Authenticated || f.User != c.user || f.Account != "token" {
					t.Fatalf("exit %d, authenticated %v as %s (account %s); failure %+v", code, f.Authenticated, f.User, f.Account, r.Failure)
				}
				checkConnection(t, f, &tg, version, suite, cert)
				if f.Mechanism != "OAUTHBEARER" || !strings.Contains(f.Reason, "bearer secret") {
					t.Errorf("chosen %s: %s; want OAUTHBEARER, the strongest token mechanism", f.Mechanism, f.Reason)
				}
				for _, stronger := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256"} {
					if !slices.ContainsFunc(f.PassedOver, func(p string) bool { return strings.HasPrefix(p, stronger+": ") }) {
						t.Errorf("%s, stronger and advertised, is not among the passed over: %q", stronger, f.PassedOver)
					}
				}
				stored := c.stored()
				info, ok := e.oauth.Lookup(stored.AccessToken)
				if stored.AccessToken == seeded.AccessToken || !ok || !info.Active || info.Grant != "refresh_token" || info.User != c.user {
					t.Errorf("the stored access token is not a fresh one from a refresh: %+v (known %v)", info, ok)
				}
				if want := stored.Expiry.UTC().Format(time.RFC3339); f.TokenExpiry != want {
					t.Errorf("token expiry %q, want the stored token's %q", f.TokenExpiry, want)
				}
				tg.checkTranscript(t, r.Transcript, "OAUTHBEARER", 1, 0, true)
			})
		}
	})
	if n := e.oauth.Requests("refresh_token") - refreshes; n != len(targets) {
		t.Errorf("%d refresh requests for %d checks of expired tokens and %d of fresh ones, want one each of the first", n, len(targets), len(targets))
	}
}

// TestDovecotCheckPasswordAccount runs saslkit check with a password
// account (the password from an environment variable) against every
// Dovecot listener: SCRAM-SHA-256, the strongest mechanism Dovecot offers,
// succeeds; a wrong password exits 3 and says so.
func TestDovecotCheckPasswordAccount(t *testing.T) {
	e := dovecot(t)
	version, suite, cert := dovecotTLS(t, e)
	for _, tg := range dovecotTargets(e) {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			c := newCheckEnv(t, "check-unused@example.test", "mail")
			code, f, r := c.checkBoth(nil, "-v", "--account", "password", tg.url)
			if code != 0 || !f.Authenticated || f.User != userAlice || f.Account != "password" || f.TokenExpiry != "" {
				t.Fatalf("exit %d, authenticated %v as %s (account %s), token expiry %q; failure %+v", code, f.Authenticated, f.User, f.Account, f.TokenExpiry, r.Failure)
			}
			checkConnection(t, f, &tg, version, suite, cert)
			if f.Mechanism != "SCRAM-SHA-256" || !strings.Contains(f.Reason, "the server proves it knows the password") {
				t.Errorf("chosen %s: %s; want SCRAM-SHA-256 with mutual authentication", f.Mechanism, f.Reason)
			}
			tg.checkTranscript(t, r.Transcript, "SCRAM-SHA-256", 1, 0, true)
		})
		t.Run(tg.name+"/wrong-password", func(t *testing.T) {
			t.Parallel()
			c := newCheckEnv(t, "check-unused@example.test", "mail")
			code, f, r := c.checkBoth(nil, "-v", "--account", "wrong", tg.url)
			if code != 3 || f.Authenticated || r.Failure == nil {
				t.Fatalf("exit %d, authenticated %v, failure %+v; want exit 3", code, f.Authenticated, r.Failure)
			}
			checkConnection(t, f, &tg, version, suite, cert)
			if f.Mechanism != "SCRAM-SHA-256" || f.Stage != "authenticate" || r.Failure.Kind != "rejected" || r.Failure.ServerCode != tg.serverCode ||
				!strings.Contains(f.Explanation, "The server refused the user name or password.") {
				t.Errorf("mechanism %s, failure %+v", f.Mechanism, r.Failure)
			}
			tg.checkTranscript(t, r.Transcript, "SCRAM-SHA-256", 1, 1, false)
		})
	}
}

// TestDovecotCheckRevokedToken: what check does when Dovecot refuses the
// stored access token, depending on what the token server still grants.
// Each case runs on one listener per protocol.
func TestDovecotCheckRevokedToken(t *testing.T) {
	e := dovecot(t)
	var targets []dovecotTarget
	for _, tg := range dovecotTargets(e) {
		if tg.name == "imaps" || tg.name == "pop3" || tg.name == "smtp" {
			targets = append(targets, tg)
		}
	}
	refreshes, issued := e.oauth.Requests("refresh_token"), e.oauth.Issued("refresh_token")
	t.Run("cases", func(t *testing.T) {
		for _, tg := range targets {
			// The access token alone is revoked: Dovecot refuses it, check
			// refreshes it once and signs in with the fresh one.
			t.Run(tg.name+"/access-token-revoked", func(t *testing.T) {
				t.Parallel()
				c := newCheckEnv(t, "revoked-at-"+tg.name+"@example.test", "mail")
				seeded := c.seed(false, "mail")
				e.oauth.Revoke(seeded.AccessToken)
				code, r := c.checkJSON("-v", "--account", "token", tg.url)
				if code != 0 || !r.Authenticated || r.Mechanism != "OAUTHBEARER" || r.ExitCode != 0 {
					t.Fatalf("exit %d, authenticated %v with %s, failure %+v", code, r.Authenticated, r.Mechanism, r.Failure)
				}
				stored := c.stored()
				if info, _ := e.oauth.Lookup(stored.AccessToken); !info.Active || info.Grant != "refresh_token" {
					t.Errorf("the stored token is not the refreshed one: %+v", info)
				}
				if want := stored.Expiry.UTC().Format(time.RFC3339); r.TokenExpiry != want {
					t.Errorf("token expiry %q, want the fresh token's %q", r.TokenExpiry, want)
				}
				tg.checkTranscript(t, r.Transcript, "OAUTHBEARER", 2, 1, true)
			})
			// The whole grant is revoked: the refresh after Dovecot's
			// refusal gets invalid_grant, and check says to authorize
			// again (docs/cli.md: authorization_needed, exit 3).
			t.Run(tg.name+"/grant-revoked", func(t *testing.T) {
				t.Parallel()
				c := newCheckEnv(t, "revoked-grant-"+tg.name+"@example.test", "mail")
				seeded := c.seed(false, "mail")
				e.oauth.RevokeUser(c.user)
				// The refused refresh token is deleted (docs/providers.md):
				// store it again for the --json run.
				code, f, r := c.checkBoth(func() { c.save(seeded) }, "-v", "--account", "token", tg.url)
				if code != 3 || f.Authenticated || r.Failure == nil {
					t.Fatalf("exit %d, authenticated %v, failure %+v; want exit 3", code, f.Authenticated, r.Failure)
				}
				if r.Failure.Kind != "authorization_needed" || f.Stage != "token" ||
					!strings.Contains(f.Explanation, "The refresh token is no longer valid") || !strings.Contains(f.Explanation, "run 'saslkit authorize token'") {
					t.Errorf("failure %+v", r.Failure)
				}
				tg.checkTranscript(t, r.Transcript, "OAUTHBEARER", 1, 1, false)
				if _, err := providers.NewFileStore(c.tokenDir, nil).Load(context.Background(), "token"); !errors.Is(err, providers.ErrNotFound) {
					t.Fatalf("the refused refresh token is still stored (%v)", err)
				}
				// The next check shows the server, then says so at the
				// token stage, before anything is sent to authenticate.
				code, r = c.checkJSON("-v", "--account", "token", tg.url)
				if code != 3 || !r.Connected || r.Authenticated || r.Failure == nil || r.Failure.Kind != "authorization_needed" || r.Failure.Stage != "token" ||
					!strings.Contains(r.Failure.Explanation, "No refresh token is stored for account token") {
					t.Errorf("check after the refusal: exit %d, connected %v, failure %+v", code, r.Connected, r.Failure)
				}
				tg.checkTranscript(t, r.Transcript, "OAUTHBEARER", 0, 0, false)
			})
			// The token server issues tokens Dovecot does not accept (a
			// scope other than "mail"): check retries once with a fresh
			// token, then explains the 401-style refusal.
			t.Run(tg.name+"/refused-twice", func(t *testing.T) {
				t.Parallel()
				c := newCheckEnv(t, "wrong-scope-"+tg.name+"@example.test", "calendar")
				seeded := c.seed(false, "calendar")
				// Each run refreshes: the first run's token is in play too.
				code, f, r := c.checkBoth(func() { c.stored() }, "-v", "--account", "token", tg.url)
				if code != 3 || f.Authenticated || r.Failure == nil {
					t.Fatalf("exit %d, authenticated %v, failure %+v; want exit 3", code, f.Authenticated, r.Failure)
				}
				if r.Failure.Kind != "rejected" || f.Stage != "authenticate" || f.Mechanism != "OAUTHBEARER" ||
					!strings.Contains(f.Explanation, "even the fresh one saslkit fetched after the first refusal") || !strings.Contains(f.Explanation, "'saslkit authorize token' again") {
					t.Errorf("mechanism %s, failure %+v", f.Mechanism, r.Failure)
				}
				if stored := c.stored(); stored.AccessToken == seeded.AccessToken {
					t.Error("the stored access token was not refreshed after Dovecot's first refusal")
				}
				tg.checkTranscript(t, r.Transcript, "OAUTHBEARER", 2, 2, false)
			})
		}
	})
	// One refresh per check that finds a stored token: the access-token
	// case checks once, the others twice (text and --json); only the
	// grant case's are refused.
	n := len(targets)
	if got, want := e.oauth.Requests("refresh_token")-refreshes, 5*n; got != want {
		t.Errorf("%d refresh requests, want %d (one per check)", got, want)
	}
	if got, want := e.oauth.Issued("refresh_token")-issued, 3*n; got != want {
		t.Errorf("%d refreshes granted, want %d", got, want)
	}
}

// TestDovecotCheckAccountServers checks every server an account lists
// (check ACCOUNT): one block of text per server, a "results" array with
// --json, the expired token refreshed once for all of them.
func TestDovecotCheckAccountServers(t *testing.T) {
	e := dovecot(t)
	version, suite, cert := dovecotTLS(t, e)
	c := newCheckEnv(t, "check-account@example.test", "mail")
	c.seed(true, "mail")
	refreshes := e.oauth.Requests("refresh_token")

	code, out, errOut := c.run("check", "token")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	jcode, jout, jerrOut := c.run("check", "--json", "token")
	if jcode != 0 || jerrOut != "" {
		t.Fatalf("--json: exit %d, stderr %q, stdout:\n%s", jcode, jerrOut, jout)
	}
	var all struct {
		Results []*checkReport `json:"results"`
	}
	if err := json.Unmarshal([]byte(jout), &all); err != nil {
		t.Fatalf("check --json token printed no results object (%v):\n%s", err, jout)
	}
	// The account lists the implicit TLS servers, checked as imap, pop3,
	// smtp.
	var want []dovecotTarget
	for _, tg := range dovecotTargets(e) {
		if tg.upgrade == "" {
			want = append(want, tg)
		}
	}
	blocks := strings.Split(strings.TrimRight(out, "\n"), "\n\n")
	if len(blocks) != len(want) || len(all.Results) != len(want) {
		t.Fatalf("%d blocks of text and %d JSON results, want %d:\n%s\n%s", len(blocks), len(all.Results), len(want), out, jout)
	}
	for i, tg := range want {
		f := parseCheckText(t, blocks[i])
		sameFacts(t, "check token, "+tg.url, f, all.Results[i], blocks[i])
		checkConnection(t, f, &tg, version, suite, cert)
		if !f.Authenticated || f.Mechanism != "OAUTHBEARER" || f.Account != "token" || f.User != c.user {
			t.Errorf("%s: authenticated %v with %s as %s (account %s)", tg.url, f.Authenticated, f.Mechanism, f.User, f.Account)
		}
	}
	if n := e.oauth.Requests("refresh_token") - refreshes; n != 1 {
		t.Errorf("%d refresh requests for an expired token and six checks, want 1", n)
	}
}
