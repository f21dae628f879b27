package providers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	devClientID   = "1234567890-tvclient.apps.googleusercontent.com"
	devSecret     = "GOCSPX-limitedInputDeviceSecret_42"
	devDeviceCode = "AH-1Ng3vNsDeviceCodeSecretValue0123456789"
)

// deviceServer behaves like Google's device authorization endpoints
// (https://oauth2.googleapis.com/device/code and the token endpoint with
// the device_code grant), or, with microsoft set, like the Microsoft
// identity platform's. Each poll takes the next scripted answer.
type deviceServer struct {
	*httptest.Server
	microsoft bool
	expiresIn int
	interval  int

	mu      sync.Mutex
	script  []string // poll answers: an error code, or "ok"
	polls   []time.Time
	authReq int
}

func newDeviceServer(t *testing.T, microsoft bool, script ...string) *deviceServer {
	t.Helper()
	s := &deviceServer{microsoft: microsoft, script: script, expiresIn: 1800, interval: 1}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device/code", s.deviceCode)
	mux.HandleFunc("POST /token", s.token)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *deviceServer) config() *oauth2.Config {
	c := &oauth2.Config{
		ClientID: devClientID,
		Endpoint: oauth2.Endpoint{DeviceAuthURL: s.URL + "/device/code", TokenURL: s.URL + "/token"},
		Scopes:   []string{ScopeGmail},
	}
	if !s.microsoft {
		c.ClientSecret = devSecret
	}
	return c
}

func (s *deviceServer) deviceCode(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	s.authReq++
	s.mu.Unlock()
	if r.PostForm.Get("client_id") != devClientID || r.PostForm.Get("scope") == "" {
		googleError(w, 401, "invalid_client", "The OAuth client was not found.")
		return
	}
	resp := map[string]any{
		"device_code": devDeviceCode,
		"user_code":   "GQVQ-JKEC",
		"expires_in":  s.expiresIn,
		"interval":    s.interval,
	}
	if s.microsoft {
		resp["verification_uri"] = "https://microsoft.com/devicelogin"
		resp["message"] = "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code GQVQ-JKEC to authenticate."
	} else {
		resp["verification_url"] = "https://www.google.com/device" // Google's spelling
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// status is the HTTP status each provider uses for a poll error.
func (s *deviceServer) status(code string) int {
	if s.microsoft {
		return 400
	}
	switch code {
	case "authorization_pending":
		return 428
	case "slow_down", "access_denied":
		return 403
	}
	return 400
}

func (s *deviceServer) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	s.mu.Lock()
	s.polls = append(s.polls, time.Now())
	next := "expired_token"
	if len(s.script) > 0 {
		next, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	switch {
	case f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code":
		googleError(w, 400, "unsupported_grant_type", "Invalid grant_type")
		return
	case f.Get("device_code") != devDeviceCode || f.Get("client_id") != devClientID:
		googleError(w, 400, "invalid_grant", "Malformed device code.")
		return
	case !s.microsoft && f.Get("client_secret") != devSecret:
		googleError(w, 401, "invalid_client", "Unauthorized")
		return
	}
	if next != "ok" {
		desc := map[string]string{
			"authorization_pending":  "Precondition Required",
			"slow_down":              "Forbidden",
			"access_denied":          "Forbidden",
			"expired_token":          "Bad Request",
			"authorization_declined": "AADSTS70000: The user declined to authorize the request. device code " + devDeviceCode,
		}[next]
		googleError(w, s.status(next), next, desc)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token":  "ya29.a0DeviceFlowAccessToken",
		"expires_in":    3599,
		"refresh_token": "1//0gDeviceFlowRefreshToken",
		"scope":         ScopeGmail,
		"token_type":    "Bearer",
	})
}

func (s *deviceServer) pollCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.polls)
}

