package providers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

const (
	acClientID     = "1234567890-abcdefghijklmnop.apps.googleusercontent.com"
	acClientSecret = "GOCSPX-installedAppSecret_0123456789"
)

// googleAuthServer behaves like Google's OAuth 2.0 endpoints for installed
// applications: the authorization endpoint auto-approves (or denies) and
// redirects to the loopback redirect URI; the token endpoint exchanges a
// code once, checking redirect_uri, the client secret and the PKCE
// verifier.
type googleAuthServer struct {
	*httptest.Server
	deny bool

	mu       sync.Mutex
	codes    map[string]acGrant
	authReqs []url.Values
	tokReqs  []url.Values
	issued   []string
}

type acGrant struct {
	challenge, redirect, scope string
}

func newGoogleAuthServer(t *testing.T) *googleAuthServer {
	t.Helper()
	s := &googleAuthServer{codes: map[string]acGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /o/oauth2/v2/auth", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *googleAuthServer) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     acClientID,
		ClientSecret: acClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: s.URL + "/o/oauth2/v2/auth", TokenURL: s.URL + "/token"},
		Scopes:       []string{ScopeGmail},
	}
}

func (s *googleAuthServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.authReqs = append(s.authReqs, q)
	s.mu.Unlock()
	ru, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != acClientID:
		http.Error(w, "Error 401: invalid_client", http.StatusUnauthorized)
		return
	case err != nil || ru.Scheme != "http" || (ru.Hostname() != "127.0.0.1" && ru.Hostname() != "::1"):
		http.Error(w, "Error 400: redirect_uri_mismatch", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("scope") == "":
		http.Error(w, "Error 400: invalid_request", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		http.Error(w, "Error 400: invalid_request (PKCE required for this test)", http.StatusBadRequest)
		return
	}
	back := ru.Query()
	back.Set("state", q.Get("state"))
	if s.deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user denied <b>access</b>\x00")
	} else {
		code := "4/0AeaYSHA" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(len(s.codes), q.Get("state"))))[:24]
		s.mu.Lock()
		s.codes[code] = acGrant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
		s.mu.Unlock()
		back.Set("code", code)
		back.Set("scope", q.Get("scope"))
	}
	ru.RawQuery = back.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (s *googleAuthServer) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	s.mu.Lock()
	s.tokReqs = append(s.tokReqs, f)
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // one use
	s.mu.Unlock()
	fail := func(code, desc string) { googleError(w, 400, code, desc) }
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code":
		fail("unsupported_grant_type", "Invalid grant_type: "+f.Get("grant_type"))
	case f.Get("client_id") != acClientID || f.Get("client_secret") != acClientSecret:
		googleError(w, 401, "invalid_client", "Unauthorized")
	case !ok:
		fail("invalid_grant", "Malformed auth code.")
	case f.Get("redirect_uri") != g.redirect:
		fail("redirect_uri_mismatch", "Bad Request")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		fail("invalid_grant", "Invalid code verifier.")
	default:
		s.mu.Lock()
		at := fmt.Sprintf("ya29.a0AcM612x%02dAccessTokenValue", len(s.issued))
		s.issued = append(s.issued, at)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token":  at,
			"expires_in":    3599,
			"refresh_token": "1//0gRefreshTokenValue-abcdefghijklmnop",
			"scope":         g.scope,
			"token_type":    "Bearer",
		})
	}
}

// browser plays the user's browser: it follows the authorization URL and
// its redirect to the loopback listener, and reports the page it ends on.
type browser struct {
	mu     sync.Mutex
	status int
	body   string
	err    error
	done   chan struct{}
	tamper func(string) string
}

func newBrowser() *browser { return &browser{done: make(chan struct{})} }

func (b *browser) open(authURL string) {
	if b.tamper != nil {
		authURL = b.tamper(authURL)
	}
	go func() {
		defer close(b.done)
		resp, err := http.Get(authURL) // follows the redirect to the listener
		b.mu.Lock()
		defer b.mu.Unlock()
		if err != nil {
			b.err = err
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		b.status, b.body = resp.StatusCode, string(body)
	}()
}

func (b *browser) page(t *testing.T) (int, string) {
	t.Helper()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		t.Fatalf("browser: %v", b.err)
	}
	return b.status, b.body
}

