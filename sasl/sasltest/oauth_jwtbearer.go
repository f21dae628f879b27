package sasltest

import (
	"slices"
	"time"
)

// errJWTGrant is Google's invalid_grant for a bad service-account
// assertion (developers.google.com/identity/protocols/oauth2/service-account,
// "Error codes").
func errJWTGrant(desc string) *oauthError {
	return oerr(400, "invalid_grant", desc, 0, "")
}

// grantJWTBearer is the JWT bearer grant (RFC 7523 §2.1) as Google's
// service accounts use it. The assertion must be signed RS256 with the
// account's registered key (kid, when sent, naming it), with iss = the
// account's email, aud = the token endpoint, a scope claim, iat not in the
// future beyond the skew, exp after now and at most one hour after iat;
// sub, when present and not the account itself, is a user to impersonate,
// which needs domain-wide delegation. No refresh token is issued.
func (s *OAuthServer) grantJWTBearer(req *oauthRequest) (*tokenResponse, *oauthError) {
	assertion := req.get("assertion")
	if assertion == "" {
		return nil, errMissingParam("assertion")
	}
	tok, err := parseJWT(assertion)
	if err != nil {
		return nil, errJWTGrant("Invalid JWT: could not parse the assertion.")
	}
	iss, _ := tok.Claims.string("iss")
	s.mu.Lock()
	sa, ok := s.st.serviceAccounts[iss]
	s.mu.Unlock()
	if !ok {
		return nil, errJWTGrant("Invalid grant: account not found")
	}
	if tok.verifyRS256(sa.PublicKey, sa.KeyID) != nil || tok.Header.Alg != "RS256" {
		return nil, errJWTGrant("Invalid JWT Signature.")
	}
	if !tok.Claims.hasAudience(s.TokenURL()) {
		return nil, errJWTGrant("Invalid JWT: Failed audience check. The right audience is " + s.TokenURL())
	}
	now := s.now()
	iat, okIat := tok.Claims.time("iat")
	exp, okExp := tok.Claims.time("exp")
	if !okIat || !okExp || iat.After(now.Add(s.opts.ClockSkew)) || !now.Before(exp) ||
		exp.Sub(iat) > time.Hour || !exp.After(iat) {
		return nil, errJWTGrant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	scopeClaim, _ := tok.Claims.string("scope")
	scopes := splitScope(scopeClaim)
	if len(scopes) == 0 {
		return nil, oerr(400, "invalid_scope", "Empty or missing scope not allowed.", 0, "")
	}
	sub, _ := tok.Claims.string("sub")
	user := ""
	if sub != "" && sub != sa.Email {
		if !sa.Delegation {
			return nil, oerr(400, "unauthorized_client",
				"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.", 0, "")
		}
		user = sub
	}
	if len(sa.Scopes) > 0 {
		for _, sc := range scopes {
			if !slices.Contains(sa.Scopes, sc) {
				return nil, oerr(400, "unauthorized_client",
					"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.", 0, "")
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if user != "" && !s.st.users[user] {
		return nil, errJWTGrant("Invalid email or User ID")
	}
	resp := s.newTokenResponseLocked(0, sa.Email, user, scopes, GrantJWTBearer, "")
	return resp, nil
}
