package providers

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// lockedBuffer is an io.Writer safe for concurrent log handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLogger logs everything, debug included, as text to w.
func captureLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// leakForms returns the encodings a secret could leak in.
func leakForms(s string) []string {
	return []string{
		s,
		url.QueryEscape(s),
		base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)),
		base64.RawURLEncoding.EncodeToString([]byte(s)),
	}
}

func assertNoSecrets(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) < 6 {
			continue
		}
		for _, form := range leakForms(s) {
			if strings.Contains(text, form) {
				t.Errorf("%s leaks a secret (%d bytes) in %q", where, len(s), text)
			}
		}
	}
}

func TestSecretHygiene(t *testing.T) {
	var logs lockedBuffer
	log := captureLogger(&logs)
	clk := newFakeClock()
	a := newAuthServer(t, true)
	a.now = clk.Now
	dir := t.TempDir()
	store := NewFileStore(dir, &FileStoreOptions{Logger: log})
	rt := seedExpired(t, a, store, clk.Now())
	secrets := []string{rt, a.secret}
	f, err := NewRefreshFetcher(a.config(), store, testAccount, &RefreshOptions{Logger: log, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var reported []error
	c := NewCache(f, &CacheOptions{Logger: log, Name: testAccount, Now: clk.Now, Sleep: clk.Sleep,
		OnError: func(err error) { reported = append(reported, err) }})

	// A transient failure, then success with rotation.
	a.faultStatus(503, "text/html", "<html>unavailable</html>")
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
	st, _ := store.Load(context.Background(), testAccount)
	secrets = append(secrets, st.RefreshToken)

	var errs []error
	// A server that echoes the refresh token and the client secret in its
	// error description, in several encodings.
	echo := func(w http.ResponseWriter) {
		a.oauthError(w, 400, "invalid_grant", "bad grant "+st.RefreshToken+" for client secret "+
			url.QueryEscape(a.secret)+" b64 "+base64.StdEncoding.EncodeToString([]byte(st.RefreshToken)))
	}
	a.fault(echo)
	c.Invalidate(tok)
	clk.Advance(2 * time.Hour)
	_, err = c.Token(context.Background())
	if !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v", err)
	}
	errs = append(errs, err)
	if strings.Contains(err.Error(), "persist lost") {
		t.Error("a plain revocation reported as a lost persist")
	}
	var oe *OAuthError
	if !errors.As(err, &oe) || !strings.Contains(oe.Description, "[REDACTED]") {
		t.Fatalf("description not redacted: %#v", oe)
	}

	// An x/oauth2 RetrieveError, whose own Error() prints the body.
	g := newAuthServer(t, false)
	g.faultStatus(500, "text/plain", "internal error; refresh_token="+rt)
	_, err = g.config().TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
	if err == nil || !strings.Contains(err.Error(), rt) {
		t.Fatal("test premise: RetrieveError should print the body")
	}
	errs = append(errs, TokenEndpointError(err), NewCache(FromOAuth2(g.config().TokenSource(context.Background(),
		&oauth2.Token{RefreshToken: rt})), &CacheOptions{Sleep: clk.Sleep, Retry: &RetryPolicy{MaxAttempts: 1}}).fetchOnceErr(t))
	errs = append(errs, reported...)

	values := []any{c, f, store, NewMemoryStore(), Static(tok), StaticToken(tok.AccessToken), FromOAuth2(nil),
		ToOAuth2(c, nil), oe, &PersistError{Account: testAccount, Err: errors.New("disk full")}}
	ms := NewMemoryStore()
	_ = ms.Save(context.Background(), "x", nil, tok)
	values = append(values, ms)
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			assertNoSecrets(t, fmt.Sprintf("%s of %T", verb, v), fmt.Sprintf(verb, v), secrets)
		}
	}
	for _, e := range errs {
		if e == nil {
			t.Fatal("expected an error")
		}
		assertNoSecrets(t, "error", e.Error(), secrets)
		assertNoSecrets(t, "error %+v", fmt.Sprintf("%+v", e), secrets)
	}
	assertNoSecrets(t, "log", logs.String(), secrets)
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "invalid_grant") {
		t.Errorf("expected retry and invalid_grant records in the log:\n%s", logs.String())
	}
}

// fetchOnceErr runs one fetch through the Cache's sanitising path.
func (c *Cache) fetchOnceErr(t *testing.T) error {
	t.Helper()
	_, err := c.fetchOnce(context.Background())
	return err
}

