package sasltest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// GmailScope is the scope Gmail's IMAP, POP and SMTP require
// (developers.google.com/workspace/gmail/imap/xoauth2-protocol).
const GmailScope = "https://mail.google.com/"

// Exchange Online scopes for IMAP, POP and SMTP
// (learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
const (
	OutlookIMAPScope = "https://outlook.office365.com/IMAP.AccessAsUser.All"
	OutlookPOPScope  = "https://outlook.office365.com/POP.AccessAsUser.All"
	OutlookSMTPScope = "https://outlook.office365.com/SMTP.Send"
	// OutlookAppScope is the client_credentials scope for app-only access.
	OutlookAppScope = "https://outlook.office365.com/.default"
)

// TokenRejection is why an OAuthTokenVerifier refused a token.
type TokenRejection int

const (
	// RejectUnknown: the server never issued the token.
	RejectUnknown TokenRejection = iota + 1
	// RejectExpired: the token's lifetime is over.
	RejectExpired
	// RejectRevoked: the token, its family or its user was revoked.
	RejectRevoked
	// RejectWrongUser: the token was issued to another user (or, for an
	// app-only token, the client has no access to that mailbox).
	RejectWrongUser
	// RejectScope: the token lacks every scope the verifier accepts.
	RejectScope
)

// String describes the rejection.
func (r TokenRejection) String() string {
	switch r {
	case RejectUnknown:
		return "unknown token"
	case RejectExpired:
		return "token expired"
	case RejectRevoked:
		return "token revoked"
	case RejectWrongUser:
		return "token issued to another user"
	case RejectScope:
		return "token lacks the required scope"
	}
	return fmt.Sprintf("TokenRejection(%d)", int(r))
}

// RejectedTokenError is the error an OAuthTokenVerifier returns under the
// Microsoft profile: Exchange Online sends no JSON error challenge, it
// fails the AUTHENTICATE at once ("NO AUTHENTICATE failed." on IMAP,
// "535 5.7.3 Authentication unsuccessful" on SMTP, "-ERR Authentication
// failure: unknown user name or bad password." on POP). It wraps
// sasl.ErrAuthFailed, so servers report a plain authentication failure.
type RejectedTokenError struct {
	// Mechanism is "XOAUTH2" or "OAUTHBEARER".
	Mechanism string
	// Reason is why the token was refused.
	Reason TokenRejection
}

// Error describes the rejection without the token.
func (e *RejectedTokenError) Error() string {
	return "sasltest: " + e.Mechanism + " " + e.Reason.String()
}

// Unwrap returns sasl.ErrAuthFailed.
func (e *RejectedTokenError) Unwrap() error { return sasl.ErrAuthFailed }

// OAuthTokenVerifier is a sasl.TokenVerifier that checks bearer tokens
// against an OAuthServer in-process, for the mail servers of a test. A
// token is accepted only for the user it was issued to, only while it is
// valid (not expired by the server's clock, not revoked), and only if it
// carries one of the verifier's scopes.
type OAuthTokenVerifier struct {
	server  *OAuthServer
	profile OAuthProfile
	scopes  []string
	margin  time.Duration
}

// TokenVerifier returns a verifier accepting tokens that carry any one of
// scopes (all tokens when none are given), answering rejections in the
// server's profile. See OAuthTokenVerifier.VerifyToken.
func (s *OAuthServer) TokenVerifier(scopes ...string) *OAuthTokenVerifier {
	return &OAuthTokenVerifier{server: s, profile: s.profile, scopes: slices.Clone(scopes)}
}

// WithProfile returns a copy of v that answers rejections in profile p,
// for a mail server imitating another provider than the token server.
func (v *OAuthTokenVerifier) WithProfile(p OAuthProfile) *OAuthTokenVerifier {
	c := *v
	c.profile = p
	return &c
}

