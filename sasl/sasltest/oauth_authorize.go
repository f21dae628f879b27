package sasltest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// authCodeLifetime is how long an authorization code may wait for its
// exchange; RFC 6749 §4.1.2 recommends at most ten minutes.
const authCodeLifetime = 10 * time.Minute

// codeRecord is an authorization code awaiting exchange.
type codeRecord struct {
	client      string
	user        string
	scopes      []string
	redirectURI string // as sent to /authorize; "" when omitted
	challenge   string
	expiry      time.Time
	offline     bool
	used        bool
	family      uint64 // set once redeemed, to revoke on a second redemption
}

var authErrorPage = template.Must(template.New("err").Parse(`<!DOCTYPE html>
<html><head><title>Error {{.Code}}</title></head>
<body><h1>Authorization error</h1><p>Error {{.Code}}: {{.Desc}}</p></body></html>
`))

// authorizeError shows an error page instead of redirecting, as RFC 6749
// §4.1.2.1 requires when the client or the redirect URI is not valid.
func authorizeError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = authErrorPage.Execute(w, struct{ Code, Desc string }{code, desc})
}

// redirectWith sends the user agent to redirectURI with params added to
// its query (RFC 6749 §4.1.2).
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI) // validated by redirectAllowed
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// isLoopbackRedirect reports whether u is an http URI on a loopback host,
// which RFC 8252 §7.3 lets a native app use on any port.
func isLoopbackRedirect(u *url.URL) bool {
	if u.Scheme != "http" || u.User != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// redirectAllowed reports whether raw may receive c's authorization
// response: an exact registered URI; a registered loopback URI with any
// port (RFC 8252 §7.3: "MUST allow any port to be specified at the time of
// the request for loopback IP redirect URIs"); or, with LoopbackRedirect,
// any loopback URI.
func redirectAllowed(c *OAuthClient, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	if slices.Contains(c.RedirectURIs, raw) {
		return true
	}
	if !isLoopbackRedirect(u) {
		return false
	}
	if c.LoopbackRedirect {
		return true
	}
	for _, reg := range c.RedirectURIs {
		ru, err := url.Parse(reg)
		if err == nil && isLoopbackRedirect(ru) && ru.Hostname() == u.Hostname() && ru.Path == u.Path {
			return true
		}
	}
	return false
}

// validPKCE reports whether s has RFC 7636 §4.1's code_verifier syntax,
// which a S256 code_challenge (43 characters of base64url) also meets.
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// handleAuthorize is the authorization endpoint (RFC 6749 §4.1.1) as an
// auto-approving consent page: it approves as the user named by login_hint
// if registered, else OAuthOptions.ApproveAs, else the first registered
// user, and redirects with code and state. Only S256 PKCE is accepted
// (RFC 9700 §2.1.1), and public clients must use it.
//
// Refresh tokens follow each provider's rule: Google issues one only when
// the request has access_type=offline (oauth2.AccessTypeOffline);
// Microsoft only when the scope includes offline_access.
func (s *OAuthServer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		authorizeError(w, "invalid_request", "The request could not be parsed.")
		return
	}
	q := r.Form
	for k, v := range q {
		if len(v) > 1 {
			authorizeError(w, "invalid_request", "Parameter included more than once: "+k)
			return
		}
	}
	clientID := q.Get("client_id")
	s.mu.Lock()
	c, ok := s.st.clients[clientID]
	s.mu.Unlock()
	if !ok {
		// Google shows "Error 401: invalid_client The OAuth client was not found."
		authorizeError(w, "invalid_client", "The OAuth client was not found.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	target := redirectURI
	if target == "" {
		if len(c.RedirectURIs) != 1 {
			authorizeError(w, "invalid_request", "Missing required parameter: redirect_uri")
			return
		}
		target = c.RedirectURIs[0]
	}
	if !redirectAllowed(c, target) {
		// Google: "Error 400: redirect_uri_mismatch"; Microsoft AADSTS50011.
		authorizeError(w, "redirect_uri_mismatch", "The redirect URI in the request does not match the ones authorized for the OAuth client.")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		p := url.Values{"error": {code}, "error_description": {desc}}
		if state != "" {
			p.Set("state", state)
		}
		redirectWith(w, r, target, p)
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "Only response_type=code is supported.")
		return
	}
	scopes := splitScope(q.Get("scope"))
	if len(scopes) == 0 {
		fail("invalid_request", "Missing required parameter: scope")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		fail("invalid_request", "Missing required parameter: code_challenge")
		return
	case challenge == "" && !confidential(c):
		fail("invalid_request", "Public clients must use PKCE (code_challenge).")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "Only code_challenge_method=S256 is supported.")
		return
	case challenge != "" && (len(challenge) != 43 || !validPKCE(challenge)):
		fail("invalid_request", "Invalid code_challenge.")
		return
	}
	s.mu.Lock()
	user := q.Get("login_hint")
	if !s.st.users[user] {
		user = s.opts.ApproveAs
		if user == "" && len(s.st.userOrder) > 0 {
			user = s.st.userOrder[0]
		}
	}
	if user == "" || !s.st.users[user] {
		s.mu.Unlock()
		fail("access_denied", "No user is registered to approve the request.")
		return
	}
	offline := q.Get("access_type") == "offline"
	if s.profile == OAuthMicrosoft {
		offline = slices.Contains(scopes, "offline_access")
	}
	code := randomToken("4/")
	s.st.codes[keyOf(code)] = &codeRecord{
		client: c.ID, user: user, scopes: scopes, redirectURI: redirectURI,
		challenge: challenge, expiry: s.now().Add(authCodeLifetime), offline: offline,
	}
	s.mu.Unlock()
	p := url.Values{"code": {code}}
	if state != "" {
		p.Set("state", state)
	}
	if s.profile == OAuthGoogle {
		// Google echoes the granted scope in the redirect.
		p.Set("scope", scopeString(scopes))
	}
	redirectWith(w, r, target, p)
}

