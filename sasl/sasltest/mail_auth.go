package sasltest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// authOutcome is how an authentication ended, before a protocol turns it
// into its own answer.
type authOutcome int

const (
	outcomeRejected    authOutcome = iota + 1 // wrong credentials, refused token
	outcomeTemporary                          // could not check: try again later
	outcomeMalformed                          // bad base64 or a message breaking the mechanism's grammar
	outcomeUnsupported                        // mechanism not offered
	outcomeTLSRequired                        // authentication needs TLS first
)

// authErrors maps outcomes to a protocol's error values.
type authErrors func(authOutcome) error

// errTemporary is the verifiers' answer under MailFaultTemporary.
var errTemporary = errors.New("sasltest: injected temporary failure")

// temporaryError marks a verifier failure that is not a verdict on the
// credentials (a back end down, the context ended).
type temporaryError struct{ err error }

func (e *temporaryError) Error() string {
	return "sasltest: cannot check credentials: " + e.err.Error()
}
func (e *temporaryError) Unwrap() error { return e.err }

// asTemporary marks err temporary unless it is a verdict (it wraps
// sasl.ErrAuthFailed or sasl.ErrUnknownUser).
func asTemporary(err error) error {
	if err == nil || errors.Is(err, sasl.ErrAuthFailed) || errors.Is(err, sasl.ErrUnknownUser) {
		return err
	}
	return &temporaryError{err: err}
}

// classify decides the outcome of a failed exchange.
func classify(err error) authOutcome {
	var te *temporaryError
	switch {
	case errors.As(err, &te), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeTemporary
	case errors.Is(err, sasl.ErrMalformed):
		return outcomeMalformed
	}
	return outcomeRejected
}

// mechanismsFor returns the mechanisms to advertise on mc: none before TLS
// (unless AllowInsecureAuth), otherwise the profile's list among those the
// registry serves over the connection. EXTERNAL needs a client
// certificate.
func (m *MailServer) mechanismsFor(mc *mailConn) []string {
	if !mc.canAuth() {
		return nil
	}
	cs := mc.connState()
	policy := &sasl.Policy{Allow: []string{"CRAM-MD5"}, Deny: []string{"ANONYMOUS"}, AllowInsecure: true}
	servable := m.registry.ServerMechanisms(cs, policy)
	if cs.TLS == nil || len(cs.TLS.VerifiedChains) == 0 {
		servable = slices.DeleteFunc(servable, func(s string) bool { return s == "EXTERNAL" })
	}
	return m.spec.offered(mc.proto, m.opts.Mechanisms, servable)
}

// authConversation is one authentication exchange: a saslkit server
// conversation plus the MailServer's bookkeeping, faults and the mapping of
// failures to the protocol's answers.
type authConversation struct {
	m         *MailServer
	mc        *mailConn
	mech      string
	inner     sasl.ServerConversation
	errs      authErrors
	onSuccess func(user string) error
	temporary bool
	token     tokenKey
	hasToken  bool
	finished  bool
}

// newAuth starts an exchange of mech on mc. errs maps failures; onSuccess
// opens the session for the authenticated user (its error is returned to
// the protocol as is).
func (m *MailServer) newAuth(mc *mailConn, mech string, errs authErrors, onSuccess func(user string) error) (sasl.Server, error) {
	mech = strings.ToUpper(mech)
	temporary := mc.pendingTemp.Swap(false)
	if mc.malformed.Swap(false) {
		m.count(mc.proto, mech, func(s *AuthStats) { s.Rejected++ })
		return nil, errs(outcomeMalformed)
	}
	if !mc.canAuth() {
		m.count(mc.proto, mech, func(s *AuthStats) { s.Rejected++ })
		return nil, errs(outcomeTLSRequired)
	}
	if !slices.Contains(m.mechanismsFor(mc), mech) {
		m.count(mc.proto, mech, func(s *AuthStats) { s.Rejected++ })
		return nil, errs(outcomeUnsupported)
	}
	c := &authConversation{m: m, mc: mc, mech: mech, errs: errs, onSuccess: onSuccess, temporary: temporary}
	inner, err := m.registry.NewServer(mc.ctx, mech, c.verifiers(), mc.connState())
	if err != nil {
		m.count(mc.proto, mech, func(s *AuthStats) { s.Temporary++ })
		return nil, errs(outcomeTemporary)
	}
	c.inner = inner
	return c, nil
}

