package sasltest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/saslkit/saslkit/internal/redact"
)

// oauthError is an OAuth error answer (RFC 6749 §5.2). desc is Google's
// error_description; aadsts and msDesc are the Microsoft identity
// platform's error code and text, used under OAuthMicrosoft.
type oauthError struct {
	status int
	code   string
	desc   string
	aadsts int
	msDesc string
}

func (e *oauthError) Error() string { return "sasltest: oauth " + e.code + ": " + e.desc }

func oerr(status int, code, desc string, aadsts int, msDesc string) *oauthError {
	return &oauthError{status: status, code: code, desc: desc, aadsts: aadsts, msDesc: msDesc}
}

// Common errors, with the texts Google and Microsoft send for them.
func errMissingParam(name string) *oauthError {
	// Google: "Missing required parameter: refresh_token".
	// Microsoft: AADSTS900144 "The request body must contain the following parameter: 'refresh_token'."
	return oerr(400, "invalid_request", "Missing required parameter: "+name,
		900144, "The request body must contain the following parameter: '"+name+"'.")
}

func errMalformed(desc string) *oauthError {
	// Microsoft: AADSTS9002313 "Invalid request. Request is malformed or invalid."
	return oerr(400, "invalid_request", desc, 9002313, "Invalid request. Request is malformed or invalid.")
}

