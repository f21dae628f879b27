package sasltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/saslkit/saslkit/sasl"
)

// oauthClock is a fake clock for tests.
type oauthClock struct {
	mu  sync.Mutex
	now time.Time
}

func newOAuthClock() *oauthClock {
	return &oauthClock{now: time.Now().Truncate(time.Second)}
}

func (c *oauthClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *oauthClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	oauthTestClient = "client-1"
	oauthTestSecret = "s3cret-value"
	oauthTestUser   = "alice@example.test"
)

// newOAuthTestServer starts a server with one confidential client and one
// user, closed at the end of the test.
func newOAuthTestServer(t testing.TB, opts *OAuthOptions) (*OAuthServer, *oauthClock) {
	t.Helper()
	clk := newOAuthClock()
	var o OAuthOptions
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = clk.Now
	}
	s := NewOAuthServer(&o)
	t.Cleanup(s.Close)
	if err := s.AddClient(OAuthClient{ID: oauthTestClient, Secret: oauthTestSecret, LoopbackRedirect: true, Mailboxes: []string{oauthTestUser}}); err != nil {
		t.Fatal(err)
	}
	s.AddUser(oauthTestUser)
	return s, clk
}

func oauthCtx(s *OAuthServer) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, s.HTTPClient())
}

func oauthConfig(s *OAuthServer, scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: oauthTestClient, ClientSecret: oauthTestSecret, Endpoint: s.Endpoint(), Scopes: scopes}
}

// postForm posts form to u and decodes the JSON answer.
func postForm(t testing.TB, s *OAuthServer, u string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := s.HTTPClient().PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer is not JSON: %q", b)
	}
	return resp.StatusCode, m, resp.Header
}

func retrieveCode(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return ""
	}
	if re.ErrorCode == "" {
		// x/oauth2/jwt does not parse the error body.
		var b struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(re.Body, &b)
		return b.Error
	}
	return re.ErrorCode
}

func TestOAuthRefreshGoogleKeepsRefreshToken(t *testing.T) {
	s, clk := newOAuthTestServer(t, nil)
	rt, err := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	if err != nil {
		t.Fatal(err)
	}
	ts := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt})
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || !strings.HasPrefix(tok.AccessToken, "ya29.") {
		t.Errorf("token type %q, prefix of access token wrong", tok.TokenType)
	}
	if got, want := tok.Expiry, time.Now().Add(time.Hour); got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
		t.Errorf("expiry %v, want about %v", got, want)
	}
	if tok.RefreshToken != rt {
		t.Error("x/oauth2 should keep the refresh token when none is returned")
	}
	if got := tok.Extra("scope"); got != GmailScope {
		t.Errorf("scope %v", got)
	}
	// Google returns no refresh_token on refresh.
	code, body, _ := postForm(t, s, s.TokenURL(), url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {oauthTestClient}, "client_secret": {oauthTestSecret},
	})
	if code != 200 || body["refresh_token"] != nil || body["expires_in"] != float64(3600) {
		t.Errorf("refresh answer %d %v", code, body)
	}
	if n := s.Requests(GrantRefreshToken); n != 2 {
		t.Errorf("Requests = %d, want 2", n)
	}
	if n := s.Issued(GrantRefreshToken); n != 2 {
		t.Errorf("Issued = %d, want 2", n)
	}
	v := s.TokenVerifier(GmailScope)
	id, err := v.VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken})
	if err != nil || id.Username != oauthTestUser {
		t.Fatalf("VerifyToken = %v, %v", id, err)
	}
	clk.Add(time.Hour)
	_, err = v.VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken})
	var te *sasl.TokenError
	if !errors.As(err, &te) || te.Status != "401" {
		t.Fatalf("expired token: %v", err)
	}
}

