package providers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	ccTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	ccClientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
	ccSecret   = "qWe8Q~Sup3r.S3cret-Value_0123456789abcdEF"
)

var ccKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// ccCert returns a self-signed certificate for key, like one uploaded to
// an app registration's "Certificates & secrets".
func ccCert(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func keyPEM(t testing.TB, k any, pkcs1 bool) string {
	t.Helper()
	if pkcs1 {
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}))
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// msTokenServer behaves like the Microsoft identity platform's v2.0 token
// endpoint (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)
// for the client credentials grant: client_secret or a certificate client
// assertion (RS256, x5t, aud = token URL, iss = sub = client_id, nbf/exp,
// jti not replayed), scope ending in /.default, and AADSTS error bodies.
type msTokenServer struct {
	*httptest.Server
	now    func() time.Time
	secret string
	cert   *x509.Certificate
	echo   bool // echo the credentials in error descriptions (hostile server)

	mu       sync.Mutex
	requests []msRequest
	jtis     map[string]bool
}

type msRequest struct {
	Form       map[string][]string
	BasicAuth  bool
	Assertion  map[string]any // verified claims
	AssertHead map[string]any
}

func newMSTokenServer(t *testing.T, secret string, cert *x509.Certificate, now func() time.Time) *msTokenServer {
	t.Helper()
	s := &msTokenServer{now: now, secret: secret, cert: cert, jtis: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *msTokenServer) tokenURL() string { return s.URL + "/" + ccTenant + "/oauth2/v2.0/token" }

func (s *msTokenServer) fail(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: 0b7e1c1a-5b1e-4c8e-9f0a-2f3c4d5e6f70\r\nCorrelation ID: 1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6\r\nTimestamp: 2026-03-01 12:00:00Z", aadsts, desc),
		"error_codes":       []int{aadsts},
		"timestamp":         "2026-03-01 12:00:00Z",
		"trace_id":          "0b7e1c1a-5b1e-4c8e-9f0a-2f3c4d5e6f70",
		"correlation_id":    "1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6",
		"error_uri":         "https://login.microsoftonline.com/error?code=" + fmt.Sprint(aadsts),
	})
}

func (s *msTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/"+ccTenant+"/oauth2/v2.0/token" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	req := msRequest{Form: f}
	id, secret, basic := r.BasicAuth()
	req.BasicAuth = basic
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}()
	switch {
	case f.Get("grant_type") != "client_credentials":
		s.fail(w, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	case id == "":
		s.fail(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	case id != ccClientID:
		s.fail(w, 400, "unauthorized_client", 700016, "Application with identifier '"+id+"' was not found in the directory.")
		return
	case !strings.HasSuffix(f.Get("scope"), "/.default"):
		s.fail(w, 400, "invalid_scope", 1002012, "The provided value for scope "+f.Get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return
	}
	echo := ""
	if s.echo {
		echo = " Received: " + secret + f.Get("client_assertion")
	}
	switch {
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != ClientAssertionTypeForTest {
			s.fail(w, 400, "invalid_request", 50027, "Invalid JWT token. client_assertion_type is wrong."+echo)
			return
		}
		head, claims, code, desc := s.verifyAssertion(f.Get("client_assertion"), id)
		req.AssertHead, req.Assertion = head, claims
		if code != 0 {
			s.fail(w, 401, "invalid_client", code, desc+echo)
			return
		}
	case secret != "":
		if s.secret == "" || secret != s.secret {
			s.fail(w, 401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+ccClientID+"'."+echo)
			return
		}
	default:
		s.fail(w, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{
		"token_type":     "Bearer",
		"expires_in":     3599,
		"ext_expires_in": 3599,
		"access_token":   "eyJ0eXAiOiJKV1QiLCJub25jZSI6IkFwcE9ubHkifQ.eyJhdWQiOiJodHRwczovL291dGxvb2sub2ZmaWNlMzY1LmNvbSJ9.c2ln",
	})
}

// ClientAssertionTypeForTest is RFC 7523's client assertion type, spelled
// out here so the test does not trust the constant under test.
const ClientAssertionTypeForTest = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

func (s *msTokenServer) verifyAssertion(jwt, clientID string) (head, claims map[string]any, code int, desc string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, nil, 50027, "Invalid JWT token. The token is malformed."
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil {
		return nil, nil, 50027, "Invalid JWT token. The token is malformed."
	}
	sum := sha1.Sum(s.cert.Raw)
	if head["alg"] != "RS256" || head["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return head, claims, 700027, "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '...']"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) != nil {
		return head, claims, 700027, "Client assertion failed signature validation."
	}
	if claims["aud"] != s.tokenURL() {
		return head, claims, 700212, "No matching federated identity record found for presented assertion audience."
	}
	if claims["iss"] != clientID || claims["sub"] != clientID {
		return head, claims, 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	now := s.now().Unix()
	nbf, _ := claims["nbf"].(float64)
	exp, _ := claims["exp"].(float64)
	if int64(nbf) > now || int64(exp) <= now {
		return head, claims, 700024, "Client assertion is not within its valid time range."
	}
	jti, _ := claims["jti"].(string)
	s.mu.Lock()
	replay := jti == "" || s.jtis[jti]
	s.jtis[jti] = true
	s.mu.Unlock()
	if replay {
		return head, claims, 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
	}
	return head, claims, 0, ""
}

func (s *msTokenServer) reqs() []msRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]msRequest(nil), s.requests...)
}

var ccNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCCConfig(srv *msTokenServer) ClientCredentialsConfig {
	return ClientCredentialsConfig{
		TokenURL: srv.tokenURL(),
		ClientID: ccClientID,
		Scopes:   []string{ScopeOffice365AppOnly},
		Now:      func() time.Time { return ccNow },
	}
}

func TestClientCredentialsSecret(t *testing.T) {
	t.Parallel()
	srv := newMSTokenServer(t, ccSecret, nil, func() time.Time { return ccNow })
	cfg := newCCConfig(srv)
	cfg.ClientSecret = ccSecret
	cc, err := NewClientCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cc.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "eyJ") || tok.Type() != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
		t.Fatalf("token %v", tok.Type())
	}
	reqs := srv.reqs()
	if len(reqs) != 1 {
		t.Fatalf("%d requests (auth style must not be probed)", len(reqs))
	}
	f := reqs[0].Form
	if reqs[0].BasicAuth || f["client_secret"][0] != ccSecret || f["client_id"][0] != ccClientID ||
		f["scope"][0] != "https://outlook.office365.com/.default" || f["grant_type"][0] != "client_credentials" {
		t.Fatalf("request %v basic=%v", redactForm(f), reqs[0].BasicAuth)
	}
	if _, ok := f["client_assertion"]; ok {
		t.Fatal("assertion sent with a secret")
	}
}

func redactForm(f map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range f {
		if k == "client_secret" || k == "client_assertion" {
			v = []string{"[REDACTED]"}
		}
		out[k] = v
	}
	return out
}

func TestClientCredentialsAssertion(t *testing.T) {
	t.Parallel()
	cert := ccCert(t, ccKey(), "saslkit relay")
	srv := newMSTokenServer(t, "", cert, func() time.Time { return ccNow.Add(30 * time.Second) })
	cc, err := NewClientCertificate(cert, ccKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg := newCCConfig(srv)
	cfg.Certificate = cc
	p, err := NewClientCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.Fetch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.reqs()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	// The server verified signature, x5t, aud, iss/sub, nbf/exp and jti;
	// check the exact claims too.
	for _, r := range reqs {
		if _, ok := r.Form["client_secret"]; ok || r.BasicAuth {
			t.Fatal("a secret was sent with an assertion")
		}
		if r.Form["client_assertion_type"][0] != ClientAssertionTypeForTest || r.Form["client_id"][0] != ccClientID {
			t.Fatalf("form %v", redactForm(r.Form))
		}
		h, c := r.AssertHead, r.Assertion
		sum := sha1.Sum(cert.Raw)
		if h["alg"] != "RS256" || h["typ"] != "JWT" || h["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Fatalf("header %v", h)
		}
		if c["aud"] != srv.tokenURL() || c["iss"] != ccClientID || c["sub"] != ccClientID {
			t.Fatalf("claims %v", c)
		}
		if c["nbf"] != float64(ccNow.Unix()) || c["iat"] != float64(ccNow.Unix()) || c["exp"] != float64(ccNow.Add(5*time.Minute).Unix()) {
			t.Fatalf("times %v %v %v", c["nbf"], c["iat"], c["exp"])
		}
	}
	if reqs[0].Assertion["jti"] == reqs[1].Assertion["jti"] {
		t.Fatal("jti reused")
	}
}

func TestClientCredentialsAssertionRejected(t *testing.T) {
	t.Parallel()
	cert := ccCert(t, ccKey(), "registered")
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other := ccCert(t, otherKey, "not registered")
	cases := []struct {
		name   string
		cert   *x509.Certificate
		key    *rsa.PrivateKey
		now    time.Time
		aadsts string
	}{
		{"unknown certificate", other, otherKey, ccNow, "AADSTS700027"},
		{"expired assertion", cert, ccKey(), ccNow.Add(-time.Hour), "AADSTS700024"},
		{"not yet valid", cert, ccKey(), ccNow.Add(time.Hour), "AADSTS700024"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newMSTokenServer(t, "", cert, func() time.Time { return ccNow })
			cc, err := NewClientCertificate(c.cert, c.key)
			if err != nil {
				t.Fatal(err)
			}
			cfg := newCCConfig(srv)
			cfg.Certificate = cc
			cfg.Now = func() time.Time { return c.now }
			p, _ := NewClientCredentials(cfg)
			_, err = p.Fetch(context.Background())
			var oe *OAuthError
			if !errors.As(err, &oe) || oe.Code != "invalid_client" || !strings.Contains(oe.Description, c.aadsts) {
				t.Fatalf("got %v", err)
			}
			if !errors.Is(err, ErrReauthRequired) || classifyRetry(err) {
				t.Fatal("invalid_client must need reauthorization and never be retried")
			}
		})
	}
}

