package providers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// A relay sending through Microsoft 365 with app-only access: the app
// registration's client ID and a client secret, the tenant's token
// endpoint and the https://outlook.office365.com/.default scope. Here the
// test kit's server stands in for the Microsoft identity platform.
func ExampleMicrosoftAppOnly() {
	entra := sasltest.NewOAuthServer(&sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft})
	defer entra.Close()
	_ = entra.AddClient(sasltest.OAuthClient{ID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", Secret: "app-secret", Mailboxes: []string{"*"}})

	cfg := providers.MicrosoftAppOnly("contoso.onmicrosoft.com", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	// The secret comes from a secrets manager, never a command line; it is
	// never printed.
	cfg.ClientSecret = "app-secret"
	fmt.Printf("%v\n", cfg)
	// Only because this is a test:
	cfg.TokenURL, cfg.HTTPClient = entra.TokenURL(), entra.HTTPClient()

	p, err := providers.NewClientCredentials(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := providers.NewCache(p, nil) // a sasl.TokenSource for XOAUTH2
	tok, err := ts.Token(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), "token for scope", cfg.Scopes[0])
	// Output:
	// providers.ClientCredentialsConfig{TokenURL:"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ClientID:"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" ClientSecret:[REDACTED] Scopes:"https://outlook.office365.com/.default"}
	// Bearer token for scope https://outlook.office365.com/.default
}

// With a certificate credential instead of a secret: the PEM file holds
// the certificate uploaded to the app registration and its private key.
// Each token request carries a fresh RS256 client assertion.
func ExampleParseClientCertificatePEM() {
	entra := sasltest.NewOAuthServer(&sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft})
	defer entra.Close()
	pemFile, cert := selfSignedCertificate() // openssl req -x509 -newkey rsa:2048 … in real life
	_ = entra.AddClient(sasltest.OAuthClient{ID: "relay-app", Certificate: cert, Mailboxes: []string{"*"}})

	cc, err := providers.ParseClientCertificatePEM(pemFile) // os.ReadFile("relay.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := providers.MicrosoftAppOnly("contoso.onmicrosoft.com", "relay-app")
	cfg.Certificate = cc
	cfg.TokenURL, cfg.HTTPClient = entra.TokenURL(), entra.HTTPClient()
	p, _ := providers.NewClientCredentials(cfg)
	tok, err := p.Fetch(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), len(cc.Thumbprint()))
	// Output:
	// Bearer 40
}

// selfSignedCertificate makes a certificate credential: a PEM file with a
// self-signed certificate and its RSA key.
func selfSignedCertificate() ([]byte, *x509.Certificate) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	pemFile := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...), cert
}