// WithMargin returns a copy of v that treats a token as expired margin
// before its expiry, as a resource server with a clock ahead of the token
// server's would; tests of a client's expiry skew use it.
func (v *OAuthTokenVerifier) WithMargin(margin time.Duration) *OAuthTokenVerifier {
	c := *v
	c.margin = margin
	return &c
}

// VerifyToken implements sasl.TokenVerifier.
//
// On success the identity's Username is the token's user (for an app-only
// token, the requested mailbox). XOAUTH2 must name the user (user=);
// OAUTHBEARER may leave a= empty, and then the token's user is taken.
//
// A rejection under the Google profile is a *sasl.TokenError, which makes
// the mechanism send Gmail's error challenge:
//   - XOAUTH2, token unknown, expired or revoked:
//     {"status":"401","schemes":"bearer","scope":<scope>}, as Google's
//     XOAUTH2 page renders its IMAP and SMTP failure examples (the page's
//     base64 bytes say "bearer mac"; the rendered "bearer" is what Gmail
//     and Dovecot send today);
//   - XOAUTH2, valid token for another user or without the scope:
//     {"status":"400","schemes":"Bearer","scope":<scope>} (test-vectors
//     §11 POP example; the blob Gmail sends when the user or the
//     domain-wide delegation scope does not match);
//   - OAUTHBEARER: the RFC 6750 codes RFC 7628 §3.2.2 asks for,
//     "invalid_token" (unknown, expired, revoked, other user) or
//     "insufficient_scope".
//
// <scope> is the verifier's first scope, or GmailScope if it has none.
// Under the Microsoft profile a rejection is a *RejectedTokenError (no
// challenge; see there).
func (v *OAuthTokenVerifier) VerifyToken(ctx context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
	if err := ctx.Err(); err != nil {
		return sasl.Identity{}, err
	}
	if v == nil || v.server == nil {
		return sasl.Identity{}, errors.New("sasltest: OAuthTokenVerifier without a server")
	}
	user, reason := v.server.check(req.Token, req.Username, v.scopes, v.margin)
	if reason == 0 {
		return sasl.Identity{Mechanism: req.Mechanism, Username: user}, nil
	}
	if v.profile == OAuthMicrosoft {
		return sasl.Identity{}, &RejectedTokenError{Mechanism: req.Mechanism, Reason: reason}
	}
	scope := GmailScope
	if len(v.scopes) > 0 {
		scope = v.scopes[0]
	}
	te := &sasl.TokenError{Mechanism: req.Mechanism, Scope: scope}
	if req.Mechanism == "OAUTHBEARER" {
		te.Schemes = "bearer"
		te.Status = "invalid_token"
		if reason == RejectScope {
			te.Status = "insufficient_scope"
		}
		return sasl.Identity{}, te
	}
	switch reason {
	case RejectWrongUser, RejectScope:
		te.Status, te.Schemes = "400", "Bearer"
	default:
		te.Status, te.Schemes = "401", "bearer"
	}
	return sasl.Identity{}, te
}

// check decides whether token may open user's mail with one of scopes. It
// returns the user the token acts as, or a reason.
func (s *OAuthServer) check(token, user string, scopes []string, margin time.Duration) (string, TokenRejection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.st.access[keyOf(token)]
	if !ok || token == "" {
		return "", RejectUnknown
	}
	if a.revoked || s.st.familyRevoked(a.family) {
		return "", RejectRevoked
	}
	if !s.now().Add(margin).Before(a.expiry) {
		return "", RejectExpired
	}
	if len(scopes) > 0 && !slices.ContainsFunc(scopes, func(sc string) bool { return slices.Contains(a.scopes, sc) }) {
		return "", RejectScope
	}
	if a.user == "" {
		// App-only token: the client needs access to that mailbox.
		c := s.st.clients[a.client]
		if user == "" || c == nil || !(slices.Contains(c.Mailboxes, user) || slices.Contains(c.Mailboxes, "*")) {
			return "", RejectWrongUser
		}
		return user, 0
	}
	if user != "" && user != a.user {
		return "", RejectWrongUser
	}
	return a.user, 0
}
