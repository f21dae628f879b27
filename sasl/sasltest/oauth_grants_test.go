package sasltest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/saslkit/saslkit/sasl"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
	testKey2    *rsa.PrivateKey
)

// oauthTestKeys returns two RSA keys, generated once per test binary.
func oauthTestKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	testKeyOnce.Do(func() {
		var err error
		if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey, testKey2
}

// signTestJWT signs header and claims with RS256.
func signTestJWT(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func noRedirectClient(s *OAuthServer) *http.Client {
	c := *s.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// authorize visits the consent page and returns the redirect's query.
func authorize(t *testing.T, s *OAuthServer, u string) url.Values {
	t.Helper()
	resp, err := noRedirectClient(s).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

func TestOAuthAuthorizationCodePKCE(t *testing.T) {
	s, clk := newOAuthTestServer(t, nil)
	// The redirect lands on a real loopback listener, as with a native app.
	codes := make(chan url.Values, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query()
		_, _ = io.WriteString(w, "done")
	}))
	defer cb.Close()
	conf := oauthConfig(s, GmailScope)
	conf.RedirectURL = cb.URL + "/callback"
	verifier := oauth2.GenerateVerifier()
	u := conf.AuthCodeURL("st4te", oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", oauthTestUser))
	resp, err := s.HTTPClient().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := <-codes
	if q.Get("state") != "st4te" || q.Get("code") == "" || q.Get("scope") != GmailScope {
		t.Fatalf("redirect query %v", q)
	}
	code := q.Get("code")
	ctx := oauthCtx(s)
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); retrieveCode(err) != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", err)
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Error("access_type=offline gave no refresh token")
	}
	if _, err := s.TokenVerifier(GmailScope).VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken}); err != nil {
		t.Fatal(err)
	}
	// One-time: a second redemption fails and revokes what the first got.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); retrieveCode(err) != "invalid_grant" {
		t.Fatalf("second redemption: %v", err)
	}
	if info, _ := s.Lookup(tok.AccessToken); info.Active {
		t.Error("tokens of a replayed code stay active")
	}
	if s.Issued(GrantAuthorizationCode) != 1 || s.Requests(GrantAuthorizationCode) != 3 {
		t.Errorf("counters %d/%d", s.Issued(GrantAuthorizationCode), s.Requests(GrantAuthorizationCode))
	}

	// Without access_type=offline Google issues no refresh token; codes
	// expire after ten minutes.
	verifier = oauth2.GenerateVerifier()
	q = authorize(t, s, conf.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier)))
	tok, err = conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken != "" {
		t.Fatalf("online access: %v, refresh %t", err, tok != nil && tok.RefreshToken != "")
	}
	q = authorize(t, s, conf.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier)))
	clk.Add(authCodeLifetime)
	if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); retrieveCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
	}
	// The verifier must not be missing, nor the redirect_uri differ.
	q = authorize(t, s, conf.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier)))
	if _, err := conf.Exchange(ctx, q.Get("code")); retrieveCode(err) != "invalid_grant" {
		t.Fatalf("missing verifier: %v", err)
	}
	q = authorize(t, s, conf.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier)))
	other := *conf
	other.RedirectURL = "http://127.0.0.1:1/other"
	if _, err := other.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); retrieveCode(err) != "redirect_uri_mismatch" {
		t.Fatalf("other redirect_uri: %v", err)
	}
}