func TestAuthCodeFlowPKCE(t *testing.T) {
	t.Parallel()
	srv := newGoogleAuthServer(t)
	br := newBrowser()
	cfg := srv.config()
	tok, err := AuthCodeFlow(context.Background(), cfg, br.open, &AuthCodeOptions{
		AuthURLOptions: []oauth2.AuthCodeOption{oauth2.AccessTypeOffline, oauth2.ApprovalForce},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "1//0gRefreshTokenValue-abcdefghijklmnop" || !strings.HasPrefix(tok.AccessToken, "ya29.") {
		t.Fatalf("token %q / refresh set %v", tok.AccessToken, tok.RefreshToken != "")
	}
	status, body := br.page(t)
	if status != http.StatusOK || !strings.Contains(body, "You can close this window") {
		t.Fatalf("page %d %q", status, body)
	}
	if cfg.RedirectURL != "" {
		t.Fatal("the caller's config was modified")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	a := srv.authReqs[0]
	if a.Get("access_type") != "offline" || a.Get("prompt") != "consent" || len(a.Get("state")) < 43 {
		t.Fatalf("authorization request %v", a)
	}
	ru, _ := url.Parse(a.Get("redirect_uri"))
	if host, port, _ := net.SplitHostPort(ru.Host); host != "127.0.0.1" || port == "0" || port == "" || ru.Path != "/" {
		t.Fatalf("redirect URI %q", ru)
	}
	if len(srv.tokReqs) != 1 || srv.tokReqs[0].Get("code_verifier") == "" || srv.tokReqs[0].Get("redirect_uri") != a.Get("redirect_uri") {
		t.Fatalf("token requests %d", len(srv.tokReqs))
	}
	// The listener is gone.
	if c, err := net.Dial("tcp", ru.Host); err == nil {
		c.Close()
		t.Fatal("listener still open")
	}
}

func TestAuthCodeFlowStateMismatch(t *testing.T) {
	t.Parallel()
	srv := newGoogleAuthServer(t)
	br := newBrowser()
	br.tamper = func(u string) string {
		pu, _ := url.Parse(u)
		q := pu.Query()
		q.Set("state", "forged-state-from-another-session")
		pu.RawQuery = q.Encode()
		return pu.String()
	}
	_, err := AuthCodeFlow(context.Background(), srv.config(), br.open, nil)
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("got %v", err)
	}
	status, body := br.page(t)
	if status != http.StatusBadRequest || !strings.Contains(body, "state mismatch") {
		t.Fatalf("page %d %q", status, body)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.tokReqs) != 0 {
		t.Fatal("a code was exchanged despite the state mismatch")
	}
}

func TestAuthCodeFlowAccessDenied(t *testing.T) {
	t.Parallel()
	srv := newGoogleAuthServer(t)
	srv.deny = true
	br := newBrowser()
	_, err := AuthCodeFlow(context.Background(), srv.config(), br.open, nil)
	var ae *AuthorizationError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAccessDenied) || ae.Code != "access_denied" {
		t.Fatalf("got %v", err)
	}
	if strings.ContainsRune(ae.Description, 0) || !strings.Contains(ae.Description, "denied") {
		t.Fatalf("description %q", ae.Description)
	}
	status, body := br.page(t)
	if status != http.StatusForbidden || strings.Contains(body, "<b>") {
		t.Fatalf("page %d %q", status, body)
	}
}

func TestAuthCodeFlowExchangeErrorHygiene(t *testing.T) {
	t.Parallel()
	srv := newGoogleAuthServer(t)
	cfg := srv.config()
	cfg.ClientSecret = "GOCSPX-wrongSecretValue_987654321"
	br := newBrowser()
	_, err := AuthCodeFlow(context.Background(), cfg, br.open, nil)
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v", err)
	}
	srv.mu.Lock()
	code := srv.tokReqs[0].Get("code")
	verifier := srv.tokReqs[0].Get("code_verifier")
	srv.mu.Unlock()
	assertNoSecret(t, err, cfg.ClientSecret, code, verifier)
}

func TestAuthCodeFlowContext(t *testing.T) {
	t.Parallel()
	srv := newGoogleAuthServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var listener string
	_, err := AuthCodeFlow(ctx, srv.config(), func(u string) {
		pu, _ := url.Parse(u)
		ru, _ := url.Parse(pu.Query().Get("redirect_uri"))
		listener = ru.Host
		cancel() // the user never comes back
	}, nil)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "providers: ") {
		t.Fatalf("got %v", err)
	}
	if c, err := net.Dial("tcp", listener); err == nil {
		c.Close()
		t.Fatal("listener still open")
	}
}

func TestAuthCodeFlowRejects(t *testing.T) {
	t.Parallel()
	srv := newGoogleAuthServer(t)
	open := func(string) {}
	for name, o := range map[string]*AuthCodeOptions{
		"public address":   {ListenAddr: "0.0.0.0:0"},
		"host name":        {ListenAddr: "localhost:0"},
		"no port":          {ListenAddr: "127.0.0.1"},
		"relative path":    {RedirectPath: "callback"},
		"unbindable":       {ListenAddr: "127.0.0.1:99999"},
		"ipv6 bad literal": {ListenAddr: "[::1:0"},
		"public redirect":  {RedirectHost: "example.com"},
	} {
		if _, err := AuthCodeFlow(context.Background(), srv.config(), open, o); err == nil || !strings.HasPrefix(err.Error(), "providers: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := AuthCodeFlow(context.Background(), &oauth2.Config{}, open, nil); err == nil {
		t.Error("empty config accepted")
	}
	if _, err := AuthCodeFlow(context.Background(), srv.config(), nil, nil); err == nil {
		t.Error("nil openURL accepted")
	}
}

func TestAuthCodeCallbackOneShot(t *testing.T) {
	t.Parallel()
	cb := newCallback("/cb", "S")
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		cb.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	if rec := get("/favicon.ico"); rec.Code != http.StatusNotFound {
		t.Fatalf("favicon: %d", rec.Code)
	}
	rec := httptest.NewRecorder()
	cb.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb?state=S&code=x", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
	if rec := get("/cb?state=S&code=the-code"); rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("first: %d", rec.Code)
	}
	if rec := get("/cb?state=S&code=second"); rec.Code != http.StatusGone {
		t.Fatalf("second: %d", rec.Code)
	}
	res := <-cb.result
	if res.code != "the-code" || res.err != nil {
		t.Fatalf("result %+v", res)
	}
	select {
	case r := <-cb.result:
		t.Fatalf("second result %+v", r)
	default:
	}
	cb2 := newCallback("/", "S")
	rec = httptest.NewRecorder()
	cb2.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?state=S", nil))
	if res := <-cb2.result; res.err == nil || rec.Code != http.StatusBadRequest {
		t.Fatalf("no code: %d %v", rec.Code, res.err)
	}
}