// Next implements sasl.Server.
func (c *authConversation) Next(response []byte) ([]byte, bool, error) {
	if c.finished {
		return nil, true, c.errs(outcomeRejected)
	}
	if c.mc.malformed.Swap(false) {
		return c.fail(outcomeMalformed)
	}
	challenge, done, err := c.inner.Next(response)
	if err != nil {
		return c.fail(classify(err))
	}
	if !done {
		if len(challenge) == 0 {
			// An empty challenge goes on the wire as "+ " (IMAP, RFC 4959
			// §4; POP3) and "334 " (SMTP); go-imap writes "+ =" for a
			// non-nil empty one.
			return nil, false, nil
		}
		return challenge, false, nil
	}
	id, ok := c.inner.Identity()
	if !ok || id.Username == "" {
		return c.fail(outcomeRejected)
	}
	// A user may act only as itself: no proxy authorization.
	if id.Authzid != "" && !strings.EqualFold(id.Authzid, id.Username) {
		return c.fail(outcomeRejected)
	}
	u, err := c.m.store.ensure(id.Username)
	if err != nil {
		return c.fail(outcomeRejected)
	}
	if err := c.onSuccess(u.name); err != nil {
		c.finished = true
		c.m.count(c.mc.proto, c.mech, func(s *AuthStats) { s.Rejected++ })
		return nil, true, err
	}
	c.finished = true
	var key *tokenKey
	if c.hasToken {
		key = &c.token
	}
	c.mc.authenticated(u.name, c.mech, key)
	c.m.count(c.mc.proto, c.mech, func(s *AuthStats) { s.Succeeded++ })
	return challenge, true, nil
}

func (c *authConversation) fail(o authOutcome) ([]byte, bool, error) {
	c.finished = true
	c.m.count(c.mc.proto, c.mech, func(s *AuthStats) {
		if o == outcomeTemporary {
			s.Temporary++
		} else {
			s.Rejected++
		}
	})
	return nil, true, c.errs(o)
}

// Format prints the exchange's mechanism and state, never credentials.
func (c *authConversation) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.authConversation{Mechanism:%s Finished:%t}", c.mech, c.finished))
}

// verifiers returns the checks the mechanism may call: the store's
// passwords, the OAuth server's tokens (scoped per protocol, answering in
// the profile's way), client certificates for EXTERNAL. Under an injected
// temporary fault every one fails as unavailable.
func (c *authConversation) verifiers() *sasl.Verifiers {
	m := c.m
	pw := m.store.passwordVerifier()
	secret := m.store.secretLookup()
	scramLookup := m.store.scramLookup()
	tok := m.tokenVerifier(c.mc.proto)
	return &sasl.Verifiers{
		Password: sasl.PasswordVerifierFunc(func(ctx context.Context, authzid, username, password string) (sasl.Identity, error) {
			if c.temporary {
				return sasl.Identity{}, &temporaryError{errTemporary}
			}
			id, err := pw.VerifyPassword(ctx, authzid, username, password)
			return id, asTemporary(err)
		}),
		Secret: sasl.SecretLookupFunc(func(ctx context.Context, username string) (string, error) {
			if c.temporary {
				return "", &temporaryError{errTemporary}
			}
			s, err := secret.LookupSecret(ctx, username)
			return s, asTemporary(err)
		}),
		SCRAM: sasl.SCRAMLookupFunc(func(ctx context.Context, hash, username string) (sasl.SCRAMCredentials, error) {
			if c.temporary {
				return sasl.SCRAMCredentials{}, &temporaryError{errTemporary}
			}
			cr, err := scramLookup.LookupSCRAM(ctx, hash, username)
			return cr, asTemporary(err)
		}),
		Token: sasl.TokenVerifierFunc(func(ctx context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
			if c.temporary {
				return sasl.Identity{}, &temporaryError{errTemporary}
			}
			if req.Host != "" && !m.answersTo(req.Host) {
				// RFC 7628 §3.2: host= names another server.
				return sasl.Identity{}, fmt.Errorf("sasltest: OAUTHBEARER host= names another server: %w", sasl.ErrAuthFailed)
			}
			id, err := tok.VerifyToken(ctx, req)
			if err == nil {
				c.token, c.hasToken = keyOf(req.Token), true
			}
			return id, asTemporary(err)
		}),
		External: sasl.ExternalVerifierFunc(func(ctx context.Context, authzid string, cs *sasl.ConnState) (sasl.Identity, error) {
			if c.temporary {
				return sasl.Identity{}, &temporaryError{errTemporary}
			}
			return externalIdentity(authzid, cs)
		}),
	}
}