func TestOAuthAuthorizeErrors(t *testing.T) {
	s, _ := newOAuthTestServer(t, &OAuthOptions{Profile: OAuthMicrosoft})
	_ = s.AddClient(OAuthClient{ID: "web", Secret: "w", RedirectURIs: []string{"https://app.example.test/cb", "http://127.0.0.1/native"}})
	_ = s.AddClient(OAuthClient{ID: "public", RedirectURIs: []string{"https://app.example.test/cb"}})
	page := func(q url.Values) int {
		resp, err := noRedirectClient(s).Get(s.AuthURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	base := func(client, redirect string) url.Values {
		return url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {OutlookIMAPScope + " offline_access"}, "state": {"s"}}
	}
	// Invalid client or redirect URI: an error page, never a redirect.
	for _, q := range []url.Values{
		base("nobody", "https://app.example.test/cb"),
		base("web", "https://evil.example.test/cb"),
		base("web", "https://app.example.test/cb#frag"),
		base("web", "http://127.0.0.2.example.test/native"),
	} {
		if st := page(q); st != http.StatusBadRequest {
			t.Errorf("%v: status %d, want 400 page", q, st)
		}
	}
	// A registered loopback URI matches on any port (RFC 8252 §7.3).
	if q := authorize(t, s, s.AuthURL()+"?"+base("web", "http://127.0.0.1:53124/native").Encode()); q.Get("code") == "" {
		t.Errorf("loopback port: %v", q)
	}
	redirectErr := func(q url.Values, want string) {
		t.Helper()
		got := authorize(t, s, s.AuthURL()+"?"+q.Encode())
		if got.Get("error") != want || got.Get("state") != "s" {
			t.Errorf("%v: %v, want error %s", q, got, want)
		}
	}
	q := base("public", "https://app.example.test/cb")
	redirectErr(q, "invalid_request") // public client without PKCE
	q.Set("code_challenge", strings.Repeat("a", 43))
	q.Set("code_challenge_method", "plain")
	redirectErr(q, "invalid_request")
	q.Set("code_challenge_method", "S256")
	q.Set("code_challenge", "short")
	redirectErr(q, "invalid_request")
	q = base("web", "https://app.example.test/cb")
	q.Set("response_type", "token")
	redirectErr(q, "unsupported_response_type")
	q = base("web", "https://app.example.test/cb")
	q.Del("scope")
	redirectErr(q, "invalid_request")

	// Microsoft issues a refresh token only for offline_access; a public
	// client with PKCE needs no secret.
	verifier := oauth2.GenerateVerifier()
	conf := &oauth2.Config{ClientID: "public", Endpoint: s.Endpoint(), RedirectURL: "https://app.example.test/cb", Scopes: []string{OutlookIMAPScope, "offline_access"}}
	got := authorize(t, s, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	tok, err := conf.Exchange(oauthCtx(s), got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("public client exchange: %v", err)
	}
}

func TestOAuthDeviceFlowXOAuth2(t *testing.T) {
	// x/oauth2 polls on a real ticker, so this server uses the real clock.
	s, _ := newOAuthTestServer(t, &OAuthOptions{
		Clock: time.Now, DeviceInterval: time.Second,
		DeviceAutoApprove: oauthTestUser, DeviceAutoApprovePolls: 1,
	})
	conf := oauthConfig(s, GmailScope)
	ctx := oauthCtx(s)
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURI != s.VerificationURL() || da.Interval != 1 || len(da.UserCode) != 9 {
		t.Fatalf("device authorization %+v", da)
	}
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Error("Google device flow gives a refresh token")
	}
	// Normally two polls; a late tick can add a slow_down, never fewer.
	if s.Requests(GrantDeviceCode) < 2 || s.Issued(GrantDeviceCode) != 1 {
		t.Errorf("polls %d, issued %d; want a pending poll first", s.Requests(GrantDeviceCode), s.Issued(GrantDeviceCode))
	}
	if _, err := s.TokenVerifier(GmailScope).VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken}); err != nil {
		t.Fatal(err)
	}
}