func TestOAuthRefreshPolicies(t *testing.T) {
	refresh := func(s *OAuthServer, rt string) (string, string, error) {
		tok, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			return "", "", err
		}
		return tok.AccessToken, tok.RefreshToken, nil
	}
	t.Run("microsoft-rotates-old-stays-valid", func(t *testing.T) {
		s, _ := newOAuthTestServer(t, &OAuthOptions{Profile: OAuthMicrosoft})
		rt0, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, OutlookIMAPScope)
		_, rt1, err := refresh(s, rt0)
		if err != nil || rt1 == rt0 || !strings.HasPrefix(rt1, "M.C") {
			t.Fatalf("rotation: %v", err)
		}
		if _, _, err := refresh(s, rt0); err != nil {
			t.Fatalf("old token must stay valid under RefreshRotate: %v", err)
		}
	})
	t.Run("one-time", func(t *testing.T) {
		s, _ := newOAuthTestServer(t, &OAuthOptions{Refresh: RefreshRotateOnce})
		rt0, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
		_, rt1, err := refresh(s, rt0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := refresh(s, rt0); retrieveCode(err) != "invalid_grant" {
			t.Fatalf("reuse: %v", err)
		}
		if _, _, err := refresh(s, rt1); err != nil {
			t.Fatalf("new token must work without reuse detection: %v", err)
		}
		if s.ReuseDetected() != 0 {
			t.Error("reuse counted without detection")
		}
	})
	t.Run("detect-reuse-revokes-family", func(t *testing.T) {
		s, _ := newOAuthTestServer(t, &OAuthOptions{Refresh: RefreshRotateDetectReuse})
		rt0, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
		other, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
		at1, rt1, err := refresh(s, rt0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := refresh(s, rt0); retrieveCode(err) != "invalid_grant" {
			t.Fatalf("reuse: %v", err)
		}
		if s.ReuseDetected() != 1 {
			t.Errorf("ReuseDetected = %d", s.ReuseDetected())
		}
		if _, _, err := refresh(s, rt1); retrieveCode(err) != "invalid_grant" {
			t.Fatalf("family member still valid: %v", err)
		}
		if info, _ := s.Lookup(at1); info.Active {
			t.Error("access token of the family still active")
		}
		if _, _, err := refresh(s, other); err != nil {
			t.Fatalf("other family affected: %v", err)
		}
	})
	t.Run("unknown-and-revoked", func(t *testing.T) {
		s, _ := newOAuthTestServer(t, nil)
		if _, _, err := refresh(s, "1//nope"); retrieveCode(err) != "invalid_grant" {
			t.Fatalf("unknown: %v", err)
		}
		rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
		if !s.Revoke(rt) {
			t.Fatal("Revoke = false")
		}
		_, _, err := refresh(s, rt)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.ErrorDescription != "Token has been expired or revoked." {
			t.Fatalf("revoked: %v", err)
		}
	})
	t.Run("scope-narrowing", func(t *testing.T) {
		s, _ := newOAuthTestServer(t, nil)
		rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope, "openid")
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {oauthTestClient}, "client_secret": {oauthTestSecret}}
		form.Set("scope", "openid")
		if code, body, _ := postForm(t, s, s.TokenURL(), form); code != 200 || body["scope"] != "openid" {
			t.Errorf("narrowing: %d %v", code, body)
		}
		form.Set("scope", "https://www.googleapis.com/auth/drive")
		if code, body, _ := postForm(t, s, s.TokenURL(), form); code != 400 || body["error"] != "invalid_scope" {
			t.Errorf("widening: %d %v", code, body)
		}
	})
	t.Run("other-client", func(t *testing.T) {
		s, _ := newOAuthTestServer(t, nil)
		if err := s.AddClient(OAuthClient{ID: "client-2", Secret: "x"}); err != nil {
			t.Fatal(err)
		}
		rt, _ := s.SeedRefreshToken("client-2", oauthTestUser, GmailScope)
		if _, _, err := refresh(s, rt); retrieveCode(err) != "invalid_grant" {
			t.Fatalf("other client's token: %v", err)
		}
	})
}