func TestTokenEndpointErrorClassification(t *testing.T) {
	hdr := func(code int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		err    error
		retry  bool
		reauth bool
		after  time.Duration
	}{
		{"invalid_grant", &oauth2.RetrieveError{Response: hdr(400, ""), ErrorCode: "invalid_grant"}, false, true, 0},
		{"invalid_client", &oauth2.RetrieveError{Response: hdr(401, ""), ErrorCode: "invalid_client"}, false, true, 0},
		{"invalid_scope", &oauth2.RetrieveError{Response: hdr(400, ""), ErrorCode: "invalid_scope"}, false, false, 0},
		{"503 html", &oauth2.RetrieveError{Response: hdr(503, "")}, true, false, 0},
		{"403 html", &oauth2.RetrieveError{Response: hdr(403, "")}, true, false, 0},
		{"429", &oauth2.RetrieveError{Response: hdr(429, "2"), ErrorCode: "too_many"}, true, false, 2 * time.Second},
		{"server_error", &OAuthError{Code: "server_error", StatusCode: 500}, true, false, 0},
		{"temporarily_unavailable 400", &OAuthError{Code: "temporarily_unavailable", StatusCode: 400}, true, false, 0},
		{"network", &url.Error{Op: "Post", URL: "https://x/token", Err: errors.New("connection refused")}, true, false, 0},
		{"transient", Transient(errors.New("helper timed out")), true, false, 0},
		{"canceled", context.Canceled, false, false, 0},
		{"other", errors.New("boom"), false, false, 0},
	} {
		err := TokenEndpointError(tc.err)
		retry, after := classify(err)
		if retry != tc.retry || after != tc.after || errors.Is(err, ErrReauthRequired) != tc.reauth {
			t.Errorf("%s: retry=%v after=%v reauth=%v", tc.name, retry, after, errors.Is(err, ErrReauthRequired))
		}
	}
	if Transient(nil) != nil || TokenEndpointError(nil) != nil {
		t.Error("nil not preserved")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "5": 5 * time.Second, "abc": 0, "99999999": 24 * time.Hour,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	p := (&RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}).withDefaults()
	maxN := func(n int64) int64 { return n - 1 }
	for n, want := range []time.Duration{0, 100, 200, 400, 800, 1000, 1000} {
		if n == 0 {
			continue
		}
		if got := p.backoff(n, maxN); got != want*time.Millisecond-1 {
			t.Errorf("backoff(%d) max = %v, want just under %v", n, got, want*time.Millisecond)
		}
	}
}

func TestParseTokenResponse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	json := http.Header{"Content-Type": {"application/json"}}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	r, err := parseTokenResponse(200, form, []byte("access_token=a1&refresh_token=r1&expires_in=60&token_type=bearer"), now, time.Minute, nil)
	if err != nil || r.tok.AccessToken != "a1" || r.tok.RefreshToken != "r1" || !r.tok.Expiry.Equal(now.Add(time.Minute)) || r.guessedExpiry {
		t.Fatalf("form: %v %+v", err, r)
	}
	for _, body := range []string{``, `[]`, `null`, `{"access_token":""}`, `{"access_token":5}`, `{"a":1} {}`, `<html>`} {
		if _, err := parseTokenResponse(200, json, []byte(body), now, time.Minute, nil); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%q: err = %v, want ErrBadResponse", body, err)
		}
	}
	_, err = parseTokenResponse(200, json, []byte(`{"error":"invalid_grant","access_token":"x"}`), now, time.Minute, nil)
	if !errors.Is(err, ErrReauthRequired) {
		t.Errorf("error field in a 200: %v", err)
	}
	_, err = parseTokenResponse(400, form, []byte("error=invalid_grant&error_description=gone"), now, time.Minute, nil)
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.Description != "gone" {
		t.Errorf("form error: %v", err)
	}
	r, err = parseTokenResponse(200, json, []byte(`{"access_token":"a","expires_in":99999999999}`), now, time.Minute, nil)
	if err != nil || !r.tok.Expiry.Equal(now.Add(maxLifetime)) {
		t.Errorf("huge expires_in: %v %v", err, r.tok.Expiry)
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"ya29.a0","expires_in":3599,"scope":"https://mail.google.com/","token_type":"Bearer"}`,
		`{"token_type":"Bearer","scope":"x","expires_in":"3599","ext_expires_in":3599,"access_token":"eyJ","refresh_token":"M.C5"}`,
		`{"error":"invalid_grant","error_description":"AADSTS70000: x\r\nTrace ID: y","error_codes":[70000]}`,
		`access_token=a&expires_in=1.5`, `{"expires_in":1e999}`, `{"access_token":"\u0000"}`, `<html></html>`,
	} {
		f.Add(200, "application/json", []byte(s))
		f.Add(400, "application/x-www-form-urlencoded", []byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		r, err := parseTokenResponse(status, http.Header{"Content-Type": {ct}, "Retry-After": {string(body)}}, body, now, time.Minute, []string{"sekrit-value"})
		if (r == nil) == (err == nil) {
			t.Fatalf("r=%v err=%v", r, err)
		}
		if err != nil {
			if strings.Contains(err.Error(), "sekrit-value") {
				t.Fatal("secret in error")
			}
			return
		}
		if r.tok.AccessToken == "" || r.tok.Expiry.Before(now) || r.tok.Expiry.After(now.Add(maxLifetime)) {
			t.Fatalf("bad token: %+v", r.tok)
		}
	})
}