func TestOAuthDevicePolling(t *testing.T) {
	for _, p := range []OAuthProfile{OAuthGoogle, OAuthMicrosoft} {
		t.Run(p.String(), func(t *testing.T) {
			s, clk := newOAuthTestServer(t, &OAuthOptions{Profile: p})
			start := func() (dc, uc string) {
				code, m, _ := postForm(t, s, s.DeviceAuthURL(), url.Values{"client_id": {oauthTestClient}, "scope": {GmailScope}})
				if code != 200 || m["interval"] != float64(5) || m["expires_in"] != float64(1800) {
					t.Fatalf("device authorization: %d %v", code, m)
				}
				field := "verification_url"
				if p == OAuthMicrosoft {
					field = "verification_uri"
				}
				if m[field] != s.VerificationURL() {
					t.Errorf("%s missing: %v", field, m)
				}
				return m["device_code"].(string), m["user_code"].(string)
			}
			poll := func(dc string) (int, map[string]any) {
				code, m, _ := postForm(t, s, s.TokenURL(), url.Values{"grant_type": {GrantDeviceCode}, "device_code": {dc}, "client_id": {oauthTestClient}, "client_secret": {oauthTestSecret}})
				return code, m
			}
			dc, uc := start()
			if _, m := poll(dc); m["error"] != "authorization_pending" {
				t.Fatalf("first poll: %v", m)
			}
			clk.Add(2 * time.Second)
			if _, m := poll(dc); m["error"] != "slow_down" {
				t.Fatalf("fast poll: %v", m)
			}
			clk.Add(5 * time.Second) // interval is now 10 s
			if _, m := poll(dc); m["error"] != "slow_down" {
				t.Fatalf("poll under the grown interval: %v", m)
			}
			clk.Add(15 * time.Second) // each slow_down added 5 s
			if _, m := poll(dc); m["error"] != "authorization_pending" {
				t.Fatalf("poll after the interval: %v", m)
			}
			if err := s.ApproveDevice(strings.ToLower(strings.ReplaceAll(uc, "-", "")), "nobody@example.test"); !errors.Is(err, ErrOAuthUnknownUser) {
				t.Errorf("approve as unknown user: %v", err)
			}
			if err := s.ApproveDevice(uc, oauthTestUser); err != nil {
				t.Fatal(err)
			}
			clk.Add(15 * time.Second)
			code, m := poll(dc)
			if code != 200 || m["access_token"] == nil {
				t.Fatalf("approved poll: %d %v", code, m)
			}
			if _, m := poll(dc); m["error"] == nil {
				t.Fatal("device code redeemed twice")
			}
			if err := s.ApproveDevice(uc, oauthTestUser); !errors.Is(err, ErrUnknownUserCode) {
				t.Errorf("approve a redeemed code: %v", err)
			}

			dc, uc = start()
			if err := s.DenyDevice(uc); err != nil {
				t.Fatal(err)
			}
			want := "access_denied"
			if p == OAuthMicrosoft {
				want = "authorization_declined"
			}
			if _, m := poll(dc); m["error"] != want {
				t.Fatalf("denied: %v", m)
			}

			dc, _ = start()
			clk.Add(30 * time.Minute)
			if _, m := poll(dc); m["error"] != "expired_token" {
				t.Fatalf("expired: %v", m)
			}
			if code, m, _ := postForm(t, s, s.DeviceAuthURL(), url.Values{"client_id": {"nobody"}, "scope": {"x"}}); code != 401 || m["error"] != "invalid_client" {
				t.Errorf("unknown client: %d %v", code, m)
			}
		})
	}
}

