package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// checkJSON runs check --json with args and decodes its result.
func (e *cliEnv) checkJSON(args ...string) (int, *checkResult, string) {
	e.t.Helper()
	code, out, errOut := e.run(append([]string{"check", "--json"}, args...)...)
	var r checkResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("check --json %v: %v; stdout %q, stderr %q", args, err, out, errOut)
	}
	e.noSecrets("check's stdout", out)
	e.noSecrets("check's stderr", errOut)
	return code, &r, errOut
}

// TestCheckEveryProtocol checks each protocol in each TLS mode.
func TestCheckEveryProtocol(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)
	for _, tc := range []struct {
		scheme string
		p      sasltest.Protocol
		mode   sasltest.TLSMode
	}{
		{"imaps", sasltest.ProtocolIMAP, sasltest.ImplicitTLS},
		{"imap", sasltest.ProtocolIMAP, sasltest.StartTLS},
		{"smtps", sasltest.ProtocolSMTP, sasltest.ImplicitTLS},
		{"smtp", sasltest.ProtocolSMTP, sasltest.StartTLS},
		{"pop3s", sasltest.ProtocolPOP3, sasltest.ImplicitTLS},
		{"pop3", sasltest.ProtocolPOP3, sasltest.StartTLS},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			url := fmt.Sprintf("%s://%s@%s", tc.scheme, testUser, e.ms.Addr(tc.p, tc.mode))
			code, r, errOut := e.checkJSON(url)
			if code != 0 || !r.Authenticated || r.Failure != nil || r.ExitCode != 0 {
				t.Fatalf("exit %d, result %+v, failure %+v, stderr %q", code, r, r.Failure, errOut)
			}
			if r.Account != "test" || r.StartTLS != (tc.mode == sasltest.StartTLS) || r.Protocol != strings.ToUpper(string(tc.p)) {
				t.Errorf("result %+v", r)
			}
			if r.TLS == nil || !r.TLS.Verified || !strings.HasPrefix(r.TLS.Version, "TLS 1.") || r.TLS.CipherSuite == "" ||
				r.TLS.Certificate == nil || !strings.Contains(r.TLS.Certificate.Issuer, "sasltest CA") {
				t.Errorf("TLS %+v", r.TLS)
			}
			if strings.Join(r.Advertised, " ") == "" || !strings.Contains(" "+strings.Join(r.Advertised, " ")+" ", " OAUTHBEARER ") {
				t.Errorf("advertised %q", r.Advertised)
			}
			if r.Mechanism != "OAUTHBEARER" || !strings.Contains(r.Reason, "strongest") {
				t.Errorf("mechanism %q, reason %q", r.Mechanism, r.Reason)
			}
			if r.TokenExpiry == "" {
				t.Error("no token expiry")
			}
		})
	}
	if n := e.oauth.Requests("refresh_token"); n != 0 {
		t.Errorf("%d refreshes with a valid stored token", n)
	}
	if st := e.ms.AuthStats("", "OAUTHBEARER"); st.Succeeded != 6 {
		t.Errorf("server counted %+v, want 6 successes", st)
	}
}

// TestCheckAccountTarget checks every server of an account, in text.
func TestCheckAccountTarget(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)
	code, out, errOut := e.run("check", "test")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{"Checking imaps://", "Checking smtp://", "Checking pop3s://", "upgraded with STARTTLS",
		"TLS 1.3", "verified    yes", "chosen      OAUTHBEARER", "OK, authenticated as alice@example.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour on a pipe")
	}
	e.noSecrets("check's output", out)
}

// TestCheckVerbose: -v shows the transcript, with the exchange redacted.
func TestCheckVerbose(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, true) // so the check refreshes: a new token is in play
	for _, target := range []string{
		"imaps://" + e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS),
		"smtp://" + e.ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS),
		"pop3://" + e.ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS),
	} {
		code, out, errOut := e.run("check", "-v", target, "--account", "test")
		e.stored("test") // the refreshed token, now a secret to look for
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr %q, stdout:\n%s", target, code, errOut, out)
		}
		if !strings.Contains(out, "transcript") || !strings.Contains(out, "[REDACTED]") || !strings.Contains(strings.ToUpper(out), " OAUTHBEARER") {
			t.Errorf("%s: no redacted transcript:\n%s", target, out)
		}
		// The capability lists stay readable: Gmail's EHLO offers LOGIN
		// first.
		if strings.Contains(out, "LOGIN [REDACTED]") || strings.HasPrefix(target, "smtp:") && !strings.Contains(out, "250-AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER") {
			t.Errorf("%s: capability list redacted:\n%s", target, out)
		}
		e.noSecrets("check -v's stdout", out)
		e.noSecrets("check -v's stderr", errOut)
	}
	code, r, _ := e.checkJSON("-v", "imaps://"+e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS))
	if code != 0 || len(r.Transcript) < 3 {
		t.Errorf("check --json -v: exit %d, transcript %q", code, r.Transcript)
	}
}