// errBadCode is the invalid_grant for an unusable authorization code.
func errBadCode(desc string, aadsts int, msDesc string) *oauthError {
	return oerr(400, "invalid_grant", desc, aadsts, msDesc)
}

// grantAuthorizationCode is the authorization_code grant (RFC 6749 §4.1.3)
// with PKCE (RFC 7636 §4.6). A code is good once; redeeming it again
// revokes the tokens it produced (RFC 6749 §4.1.2).
func (s *OAuthServer) grantAuthorizationCode(req *oauthRequest) (*tokenResponse, *oauthError) {
	c, oe := s.authenticateClient(req, s.TokenURL())
	if oe != nil {
		return nil, oe
	}
	code := req.get("code")
	if code == "" {
		return nil, errMissingParam("code")
	}
	verifier := req.get("code_verifier")
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.codes[keyOf(code)]
	switch {
	case !ok:
		return nil, errBadCode("Malformed auth code.", 9002313, "Invalid request. Request is malformed or invalid.")
	case rec.used:
		s.st.revokeFamily(rec.family)
		return nil, errBadCode("Bad Request", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case rec.client != c.ID:
		return nil, errBadCode("Bad Request", 70000, "Provided grant is invalid or malformed.")
	case !s.now().Before(rec.expiry):
		return nil, errBadCode("Bad Request", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
	case rec.redirectURI != "" && req.get("redirect_uri") != rec.redirectURI:
		e := errBadCode("Bad Request", 50011, "The redirect URI specified in the request does not match the redirect URIs configured for the application.")
		if s.profile == OAuthGoogle {
			e.code = "redirect_uri_mismatch"
		}
		return nil, e
	}
	if rec.challenge == "" {
		if verifier != "" {
			// RFC 9700 §2.1.1: refuse a verifier when no challenge was
			// sent, or PKCE could be downgraded.
			return nil, errBadCode("code_verifier sent without a code_challenge", 9002313, "Invalid request. Request is malformed or invalid.")
		}
	} else {
		if verifier == "" {
			return nil, errBadCode("Missing code verifier.", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
		sum := sha256.Sum256([]byte(verifier))
		got := base64.RawURLEncoding.EncodeToString(sum[:])
		if !validPKCE(verifier) || subtle.ConstantTimeCompare([]byte(got), []byte(rec.challenge)) != 1 {
			return nil, errBadCode("Invalid code verifier.", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	rec.used = true
	rec.family = s.st.newFamily()
	rt := ""
	if rec.offline {
		rt = s.st.newRefresh(s.profile, rec.family, rec.client, rec.user, rec.scopes)
	}
	return s.newTokenResponseLocked(rec.family, rec.client, rec.user, rec.scopes, GrantAuthorizationCode, rt), nil
}
