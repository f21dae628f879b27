package sasltest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzParseOAuthForm(f *testing.F) {
	f.Add("POST", "application/x-www-form-urlencoded", "", "grant_type=refresh_token&refresh_token=1%2F%2Fx")
	f.Add("POST", "application/x-www-form-urlencoded; charset=utf-8", "Basic "+base64.StdEncoding.EncodeToString([]byte("a%3Ab:c%25")), "a=1&a=2")
	f.Add("POST", "multipart/form-data; boundary=x", "Bearer x", "%")
	f.Add("GET", "", "Basic !!!", "")
	f.Add("POST", "application/x-www-form-urlencoded", "Basic "+base64.StdEncoding.EncodeToString([]byte("nocolon")), ";;&&==")
	f.Fuzz(func(t *testing.T, method, ctype, auth, body string) {
		r, e := parseOAuthForm(method, ctype, auth, strings.NewReader(body))
		if (r == nil) == (e == nil) {
			t.Fatal("exactly one of request and error must be set")
		}
		if e != nil {
			if e.status < 400 || e.code == "" {
				t.Fatalf("error without status or code: %+v", e)
			}
			return
		}
		if method != http.MethodPost || len(body) > maxOAuthRequestBody {
			t.Fatal("accepted a request the RFC refuses")
		}
		for k, v := range r.form {
			if len(v) != 1 {
				t.Fatalf("parameter %q repeated", k)
			}
		}
		if r.hasBasic && !strings.HasPrefix(strings.ToLower(auth), "basic ") {
			t.Fatal("Basic credentials from another scheme")
		}
	})
}

// FuzzTokenEndpoint posts arbitrary bodies and headers to the token
// endpoint: whatever arrives, the answer is a JSON object with a status the
// RFCs allow, and never a panic.
func FuzzTokenEndpoint(f *testing.F) {
	s := NewOAuthServer(&OAuthOptions{Refresh: RefreshRotateDetectReuse})
	defer s.Close()
	_ = s.AddClient(OAuthClient{ID: "c", Secret: "s", Mailboxes: []string{"*"}})
	_ = s.AddClient(OAuthClient{ID: "p"})
	rt, _ := s.SeedRefreshToken("c", "u@example.test", GmailScope)
	f.Add("grant_type=refresh_token&client_id=c&client_secret=s&refresh_token="+rt, "")
	f.Add("grant_type=client_credentials&scope=x", "Basic Yzpz")
	f.Add("grant_type=authorization_code&client_id=p&code=4%2Fabc&code_verifier=x", "")
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=e30.e30.e30", "")
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=p&device_code=x", "")
	f.Add("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", "")
	f.Add("grant_type=refresh_token&refresh_token=", "Basic !")
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.handleToken(rec, req)
		switch rec.Code {
		case 200, 400, 401, 403, 428:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("answer is not a JSON object: %q", rec.Body.String())
		}
		if rec.Code == 200 {
			if m["access_token"] == nil || m["token_type"] != "Bearer" {
				t.Fatalf("success without a token: %v", m)
			}
		} else if _, ok := m["error"].(string); !ok {
			t.Fatalf("error answer without error: %v", m)
		}
	})
}