func TestOAuthClientAuthentication(t *testing.T) {
	s, _ := newOAuthTestServer(t, &OAuthOptions{AuthStyle: oauth2.AuthStyleInHeader})
	rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	if _, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token(); err != nil {
		t.Fatalf("client_secret_basic: %v", err)
	}
	cases := []struct {
		name   string
		form   url.Values
		basic  [2]string
		status int
		code   string
	}{
		{"wrong secret", url.Values{"client_id": {oauthTestClient}, "client_secret": {"no"}}, [2]string{}, 401, "invalid_client"},
		{"no secret", url.Values{"client_id": {oauthTestClient}}, [2]string{}, 401, "invalid_client"},
		{"unknown client", url.Values{"client_id": {"who"}, "client_secret": {"x"}}, [2]string{}, 401, "invalid_client"},
		{"two methods", url.Values{"client_secret": {oauthTestSecret}}, [2]string{oauthTestClient, oauthTestSecret}, 400, "invalid_request"},
		{"basic wrong", url.Values{}, [2]string{oauthTestClient, "bad"}, 401, "invalid_client"},
	}
	for _, c := range cases {
		form := c.form
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", rt)
		req, _ := http.NewRequest("POST", s.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.basic[0] != "" {
			req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
		}
		resp, err := s.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != c.status || m["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, resp.StatusCode, m, c.status, c.code)
		}
		if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	s, _ := newOAuthTestServer(t, &OAuthOptions{Profile: OAuthMicrosoft})
	cc := &clientcredentials.Config{
		ClientID: oauthTestClient, ClientSecret: oauthTestSecret, TokenURL: s.TokenURL(),
		Scopes: []string{OutlookAppScope}, AuthStyle: oauth2.AuthStyleInParams,
	}
	tok, err := cc.Token(oauthCtx(s))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Extra("ext_expires_in") == nil {
		t.Errorf("client credentials answer: refresh %t, ext_expires_in %v", tok.RefreshToken != "", tok.Extra("ext_expires_in"))
	}
	v := s.TokenVerifier(OutlookIMAPScope, OutlookAppScope)
	if id, err := v.VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken}); err != nil || id.Username != oauthTestUser {
		t.Fatalf("app-only token for a granted mailbox: %v %v", id, err)
	}
	_, err = v.VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "bob@example.test", Token: tok.AccessToken})
	var rej *RejectedTokenError
	if !errors.As(err, &rej) || rej.Reason != RejectWrongUser || !errors.Is(err, sasl.ErrAuthFailed) {
		t.Fatalf("app-only token for another mailbox: %v", err)
	}
	// Microsoft requires a /.default scope (AADSTS1002012).
	cc.Scopes = []string{OutlookIMAPScope}
	_, err = cc.Token(oauthCtx(s))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_scope" || !strings.HasPrefix(re.ErrorDescription, "AADSTS1002012:") {
		t.Fatalf("scope without /.default: %v", err)
	}
	var body map[string]any
	if json.Unmarshal(re.Body, &body) != nil || body["error_codes"] == nil || body["trace_id"] == nil || body["correlation_id"] == nil {
		t.Errorf("Microsoft error body lacks fields: %s", re.Body)
	}
	if s.Requests(GrantClientCredentials) != 2 || s.Issued(GrantClientCredentials) != 1 {
		t.Errorf("counters %d/%d", s.Requests(GrantClientCredentials), s.Issued(GrantClientCredentials))
	}
	// A public client may not use the grant.
	_ = s.AddClient(OAuthClient{ID: "public"})
	code, m, _ := postForm(t, s, s.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"public"}, "scope": {OutlookAppScope}})
	if code != 400 || m["error"] != "unauthorized_client" {
		t.Errorf("public client: %d %v", code, m)
	}
}

