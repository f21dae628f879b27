package providers

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/saslkit/saslkit/internal/redact"
)

// ErrInvalidKey matches errors about key material that cannot be used: a
// service account JSON key or a client certificate and private key that do
// not parse, do not match or are of an unsupported type. The errors never
// quote the key.
var ErrInvalidKey = errors.New("providers: invalid key material")

// Client assertion constants (RFC 7523 section 2.2).
const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// clientAssertionLifetime is how long a client assertion is valid.
	// The assertion is used at once, so a short life limits replay.
	clientAssertionLifetime = 5 * time.Minute
)

// ClientCredentialsConfig configures a ClientCredentials provider: the OAuth
// 2.0 client credentials grant (RFC 6749 section 4.4), authenticated by a
// client secret or by a certificate-signed client assertion (RFC 7523).
type ClientCredentialsConfig struct {
	// TokenURL is the token endpoint, e.g. MicrosoftEndpoint(tenant).TokenURL.
	TokenURL string
	// ClientID is the application (client) ID.
	ClientID string
	// ClientSecret authenticates the client with a shared secret. Set
	// exactly one of ClientSecret and Certificate.
	ClientSecret string
	// Certificate authenticates the client with a JWT assertion signed by
	// the certificate's private key, sent as client_assertion. Set exactly
	// one of ClientSecret and Certificate.
	Certificate *ClientCertificate
	// Scopes requested; Microsoft 365 app-only access uses
	// ScopeOffice365AppOnly.
	Scopes []string
	// EndpointParams are extra form parameters sent with every request.
	EndpointParams url.Values
	// AuthStyle says how a client secret is sent. The zero value sends it
	// in the request body (oauth2.AuthStyleInParams), which Microsoft's
	// and most servers accept; x/oauth2's auto-detection would double
	// every failing request. Unused with Certificate, which always sends
	// client_id in the body.
	AuthStyle oauth2.AuthStyle
	// HTTPClient makes the token requests; nil means the client in the
	// request context (oauth2.HTTPClient) or http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock for client assertions' nbf and exp; nil means
	// time.Now.
	Now func() time.Time
}

// Format prints the configuration without the client secret.
func (c ClientCredentialsConfig) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, c.describe("providers.ClientCredentialsConfig"))
}

func (c ClientCredentialsConfig) describe(name string) string {
	var b strings.Builder
	b.WriteString(name + "{TokenURL:" + strconv.Quote(c.TokenURL) + " ClientID:" + strconv.Quote(c.ClientID))
	if c.ClientSecret != "" {
		b.WriteString(" ClientSecret:" + redact.Placeholder)
	}
	if c.Certificate != nil {
		b.WriteString(" Certificate:" + c.Certificate.describe())
	}
	if len(c.Scopes) > 0 {
		b.WriteString(" Scopes:" + strconv.Quote(strings.Join(c.Scopes, " ")))
	}
	b.WriteString("}")
	return b.String()
}

// MicrosoftAppOnly returns a ClientCredentialsConfig for Microsoft 365
// app-only access to IMAP, POP and SMTP: tenant's v2.0 token endpoint and
// ScopeOffice365AppOnly. tenant is the directory (tenant) ID or a verified
// domain; the multi-tenant aliases "common", "organizations" and
// "consumers" cannot issue app-only tokens and are refused by
// NewClientCredentials. Set ClientSecret or Certificate on the result.
func MicrosoftAppOnly(tenant, clientID string) ClientCredentialsConfig {
	return ClientCredentialsConfig{
		TokenURL: MicrosoftEndpoint(url.PathEscape(tenant)).TokenURL,
		ClientID: clientID,
		Scopes:   []string{ScopeOffice365AppOnly},
	}
}

// ClientCredentials is a Fetcher for the client credentials grant. Each Fetch
// makes one token request (with a fresh client assertion when a certificate
// is configured); put a Cache in front to reuse tokens.
type ClientCredentials struct {
	cfg ClientCredentialsConfig
}