// writeJSON writes v as a JSON response with the headers RFC 6749 §5.1
// requires on token responses (Cache-Control: no-store, Pragma: no-cache).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Values are built from strings and numbers; this cannot happen.
		b = []byte(`{"error":"server_error"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes e in the profile's shape. Google answers
// {"error": ..., "error_description": ...}; Microsoft adds error_codes,
// timestamp, trace_id, correlation_id and error_uri, and its description
// starts "AADSTSnnnn:" and ends with the trace lines
// (learn.microsoft.com/entra/identity-platform/reference-error-codes).
func (s *OAuthServer) writeError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized {
		// RFC 6749 §5.2: a 401 for client authentication carries
		// WWW-Authenticate.
		w.Header().Set("WWW-Authenticate", `Basic realm="sasltest"`)
	}
	if s.profile != OAuthMicrosoft {
		body := map[string]any{"error": e.code}
		if e.desc != "" {
			body["error_description"] = e.desc
		}
		writeJSON(w, e.status, body)
		return
	}
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := newUUID(), newUUID()
	desc := e.msDesc
	if desc == "" {
		desc = e.desc
	}
	body := map[string]any{
		"error":          e.code,
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
	}
	if e.aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", e.aadsts, desc)
		body["error_codes"] = []int{e.aadsts}
		body["error_uri"] = s.URL + "/error?code=" + strconv.Itoa(e.aadsts)
	}
	body["error_description"] = desc + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts
	writeJSON(w, e.status, body)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// oauthRequest is a parsed form request to the token, device authorization,
// introspection or revocation endpoint.
type oauthRequest struct {
	form        url.Values
	basicID     string
	basicSecret string
	hasBasic    bool
}

// get returns a single-valued parameter ("" when absent).
func (r *oauthRequest) get(name string) string { return r.form.Get(name) }

// parseOAuthForm parses a POST with an application/x-www-form-urlencoded
// body, as RFC 6749 §3.2 and §4 require of token requests, and the HTTP
// Basic client credentials. It is written out rather than left to
// http.Request.ParseForm so that it can refuse what the RFC refuses:
// repeated parameters (§3.1, §3.2: "MUST NOT be included more than once"),
// other content types, oversize bodies, and Basic credentials that are not
// form-urlencoded (§2.3.1). It never panics; FuzzParseOAuthForm checks that.
func parseOAuthForm(method, contentType, authorization string, body io.Reader) (*oauthRequest, *oauthError) {
	if method != http.MethodPost {
		return nil, oerr(http.StatusMethodNotAllowed, "invalid_request", "Method not allowed: use POST", 9002313, "Invalid request. Request is malformed or invalid.")
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errMalformed("Content-Type must be application/x-www-form-urlencoded")
	}
	b, err := io.ReadAll(io.LimitReader(body, maxOAuthRequestBody+1))
	if err != nil {
		return nil, errMalformed("Could not read the request body")
	}
	if len(b) > maxOAuthRequestBody {
		return nil, errMalformed("Request body too large")
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errMalformed("Request body is not valid form encoding")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, errMalformed("Parameter included more than once: " + paramName(k))
		}
	}
	r := &oauthRequest{form: form}
	if authorization != "" {
		id, secret, ok, perr := parseBasic(authorization)
		if perr != nil {
			return nil, perr
		}
		r.basicID, r.basicSecret, r.hasBasic = id, secret, ok
	}
	return r, nil
}

// paramName returns k for an error description if it looks like a
// parameter name, so that a description never echoes a value (a token sent
// as a key by mistake).
func paramName(k string) string {
	if len(k) > 32 {
		return "(long name)"
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || c == '_') {
			return "(unusual name)"
		}
	}
	return k
}

// Format prints the request without its parameters or credentials.
func (r *oauthRequest) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.oauthRequest{grant_type:%q basic:%t}", paramValue(r.get("grant_type")), r.hasBasic))
}

// paramValue shortens a value for an error description.
func paramValue(v string) string {
	if len(v) > 64 {
		return v[:64] + "…"
	}
	return v
}

// parseBasic parses an Authorization header. A header that is not Basic is
// ignored (ok false); a Basic header that does not parse is an error. Per
// RFC 6749 §2.3.1 the id and secret are form-urlencoded before the Basic
// encoding, which golang.org/x/oauth2 does (url.QueryEscape).
func parseBasic(h string) (id, secret string, ok bool, e *oauthError) {
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false, oerr(401, "invalid_client", "Malformed Basic authorization header", 7000215, "Invalid client secret provided.")
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false, oerr(401, "invalid_client", "Malformed Basic authorization header", 7000215, "Invalid client secret provided.")
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil {
		return "", "", false, oerr(401, "invalid_client", "Malformed Basic authorization header", 7000215, "Invalid client secret provided.")
	}
	return id, secret, true, nil
}

// authenticateClient identifies and authenticates the calling client from
// HTTP Basic (client_secret_basic), form fields (client_secret_post), or a
// JWT client assertion (private_key_jwt, RFC 7523 §2.2). A public client
// (no secret, no key) is identified by client_id alone. Using more than one
// method is refused (RFC 6749 §2.3).
func (s *OAuthServer) authenticateClient(r *oauthRequest, audience string) (*OAuthClient, *oauthError) {
	formID := r.get("client_id")
	formSecret, hasFormSecret := r.form["client_secret"]
	assertion := r.get("client_assertion")
	assertionType := r.get("client_assertion_type")

	methods := 0
	if r.hasBasic {
		methods++
	}
	if hasFormSecret {
		methods++
	}
	if assertion != "" || assertionType != "" {
		methods++
	}
	if methods > 1 {
		return nil, oerr(400, "invalid_request", "Only one client authentication method may be used",
			9002313, "Invalid request. Request is malformed or invalid.")
	}
	id := formID
	if r.hasBasic {
		if formID != "" && formID != r.basicID {
			return nil, oerr(401, "invalid_client", "client_id does not match the authorization header",
				700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
		}
		id = r.basicID
	}

	if assertion != "" || assertionType != "" {
		return s.authenticateAssertion(formID, assertionType, assertion, audience)
	}
	if id == "" {
		return nil, oerr(401, "invalid_client", "The OAuth client was not found.",
			900144, "The request body must contain the following parameter: 'client_id'.")
	}
	s.mu.Lock()
	c, ok := s.st.clients[id]
	s.mu.Unlock()
	if !ok {
		// Google: 401 invalid_client "The OAuth client was not found."
		// Microsoft: AADSTS700016 unauthorized_client.
		return nil, oerr(401, "invalid_client", "The OAuth client was not found.",
			700016, "Application with identifier '"+id+"' was not found in the directory.")
	}
	given := r.basicSecret
	presented := r.hasBasic
	if hasFormSecret {
		given = formSecret[0]
		presented = true
	}
	switch {
	case c.Secret == "" && given == "":
		// A public client; x/oauth2 with AuthStyleInHeader sends an empty
		// secret in Basic, which counts as none.
		if c.Certificate != nil || c.PublicKey != nil {
			return nil, oerr(401, "invalid_client", "Client authentication is required",
				7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
		return c, nil // public client
	case c.Secret == "":
		return nil, oerr(401, "invalid_client", "Unauthorized", 7000215, "Invalid client secret provided.")
	case !presented:
		return nil, oerr(401, "invalid_client", "Client authentication is required",
			7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	case subtle.ConstantTimeCompare([]byte(given), []byte(c.Secret)) != 1:
		// Google: 401 {"error":"invalid_client","error_description":"Unauthorized"}.
		return nil, oerr(401, "invalid_client", "Unauthorized", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
	}
	return c, nil
}

// authenticateAssertion checks a private_key_jwt client assertion the way
// the Microsoft identity platform documents its certificate credentials
// (learn.microsoft.com/entra/identity-platform/certificate-credentials):
// header alg RS256 with x5t (or x5t#S256) naming the certificate; claims
// aud = the token endpoint, iss = sub = client_id, exp in the future, nbf
// not in the future, jti present.
func (s *OAuthServer) authenticateAssertion(formID, typ, assertion, audience string) (*OAuthClient, *oauthError) {
	if typ != ClientAssertionType {
		return nil, oerr(400, "invalid_request", "client_assertion_type must be "+ClientAssertionType,
			9002313, "Invalid request. Request is malformed or invalid.")
	}
	if assertion == "" {
		return nil, errMissingParam("client_assertion")
	}
	tok, err := parseJWT(assertion)
	if err != nil {
		return nil, oerr(401, "invalid_client", "Client assertion is not a valid JWT",
			50027, "JWT token is invalid or malformed.")
	}
	iss, _ := tok.Claims.string("iss")
	sub, _ := tok.Claims.string("sub")
	if iss == "" || iss != sub {
		return nil, oerr(401, "invalid_client", "Client assertion iss and sub must both be the client_id",
			700023, "Client assertion audience claim does not match Realm issuer.")
	}
	if formID != "" && formID != iss {
		return nil, oerr(401, "invalid_client", "client_id does not match the client assertion",
			700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
	}
	s.mu.Lock()
	c, ok := s.st.clients[iss]
	s.mu.Unlock()
	if !ok {
		return nil, oerr(401, "invalid_client", "The OAuth client was not found.",
			700016, "Application with identifier '"+iss+"' was not found in the directory.")
	}
	var verr error
	switch {
	case c.Certificate != nil:
		verr = tok.verifyWithCertificate(c.Certificate)
	case c.PublicKey != nil:
		verr = tok.verifyRS256(c.PublicKey, c.KeyID)
	default:
		verr = errors.New("no key registered")
	}
	if verr != nil {
		return nil, oerr(401, "invalid_client", "Client assertion failed signature validation",
			700027, "Client assertion failed signature validation.")
	}
	if !tok.Claims.hasAudience(audience) {
		return nil, oerr(401, "invalid_client", "Client assertion aud must be the token endpoint",
			700023, "Client assertion audience claim does not match Realm issuer.")
	}
	now := s.now()
	exp, okExp := tok.Claims.time("exp")
	if !okExp || !now.Before(exp) {
		return nil, oerr(401, "invalid_client", "Client assertion is expired",
			700024, "Client assertion is not within its valid time range.")
	}
	if nbf, ok := tok.Claims.time("nbf"); ok && nbf.After(now.Add(s.opts.ClockSkew)) {
		return nil, oerr(401, "invalid_client", "Client assertion is not yet valid",
			700024, "Client assertion is not within its valid time range.")
	}
	if jti, _ := tok.Claims.string("jti"); jti == "" {
		return nil, oerr(401, "invalid_client", "Client assertion has no jti",
			700025, "Client assertion jti claim is missing.")
	}
	return c, nil
}

// waitOrDone waits d on the real clock and then until hold is closed (a
// slow answer), returning false if the request's context ends or the server
// closes first.
func (s *OAuthServer) waitOrDone(r *http.Request, d time.Duration, hold <-chan struct{}) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-s.done:
			return false
		}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return false
		case <-s.done:
			return false
		}
	}
	return true
}
