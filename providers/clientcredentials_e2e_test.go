package providers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	e2eAppID     = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	e2eAppSecret = "Xy8Q~e2eClientSecretValue.0123456789-_abc"
	e2eMailbox   = "relay@contoso.test"
)

// e2eCertificatePEM returns a self-signed certificate and its key in one
// PEM file, the way a certificate credential is kept on a relay host.
func e2eCertificatePEM(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "contoso relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	return out, cert
}

func e2eMicrosoft(t *testing.T, c sasltest.OAuthClient) *sasltest.OAuthServer {
	t.Helper()
	srv := sasltest.NewOAuthServer(&sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft})
	t.Cleanup(srv.Close)
	srv.AddUser(e2eMailbox)
	if err := srv.AddClient(c); err != nil {
		t.Fatal(err)
	}
	return srv
}

// appOnly is MicrosoftAppOnly pointed at the test server.
func appOnly(srv *sasltest.OAuthServer) providers.ClientCredentialsConfig {
	cfg := providers.MicrosoftAppOnly("contoso.test", e2eAppID)
	cfg.TokenURL = srv.TokenURL()
	cfg.HTTPClient = srv.HTTPClient()
	return cfg
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	t.Parallel()
	pemFile, cert := e2eCertificatePEM(t)
	for _, tc := range []struct {
		name   string
		client sasltest.OAuthClient
		set    func(*providers.ClientCredentialsConfig)
	}{
		{"secret", sasltest.OAuthClient{ID: e2eAppID, Secret: e2eAppSecret, Mailboxes: []string{e2eMailbox}},
			func(c *providers.ClientCredentialsConfig) { c.ClientSecret = e2eAppSecret }},
		{"certificate", sasltest.OAuthClient{ID: e2eAppID, Certificate: cert, Mailboxes: []string{e2eMailbox}},
			func(c *providers.ClientCredentialsConfig) {
				cc, err := providers.ParseClientCertificatePEM(pemFile)
				if err != nil {
					t.Fatal(err)
				}
				c.Certificate = cc
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := e2eMicrosoft(t, tc.client)
			cfg := appOnly(srv)
			tc.set(&cfg)
			p, err := providers.NewClientCredentials(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ts := providers.NewCache(p, nil)
			ctx := context.Background()
			tok, err := ts.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			info, ok := srv.Lookup(tok.AccessToken)
			if !ok || info.User != "" || info.ClientID != e2eAppID || info.Grant != sasltest.GrantClientCredentials {
				t.Fatalf("token info %+v", info)
			}
			if len(info.Scopes) != 1 || info.Scopes[0] != providers.ScopeOffice365AppOnly {
				t.Fatalf("scopes %v", info.Scopes)
			}
			// Exchange Online accepts the app-only token for a mailbox the
			// service principal was given.
			verifier := srv.TokenVerifier(providers.ScopeOffice365AppOnly)
			if _, err := verifier.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: e2eMailbox, Token: tok.AccessToken}); err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Token(ctx); err != nil || srv.Requests(sasltest.GrantClientCredentials) != 1 {
				t.Fatalf("cache: %v, %d requests", err, srv.Requests(sasltest.GrantClientCredentials))
			}
		})
	}
}

func TestClientCredentialsEndToEndFailures(t *testing.T) {
	t.Parallel()
	srv := e2eMicrosoft(t, sasltest.OAuthClient{ID: e2eAppID, Secret: e2eAppSecret, Mailboxes: []string{e2eMailbox}})
	cfg := appOnly(srv)
	cfg.ClientSecret = "Xy8Q~wrongSecretValue.9876543210-_zyx"
	p, err := providers.NewClientCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = providers.NewCache(p, nil).Token(context.Background())
	var oe *providers.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || !errors.Is(err, providers.ErrReauthRequired) {
		t.Fatalf("got %v", err)
	}
	if n := srv.Requests(sasltest.GrantClientCredentials); n != 1 {
		t.Fatalf("%d requests: invalid_client must not be retried", n)
	}
	if strings.Contains(err.Error(), cfg.ClientSecret) || strings.Contains(err.Error(), e2eAppSecret) {
		t.Fatalf("secret in %q", err)
	}

	// Transient failures are retried by the Cache.
	srv.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultStatus, Status: 503, Times: 2})
	good := appOnly(srv)
	good.ClientSecret = e2eAppSecret
	p2, _ := providers.NewClientCredentials(good)
	srv.ResetCounters()
	if _, err := providers.NewCache(p2, &providers.CacheOptions{Sleep: func(context.Context, time.Duration) error { return nil }}).Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests(sasltest.GrantClientCredentials); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}