func TestOAuthDeviceVerificationPage(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	_, m, _ := postForm(t, s, s.DeviceAuthURL(), url.Values{"client_id": {oauthTestClient}, "scope": {GmailScope}})
	uc := m["user_code"].(string)
	resp, err := s.HTTPClient().Get(s.VerificationURL() + "?user_code=" + uc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), uc) {
		t.Fatalf("page: %d %s", resp.StatusCode, b)
	}
	resp, err = s.HTTPClient().PostForm(s.VerificationURL(), url.Values{"user_code": {uc}, "action": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("approve: %d", resp.StatusCode)
	}
	code, m, _ := postForm(t, s, s.TokenURL(), url.Values{"grant_type": {GrantDeviceCode}, "device_code": {m["device_code"].(string)}, "client_id": {oauthTestClient}, "client_secret": {oauthTestSecret}})
	if code != 200 {
		t.Fatalf("token after page approval: %d %v", code, m)
	}
	resp, err = s.HTTPClient().PostForm(s.VerificationURL(), url.Values{"user_code": {"BBBB-BBBB"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown code: %d", resp.StatusCode)
	}
}

const testServiceAccount = "robot@project.iam.gserviceaccount.test"

func pemKey(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func TestOAuthServiceAccountXOAuth2(t *testing.T) {
	key, _ := oauthTestKeys(t)
	s, _ := newOAuthTestServer(t, nil)
	if err := s.AddServiceAccount(OAuthServiceAccount{Email: testServiceAccount, KeyID: "k1", PublicKey: &key.PublicKey, Delegation: true}); err != nil {
		t.Fatal(err)
	}
	conf := &jwt.Config{
		Email: testServiceAccount, PrivateKey: pemKey(key), PrivateKeyID: "k1",
		Subject: oauthTestUser, Scopes: []string{GmailScope}, TokenURL: s.TokenURL(),
	}
	tok, err := conf.TokenSource(oauthCtx(s)).Token()
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.TokenVerifier(GmailScope).VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken})
	if err != nil || id.Username != oauthTestUser {
		t.Fatalf("delegated token: %v %v", id, err)
	}
	if tok.RefreshToken != "" {
		t.Error("service accounts get no refresh token")
	}
	// Impersonating an unknown user.
	conf.Subject = "nobody@example.test"
	if _, err := conf.TokenSource(oauthCtx(s)).Token(); retrieveCode(err) != "invalid_grant" {
		t.Errorf("unknown subject: %v", err)
	}
	// Without delegation.
	_ = s.AddServiceAccount(OAuthServiceAccount{Email: testServiceAccount, KeyID: "k1", PublicKey: &key.PublicKey})
	conf.Subject = oauthTestUser
	if _, err := conf.TokenSource(oauthCtx(s)).Token(); retrieveCode(err) != "unauthorized_client" {
		t.Errorf("no delegation: %v", err)
	}
	// A delegation limited to other scopes.
	_ = s.AddServiceAccount(OAuthServiceAccount{Email: testServiceAccount, PublicKey: &key.PublicKey, Delegation: true, Scopes: []string{"https://www.googleapis.com/auth/gmail.imap_admin"}})
	if _, err := conf.TokenSource(oauthCtx(s)).Token(); retrieveCode(err) != "unauthorized_client" {
		t.Errorf("scope outside the delegation: %v", err)
	}
}

func TestOAuthServiceAccountAssertionChecks(t *testing.T) {
	key, other := oauthTestKeys(t)
	s, clk := newOAuthTestServer(t, nil)
	_ = s.AddServiceAccount(OAuthServiceAccount{Email: testServiceAccount, KeyID: "k1", PublicKey: &key.PublicKey, Delegation: true})
	now := clk.Now()
	good := func() (map[string]any, map[string]any) {
		return map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"}, map[string]any{
			"iss": testServiceAccount, "scope": GmailScope, "aud": s.TokenURL(),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "sub": oauthTestUser,
		}
	}
	post := func(assertion string) (int, map[string]any) {
		code, m, _ := postForm(t, s, s.TokenURL(), url.Values{"grant_type": {GrantJWTBearer}, "assertion": {assertion}})
		return code, m
	}
	h, c := good()
	if code, m := post(signTestJWT(t, key, h, c)); code != 200 || m["refresh_token"] != nil || m["token_type"] != "Bearer" {
		t.Fatalf("good assertion: %d %v", code, m)
	}
	cases := []struct {
		name   string
		mutate func(h, c map[string]any) *rsa.PrivateKey
		code   string
		desc   string
	}{
		{"other key", func(h, c map[string]any) *rsa.PrivateKey { return other }, "invalid_grant", "Invalid JWT Signature."},
		{"other kid", func(h, c map[string]any) *rsa.PrivateKey { h["kid"] = "k2"; return key }, "invalid_grant", "Invalid JWT Signature."},
		{"alg none", func(h, c map[string]any) *rsa.PrivateKey { h["alg"] = "none"; return key }, "invalid_grant", "Invalid JWT Signature."},
		{"unknown iss", func(h, c map[string]any) *rsa.PrivateKey { c["iss"] = "x@y"; return key }, "invalid_grant", "Invalid grant: account not found"},
		{"aud", func(h, c map[string]any) *rsa.PrivateKey {
			c["aud"] = "https://oauth2.googleapis.com/token"
			return key
		}, "invalid_grant", ""},
		{"expired", func(h, c map[string]any) *rsa.PrivateKey {
			c["iat"] = now.Add(-2 * time.Hour).Unix()
			c["exp"] = now.Add(-time.Hour).Unix()
			return key
		}, "invalid_grant", ""},
		{"too long", func(h, c map[string]any) *rsa.PrivateKey { c["exp"] = now.Add(2 * time.Hour).Unix(); return key }, "invalid_grant", ""},
		{"iat future", func(h, c map[string]any) *rsa.PrivateKey {
			c["iat"] = now.Add(time.Hour).Unix()
			c["exp"] = now.Add(90 * time.Minute).Unix()
			return key
		}, "invalid_grant", ""},
		{"iat string", func(h, c map[string]any) *rsa.PrivateKey { c["iat"] = "now"; return key }, "invalid_grant", ""},
		{"no scope", func(h, c map[string]any) *rsa.PrivateKey { delete(c, "scope"); return key }, "invalid_scope", ""},
	}
	for _, tc := range cases {
		h, c := good()
		k := tc.mutate(h, c)
		code, m := post(signTestJWT(t, k, h, c))
		if code != 400 || m["error"] != tc.code || (tc.desc != "" && m["error_description"] != tc.desc) {
			t.Errorf("%s: %d %v", tc.name, code, m)
		}
	}
	// A signature stripped or swapped is refused; so is garbage.
	h, c = good()
	tok := signTestJWT(t, key, h, c)
	for _, bad := range []string{tok[:strings.LastIndex(tok, ".")+1], "a.b.c", "not a jwt", tok + ".x"} {
		if code, m := post(bad); code != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%.30q: %d %v", bad, code, m)
		}
	}
	// A service account acting as itself (no sub) gets a token that opens
	// no mailbox.
	h, c = good()
	delete(c, "sub")
	_, m := post(signTestJWT(t, key, h, c))
	if _, err := s.TokenVerifier().VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: m["access_token"].(string)}); err == nil {
		t.Error("undelegated service-account token opened a mailbox")
	}
}

