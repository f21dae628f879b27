package sasltest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/saslkit/saslkit/internal/redact"
)

// tokenResponse is a successful token response (RFC 6749 §5.1) with the
// fields Google and Microsoft return: access_token, expires_in,
// refresh_token (when one is issued), scope and token_type "Bearer";
// Microsoft adds ext_expires_in.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	TokenType    string `json:"token_type"`
}

// Format prints the response without its tokens.
func (t *tokenResponse) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.tokenResponse{AccessToken:%s RefreshToken:%s ExpiresIn:%d Scope:%q}",
		redact.Secret(t.AccessToken), redact.Secret(t.RefreshToken), t.ExpiresIn, t.Scope))
}

// handleToken is the token endpoint (RFC 6749 §3.2).
func (s *OAuthServer) handleToken(w http.ResponseWriter, r *http.Request) {
	req, perr := parseOAuthForm(r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Body)
	grant := ""
	if req != nil {
		grant = req.get("grant_type")
	}
	s.mu.Lock()
	s.counters.requests[grant]++
	f, faulty := s.takeFaultLocked(grant)
	s.mu.Unlock()
	if faulty && s.serveFault(w, r, f) {
		return
	}
	if perr != nil {
		if perr.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		s.writeError(w, perr)
		return
	}
	var (
		resp *tokenResponse
		oe   *oauthError
	)
	switch grant {
	case "":
		oe = errMissingParam("grant_type")
	case GrantRefreshToken:
		resp, oe = s.grantRefresh(req)
	case GrantClientCredentials:
		resp, oe = s.grantClientCredentials(req)
	case GrantAuthorizationCode:
		resp, oe = s.grantAuthorizationCode(req)
	case GrantDeviceCode:
		resp, oe = s.grantDeviceCode(req)
	case GrantJWTBearer:
		resp, oe = s.grantJWTBearer(req)
	default:
		// Google: "Invalid grant_type: password"; Microsoft AADSTS70003.
		g := paramValue(grant)
		oe = oerr(400, "unsupported_grant_type", "Invalid grant_type: "+g,
			70003, "The app requested an unsupported grant type '"+g+"'.")
	}
	if oe != nil {
		s.writeError(w, oe)
		return
	}
	s.mu.Lock()
	s.counters.issued[grant]++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// newTokenResponse issues an access token (and, if refresh is set, returns
// it alongside) under s.mu.
func (s *OAuthServer) newTokenResponseLocked(fam uint64, client, user string, scopes []string, grant, refresh string) *tokenResponse {
	now := s.now()
	at := s.st.newAccess(s.profile, fam, client, user, scopes, now.Add(s.lifetime), grant)
	s.st.access[keyOf(at)].issued = now
	secs := int64(s.lifetime / time.Second)
	resp := &tokenResponse{
		AccessToken:  at,
		ExpiresIn:    secs,
		RefreshToken: refresh,
		Scope:        scopeString(scopes),
		TokenType:    "Bearer",
	}
	if s.profile == OAuthMicrosoft {
		resp.ExtExpiresIn = secs
	}
	return resp
}

// Refresh token errors, with Google's and Microsoft's texts.
func errRefreshRevoked() *oauthError {
	// Google: {"error":"invalid_grant","error_description":"Token has been expired or revoked."}
	// Microsoft: AADSTS50173.
	return oerr(400, "invalid_grant", "Token has been expired or revoked.",
		50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
}

func errRefreshUnknown() *oauthError {
	// Google answers an unknown refresh token "Bad Request"; Microsoft
	// AADSTS9002313 for a malformed one.
	return oerr(400, "invalid_grant", "Bad Request", 9002313, "Invalid request. Request is malformed or invalid.")
}

// grantRefresh is the refresh_token grant (RFC 6749 §6).
func (s *OAuthServer) grantRefresh(req *oauthRequest) (*tokenResponse, *oauthError) {
	c, oe := s.authenticateClient(req, s.TokenURL())
	if oe != nil {
		return nil, oe
	}
	rt := req.get("refresh_token")
	if rt == "" {
		return nil, errMissingParam("refresh_token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.refresh[keyOf(rt)]
	switch {
	case !ok:
		return nil, errRefreshUnknown()
	case rec.client != c.ID:
		// RFC 6749 §5.2: invalid_grant when the grant "was issued to
		// another client".
		return nil, oerr(400, "invalid_grant", "Unauthorized", 70000, "Provided grant is invalid or malformed.")
	case rec.revoked || s.st.familyRevoked(rec.family):
		return nil, errRefreshRevoked()
	case rec.rotated:
		if s.refresh == RefreshRotateDetectReuse {
			// RFC 9700 §4.14.2: a rotated-out refresh token presented
			// again means it leaked; revoke the active one too.
			s.counters.reuse++
			s.st.revokeFamily(rec.family)
		}
		return nil, errRefreshRevoked()
	}
	scopes := rec.scopes
	if sc := req.get("scope"); sc != "" {
		// RFC 6749 §6: the requested scope must not exceed the grant.
		want := splitScope(sc)
		for _, w := range want {
			if !slices.Contains(rec.scopes, w) {
				return nil, oerr(400, "invalid_scope", "Requested scope exceeds the granted scope: "+w,
					70011, "The provided value for the input parameter 'scope' is not valid. The scope "+w+" is not valid.")
			}
		}
		scopes = want
	}
	newRT := ""
	switch s.refresh {
	case RefreshRotate:
		newRT = s.st.newRefresh(s.profile, rec.family, rec.client, rec.user, rec.scopes)
	case RefreshRotateOnce, RefreshRotateDetectReuse:
		newRT = s.st.newRefresh(s.profile, rec.family, rec.client, rec.user, rec.scopes)
		rec.rotated = true
	}
	return s.newTokenResponseLocked(rec.family, rec.client, rec.user, scopes, GrantRefreshToken, newRT), nil
}

// confidential reports whether c can authenticate itself.
func confidential(c *OAuthClient) bool {
	return c.Secret != "" || c.Certificate != nil || c.PublicKey != nil
}

// grantClientCredentials is the client_credentials grant (RFC 6749 §4.4),
// as Microsoft documents it for app-only access to Exchange Online
// (scope https://outlook.office365.com/.default). No refresh token is
// issued (§4.4.3).
func (s *OAuthServer) grantClientCredentials(req *oauthRequest) (*tokenResponse, *oauthError) {
	c, oe := s.authenticateClient(req, s.TokenURL())
	if oe != nil {
		return nil, oe
	}
	if !confidential(c) {
		return nil, oerr(400, "unauthorized_client", "A public client cannot use the client_credentials grant",
			7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	scopes := splitScope(req.get("scope"))
	if s.profile == OAuthMicrosoft {
		if len(scopes) == 0 {
			return nil, errMissingParam("scope")
		}
		// Microsoft: one resource, named as "<resource>/.default"
		// (AADSTS1002012).
		if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
			return nil, oerr(400, "invalid_scope", "Client credential flows must have a scope value with /.default suffixed to the resource identifier",
				1002012, "The provided value for scope "+req.get("scope")+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newTokenResponseLocked(0, c.ID, "", scopes, GrantClientCredentials, ""), nil
}