func TestOAuthVerifier(t *testing.T) {
	s, clk := newOAuthTestServer(t, nil)
	tok, err := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := s.IssueToken(oauthTestClient, oauthTestUser, "openid")
	ctx := context.Background()
	v := s.TokenVerifier(GmailScope)
	check := func(name, mech, user, token, status, schemes string) {
		t.Helper()
		_, err := v.VerifyToken(ctx, sasl.TokenRequest{Mechanism: mech, Username: user, Token: token})
		var te *sasl.TokenError
		if !errors.As(err, &te) || te.Status != status || te.Schemes != schemes || te.Scope != GmailScope || te.Mechanism != mech {
			t.Errorf("%s: %v, want status %s schemes %s", name, err, status, schemes)
		}
		if !errors.Is(err, sasl.ErrAuthFailed) {
			t.Errorf("%s: does not wrap ErrAuthFailed", name)
		}
	}
	if id, err := v.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "OAUTHBEARER", Token: tok.AccessToken}); err != nil || id.Username != oauthTestUser || id.Mechanism != "OAUTHBEARER" {
		t.Fatalf("OAUTHBEARER without a=: %v %v", id, err)
	}
	check("wrong user", "XOAUTH2", "bob@example.test", tok.AccessToken, "400", "Bearer")
	check("empty user", "XOAUTH2", "", "ya29.unknown", "401", "bearer")
	check("unknown", "XOAUTH2", oauthTestUser, "ya29.unknown", "401", "bearer")
	check("wrong scope", "XOAUTH2", oauthTestUser, other.AccessToken, "400", "Bearer")
	check("wrong scope oauthbearer", "OAUTHBEARER", oauthTestUser, other.AccessToken, "insufficient_scope", "bearer")
	check("wrong user oauthbearer", "OAUTHBEARER", "bob@example.test", tok.AccessToken, "invalid_token", "bearer")
	s.Revoke(tok.AccessToken)
	check("revoked", "XOAUTH2", oauthTestUser, tok.AccessToken, "401", "bearer")
	tok2, _ := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	s.Revoke(tok2.RefreshToken) // revokes the family, including the access token
	check("family revoked", "XOAUTH2", oauthTestUser, tok2.AccessToken, "401", "bearer")
	tok3, _ := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	clk.Add(time.Hour - time.Second)
	if _, err := v.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok3.AccessToken}); err != nil {
		t.Fatalf("valid until expiry: %v", err)
	}
	clk.Add(time.Second)
	check("expired", "XOAUTH2", oauthTestUser, tok3.AccessToken, "401", "bearer")

	tok4, _ := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	clk.Add(time.Hour - 6*time.Second)
	early := v.WithMargin(5 * time.Second)
	if _, err := early.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok4.AccessToken}); err != nil {
		t.Fatalf("6 s before expiry with a 5 s margin: %v", err)
	}
	clk.Add(time.Second)
	if _, err := early.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok4.AccessToken}); err == nil {
		t.Fatal("5 s before expiry with a 5 s margin: accepted")
	}

	ms := v.WithProfile(OAuthMicrosoft)
	_, err = ms.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok3.AccessToken})
	var rej *RejectedTokenError
	if !errors.As(err, &rej) || rej.Reason != RejectExpired {
		t.Fatalf("Microsoft profile: %v", err)
	}
	var te *sasl.TokenError
	if errors.As(err, &te) {
		t.Error("Microsoft profile must not produce an error challenge")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := v.VerifyToken(cctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Token: tok3.AccessToken}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	var _ sasl.TokenVerifier = v
}