func TestClientCredentialsWrongSecretHygiene(t *testing.T) {
	t.Parallel()
	srv := newMSTokenServer(t, "the-right-secret", nil, func() time.Time { return ccNow })
	srv.echo = true // a server that quotes what it received
	cfg := newCCConfig(srv)
	cfg.ClientSecret = ccSecret
	p, err := NewClientCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Fetch(context.Background())
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || oe.StatusCode != 401 || !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "AADSTS7000215") || !strings.HasPrefix(err.Error(), "providers: ") {
		t.Fatalf("message %q", err)
	}
	assertNoSecret(t, err, ccSecret)

	// The same with an assertion: the echoed assertion is removed.
	cert := ccCert(t, ccKey(), "registered")
	srv2 := newMSTokenServer(t, "", ccCert(t, ccKey(), "other"), func() time.Time { return ccNow })
	srv2.echo = true
	cc, _ := NewClientCertificate(cert, ccKey())
	cfg2 := newCCConfig(srv2)
	cfg2.Certificate = cc
	p2, _ := NewClientCredentials(cfg2)
	_, err = p2.Fetch(context.Background())
	if !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "eyJ") {
		t.Fatalf("assertion echoed in %q", err)
	}
}

func TestClientCredentialsScopeMustBeDefault(t *testing.T) {
	t.Parallel()
	srv := newMSTokenServer(t, ccSecret, nil, func() time.Time { return ccNow })
	cfg := newCCConfig(srv)
	cfg.ClientSecret = ccSecret
	cfg.Scopes = []string{"https://outlook.office365.com/IMAP.AccessAsApp"}
	p, _ := NewClientCredentials(cfg)
	_, err := p.Fetch(context.Background())
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_scope" || classifyRetry(err) {
		t.Fatalf("got %v", err)
	}
}

func TestClientCredentialsNetworkError(t *testing.T) {
	t.Parallel()
	srv := newMSTokenServer(t, ccSecret, nil, func() time.Time { return ccNow })
	cfg := newCCConfig(srv)
	cfg.ClientSecret = ccSecret
	p, _ := NewClientCredentials(cfg)
	srv.Close()
	_, err := p.Fetch(context.Background())
	if !classifyRetry(err) || !strings.HasPrefix(err.Error(), "providers: ") {
		t.Fatalf("got %v", err)
	}
	assertNoSecret(t, err, ccSecret)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestMicrosoftAppOnly(t *testing.T) {
	t.Parallel()
	cfg := MicrosoftAppOnly(ccTenant, ccClientID)
	if cfg.TokenURL != "https://login.microsoftonline.com/"+ccTenant+"/oauth2/v2.0/token" {
		t.Fatalf("token URL %q", cfg.TokenURL)
	}
	if len(cfg.Scopes) != 1 || cfg.Scopes[0] != "https://outlook.office365.com/.default" {
		t.Fatalf("scopes %v", cfg.Scopes)
	}
	cfg.ClientSecret = ccSecret
	if _, err := NewClientCredentials(cfg); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"common", "Organizations", "consumers", ""} {
		c := MicrosoftAppOnly(tenant, ccClientID)
		c.ClientSecret = ccSecret
		if _, err := NewClientCredentials(c); err == nil {
			t.Errorf("tenant %q accepted", tenant)
		}
	}
	c := MicrosoftAppOnly("../evil?x=", ccClientID)
	if strings.Contains(c.TokenURL, "?") || strings.Contains(c.TokenURL, "/../") {
		t.Fatalf("tenant not escaped: %q", c.TokenURL)
	}
}

