package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// TestServiceAccountAccount: a service-account account gets delegated
// tokens for its user and sends over SMTP; without delegation the failure
// says what to grant. The private key never shows.
func TestServiceAccountAccount(t *testing.T) {
	e := newCLIEnv(t, nil)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	e.secrets = append(e.secrets, pemKey, strings.Split(pemKey, "\n")[1])
	writeKey := func(name, email string) string {
		js, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "p", "private_key_id": "0123456789abcdef",
			"private_key": pemKey, "client_email": email, "client_id": "100000000000000000042", "token_uri": e.oauth.TokenURL()})
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, js, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if err := e.oauth.AddServiceAccount(sasltest.OAuthServiceAccount{Email: "relay@p.iam.gserviceaccount.com", PublicKey: &key.PublicKey, Delegation: true, Scopes: []string{sasltest.GmailScope}}); err != nil {
		t.Fatal(err)
	}
	if err := e.oauth.AddServiceAccount(sasltest.OAuthServiceAccount{Email: "nodeleg@p.iam.gserviceaccount.com", PublicKey: &key.PublicKey}); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(fmt.Sprintf(`[accounts.relay]
user = %q
provider = "service-account"
key_file = %q
ca_file = %q
smtp = "smtps://%s"

[accounts.nodeleg]
user = %q
provider = "service-account"
key_file = %q
ca_file = %q
smtp = "smtps://%s"
`, testUser, writeKey("relay.json", "relay@p.iam.gserviceaccount.com"), e.caFile, e.ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS),
		testUser, writeKey("nodeleg.json", "nodeleg@p.iam.gserviceaccount.com"), e.caFile, e.ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS)))

	code, out, errOut := e.run("token", "relay")
	if info, ok := e.oauth.Lookup(strings.TrimSpace(out)); code != 0 || !ok || info.User != testUser {
		t.Fatalf("token: exit %d, stdout %q, stderr %q, token for %+v", code, out, errOut, info)
	}
	e.secrets = append(e.secrets, strings.TrimSpace(out))
	code, r, _ := e.checkJSON("relay")
	if code != 0 || !r.Authenticated || r.Protocol != "SMTP" {
		t.Errorf("check: exit %d, %+v, %+v", code, r, r.Failure)
	}

	code, out, errOut = e.run("token", "nodeleg")
	if code != exitAuth || out != "" || !strings.Contains(errOut, "delegation") {
		t.Errorf("no delegation: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	e.noSecrets("token's stderr", errOut)
}

// TestClientCredentialsAccount: Microsoft 365 app-only access over POP3;
// a mailbox the app was not granted is refused and explained.
func TestClientCredentialsAccount(t *testing.T) {
	e := newCLIEnv(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err := e.oauth.AddClient(sasltest.OAuthClient{ID: "app-id", Secret: e.secret, Mailboxes: []string{testUser}}); err != nil {
		t.Fatal(err)
	}
	if err := e.ms.Store().AddUser("other@example.test", ""); err != nil {
		t.Fatal(err)
	}
	account := func(name, user string) string {
		return fmt.Sprintf(`[accounts.%s]
user = %q
provider = "client-credentials"
tenant = "contoso.onmicrosoft.com"
client_id = "app-id"
client_secret_env = %q
token_url = %q
ca_file = %q
pop3 = "pop3s://%s"
`, name, user, secretEnv, e.oauth.TokenURL(), e.caFile, e.ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS))
	}
	e.writeConfig(account("archive", testUser), account("other", "other@example.test"))
	code, r, _ := e.checkJSON("archive")
	if code != 0 || !r.Authenticated || r.Mechanism != "XOAUTH2" {
		t.Fatalf("check: exit %d, %+v, %+v", code, r, r.Failure)
	}
	code, r, _ = e.checkJSON("other")
	if code != exitAuth || r.Failure == nil || r.Failure.Kind != failRejected || !strings.Contains(r.Failure.Explanation, "service principal was not granted the mailbox") {
		t.Errorf("ungranted mailbox: exit %d, %+v", code, r.Failure)
	}
	code, out, _ := e.run("token", "--json", "archive")
	var j tokenJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 || len(j.Scopes) != 1 || j.Scopes[0] != "https://outlook.office365.com/.default" {
		t.Errorf("token --json: exit %d, %v, %+v", code, err, j)
	}
	e.secrets = append(e.secrets, j.AccessToken)
}

// TestExecAccount: a helper command's token, used by token and check.
func TestExecAccount(t *testing.T) {
	e := newCLIEnv(t, nil)
	tok, err := e.oauth.IssueToken(testClientID, testUser, e.scopes()...)
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok.AccessToken, tok.RefreshToken)
	file := filepath.Join(e.dir, "helper-token")
	if err := os.WriteFile(file, []byte(tok.AccessToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(fmt.Sprintf(`[accounts.helper]
user = %q
provider = "exec"
command = ["cat", %q]
lifetime = "55m"
ca_file = %q
imap = "imap://%s"
`, testUser, file, e.caFile, e.ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS)))
	code, out, errOut := e.run("token", "helper")
	if code != 0 || out != tok.AccessToken+"\n" {
		t.Fatalf("token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, r, _ := e.checkJSON("helper")
	if code != 0 || !r.Authenticated || !r.StartTLS {
		t.Errorf("check: exit %d, %+v, %+v", code, r, r.Failure)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, r, _ = e.checkJSON("helper")
	if code != exitAuth || r.Failure == nil || r.Failure.Kind != failTokenSource {
		t.Errorf("empty helper output: exit %d, %+v", code, r.Failure)
	}
}