// tokenVerifier returns the OAuth server's verifier for protocol p: the
// profile's scopes for p (or MailOptions.Scopes), rejections in the
// profile's style.
func (m *MailServer) tokenVerifier(p Protocol) *OAuthTokenVerifier {
	scopes := m.opts.Scopes
	if scopes == nil {
		scopes = m.spec.scopes[p]
	}
	return m.oauth.TokenVerifier(scopes...).WithProfile(m.spec.oauth)
}

// answersTo reports whether host is one of the servers' names.
func (m *MailServer) answersTo(host string) bool {
	host = strings.Trim(host, "[]")
	for _, h := range m.hostnames {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// externalIdentity maps a verified TLS client certificate to its user: the
// certificate's first e-mail address, else its common name.
func externalIdentity(authzid string, cs *sasl.ConnState) (sasl.Identity, error) {
	if cs == nil || cs.TLS == nil || len(cs.TLS.VerifiedChains) == 0 || len(cs.TLS.PeerCertificates) == 0 {
		return sasl.Identity{}, fmt.Errorf("sasltest: no verified client certificate: %w", sasl.ErrAuthFailed)
	}
	cert := cs.TLS.PeerCertificates[0]
	user := cert.Subject.CommonName
	if len(cert.EmailAddresses) > 0 {
		user = cert.EmailAddresses[0]
	}
	if user == "" {
		return sasl.Identity{}, fmt.Errorf("sasltest: client certificate names no user: %w", sasl.ErrAuthFailed)
	}
	if authzid != "" && !strings.EqualFold(authzid, user) {
		return sasl.Identity{}, fmt.Errorf("sasltest: certificate user may not act as another: %w", sasl.ErrAuthFailed)
	}
	return sasl.Identity{Username: user}, nil
}

// checkPassword is IMAP LOGIN's and POP3 PASS's check, with the same
// fault handling and counting as an exchange.
func (m *MailServer) checkPassword(mc *mailConn, counter, user, password string) (string, authOutcome) {
	fail := func(o authOutcome) (string, authOutcome) {
		m.count(mc.proto, counter, func(s *AuthStats) {
			if o == outcomeTemporary {
				s.Temporary++
			} else {
				s.Rejected++
			}
		})
		return "", o
	}
	if kind, ok := m.takeFault(mc.proto, counter); ok && kind == MailFaultTemporary {
		return fail(outcomeTemporary)
	}
	id, err := m.store.passwordVerifier().VerifyPassword(mc.ctx, "", user, password)
	if err != nil {
		return fail(outcomeRejected)
	}
	m.count(mc.proto, counter, func(s *AuthStats) { s.Succeeded++ })
	return id.Username, 0
}
