package providers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

const (
	saTestEmail    = "mailer@project-1234.iam.gserviceaccount.com"
	saTestClientID = "113456789012345678901"
	saTestKeyID    = "5d6c1e0f6b3a4c2d9e8f7a6b5c4d3e2f1a0b9c8d"
)

var saKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// saKeyPEM is the test key as a service account key file carries it.
func saKeyPEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(saKey())
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// saKeyJSON returns a service account JSON key in the format the Google
// Cloud console downloads, with token_uri pointing at tokenURI.
func saKeyJSON(tokenURI string) []byte {
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  "project-1234",
		"private_key_id":              saTestKeyID,
		"private_key":                 saKeyPEM(),
		"client_email":                saTestEmail,
		"client_id":                   saTestClientID,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/mailer%40project-1234.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// saAssertion is a verified JWT bearer assertion as the endpoint saw it.
type saAssertion struct {
	Header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	Claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Sub   string `json:"sub"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	ReceivedAt time.Time
}

// googleTokenServer behaves like https://oauth2.googleapis.com/token for the
// JWT bearer grant of a service account with domain-wide delegation: it
// verifies the assertion's RS256 signature with the account's public key,
// its iss, aud, iat and exp (at most one hour), and answers with Google's
// documented success and error bodies.
type googleTokenServer struct {
	*httptest.Server
	pub *rsa.PublicKey

	mu         sync.Mutex
	granted    map[string]bool // scope granted to the client ID in the Admin console
	users      map[string]bool // users of the Workspace domain
	assertions []saAssertion
	perUser    map[string]int
	hold       chan struct{} // when set, requests wait for the client to give up
	arrived    chan struct{}
	issued     atomic.Int64
}

func newGoogleTokenServer(t *testing.T, grantedScopes ...string) *googleTokenServer {
	t.Helper()
	s := &googleTokenServer{
		pub:     &saKey().PublicKey,
		granted: map[string]bool{},
		users:   map[string]bool{},
		perUser: map[string]int{},
	}
	for _, sc := range grantedScopes {
		s.granted[sc] = true
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *googleTokenServer) tokenURL() string { return s.URL + "/token" }

func (s *googleTokenServer) addUsers(users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		s.users[u] = true
	}
}

func googleError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *googleTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	hold, arrived := s.hold, s.arrived
	s.mu.Unlock()
	if hold != nil {
		close(arrived)
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		googleError(w, 400, "invalid_request", "Bad Request")
		return
	}
	if err := r.ParseForm(); err != nil {
		googleError(w, 400, "invalid_request", "Bad Request")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		googleError(w, 400, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	a, ok := s.verify(r.PostForm.Get("assertion"))
	if !ok {
		googleError(w, 400, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	now := time.Now()
	if a.Claims.Aud != s.tokenURL() || a.Claims.Iss == "" {
		googleError(w, 400, "invalid_grant", "Invalid JWT: aud or iss")
		return
	}
	if a.Claims.Iat > now.Unix() || a.Claims.Exp > a.Claims.Iat+3600 || a.Claims.Exp < now.Unix() {
		googleError(w, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	a.ReceivedAt = now
	s.mu.Lock()
	s.assertions = append(s.assertions, a)
	known := s.users[a.Claims.Sub]
	granted := a.Claims.Scope != ""
	for _, sc := range strings.Fields(a.Claims.Scope) {
		granted = granted && s.granted[sc]
	}
	s.perUser[a.Claims.Sub]++
	s.mu.Unlock()
	switch {
	case a.Claims.Sub != "" && !granted:
		googleError(w, 401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		return
	case a.Claims.Sub != "" && !known:
		googleError(w, 400, "invalid_grant", "Invalid email or User ID")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	n := s.issued.Add(1)
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("ya29.c.b0Aaekm1K%dsecret%s", n, strings.Repeat("x", 40)),
		"expires_in":   3599,
		"token_type":   "Bearer",
	})
}

// verify checks the RS256 signature and decodes the assertion.
func (s *googleTokenServer) verify(jwt string) (saAssertion, bool) {
	var a saAssertion
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return a, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return a, false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, digest[:], sig) != nil {
		return a, false
	}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	c, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(h, &a.Header) != nil || json.Unmarshal(c, &a.Claims) != nil {
		return a, false
	}
	return a, a.Header.Alg == "RS256"
}

func (s *googleTokenServer) requests(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perUser[user]
}

func newTestServiceAccount(t *testing.T, srv *googleTokenServer, opts *ServiceAccountOptions) *ServiceAccount {
	t.Helper()
	sa, err := NewServiceAccount(saKeyJSON(srv.tokenURL()), opts)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func TestServiceAccountAssertion(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	srv.addUsers("alice@example.com")
	sa := newTestServiceAccount(t, srv, nil)
	before := time.Now()
	tok, err := sa.User("alice@example.com").Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.") || tok.Type() != "Bearer" || tok.Expiry.Before(before.Add(59*time.Minute)) {
		t.Fatalf("token type %q expiry %v", tok.Type(), tok.Expiry)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.assertions) != 1 {
		t.Fatalf("%d assertions", len(srv.assertions))
	}
	// The endpoint verified the RS256 signature with the test key; these
	// are the claims it received.
	a := srv.assertions[0]
	if a.Header.Alg != "RS256" || a.Header.Typ != "JWT" || a.Header.Kid != saTestKeyID {
		t.Errorf("header %+v", a.Header)
	}
	c := a.Claims
	if c.Iss != saTestEmail {
		t.Errorf("iss %q", c.Iss)
	}
	if c.Scope != "https://mail.google.com/" {
		t.Errorf("scope %q", c.Scope)
	}
	if c.Aud != srv.tokenURL() {
		t.Errorf("aud %q, want the token URI %q", c.Aud, srv.tokenURL())
	}
	if c.Sub != "alice@example.com" {
		t.Errorf("sub %q", c.Sub)
	}
	if c.Iat > a.ReceivedAt.Unix() {
		t.Errorf("iat %d after receipt %d", c.Iat, a.ReceivedAt.Unix())
	}
	if c.Exp != c.Iat+3600 {
		t.Errorf("exp %d, want iat+3600 = %d", c.Exp, c.Iat+3600)
	}
}

func TestServiceAccountScopesAndTokenURL(t *testing.T) {
	t.Parallel()
	const imapAdmin = "https://www.googleapis.com/auth/gmail.imap_admin"
	srv := newGoogleTokenServer(t, imapAdmin)
	srv.addUsers("bob@example.com")
	// The key names another token URI; the option overrides it.
	sa, err := NewServiceAccount(saKeyJSON("https://oauth2.googleapis.com/token"), &ServiceAccountOptions{
		Scopes:   []string{imapAdmin},
		TokenURL: srv.tokenURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.User("bob@example.com").Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	got := srv.assertions[0].Claims.Scope
	srv.mu.Unlock()
	if got != imapAdmin {
		t.Fatalf("scope %q", got)
	}
	if sa.ClientEmail() != saTestEmail || sa.ClientID() != saTestClientID || sa.Scopes()[0] != imapAdmin {
		t.Fatalf("accessors %q %q %v", sa.ClientEmail(), sa.ClientID(), sa.Scopes())
	}
}

func TestServiceAccountDelegationNotGranted(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t) // nothing granted in the Admin console
	srv.addUsers("alice@example.com")
	sa := newTestServiceAccount(t, srv, nil)
	_, err := sa.User("alice@example.com").Fetch(context.Background())
	var de *DelegationError
	if !errors.As(err, &de) || !errors.Is(err, ErrDelegationDenied) {
		t.Fatalf("got %T %v, want *DelegationError", err, err)
	}
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "unauthorized_client" || oe.StatusCode != 401 {
		t.Fatalf("underlying error %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"providers: ", saTestClientID, "https://mail.google.com/", "domain-wide delegation", "Admin console", "alice@example.com"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if de.AtServer || errors.Is(err, ErrReauthRequired) || classifyRetry(err) {
		t.Fatalf("classification: atServer=%v reauth=%v retry=%v", de.AtServer, errors.Is(err, ErrReauthRequired), classifyRetry(err))
	}
	assertNoSecret(t, err, saKeyPEM(), pemBody(saKeyPEM()))
}

func TestServiceAccountUnknownUser(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	sa := newTestServiceAccount(t, srv, nil)
	_, err := sa.User("nobody@example.com").Fetch(context.Background())
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !strings.Contains(oe.Description, "Invalid email or User ID") {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, ErrDelegationDenied) || classifyRetry(err) {
		t.Fatalf("misclassified: %v", err)
	}
}

func TestServiceAccountRejectsBadUser(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	sa := newTestServiceAccount(t, srv, nil)
	for _, u := range []string{"", "no-at-sign", "a b@example.com", "x@y\n", strings.Repeat("a", 400) + "@x"} {
		if _, err := sa.User(u).Fetch(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "providers: ") {
			t.Errorf("%q: %v", u, err)
		}
	}
	if n := srv.issued.Load(); n != 0 {
		t.Fatalf("%d tokens issued for bad addresses", n)
	}
	if _, err := sa.User("not an address").Token(context.Background()); err == nil {
		t.Fatal("Token accepted a bad address")
	}
	if n := sa.CachedUsers(); n != 0 {
		t.Fatalf("a bad address took %d cache places", n)
	}
}

func TestServiceAccountUserCache(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	srv.addUsers("alice@example.com")
	sa := newTestServiceAccount(t, srv, nil)
	ctx := context.Background()
	u := sa.User("alice@example.com")
	t1, err := u.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Another handle for the same user (in another case) shares the cache.
	t2, err := sa.User("Alice@Example.com").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if t1 != t2 || srv.requests("alice@example.com") != 1 {
		t.Fatalf("not cached: %d requests", srv.requests("alice@example.com"))
	}
	// A token the server rejected is dropped; the next call fetches anew.
	u.Invalidate(t1)
	t3, err := u.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if t3.AccessToken == t1.AccessToken || srv.requests("alice@example.com") != 2 {
		t.Fatalf("invalidate: %d requests", srv.requests("alice@example.com"))
	}
	sa.Forget("alice@example.com")
	if sa.CachedUsers() != 0 {
		t.Fatalf("%d cached after Forget", sa.CachedUsers())
	}
}

func TestServiceAccountLRUBound(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	users := make([]string, 8)
	for i := range users {
		users[i] = "user" + strconv.Itoa(i) + "@example.com"
	}
	srv.addUsers(users...)
	sa := newTestServiceAccount(t, srv, &ServiceAccountOptions{MaxUsers: 3})
	ctx := context.Background()
	get := func(u string) {
		t.Helper()
		if _, err := sa.User(u).Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := sa.CachedUsers(); n > 3 {
			t.Fatalf("%d users cached, bound is 3", n)
		}
	}
	get(users[0])
	get(users[1])
	get(users[2])
	get(users[0]) // users[0] is now the most recently used; users[1] the least
	get(users[3]) // evicts users[1]
	if sa.CachedUsers() != 3 {
		t.Fatalf("%d cached", sa.CachedUsers())
	}
	get(users[0])
	get(users[2])
	get(users[3])
	for u, want := range map[string]int{users[0]: 1, users[2]: 1, users[3]: 1, users[1]: 1} {
		if got := srv.requests(u); got != want {
			t.Errorf("%s: %d requests, want %d", u, got, want)
		}
	}
	get(users[1]) // was evicted: fetched again
	if got := srv.requests(users[1]); got != 2 {
		t.Fatalf("evicted user: %d requests, want 2", got)
	}

	// Under concurrency the bound holds and every caller gets its own
	// user's token.
	sa2 := newTestServiceAccount(t, srv, &ServiceAccountOptions{MaxUsers: 5})
	var wg sync.WaitGroup
	var over atomic.Bool
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				u := users[(g+i)%len(users)]
				if _, err := sa2.User(u).Token(ctx); err != nil {
					t.Error(err)
					return
				}
				if sa2.CachedUsers() > 5 {
					over.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if over.Load() || sa2.CachedUsers() != 5 {
		t.Fatalf("bound exceeded (over=%v, now %d)", over.Load(), sa2.CachedUsers())
	}
}

func TestServiceAccountDefaultBound(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	sa := newTestServiceAccount(t, srv, nil)
	if sa.users.max != DefaultMaxDelegatedUsers || DefaultMaxDelegatedUsers != 10000 {
		t.Fatalf("default bound %d", sa.users.max)
	}
}

func TestServiceAccountDiagnose(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	u := newTestServiceAccount(t, srv, nil).User("carol@example.com")

	// Gmail's XOAUTH2 error challenge for a token lacking the mail scope.
	lookup := &sasl.TokenError{Mechanism: "XOAUTH2", Status: "400", Schemes: "Bearer", Scope: "https://mail.google.com/"}
	err := u.Diagnose(fmt.Errorf("imap: %w", lookup))
	var de *DelegationError
	if !errors.As(err, &de) || !de.AtServer || !errors.Is(err, ErrDelegationDenied) || !errors.Is(err, lookup) {
		t.Fatalf("400 challenge: %v", err)
	}
	if !strings.Contains(err.Error(), saTestClientID) || !strings.Contains(err.Error(), "carol@example.com") {
		t.Fatalf("message %q", err)
	}
	// A server text saying "Lookup failed".
	text := errors.New("imap: NO [AUTHENTICATIONFAILED] Lookup failed (Failure)")
	if err := u.Diagnose(text); !errors.Is(err, ErrDelegationDenied) || !errors.Is(err, text) {
		t.Fatalf("lookup failed: %v", err)
	}
	// An expired token (401) is not a delegation problem.
	expired := &sasl.TokenError{Mechanism: "XOAUTH2", Status: "401", Schemes: "bearer"}
	if err := u.Diagnose(expired); err != error(expired) {
		t.Fatalf("401 changed: %v", err)
	}
	if u.Diagnose(nil) != nil {
		t.Fatal("nil diagnosed")
	}
}

func TestServiceAccountHonoursContext(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	srv.addUsers("alice@example.com")
	srv.hold, srv.arrived = make(chan struct{}), make(chan struct{})
	// If cancellation never reached the request, the server answers
	// after a while and the test fails instead of hanging.
	var once sync.Once
	release := func() { once.Do(func() { close(srv.hold) }) }
	defer release()
	watchdog := time.AfterFunc(time.Minute, release)
	defer watchdog.Stop()
	sa := newTestServiceAccount(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-srv.arrived
		cancel()
	}()
	// x/oauth2/jwt sends its request without a context; the request
	// would wait forever unless the caller's ctx reaches it.
	_, err := sa.User("alice@example.com").Fetch(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestServiceAccountNetworkErrorRetryable(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	sa := newTestServiceAccount(t, srv, nil)
	srv.Close()
	_, err := sa.User("alice@example.com").Fetch(context.Background())
	var te *TransientError
	if !errors.As(err, &te) || !classifyRetry(err) || !strings.HasPrefix(err.Error(), "providers: ") {
		t.Fatalf("got %T %v", err, err)
	}
}

func TestServiceAccountCacheOptions(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	srv.addUsers("alice@example.com")
	var errs atomic.Int32
	// Per-user caches get the options, with the user as Name.
	sa := newTestServiceAccount(t, srv, &ServiceAccountOptions{Cache: &CacheOptions{
		Retry:   &RetryPolicy{MaxAttempts: 1},
		OnError: func(error) { errs.Add(1) },
	}})
	if _, err := sa.User("nobody@example.com").Token(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if errs.Load() != 1 {
		t.Fatalf("OnError called %d times", errs.Load())
	}
	c := sa.users.peek("nobody@example.com")
	if c == nil || !strings.Contains(fmt.Sprint(c), "nobody@example.com") {
		t.Fatalf("cache %v", c)
	}
}

func TestNewServiceAccountInvalidKeys(t *testing.T) {
	t.Parallel()
	good := map[string]string{}
	if err := json.Unmarshal(saKeyJSON("https://oauth2.googleapis.com/token"), &good); err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) []byte {
		m := map[string]string{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == "\x00delete" {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	ecDER := func() string {
		// An EC key where an RSA key is required.
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	truncated := saKeyPEM()
	truncated = truncated[:len(truncated)/2]
	cases := map[string][]byte{
		"not JSON":        []byte("-----BEGIN PRIVATE KEY-----"),
		"JSON array":      []byte(`["service_account"]`),
		"authorized_user": with("type", "authorized_user"),
		"no type":         with("type", "\x00delete"),
		"no email":        with("client_email", "\x00delete"),
		"no key":          with("private_key", "\x00delete"),
		"garbage key":     with("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"truncated key":   with("private_key", truncated),
		"EC key":          with("private_key", ecDER()),
		"bad token_uri":   with("token_uri", "file:///etc/passwd"),
		"wrong type":      []byte(`{"type":"service_account","client_email":7}`),
	}
	for name, in := range cases {
		_, err := NewServiceAccount(in, nil)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: got %v, want ErrInvalidKey", name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "providers: ") {
			t.Errorf("%s: message %q", name, err)
		}
		assertNoSecret(t, err, pemBody(saKeyPEM()))
		if strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: key bytes in %q", name, err)
		}
	}
}

func TestServiceAccountFormat(t *testing.T) {
	t.Parallel()
	srv := newGoogleTokenServer(t, ScopeGmail)
	srv.addUsers("alice@example.com")
	sa := newTestServiceAccount(t, srv, nil)
	u := sa.User("alice@example.com")
	tok, err := u.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	body := pemBody(saKeyPEM())
	for _, v := range []any{sa, u, *sa, *u} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, body[:40]) || strings.Contains(s, tok.AccessToken) || strings.Contains(s, "PRIVATE KEY") {
				t.Fatalf("%s leaks: %s", verb, s)
			}
		}
	}
}

// pemBody returns the base64 body of a PEM block, without armour or line
// breaks, the way a leak would most likely show it.
func pemBody(p string) string {
	var b strings.Builder
	for _, line := range strings.Split(p, "\n") {
		if !strings.HasPrefix(line, "-----") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func FuzzNewServiceAccount(f *testing.F) {
	f.Add(saKeyJSON("https://oauth2.googleapis.com/token"))
	f.Add([]byte(`{"type":"service_account","client_email":"a@b","private_key":"x"}`))
	f.Add([]byte(`{"type":"authorized_user"}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`null`))
	body := pemBody(saKeyPEM())
	f.Fuzz(func(t *testing.T, in []byte) {
		sa, err := NewServiceAccount(in, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not match ErrInvalidKey", err)
			}
			if len(body) > 64 && strings.Contains(err.Error(), body[:64]) {
				t.Fatal("key material in error")
			}
			return
		}
		if sa.ClientEmail() == "" {
			t.Fatal("accepted a key without client_email")
		}
		_ = fmt.Sprint(sa)
	})
}