// NewClientCredentials checks cfg and returns a provider for it.
func NewClientCredentials(cfg ClientCredentialsConfig) (*ClientCredentials, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("providers: client credentials: no ClientID")
	}
	u, err := url.Parse(cfg.TokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("providers: client credentials: TokenURL is not an http(s) URL")
	}
	if strings.EqualFold(u.Hostname(), "login.microsoftonline.com") {
		tenant, _, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
		switch strings.ToLower(tenant) {
		case "", "common", "organizations", "consumers":
			return nil, fmt.Errorf("providers: client credentials: tenant %q cannot issue app-only tokens; use the directory (tenant) ID", tenant)
		}
	}
	switch {
	case cfg.ClientSecret == "" && cfg.Certificate == nil:
		return nil, errors.New("providers: client credentials: set ClientSecret or Certificate")
	case cfg.ClientSecret != "" && cfg.Certificate != nil:
		return nil, errors.New("providers: client credentials: set only one of ClientSecret and Certificate")
	}
	for _, k := range []string{"grant_type", "scope", "client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if cfg.EndpointParams.Has(k) {
			return nil, fmt.Errorf("providers: client credentials: EndpointParams must not set %q", k)
		}
	}
	if cfg.AuthStyle == oauth2.AuthStyleAutoDetect {
		cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	params := make(url.Values, len(cfg.EndpointParams))
	for k, v := range cfg.EndpointParams {
		params[k] = append([]string(nil), v...)
	}
	cfg.EndpointParams = params
	return &ClientCredentials{cfg: cfg}, nil
}

// Format prints the provider without the client secret.
func (c ClientCredentials) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, c.cfg.describe("providers.ClientCredentials"))
}

// Fetch requests a token with the client credentials grant. Errors from the
// token endpoint are *OAuthError values (see TokenEndpointError); a wrong
// secret or an unknown certificate (invalid_client) matches
// ErrReauthRequired.
func (c *ClientCredentials) Fetch(ctx context.Context) (*oauth2.Token, error) {
	cfg := &c.cfg
	conf := &clientcredentials.Config{
		ClientID:       cfg.ClientID,
		ClientSecret:   cfg.ClientSecret,
		TokenURL:       cfg.TokenURL,
		Scopes:         cfg.Scopes,
		EndpointParams: make(url.Values, len(cfg.EndpointParams)+2),
		AuthStyle:      cfg.AuthStyle,
	}
	for k, v := range cfg.EndpointParams {
		conf.EndpointParams[k] = v
	}
	secrets := []string{cfg.ClientSecret}
	if cert := cfg.Certificate; cert != nil {
		now := time.Now
		if cfg.Now != nil {
			now = cfg.Now
		}
		assertion, err := cert.Assertion(cfg.ClientID, cfg.TokenURL, now())
		if err != nil {
			return nil, err
		}
		conf.AuthStyle = oauth2.AuthStyleInParams
		conf.EndpointParams.Set("client_assertion_type", clientAssertionType)
		conf.EndpointParams.Set("client_assertion", assertion)
		secrets = append(secrets, assertion)
	}
	hc, transportErr := ctxBoundClient(ctx, cfg.HTTPClient)
	// Token, not TokenSource: the request is bound to this call's ctx.
	tok, err := conf.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return nil, tokenRequestError(ctx, err, transportErr, "client credentials", secrets...)
	}
	return tok, nil
}

// ClientCertificate is a certificate and its private key, used to sign
// client assertions: the credential Microsoft Entra ID calls a certificate
// credential. The private key never leaves the value and is never printed.
type ClientCertificate struct {
	cert *x509.Certificate
	key  crypto.Signer
	x5t  string // base64url SHA-1 thumbprint of the certificate DER
}