func TestOAuthFaults(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {oauthTestClient}, "client_secret": {oauthTestSecret}}
	do := func() (*http.Response, []byte) {
		t.Helper()
		resp, err := s.HTTPClient().PostForm(s.TokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	s.InjectFault(OAuthFault{Kind: FaultStatus, Times: 3})
	for i := range 3 {
		if resp, b := do(); resp.StatusCode != 503 || !strings.Contains(string(b), "temporarily_unavailable") {
			t.Fatalf("503 #%d: %d %s", i, resp.StatusCode, b)
		}
	}
	if resp, _ := do(); resp.StatusCode != 200 {
		t.Fatalf("after the faults: %d", resp.StatusCode)
	}
	if s.Requests(GrantRefreshToken) != 4 || s.Issued(GrantRefreshToken) != 1 || s.FaultsServed() != 3 {
		t.Errorf("counters: %d %d %d", s.Requests(GrantRefreshToken), s.Issued(GrantRefreshToken), s.FaultsServed())
	}

	s.InjectFault(OAuthFault{Kind: FaultRateLimit, RetryAfter: 2 * time.Second})
	if resp, _ := do(); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("429: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	s.InjectFault(OAuthFault{Kind: FaultInvalidGrant})
	if resp, b := do(); resp.StatusCode != 400 || !strings.Contains(string(b), `"invalid_grant"`) {
		t.Errorf("invalid_grant: %d %s", resp.StatusCode, b)
	}
	s.InjectFault(OAuthFault{Kind: FaultHTML, Status: 403})
	if resp, b := do(); resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "<html>") {
		t.Errorf("html: %d %s", resp.StatusCode, b)
	}
	s.InjectFault(OAuthFault{Kind: FaultNonJSON})
	if resp, b := do(); resp.StatusCode != 200 || json.Valid(b) {
		t.Errorf("non-JSON: %d %s", resp.StatusCode, b)
	}
	// Per grant: a client_credentials fault does not touch refreshes.
	s.InjectFault(OAuthFault{Kind: FaultStatus, Status: 500, Grant: GrantClientCredentials})
	if resp, _ := do(); resp.StatusCode != 200 {
		t.Errorf("fault for another grant applied: %d", resp.StatusCode)
	}
	if s.PendingFaults() != 1 {
		t.Errorf("PendingFaults = %d", s.PendingFaults())
	}
	s.ClearFaults()
	s.InjectFault(OAuthFault{Kind: FaultStatus, Times: -1})
	for range 3 {
		if resp, _ := do(); resp.StatusCode != 503 {
			t.Fatalf("unlimited fault: %d", resp.StatusCode)
		}
	}
	if s.PendingFaults() != -1 {
		t.Errorf("PendingFaults = %d", s.PendingFaults())
	}
	s.ClearFaults()
	s.InjectFault(OAuthFault{Kind: FaultDrop})
	if _, err := s.HTTPClient().PostForm(s.TokenURL(), form); err == nil {
		t.Error("dropped connection gave an answer")
	}

	// x/oauth2 sees the faults as errors with the status and body.
	s.InjectFault(OAuthFault{Kind: FaultStatus, Status: 502})
	_, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 502 {
		t.Errorf("x/oauth2 on 502: %v", err)
	}
}

func TestOAuthFaultSlow(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	hold := make(chan struct{})
	taken := make(chan struct{}, 2)
	s.InjectFault(OAuthFault{Kind: FaultSlow, Hold: hold, Taken: taken, Times: 2})

	// A caller whose context ends leaves; the request is aborted.
	ctx, cancel := context.WithCancel(oauthCtx(s))
	errc := make(chan error, 1)
	go func() {
		_, err := oauthConfig(s).TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		errc <- err
	}()
	<-taken
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}

	// A held request completes normally once released.
	go func() {
		_, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token()
		errc <- err
	}()
	<-taken
	if s.Issued(GrantRefreshToken) != 0 {
		t.Fatal("issued while held")
	}
	close(hold)
	if err := <-errc; err != nil {
		t.Fatalf("released request: %v", err)
	}
	if s.Issued(GrantRefreshToken) != 1 {
		t.Errorf("Issued = %d", s.Issued(GrantRefreshToken))
	}
}

func TestOAuthFaultSlowClose(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	rt, _ := s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	taken := make(chan struct{}, 1)
	s.InjectFault(OAuthFault{Kind: FaultSlow, Delay: time.Hour, Taken: taken})
	errc := make(chan error, 1)
	go func() {
		_, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token()
		errc <- err
	}()
	<-taken
	s.Close() // must not wait for the hour
	if err := <-errc; err == nil {
		t.Fatal("request held by a closing server succeeded")
	}
}