func TestNewClientCredentialsRejects(t *testing.T) {
	t.Parallel()
	cert := ccCert(t, ccKey(), "x")
	cc, _ := NewClientCertificate(cert, ccKey())
	base := ClientCredentialsConfig{TokenURL: "https://login.example/token", ClientID: "id", ClientSecret: ccSecret}
	mod := func(f func(*ClientCredentialsConfig)) ClientCredentialsConfig { c := base; f(&c); return c }
	for name, cfg := range map[string]ClientCredentialsConfig{
		"no client id":   mod(func(c *ClientCredentialsConfig) { c.ClientID = "" }),
		"bad url":        mod(func(c *ClientCredentialsConfig) { c.TokenURL = "ftp://x/token" }),
		"no credential":  mod(func(c *ClientCredentialsConfig) { c.ClientSecret = "" }),
		"both":           mod(func(c *ClientCredentialsConfig) { c.Certificate = cc }),
		"reserved param": mod(func(c *ClientCredentialsConfig) { c.EndpointParams = map[string][]string{"client_secret": {"x"}} }),
	} {
		_, err := NewClientCredentials(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "providers: ") {
			t.Errorf("%s: %v", name, err)
			continue
		}
		assertNoSecret(t, err, ccSecret)
	}
}

func TestParseClientCertificatePEM(t *testing.T) {
	t.Parallel()
	cert := ccCert(t, ccKey(), "relay.example.com")
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCert := ccCert(t, otherKey, "unrelated")
	good := []string{
		certPEM(cert) + keyPEM(t, ccKey(), false),
		keyPEM(t, ccKey(), true) + "\nsome text between blocks\n" + certPEM(cert),
		certPEM(otherCert) + certPEM(cert) + keyPEM(t, ccKey(), false), // a chain, leaf second
	}
	for i, g := range good {
		cc, err := ParseClientCertificatePEM([]byte(g))
		if err != nil {
			t.Fatalf("good %d: %v", i, err)
		}
		if cc.Certificate().Subject.CommonName != "relay.example.com" {
			t.Fatalf("good %d: picked %s", i, cc.Certificate().Subject)
		}
		sum := sha1.Sum(cert.Raw)
		if tp := cc.Thumbprint(); len(tp) != 40 || tp != strings.ToUpper(fmt.Sprintf("%x", sum)) {
			t.Fatalf("thumbprint %q", tp)
		}
	}
	keyBody := pemBody(keyPEM(t, ccKey(), false))
	bad := map[string]string{
		"empty":          "",
		"only cert":      certPEM(cert),
		"only key":       keyPEM(t, ccKey(), false),
		"mismatched key": certPEM(otherCert) + keyPEM(t, ccKey(), false),
		"EC key":         certPEM(otherCert) + keyPEM(t, otherKey, false),
		"two keys":       certPEM(cert) + keyPEM(t, ccKey(), false) + keyPEM(t, ccKey(), true),
		"encrypted":      certPEM(cert) + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
		"garbage cert":   "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + keyPEM(t, ccKey(), false),
		"garbage key":    certPEM(cert) + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	}
	for name, b := range bad {
		_, err := ParseClientCertificatePEM([]byte(b))
		if !errors.Is(err, ErrInvalidKey) || !strings.HasPrefix(err.Error(), "providers: ") {
			t.Errorf("%s: %v", name, err)
			continue
		}
		assertNoSecret(t, err, keyBody)
	}
	if _, err := NewClientCertificate(cert, otherKey); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("EC signer: %v", err)
	}
	if _, err := NewClientCertificate(nil, ccKey()); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil cert: %v", err)
	}
}

func TestClientCredentialsFormat(t *testing.T) {
	t.Parallel()
	cert := ccCert(t, ccKey(), "relay")
	cc, _ := NewClientCertificate(cert, ccKey())
	cfg := ClientCredentialsConfig{TokenURL: "https://login.example/t", ClientID: ccClientID, ClientSecret: ccSecret}
	p, _ := NewClientCredentials(cfg)
	cfgCert := ClientCredentialsConfig{TokenURL: "https://login.example/t", ClientID: ccClientID, Certificate: cc}
	pc, _ := NewClientCredentials(cfgCert)
	keyBody := pemBody(keyPEM(t, ccKey(), false))
	d := ccKey().D.String()
	for _, v := range []any{cfg, &cfg, p, *p, cfgCert, pc, cc, *cc} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, ccSecret) || strings.Contains(s, keyBody[:40]) || strings.Contains(s, d[:20]) {
				t.Fatalf("%s leaks: %s", verb, s)
			}
			if !strings.Contains(s, "providers.") {
				t.Fatalf("%s: %s", verb, s)
			}
		}
	}
}

func FuzzParseClientCertificatePEM(f *testing.F) {
	cert := ccCert(f, ccKey(), "fuzz")
	f.Add([]byte(certPEM(cert) + keyPEM(f, ccKey(), false)))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\n\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, err := ParseClientCertificatePEM(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not match ErrInvalidKey", err)
			}
			return
		}
		if _, err := cc.Assertion("id", "https://aud.example/token", time.Unix(1e9, 0)); err != nil {
			t.Fatalf("assertion: %v", err)
		}
	})
}