// NewClientCertificate pairs cert with its private key. key must be an RSA
// key (an *rsa.PrivateKey, or a crypto.Signer such as an HSM or KMS handle
// whose public key is RSA) matching the certificate's public key.
func NewClientCertificate(cert *x509.Certificate, key crypto.Signer) (*ClientCertificate, error) {
	if cert == nil || key == nil {
		return nil, fmt.Errorf("%w: certificate and private key are both required", ErrInvalidKey)
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: client assertions need an RSA key, got %T", ErrInvalidKey, key.Public())
	}
	certPub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(certPub) {
		return nil, fmt.Errorf("%w: the private key does not match the certificate", ErrInvalidKey)
	}
	sum := sha1.Sum(cert.Raw)
	return &ClientCertificate{cert: cert, key: key, x5t: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// ParseClientCertificatePEM reads a certificate and its RSA private key from
// PEM data holding both (a "CERTIFICATE" block and a "PRIVATE KEY" or "RSA
// PRIVATE KEY" block, in any order), the form in which a certificate
// credential is usually kept. When several certificates are present (a
// chain), the one matching the key is used.
func ParseClientCertificatePEM(data []byte) (*ClientCertificate, error) {
	var (
		certs []*x509.Certificate
		key   crypto.Signer
	)
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: certificate does not parse", ErrInvalidKey)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY":
			if key != nil {
				return nil, fmt.Errorf("%w: more than one private key", ErrInvalidKey)
			}
			k, err := parseRSAKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: encrypted private keys are not supported; decrypt it first", ErrInvalidKey)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrInvalidKey)
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no PRIVATE KEY block", ErrInvalidKey)
	}
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(key.Public()) {
			return NewClientCertificate(c, key)
		}
	}
	return nil, fmt.Errorf("%w: the private key does not match any certificate", ErrInvalidKey)
}

// parseRSAKey reads a PKCS #8 or PKCS #1 RSA private key. Its errors never
// include the parser's message, which might describe key bytes.
func parseRSAKey(der []byte) (*rsa.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: the private key is %T, not RSA", ErrInvalidKey, k)
		}
		return rk, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: the private key is neither PKCS #8 nor PKCS #1 RSA", ErrInvalidKey)
}

// Certificate returns the certificate.
func (c *ClientCertificate) Certificate() *x509.Certificate { return c.cert }

// Thumbprint returns the certificate's SHA-1 thumbprint in upper-case hex,
// as the Azure portal and Exchange show it.
func (c *ClientCertificate) Thumbprint() string {
	sum := sha1.Sum(c.cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Format prints the certificate's subject and thumbprint, never the key.
func (c ClientCertificate) Format(f fmt.State, verb rune) { redact.Format(f, verb, c.describe()) }

func (c *ClientCertificate) describe() string {
	if c == nil || c.cert == nil {
		return "providers.ClientCertificate{}"
	}
	return "providers.ClientCertificate{Subject:" + strconv.Quote(c.cert.Subject.String()) +
		" Thumbprint:" + c.Thumbprint() + " Key:" + redact.Placeholder + "}"
}

// Assertion returns a client assertion for clientID at the token endpoint
// audience, issued at now: a JWT with header {"alg":"RS256","typ":"JWT",
// "x5t":thumbprint} and claims aud, iss and sub (= clientID), a random jti,
// nbf and iat (= now) and exp (now + 5 minutes), signed with RS256 (RSA
// PKCS #1 v1.5 with SHA-256). This is the format Microsoft Entra ID
// documents for certificate credentials.
//
// x/oauth2 has no builder for client assertions (its jws package signs
// only service-account style claim sets, without x5t, nbf or jti), so the
// token is assembled here from crypto/rsa.
func (c *ClientCertificate) Assertion(clientID, audience string, now time.Time) (string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		X5t string `json:"x5t"`
	}{"RS256", "JWT", c.x5t})
	if err != nil {
		return "", fmt.Errorf("providers: client assertion: %w", err)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("providers: client assertion: %w", err)
	}
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Jti string `json:"jti"`
		Nbf int64  `json:"nbf"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{
		Aud: audience,
		Iss: clientID,
		Sub: clientID,
		Jti: hex.EncodeToString(jti[:]),
		Nbf: now.Unix(),
		Iat: now.Unix(),
		Exp: now.Add(clientAssertionLifetime).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("providers: client assertion: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := c.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("providers: client assertion: signing failed: %w", err)
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}
