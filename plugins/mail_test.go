package plugins

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	gosmtpadapter "github.com/saslkit/saslkit/adapters/gosmtp"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// openUserDB opens the userdb example plugin with a user file holding
// alice.
func openUserDB(t *testing.T) *Plugin {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# test users\nalice@example.test:"+userPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(bounded(t), bins.userdb, &Options{Checksum: sum(t, bins.userdb), Args: []string{users}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestMechanismPluginOverIMAP runs both sides of SCRAM-SHA-256-PLUS,
// SCRAM-SHA-256 and PLAIN in
// the userdb example plugin: go-imap's client through the IMAP adapter on
// one side, the sasltest IMAP server on the other.
func TestMechanismPluginOverIMAP(t *testing.T) {
	server, client := openUserDB(t), openUserDB(t)
	serverReg, clientReg := sasl.NewRegistry(), sasl.NewRegistry()
	if err := server.Register(serverReg); err != nil {
		t.Fatal(err)
	}
	if err := client.Register(clientReg); err != nil {
		t.Fatal(err)
	}
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{
		Registry:   serverReg,
		Mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"},
		Users:      []sasltest.MailUser{{Address: "alice@example.test", Password: userPassword}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)

	for _, tc := range []struct {
		mech     string
		password string
		ok       bool
	}{
		{"SCRAM-SHA-256-PLUS", userPassword, true},
		{"SCRAM-SHA-256", userPassword, true},
		{"PLAIN", userPassword, true},
		{"SCRAM-SHA-256-PLUS", "wrong password", false},
		{"SCRAM-SHA-256", "wrong password", false},
		{"PLAIN", "wrong password", false},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			c, n, err := imapadapter.DialTLS(bounded(t), addr, &imapadapter.Options{
				Registry:    clientReg,
				Policy:      &sasl.Policy{Prefer: []string{tc.mech}},
				Credentials: &sasl.Credentials{Username: "alice@example.test", Password: tc.password},
				Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
			})
			if !tc.ok {
				if !errors.Is(err, adapters.ErrRejected) {
					t.Fatalf("wrong password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n.Mechanism.Name != tc.mech {
				t.Fatalf("negotiated %s", n.Mechanism.Name)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if st := ms.AuthStats(sasltest.ProtocolIMAP, tc.mech); st.Succeeded == 0 {
				t.Fatalf("server stats for %s: %+v", tc.mech, st)
			}
		})
	}
}

// TestMechanismPluginOverSMTP submits through go-smtp's client with the
// plugin's SCRAM-SHA-256-PLUS on both sides, over STARTTLS.
func TestMechanismPluginOverSMTP(t *testing.T) {
	server, client := openUserDB(t), openUserDB(t)
	serverReg, clientReg := sasl.NewRegistry(), sasl.NewRegistry()
	if err := server.Register(serverReg); err != nil {
		t.Fatal(err)
	}
	if err := client.Register(clientReg); err != nil {
		t.Fatal(err)
	}
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{
		Registry:   serverReg,
		Mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"},
		Users:      []sasltest.MailUser{{Address: "alice@example.test", Password: userPassword}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	c, n, err := gosmtpadapter.DialStartTLS(bounded(t), ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS), &gosmtpadapter.Options{
		Registry:    clientReg,
		Credentials: &sasl.Credentials{Username: "alice@example.test", Password: userPassword},
		TLSConfig:   ms.ClientTLSConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n.Mechanism.Name != "SCRAM-SHA-256-PLUS" {
		t.Fatalf("negotiated %s", n.Mechanism.Name)
	}
	if err := c.SendMail("alice@example.test", []string{"alice@example.test"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
}

// TestTokenPluginOverIMAP authenticates with OAUTHBEARER using a token the
// tokenfile example plugin serves.
func TestTokenPluginOverIMAP(t *testing.T) {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	tok, err := ms.IssueToken("alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tokens.json")
	data, _ := json.Marshal(map[string]any{"alice@example.test": map[string]any{"access_token": tok.AccessToken, "expiry": tok.Expiry}})
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(bounded(t), bins.tokenfile, &Options{Checksum: sum(t, bins.tokenfile), Args: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	c, n, err := imapadapter.DialTLS(bounded(t), ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.Options{
		Registry:    mechanisms.Builtin(),
		Credentials: &sasl.Credentials{Username: "alice@example.test", TokenSource: p.TokenSource("alice@example.test")},
		Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n.Mechanism.Name != "OAUTHBEARER" {
		t.Fatalf("negotiated %s", n.Mechanism.Name)
	}

	// An invalidation reaches the plugin: tokenfile then refuses the
	// rejected token until the file holds a new one.
	src := p.TokenSource("alice@example.test")
	cached, err := src.Token(bounded(t))
	if err != nil || cached.AccessToken != tok.AccessToken {
		t.Fatalf("cached token: %v", err)
	}
	src.(sasl.TokenInvalidator).Invalidate(cached)
	if _, err := src.Token(bounded(t)); !errors.Is(err, providers.ErrNoToken) {
		t.Fatalf("Token after Invalidate: %v", err)
	}

	// An account the file does not hold needs a new authorization.
	_, _, err = imapadapter.DialTLS(bounded(t), ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.Options{
		Registry:    mechanisms.Builtin(),
		Credentials: &sasl.Credentials{Username: "bob@example.test", TokenSource: p.TokenSource("bob@example.test")},
		Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
	})
	if !errors.Is(err, providers.ErrReauthRequired) {
		t.Fatalf("unknown account: %v", err)
	}
}
