package providers_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Every provider, behind its cache, keeps the sasl.TokenSource contract as
// sasltest.CheckTokenSource states it: valid unexpired tokens, safe
// concurrent use, a cancelled context honoured, and no token in its
// formatting or errors.
func TestProvidersConformance(t *testing.T) {
	t.Parallel()
	t.Run("ServiceAccount", func(t *testing.T) {
		t.Parallel()
		srv := e2eGoogle(t, true, "alice@example.test")
		sa, err := providers.NewServiceAccount(serviceAccountKeyFile(e2eSAKey(), srv.TokenURL()),
			&providers.ServiceAccountOptions{HTTPClient: srv.HTTPClient()})
		if err != nil {
			t.Fatal(err)
		}
		sasltest.CheckTokenSource(t, sa.User("alice@example.test"), nil)
		if n := srv.Requests(sasltest.GrantJWTBearer); n != 1 {
			t.Errorf("%d JWT bearer requests, want 1", n)
		}
	})
	t.Run("ClientCredentials", func(t *testing.T) {
		t.Parallel()
		srv := e2eMicrosoft(t, sasltest.OAuthClient{ID: e2eAppID, Secret: e2eAppSecret, Mailboxes: []string{e2eMailbox}})
		cfg := appOnly(srv)
		cfg.ClientSecret = e2eAppSecret
		p, err := providers.NewClientCredentials(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sasltest.CheckTokenSource(t, providers.NewCache(p, nil), &sasltest.TokenSourceCheck{Secrets: []string{e2eAppSecret}})
		if n := srv.Requests(sasltest.GrantClientCredentials); n != 1 {
			t.Errorf("%d client_credentials requests, want 1", n)
		}
	})
	t.Run("Exec", func(t *testing.T) {
		t.Parallel()
		script := filepath.Join(t.TempDir(), "token.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho '{\"access_token\":\"ya29.exec-conformance-42\",\"expires_in\":3600}'\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		p, err := providers.NewExec(providers.ExecConfig{Command: []string{script}})
		if err != nil {
			t.Fatal(err)
		}
		sasltest.CheckTokenSource(t, providers.NewCache(p, nil), nil)
	})
	t.Run("FromOAuth2", func(t *testing.T) {
		t.Parallel()
		src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.bridge-conformance-7", Expiry: time.Now().Add(time.Hour)})
		sasltest.CheckTokenSource(t, providers.NewCache(providers.FromOAuth2(src), nil), nil)
	})
	t.Run("Static", func(t *testing.T) {
		t.Parallel()
		sasltest.CheckTokenSource(t, providers.StaticToken("ya29.static-conformance-3"), nil)
	})
}