// TestCheckRejected: servers refusing the token, each explained, exit 3.
func TestCheckRejected(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)

	// A Gmail-like server wanting a scope the token lacks: a 400 challenge.
	wrongScope, err := sasltest.NewMailServer(&sasltest.MailOptions{OAuth: e.oauth, Scopes: []string{"https://other.example/mail"}})
	if err != nil {
		t.Fatal(err)
	}
	defer wrongScope.Close()
	e.trust(wrongScope)
	// A Microsoft-like server: 535 5.7.3 without a reason.
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft, OAuth: e.oauth})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	e.trust(ms)
	for _, tc := range []struct {
		name, url string
		kind      string
		words     []string
	}{
		{"scope", "imaps://" + wrongScope.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), failRejected, []string{"lacks the scope", "https://other.example/mail", "saslkit authorize test"}},
		{"microsoft-smtp", "smtp://" + ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS), failRejected, []string{"without saying why", "SMTP.Send"}},
		{"microsoft-imap", "imaps://" + ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), failRejected, []string{"without saying why", "IMAP.AccessAsUser.All"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, r, _ := e.checkJSON("--account", "test", tc.url)
			if code != exitAuth || r.ExitCode != exitAuth || r.Authenticated || r.Failure == nil || r.Failure.Kind != tc.kind || r.Failure.Stage != "authenticate" {
				t.Fatalf("exit %d, result %+v, failure %+v", code, r, r.Failure)
			}
			for _, w := range tc.words {
				if !strings.Contains(r.Failure.Explanation, w) {
					t.Errorf("explanation lacks %q: %s", w, r.Failure.Explanation)
				}
			}
			if r.Mechanism == "" || len(r.Advertised) == 0 {
				t.Errorf("mechanism %q advertised %q", r.Mechanism, r.Advertised)
			}
		})
	}

	// A revoked grant: check says to authorize again before connecting
	// to anything.
	e.seed("test", testUser, true)
	e.oauth.RevokeUser(testUser)
	code, out, _ := e.run("check", "imaps://"+testUser+"@"+e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS))
	if code != exitAuth || !strings.Contains(out, "run 'saslkit authorize test'") {
		t.Errorf("revoked: exit %d, output:\n%s", code, out)
	}
	e.noSecrets("check's output", out)
}

// TestCheckSMTPAuthDisabled: Microsoft's 535 5.7.139 is explained as SMTP
// AUTH disabled for the tenant. The server answers as Exchange Online does,
// word for word.
func TestCheckSMTPAuthDisabled(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)
	cert, err := e.ms.CA().IssueServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	auths := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		n := 0
		defer func() { auths <- n }()
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 BN0PR04CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
			case "EHLO":
				fmt.Fprint(c, "250-BN0PR04CA0001.outlook.office365.com Hello\r\n250-SIZE 157286400\r\n250-AUTH LOGIN XOAUTH2\r\n250 ENHANCEDSTATUSCODES\r\n")
			case "AUTH":
				n++
				fmt.Fprint(c, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [BN0PR04CA0001.namprd04.prod.outlook.com]\r\n")
			case "QUIT":
				fmt.Fprint(c, "221 2.0.0 Service closing transmission channel\r\n")
				return
			default:
				fmt.Fprint(c, "500 5.3.3 Unrecognized command\r\n")
			}
		}
	}()
	code, r, _ := e.checkJSON("--account", "test", "smtps://"+ln.Addr().String())
	if code != exitAuth || r.Failure == nil || r.Failure.Kind != failSMTPAuthOff || r.Failure.ServerCode != "535" ||
		!strings.Contains(r.Failure.Explanation, "SMTP AUTH is disabled for the tenant") || !strings.Contains(r.Failure.Explanation, "Set-CASMailbox") {
		t.Fatalf("exit %d, failure %+v", code, r.Failure)
	}
	if strings.Join(r.Advertised, " ") != "LOGIN XOAUTH2" || r.Mechanism != "XOAUTH2" {
		t.Errorf("advertised %q, mechanism %q", r.Advertised, r.Mechanism)
	}
	if n := <-auths; n != 2 {
		t.Errorf("%d AUTH commands, want 2 (one retry with a fresh token)", n)
	}
}