func TestOAuthConcurrentRefresh(t *testing.T) {
	s, _ := newOAuthTestServer(t, &OAuthOptions{Refresh: RefreshRotateDetectReuse})
	const n = 20
	rts := make([]string, n)
	for i := range rts {
		rts[i], _ = s.SeedRefreshToken(oauthTestClient, oauthTestUser, GmailScope)
	}
	v := s.TokenVerifier(GmailScope)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt := rts[i]
			for range 5 {
				tok, err := oauthConfig(s).TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token()
				if err != nil {
					errs <- err
					return
				}
				rt = tok.RefreshToken
				if _, err := v.VerifyToken(context.Background(), sasl.TokenRequest{Mechanism: "XOAUTH2", Username: oauthTestUser, Token: tok.AccessToken}); err != nil {
					errs <- err
					return
				}
				_ = s.Requests("*")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.Issued(GrantRefreshToken) != n*5 || s.ReuseDetected() != 0 {
		t.Errorf("Issued %d, reuse %d", s.Issued(GrantRefreshToken), s.ReuseDetected())
	}
}

func TestOAuthBadRequests(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	do := func(method, ctype, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, s.TokenURL(), strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
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
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		method, ctype, body string
		status              int
		code                string
	}{
		{"GET", "", "", 405, "invalid_request"},
		{"POST", "application/json", `{"grant_type":"refresh_token"}`, 400, "invalid_request"},
		{"POST", form, "grant_type=refresh_token&grant_type=client_credentials", 400, "invalid_request"},
		{"POST", form, "%zz", 400, "invalid_request"},
		{"POST", form, "", 400, "invalid_request"},
		{"POST", form, "grant_type=password", 400, "unsupported_grant_type"},
		{"POST", form, "grant_type=refresh_token&client_id=" + oauthTestClient + "&client_secret=" + oauthTestSecret, 400, "invalid_request"},
		{"POST", form, strings.Repeat("a", maxOAuthRequestBody+10), 400, "invalid_request"},
	}
	for _, c := range cases {
		if st, m := do(c.method, c.ctype, c.body); st != c.status || m["error"] != c.code {
			t.Errorf("%s %s %.40q: %d %v, want %d %s", c.method, c.ctype, c.body, st, m, c.status, c.code)
		}
	}
}

func TestOAuthFormatHidesSecrets(t *testing.T) {
	s, _ := newOAuthTestServer(t, nil)
	tok, _ := s.IssueToken(oauthTestClient, oauthTestUser, GmailScope)
	c := OAuthClient{ID: "x", Secret: oauthTestSecret}
	for _, v := range []any{s, c, &c, s.TokenVerifier()} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{oauthTestSecret, tok.AccessToken, tok.RefreshToken} {
				if strings.Contains(out, secret) {
					t.Errorf("%s of %T reveals a secret: %s", verb, v, out)
				}
			}
		}
	}
}

func TestOAuthPublicClientBasicEmptySecret(t *testing.T) {
	s, _ := newOAuthTestServer(t, &OAuthOptions{AuthStyle: oauth2.AuthStyleInHeader})
	_ = s.AddClient(OAuthClient{ID: "public"})
	rt, _ := s.SeedRefreshToken("public", oauthTestUser, GmailScope)
	conf := &oauth2.Config{ClientID: "public", Endpoint: s.Endpoint()}
	if _, err := conf.TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token(); err != nil {
		t.Fatalf("public client, empty Basic secret: %v", err)
	}
	conf.ClientSecret = "invented"
	if _, err := conf.TokenSource(oauthCtx(s), &oauth2.Token{RefreshToken: rt}).Token(); retrieveCode(err) != "invalid_client" {
		t.Fatalf("public client with a secret: %v", err)
	}
}

func TestStartOAuthServerAddr(t *testing.T) {
	s, err := StartOAuthServer(&OAuthOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || s.Certificate() != nil || s.TLSConfig() != nil {
		t.Errorf("URL %s", s.URL)
	}
	resp, err := s.HTTPClient().Get(s.URL + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	if _, err := StartOAuthServer(&OAuthOptions{Addr: strings.TrimPrefix(s.URL, "http://")}); err == nil || !strings.HasPrefix(err.Error(), "sasltest: ") {
		t.Errorf("address in use: %v", err)
	}
}

func TestOAuthInternalFormatHidesSecrets(t *testing.T) {
	r, e := parseOAuthForm("POST", "application/x-www-form-urlencoded", "", strings.NewReader("grant_type=refresh_token&client_secret="+oauthTestSecret))
	if e != nil {
		t.Fatal(e)
	}
	key, _ := oauthTestKeys(t)
	jt, err := parseJWT(signTestJWT(t, key, map[string]any{"alg": "RS256"}, map[string]any{"sub": oauthTestSecret}))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{r, jt} {
		if out := fmt.Sprintf("%+v %#v", v, v); strings.Contains(out, oauthTestSecret) {
			t.Errorf("%T prints a secret: %s", v, out)
		}
	}
}
