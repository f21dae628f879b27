package providers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// fakeClock is a manually advanced clock. Sleep advances it instead of
// waiting, and records the requested delays.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// authServer is a token endpoint that behaves like Google's
// (https://oauth2.googleapis.com/token) or the Microsoft identity
// platform's (/oauth2/v2.0/token) for the refresh_token grant: it checks
// the documented request fields, answers with their documented JSON bodies,
// and, in Microsoft style, rotates the refresh token on every use. Reusing
// a rotated refresh token revokes its whole family (as OAuth 2.0 Security
// BCP section 4.14 recommends) and is counted.
type authServer struct {
	t         testing.TB
	srv       *httptest.Server
	microsoft bool
	clientID  string
	secret    string
	lifetime  int // expires_in
	now       func() time.Time

	requests     atomic.Int64
	reuse        atomic.Int64
	invalidGrant atomic.Int64

	mu       sync.Mutex
	live     map[string]int       // refresh token -> family, while valid
	used     map[string]int       // rotated-away refresh token -> family
	revoked  map[int]bool         // family -> revoked
	access   map[string]time.Time // issued access token -> expiry
	families int
	faults   []func(w http.ResponseWriter) // served first, one per request
	// beforeReply, if set, runs before a successful reply is written.
	beforeReply func()
	// body, if set, replaces the success body (after rotation bookkeeping).
	body func(access, refresh string) string
}

func newAuthServer(t testing.TB, microsoft bool) *authServer {
	a := &authServer{
		t:         t,
		microsoft: microsoft,
		clientID:  "client-" + randHex(4) + ".apps.example",
		secret:    "GOCSPX-" + randHex(12),
		lifetime:  3599,
		now:       time.Now,
		live:      map[string]int{},
		used:      map[string]int{},
		revoked:   map[int]bool{},
		access:    map[string]time.Time{},
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

// grant issues a new refresh token family, as an authorization would.
func (a *authServer) grant() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.families++
	rt := a.newRefresh()
	a.live[rt] = a.families
	return rt
}

func (a *authServer) newRefresh() string {
	if a.microsoft {
		return "M.C5" + randHex(24)
	}
	return "1//0g" + randHex(24)
}

func (a *authServer) config() *oauth2.Config {
	scopes := []string{ScopeGmail}
	ep := GoogleEndpoint()
	if a.microsoft {
		scopes = MicrosoftMailScopes()
		ep = MicrosoftEndpoint("contoso.onmicrosoft.com")
	}
	ep.TokenURL = a.srv.URL + "/token"
	return &oauth2.Config{ClientID: a.clientID, ClientSecret: a.secret, Endpoint: ep, Scopes: scopes}
}

func (a *authServer) fault(f func(w http.ResponseWriter)) {
	a.mu.Lock()
	a.faults = append(a.faults, f)
	a.mu.Unlock()
}

func (a *authServer) faultStatus(code int, contentType, body string, hdr ...string) {
	a.fault(func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	})
}

func (a *authServer) oauthError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]any{"error": code, "error_description": desc}
	if a.microsoft {
		body["error_description"] = "AADSTS70000: " + desc + "\r\nTrace ID: 0f3a\r\nCorrelation ID: 5b1c\r\nTimestamp: 2026-03-01 12:00:00Z"
		body["error_codes"] = []int{70000}
		body["timestamp"] = "2026-03-01 12:00:00Z"
		body["trace_id"] = "0f3a"
		body["correlation_id"] = "5b1c"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (a *authServer) serve(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		a.oauthError(w, 400, "invalid_request", "bad content type "+strconv.Quote(ct))
		return
	}
	if err := r.ParseForm(); err != nil {
		a.oauthError(w, 400, "invalid_request", "unparseable body")
		return
	}
	a.mu.Lock()
	if len(a.faults) > 0 {
		f := a.faults[0]
		a.faults = a.faults[1:]
		a.mu.Unlock()
		f(w)
		return
	}
	a.mu.Unlock()

	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if id != a.clientID || secret != a.secret {
		a.oauthError(w, 401, "invalid_client", "The OAuth client was not found.")
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		a.oauthError(w, 400, "unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	if a.microsoft && r.PostForm.Get("scope") == "" {
		a.oauthError(w, 400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		return
	}
	rt := r.PostForm.Get("refresh_token")

	a.mu.Lock()
	fam, ok := a.live[rt]
	if ok && a.revoked[fam] {
		ok = false
	}
	if !ok {
		if fam, reused := a.used[rt]; reused {
			a.reuse.Add(1)
			a.revoked[fam] = true
		}
		a.mu.Unlock()
		a.invalidGrant.Add(1)
		a.oauthError(w, 400, "invalid_grant", "Token has been expired or revoked.")
		return
	}
	newRT := ""
	if a.microsoft {
		newRT = a.newRefresh()
		delete(a.live, rt)
		a.used[rt] = fam
		a.live[newRT] = fam
	}
	access := "ya29.a0" + randHex(20)
	if a.microsoft {
		access = "eyJ0eXAiOiJKV1Qi." + randHex(20)
	}
	a.access[access] = a.now().Add(time.Duration(a.lifetime) * time.Second)
	before, bodyFn := a.beforeReply, a.body
	a.mu.Unlock()

	if before != nil {
		before()
	}
	var body string
	switch {
	case bodyFn != nil:
		body = bodyFn(access, newRT)
	case a.microsoft:
		b, _ := json.Marshal(map[string]any{
			"token_type": "Bearer", "scope": r.PostForm.Get("scope"), "expires_in": a.lifetime,
			"ext_expires_in": a.lifetime, "access_token": access, "refresh_token": newRT,
		})
		body = string(b)
	default:
		b, _ := json.Marshal(map[string]any{
			"access_token": access, "expires_in": a.lifetime, "scope": ScopeGmail, "token_type": "Bearer",
		})
		body = string(b)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(body))
}

// accessValid is the resource server's check: the token was issued here
// and has more than grace left.
func (a *authServer) accessValid(tok string, now time.Time, grace time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.access[tok]
	return ok && now.Add(grace).Before(exp)
}

// liveRefresh reports whether rt is currently usable.
func (a *authServer) liveRefresh(rt string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	fam, ok := a.live[rt]
	return ok && !a.revoked[fam]
}

func (a *authServer) String() string {
	return fmt.Sprintf("authServer{requests=%d reuse=%d invalid_grant=%d}", a.requests.Load(), a.reuse.Load(), a.invalidGrant.Load())
}