// testCertificate returns a self-signed certificate for key.
func testCertificate(t testing.TB, key *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOAuthClientAssertion(t *testing.T) {
	key, other := oauthTestKeys(t)
	s, clk := newOAuthTestServer(t, &OAuthOptions{Profile: OAuthMicrosoft})
	cert := testCertificate(t, key)
	if err := s.AddClient(OAuthClient{ID: "app", Certificate: cert, Mailboxes: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddClient(OAuthClient{ID: "keyed", PublicKey: &key.PublicKey, KeyID: "kk"}); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(cert.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(sum[:])
	now := clk.Now()
	good := func() (map[string]any, map[string]any) {
		return map[string]any{"alg": "RS256", "typ": "JWT", "x5t": x5t}, map[string]any{
			"aud": s.TokenURL(), "iss": "app", "sub": "app", "jti": "j1",
			"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		}
	}
	post := func(assertion string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {OutlookAppScope},
			"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion}}
		for k, v := range extra {
			form[k] = v
		}
		code, m, _ := postForm(t, s, s.TokenURL(), form)
		return code, m
	}
	h, c := good()
	code, m := post(signTestJWT(t, key, h, c), url.Values{"client_id": {"app"}})
	if code != 200 {
		t.Fatalf("good assertion: %d %v", code, m)
	}
	if _, err := s.TokenVerifier(OutlookAppScope).VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "anyone@example.test", Token: m["access_token"].(string)}); err != nil {
		t.Errorf("app token with Mailboxes *: %v", err)
	}
	sum256 := sha256.Sum256(cert.Raw)
	h, c = good()
	delete(h, "x5t")
	h["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum256[:])
	if code, m := post(signTestJWT(t, key, h, c), nil); code != 200 {
		t.Errorf("x5t#S256: %d %v", code, m)
	}
	h, c = good()
	c["iss"], c["sub"] = "keyed", "keyed"
	delete(h, "x5t")
	h["kid"] = "kk"
	if code, m := post(signTestJWT(t, key, h, c), nil); code != 200 {
		t.Errorf("public key client: %d %v", code, m)
	}
	cases := []struct {
		name   string
		mutate func(h, c map[string]any) *rsa.PrivateKey
		extra  url.Values
		aadsts float64
	}{
		{"other key", func(h, c map[string]any) *rsa.PrivateKey { return other }, nil, 700027},
		{"no x5t", func(h, c map[string]any) *rsa.PrivateKey { delete(h, "x5t"); return key }, nil, 700027},
		{"wrong x5t", func(h, c map[string]any) *rsa.PrivateKey { h["x5t"] = "AAAA"; return key }, nil, 700027},
		{"expired", func(h, c map[string]any) *rsa.PrivateKey { c["exp"] = now.Add(-time.Second).Unix(); return key }, nil, 700024},
		{"nbf future", func(h, c map[string]any) *rsa.PrivateKey { c["nbf"] = now.Add(time.Hour).Unix(); return key }, nil, 700024},
		{"aud", func(h, c map[string]any) *rsa.PrivateKey { c["aud"] = "https://login.example.test/token"; return key }, nil, 700023},
		{"sub differs", func(h, c map[string]any) *rsa.PrivateKey { c["sub"] = "other"; return key }, nil, 700023},
		{"client_id differs", func(h, c map[string]any) *rsa.PrivateKey { return key }, url.Values{"client_id": {"keyed"}}, 700021},
		{"no jti", func(h, c map[string]any) *rsa.PrivateKey { delete(c, "jti"); return key }, nil, 700025},
		{"assertion and secret", func(h, c map[string]any) *rsa.PrivateKey { return key }, url.Values{"client_secret": {"x"}}, 9002313},
		{"wrong type", func(h, c map[string]any) *rsa.PrivateKey { return key }, url.Values{"client_assertion_type": {"urn:x"}}, 9002313},
	}
	for _, tc := range cases {
		h, c := good()
		k := tc.mutate(h, c)
		code, m := post(signTestJWT(t, k, h, c), tc.extra)
		codes, _ := m["error_codes"].([]any)
		if code < 400 || len(codes) != 1 || codes[0] != tc.aadsts {
			t.Errorf("%s: %d %v, want AADSTS%v", tc.name, code, m, tc.aadsts)
		}
	}
}

func TestOAuthIntrospection(t *testing.T) {
	s, clk := newOAuthTestServer(t, nil)
	tok, _ := s.IssueToken(oauthTestClient, oauthTestUser, "mail")
	// Dovecot's introspection_mode = post: token, client_id, client_secret.
	code, m, _ := postForm(t, s, s.IntrospectionURL(), url.Values{"token": {tok.AccessToken}, "client_id": {oauthTestClient}, "client_secret": {oauthTestSecret}})
	if code != 200 || m["active"] != true || m["username"] != oauthTestUser || m["email"] != oauthTestUser ||
		m["sub"] != oauthTestUser || m["scope"] != "mail" || m["client_id"] != oauthTestClient || m["exp"] != float64(tok.Expiry.Unix()) {
		t.Fatalf("introspection: %d %v", code, m)
	}
	// introspection_mode = get.
	resp, err := s.HTTPClient().Get(s.IntrospectionURL() + "?token=" + url.QueryEscape(tok.AccessToken) + "&client_id=x&client_secret=y")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if m["active"] != true {
		t.Fatalf("GET introspection: %v", m)
	}
	// Refresh tokens too (RFC 7662 §2.1).
	if _, m, _ = postForm(t, s, s.IntrospectionURL(), url.Values{"token": {tok.RefreshToken}}); m["active"] != true || m["token_type"] != "refresh_token" {
		t.Errorf("refresh token: %v", m)
	}
	for _, bad := range []string{"unknown"} {
		if code, m, _ := postForm(t, s, s.IntrospectionURL(), url.Values{"token": {bad}}); code != 200 || len(m) != 1 || m["active"] != false {
			t.Errorf("inactive: %d %v", code, m)
		}
	}
	clk.Add(time.Hour)
	if _, m, _ := postForm(t, s, s.IntrospectionURL(), url.Values{"token": {tok.AccessToken}}); m["active"] != false {
		t.Errorf("expired: %v", m)
	}
	if code, m, _ := postForm(t, s, s.IntrospectionURL(), url.Values{}); code != 400 || m["error"] != "invalid_request" {
		t.Errorf("no token: %d %v", code, m)
	}
	if s.Introspections() != 6 {
		t.Errorf("Introspections = %d", s.Introspections())
	}

	// Protected introspection.
	s2, _ := newOAuthTestServer(t, &OAuthOptions{IntrospectionAuth: true})
	tok2, _ := s2.IssueToken(oauthTestClient, oauthTestUser, "mail")
	if code, m, _ := postForm(t, s2, s2.IntrospectionURL(), url.Values{"token": {tok2.AccessToken}}); code != 401 || m["error"] != "invalid_client" {
		t.Errorf("unauthenticated: %d %v", code, m)
	}
	if code, m, _ := postForm(t, s2, s2.IntrospectionURL(), url.Values{"token": {tok2.AccessToken}, "client_id": {oauthTestClient}, "client_secret": {"wrong"}}); code != 401 {
		t.Errorf("wrong secret: %d %v", code, m)
	}
	req, _ := http.NewRequest("POST", s2.IntrospectionURL(), strings.NewReader("token="+url.QueryEscape(tok2.AccessToken)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(oauthTestClient, oauthTestSecret)
	resp, err = s2.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if m["active"] != true {
		t.Errorf("Basic-authenticated introspection: %v", m)
	}
}

func TestOAuthTokenInfoUserInfoRevoke(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	tok, _ := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	get := func(u, bearer string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", u, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := get(s.TokenInfoURL()+"?access_token="+url.QueryEscape(tok.AccessToken), ""); code != 200 || m["email"] != oauthTestUser || m["scope"] != GmailScope || m["expires_in"] != "3600" {
		t.Errorf("tokeninfo: %d %v", code, m)
	}
	if code, m := get(s.TokenInfoURL()+"?access_token=nope", ""); code != 400 || m["error"] != "invalid_token" {
		t.Errorf("tokeninfo bad: %d %v", code, m)
	}
	if code, m := get(s.UserInfoURL(), tok.AccessToken); code != 200 || m["username"] != oauthTestUser {
		t.Errorf("userinfo: %d %v", code, m)
	}
	if code, m := get(s.UserInfoURL(), "nope"); code != 401 || m["active"] != false {
		t.Errorf("userinfo bad: %d %v", code, m)
	}
	if code, _, _ := postForm(t, s, s.RevocationURL(), url.Values{"token": {tok.RefreshToken}}); code != 200 {
		t.Errorf("revoke: %d", code)
	}
	if info, _ := s.Lookup(tok.AccessToken); info.Active {
		t.Error("revoking the refresh token left the access token active")
	}
	if code, m, _ := postForm(t, s, s.RevocationURL(), url.Values{"token": {"nope"}}); code != 400 || m["error"] != "invalid_token" {
		t.Errorf("revoke unknown: %d %v", code, m)
	}
	tok2, _ := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	s.RevokeUser(oauthTestUser)
	if info, _ := s.Lookup(tok2.RefreshToken); info.Active {
		t.Error("RevokeUser left a refresh token active")
	}
}

func TestOAuthTLS(t *testing.T) {
	s, _ := newOAuthTestServer(t, &OAuthOptions{TLS: true})
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || s.Certificate() == nil || s.TLSConfig() == nil {
		t.Fatalf("TLS server %s", s.URL)
	}
	rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	if _, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token(); err != nil {
		t.Fatal(err)
	}
	// A certificate of the test's own.
	key, _ := oauthTestKeys(t)
	cert := testCertificate(t, key)
	s2, _ := newOAuthTestServer(t, &OAuthOptions{TLS: true, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}},
	}})
	if !s2.Certificate().Equal(cert) {
		t.Error("TLSConfig certificate not used")
	}
	if resp, err := s2.HTTPClient().Get(s2.TokenInfoURL()); err != nil {
		t.Errorf("own certificate: %v", err)
	} else {
		resp.Body.Close()
	}
	tr := &http.Transport{TLSClientConfig: s.TLSConfig()}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(s.TokenInfoURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
