package sasltest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TokenInfo describes a token the server issued.
type TokenInfo struct {
	// Kind is "access_token" or "refresh_token".
	Kind string
	// User is the user the token acts for; "" for an app-only token.
	User string
	// ClientID is the client it was issued to.
	ClientID string
	// Scopes are its scopes.
	Scopes []string
	// Expiry is when an access token expires.
	Expiry time.Time
	// Grant is the grant type that issued an access token ("seed" for
	// IssueToken).
	Grant string
	// Active reports whether it is usable now: unexpired, not revoked,
	// and (for a refresh token) not rotated out.
	Active bool
}

// Lookup describes token, an access or a refresh token; ok is false for a
// token the server never issued.
func (s *OAuthServer) Lookup(token string) (info TokenInfo, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(token)
}

func (s *OAuthServer) lookupLocked(token string) (TokenInfo, bool) {
	k := keyOf(token)
	if a, ok := s.st.access[k]; ok {
		return TokenInfo{
			Kind: "access_token", User: a.user, ClientID: a.client, Scopes: slices.Clone(a.scopes),
			Expiry: a.expiry, Grant: a.grant,
			Active: !a.revoked && !s.st.familyRevoked(a.family) && s.now().Before(a.expiry),
		}, true
	}
	if r, ok := s.st.refresh[k]; ok {
		return TokenInfo{
			Kind: "refresh_token", User: r.user, ClientID: r.client, Scopes: slices.Clone(r.scopes),
			Active: !r.revoked && !r.rotated && !s.st.familyRevoked(r.family),
		}, true
	}
	return TokenInfo{}, false
}

// userID is a stable numeric subject for a user, as Google's sub is a
// number rather than the address.
func userID(user string) string {
	h := sha256.Sum256([]byte(user))
	return strconv.FormatUint(binary.BigEndian.Uint64(h[:8])>>1, 10)
}

// handleIntrospect is the RFC 7662 introspection endpoint. Besides the
// RFC's POST with a form body it answers GET with the token in the query,
// which Dovecot's introspection_mode = get sends. An active token answers
// {"active":true,"scope","client_id","username","email","sub","exp","iat",
// "token_type"}; anything else {"active":false} (RFC 7662 §2.2), with 200
// either way, since Dovecot treats a reply without "active" as an internal
// failure (dovecot-interop notes, pitfall 7).
func (s *OAuthServer) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	var (
		form     url.Values
		basicID  string
		basicSec string
		hasBasic bool
	)
	switch r.Method {
	case http.MethodGet:
		form = r.URL.Query()
		if h := r.Header.Get("Authorization"); h != "" {
			id, sec, ok, oe := parseBasic(h)
			if oe != nil {
				s.writeError(w, oe)
				return
			}
			basicID, basicSec, hasBasic = id, sec, ok
		}
	default:
		req, oe := parseOAuthForm(r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Body)
		if oe != nil {
			if oe.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", "GET, POST")
			}
			s.writeError(w, oe)
			return
		}
		form, basicID, basicSec, hasBasic = req.form, req.basicID, req.basicSecret, req.hasBasic
	}
	s.mu.Lock()
	s.counters.introspections++
	s.mu.Unlock()

	if s.opts.IntrospectionAuth {
		id, sec := form.Get("client_id"), form.Get("client_secret")
		if hasBasic {
			id, sec = basicID, basicSec
		}
		if !s.clientSecretOK(id, sec) {
			w.Header().Set("WWW-Authenticate", `Basic realm="sasltest"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
			return
		}
	}
	token := form.Get("token")
	if token == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Missing required parameter: token"})
		return
	}
	s.mu.Lock()
	info, ok := s.lookupLocked(token)
	s.mu.Unlock()
	if !ok || !info.Active {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	body := map[string]any{
		"active":     true,
		"scope":      scopeString(info.Scopes),
		"client_id":  info.ClientID,
		"token_type": "Bearer",
	}
	if info.Kind == "refresh_token" {
		body["token_type"] = "refresh_token"
	} else {
		body["exp"] = info.Expiry.Unix()
	}
	if info.User != "" {
		body["sub"] = info.User
		body["username"] = info.User
		body["email"] = info.User
	} else {
		body["sub"] = info.ClientID
	}
	writeJSON(w, http.StatusOK, body)
}

// clientSecretOK reports whether id and secret are a registered
// confidential client's credentials.
func (s *OAuthServer) clientSecretOK(id, secret string) bool {
	s.mu.Lock()
	c, ok := s.st.clients[id]
	s.mu.Unlock()
	return ok && c.Secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) == 1
}

// handleTokenInfo imitates Google's tokeninfo endpoint
// (GET https://oauth2.googleapis.com/tokeninfo?access_token=...): a valid
// token answers its fields, string-valued as Google sends them; any other
// 400 {"error":"invalid_token","error_description":"Invalid Value"}.
func (s *OAuthServer) handleTokenInfo(w http.ResponseWriter, r *http.Request) {
	var token string
	switch r.Method {
	case http.MethodGet:
		token = r.URL.Query().Get("access_token")
	default:
		req, oe := parseOAuthForm(r.Method, r.Header.Get("Content-Type"), "", r.Body)
		if oe != nil {
			s.writeError(w, oe)
			return
		}
		token = req.get("access_token")
	}
	s.mu.Lock()
	s.counters.introspections++
	info, ok := s.lookupLocked(token)
	now := s.now()
	s.mu.Unlock()
	if !ok || !info.Active || info.Kind != "access_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token", "error_description": "Invalid Value"})
		return
	}
	body := map[string]string{
		"azp":        info.ClientID,
		"aud":        info.ClientID,
		"scope":      scopeString(info.Scopes),
		"exp":        strconv.FormatInt(info.Expiry.Unix(), 10),
		"expires_in": strconv.FormatInt(int64(info.Expiry.Sub(now)/time.Second), 10),
	}
	if info.User != "" {
		body["sub"] = userID(info.User)
		body["email"] = info.User
		body["email_verified"] = "true"
	}
	writeJSON(w, http.StatusOK, body)
}

// handleUserInfo answers a bearer-authenticated GET with the token's user
// (Dovecot's introspection_mode = auth), or 401 with RFC 6750 §3's
// WWW-Authenticate: Bearer error="invalid_token".
func (s *OAuthServer) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	s.mu.Lock()
	s.counters.introspections++
	info, ok := s.lookupLocked(strings.TrimSpace(token))
	s.mu.Unlock()
	if !strings.EqualFold(scheme, "Bearer") || !ok || !info.Active || info.Kind != "access_token" || info.User == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"active": false, "error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"active":         true,
		"sub":            info.User,
		"username":       info.User,
		"email":          info.User,
		"email_verified": true,
		"scope":          scopeString(info.Scopes),
		"exp":            info.Expiry.Unix(),
	})
}

// handleRevoke imitates Google's revocation endpoint
// (POST https://oauth2.googleapis.com/revoke, token in the form or the
// query): 200 on success; 400 {"error":"invalid_token"} for a token it does
// not know.
func (s *OAuthServer) handleRevoke(w http.ResponseWriter, r *http.Request) {
	req, oe := parseOAuthForm(r.Method, r.Header.Get("Content-Type"), "", r.Body)
	if oe != nil {
		if oe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		s.writeError(w, oe)
		return
	}
	token := req.get("token")
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	if token == "" || !s.Revoke(token) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token", "error_description": "Token expired or revoked"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}