// TestCheckNoMechanism: nothing the account can use, exit 4.
func TestCheckNoMechanism(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)
	scramOnly, err := sasltest.NewMailServer(&sasltest.MailOptions{OAuth: e.oauth, Mechanisms: []string{"SCRAM-SHA-256"}})
	if err != nil {
		t.Fatal(err)
	}
	defer scramOnly.Close()
	e.trust(scramOnly)
	code, r, _ := e.checkJSON("--account", "test", "imaps://"+scramOnly.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS))
	if code != exitNoMechanism || r.Failure == nil || r.Failure.Kind != failNoMechanism || !strings.Contains(r.Failure.Explanation, "only password mechanisms (SCRAM-SHA-256)") {
		t.Fatalf("exit %d, failure %+v", code, r.Failure)
	}
	if strings.Join(r.Advertised, " ") != "SCRAM-SHA-256" || len(r.PassedOver) != 1 || r.PassedOver[0].Mechanism != "SCRAM-SHA-256" {
		t.Errorf("advertised %q, passed over %+v", r.Advertised, r.PassedOver)
	}
	if st := scramOnly.AuthStats("", ""); st.Attempts != 0 {
		t.Errorf("something was sent: %+v", st)
	}

	// A password account against a server taking only tokens.
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft, OAuth: e.oauth})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	e.trust(ms)
	e.writeConfig(e.account("test", testUser, ""), fmt.Sprintf(`[accounts.pw]
user = %q
provider = "password"
password_cmd = ["sh", "-c", "echo 'correct horse battery'"]
ca_file = %q
`, testUser, e.caFile))
	e.secrets = append(e.secrets, "correct horse battery")
	code, r, _ = e.checkJSON("--account", "pw", "pop3s://"+ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS))
	if code != exitNoMechanism || r.Failure == nil || !strings.Contains(r.Failure.Explanation, "only OAuth 2.0 (XOAUTH2)") {
		t.Fatalf("exit %d, failure %+v", code, r.Failure)
	}
}

// TestCheckNetworkAndTLS: an untrusted certificate and a closed port,
// exit 5.
func TestCheckNetworkAndTLS(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)
	e.writeConfig(strings.Replace(e.account("test", testUser, ""), "ca_file", "# ca_file", 1))
	code, out, _ := e.run("check", "test")
	if code != exitNetwork || strings.Count(out, "signed by an authority this system does not trust") != 3 {
		t.Errorf("untrusted CA, every server: exit %d, output:\n%s", code, out)
	}
	code, r, _ := e.checkJSON("--account", "test", "smtps://"+e.ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS))
	if code != exitNetwork || r.Failure == nil || r.Failure.Kind != failCertificate || r.TLS == nil || r.TLS.Verified ||
		r.TLS.Certificate == nil || !strings.Contains(r.Failure.Explanation, "set ca_file") {
		t.Errorf("untrusted CA: exit %d, TLS %+v, failure %+v", code, r.TLS, r.Failure)
	}
	if st := e.ms.AuthStats("", ""); st.Attempts != 0 {
		t.Errorf("credentials sent to an unverified server: %+v", st)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, r, _ = e.checkJSON("--account", "test", "imaps://"+addr)
	if code != exitNetwork || r.Failure == nil || r.Failure.Kind != failRefused || !strings.Contains(r.Failure.Explanation, "nothing listens on "+addr) {
		t.Errorf("closed port: exit %d, failure %+v", code, r.Failure)
	}

	// TLS spoken to a clear-text port.
	code, r, _ = e.checkJSON("--account", "test", "imaps://"+e.ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS))
	if code != exitNetwork || r.Failure == nil || r.Failure.Kind != failTLS || !strings.Contains(r.Failure.Explanation, "imap:// (STARTTLS") {
		t.Errorf("TLS to a clear-text port: exit %d, failure %+v", code, r.Failure)
	}
}

// TestCheckServerDrops: a server that closes the connection when AUTH
// arrives is reported as such, exit 5, on every protocol.
func TestCheckServerDrops(t *testing.T) {
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, false)
	e.ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultDrop, Times: -1})
	for _, url := range []string{
		"imaps://" + e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS),
		"smtp://" + e.ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS),
		"pop3s://" + e.ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS),
	} {
		code, r, _ := e.checkJSON("--account", "test", url)
		if code != exitNetwork || r.Failure == nil || r.Failure.Kind != failDropped || !strings.Contains(r.Failure.Explanation, "closed the connection during the authenticate") {
			t.Errorf("%s: exit %d, failure %+v", url, code, r.Failure)
		}
	}
}

// TestCheckNotAuthorized: an account that was never authorized connects,
// shows the server, sends nothing, and is told to run authorize once.
func TestCheckNotAuthorized(t *testing.T) {
	e := newCLIEnv(t, nil)
	code, r, _ := e.checkJSON("imaps://" + testUser + "@" + e.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS))
	if code != exitAuth || r.Failure == nil || r.Failure.Kind != failAuthorize || r.Failure.Stage != "token" ||
		!strings.Contains(r.Failure.Explanation, "No refresh token is stored for account test yet: run 'saslkit authorize test' once.") {
		t.Fatalf("exit %d, failure %+v", code, r.Failure)
	}
	if !r.Connected || r.TLS == nil || !r.TLS.Verified || len(r.Advertised) == 0 {
		t.Errorf("server not shown: connected %v, TLS %+v, advertised %q", r.Connected, r.TLS, r.Advertised)
	}
	if st := e.ms.AuthStats("", ""); st.Attempts != 0 {
		t.Errorf("something was sent: %+v", st)
	}
	if n := e.oauth.Requests("refresh_token"); n != 0 {
		t.Errorf("%d refresh requests without a refresh token", n)
	}
}