func TestDeviceFlowPendingSlowDownSuccess(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, false, "authorization_pending", "slow_down", "ok")
	var (
		shown    []DeviceCode
		progress []DeviceProgress
	)
	tok, err := DeviceFlow(context.Background(), srv.config(), func(dc DeviceCode) { shown = append(shown, dc) },
		&DeviceFlowOptions{Progress: func(p DeviceProgress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "ya29.a0DeviceFlowAccessToken" || tok.RefreshToken != "1//0gDeviceFlowRefreshToken" {
		t.Fatalf("token %q", tok.AccessToken)
	}
	if len(shown) != 1 || shown[0].UserCode != "GQVQ-JKEC" || shown[0].VerificationURI != "https://www.google.com/device" ||
		shown[0].Interval != time.Second || shown[0].Expiry.IsZero() {
		t.Fatalf("shown %+v", shown)
	}
	want := []DeviceProgress{
		{Poll: 1, Status: "authorization_pending", Interval: time.Second},
		{Poll: 2, Status: "slow_down", Interval: 6 * time.Second},
	}
	if len(progress) != len(want) || progress[0] != want[0] || progress[1] != want[1] {
		t.Fatalf("progress %+v, want %+v", progress, want)
	}
	// Exactly one request per poll: the client's auth style is not
	// probed.
	if n := srv.pollCount(); n != 3 {
		t.Fatalf("%d polls, want 3", n)
	}
}

func TestDeviceFlowAccessDenied(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		microsoft bool
		code      string
	}{{"google", false, "access_denied"}, {"microsoft", true, "authorization_declined"}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newDeviceServer(t, c.microsoft, c.code)
			_, err := DeviceFlow(context.Background(), srv.config(), func(DeviceCode) {}, nil)
			var oe *OAuthError
			if !errors.Is(err, ErrAccessDenied) || !errors.As(err, &oe) || oe.Code != c.code {
				t.Fatalf("got %v", err)
			}
			if !strings.HasPrefix(err.Error(), "providers: ") || classifyRetry(err) {
				t.Fatalf("message/classification: %v", err)
			}
			assertNoSecret(t, err, devDeviceCode, devSecret)
		})
	}
}

func TestDeviceFlowExpiredToken(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, true, "expired_token")
	_, err := DeviceFlow(context.Background(), srv.config(), func(DeviceCode) {}, nil)
	var oe *OAuthError
	if !errors.Is(err, ErrDeviceCodeExpired) || !errors.As(err, &oe) || oe.Code != "expired_token" {
		t.Fatalf("got %v", err)
	}
}

func TestDeviceFlowCodeLifetimeRunsOut(t *testing.T) {
	t.Parallel()
	// The code expires (1 s) before the first poll is due (5 s): the flow
	// ends without polling.
	srv := newDeviceServer(t, false, "ok")
	srv.expiresIn, srv.interval = 1, 5
	_, err := DeviceFlow(context.Background(), srv.config(), func(DeviceCode) {}, nil)
	if !errors.Is(err, ErrDeviceCodeExpired) || !strings.HasPrefix(err.Error(), "providers: ") {
		t.Fatalf("got %v", err)
	}
	if n := srv.pollCount(); n != 0 {
		t.Fatalf("%d polls", n)
	}
}

func TestDeviceFlowContext(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, false, "authorization_pending", "authorization_pending", "authorization_pending")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := DeviceFlow(ctx, srv.config(), func(DeviceCode) {}, &DeviceFlowOptions{
		Progress: func(DeviceProgress) { cancel() },
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrDeviceCodeExpired) {
		t.Fatalf("got %v", err)
	}
}

func TestDeviceFlowErrors(t *testing.T) {
	t.Parallel()
	srv := newDeviceServer(t, false)
	cfg := srv.config()
	cfg.ClientID = "unknown"
	_, err := DeviceFlow(context.Background(), cfg, func(DeviceCode) { t.Error("shown") }, nil)
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_client" || !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("got %v", err)
	}
	for name, c := range map[string]*oauth2.Config{
		"nil":         nil,
		"no device":   {ClientID: "x", Endpoint: oauth2.Endpoint{TokenURL: srv.URL}},
		"no token":    {ClientID: "x", Endpoint: oauth2.Endpoint{DeviceAuthURL: srv.URL}},
		"no clientid": {Endpoint: oauth2.Endpoint{DeviceAuthURL: srv.URL, TokenURL: srv.URL}},
	} {
		if _, err := DeviceFlow(context.Background(), c, func(DeviceCode) {}, nil); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := DeviceFlow(context.Background(), srv.config(), nil, nil); err == nil {
		t.Error("nil show accepted")
	}
	// A malformed device authorization response.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"device_code":"x"}`))
	}))
	defer bad.Close()
	_, err = DeviceFlow(context.Background(), &oauth2.Config{ClientID: "x", Endpoint: oauth2.Endpoint{DeviceAuthURL: bad.URL, TokenURL: bad.URL}},
		func(DeviceCode) { t.Error("shown") }, nil)
	if !errors.Is(err, ErrBadResponse) {
		t.Fatalf("malformed: %v", err)
	}
}
