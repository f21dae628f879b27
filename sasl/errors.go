package sasl

import (
	"errors"
	"strings"

	gosasl "github.com/emersion/go-sasl"
)

// Errors callers branch on with errors.Is. Every error saslkit returns either
// is one of these, wraps one, or is a typed error documented beside it.
var (
	// ErrNoMechanism: the server advertises no mechanism the registry,
	// the credentials and the policy allow. Negotiate returns it inside a
	// *NegotiationError that says why each candidate was passed over.
	ErrNoMechanism = errors.New("sasl: no mechanism in common")
	// ErrNotRegistered: the named mechanism is not in the registry.
	ErrNotRegistered = errors.New("sasl: mechanism not registered")
	// ErrDuplicate: a mechanism with that name is already registered.
	ErrDuplicate = errors.New("sasl: mechanism already registered")
	// ErrInsecureTransport: the mechanism would reveal a secret over a
	// connection that is not protected by verified TLS, to a peer that is
	// not loopback, and the policy does not allow it. Nothing was sent.
	ErrInsecureTransport = errors.New("sasl: refusing to send a secret over an insecure connection")
	// ErrNoCredentials: the credentials lack what the mechanism needs.
	// Negotiate and Registry.NewClient return it as a CredentialsError
	// that says what is missing.
	ErrNoCredentials = errors.New("sasl: credentials missing for mechanism")
	// ErrDenied: the policy does not allow the mechanism.
	ErrDenied = errors.New("sasl: mechanism not allowed by policy")
	// ErrUnusable: the mechanism cannot run over this connection (for
	// example SCRAM-*-PLUS without a TLS channel binding).
	ErrUnusable = errors.New("sasl: mechanism unusable on this connection")
	// ErrClientOnly: the mechanism has no server side.
	ErrClientOnly = errors.New("sasl: mechanism has no server implementation")

	// ErrAuthFailed: the credentials were rejected. On the server side
	// verifiers wrap it to say "wrong credentials" as opposed to "could not
	// check"; on the client side a *TokenError or a SCRAM server error
	// wraps it.
	ErrAuthFailed = errors.New("sasl: authentication failed")
	// ErrUnknownUser: a credential lookup found no such user. Servers
	// answer it exactly like a wrong password and report ErrAuthFailed.
	ErrUnknownUser = errors.New("sasl: unknown user")
	// ErrMalformed: the peer sent a message that does not follow the
	// mechanism's grammar. It is wrapped in a *MalformedError.
	ErrMalformed = errors.New("sasl: malformed message")
	// ErrServerAuth: the server failed mutual authentication (a SCRAM
	// server signature that does not verify). The client cancels.
	ErrServerAuth = errors.New("sasl: server failed mutual authentication")
	// ErrDone: Next was called after the exchange finished.
	ErrDone = errors.New("sasl: exchange already finished")
	// ErrNoVerifier: a server mechanism was created without the verifier
	// it needs.
	ErrNoVerifier = errors.New("sasl: no verifier configured for mechanism")

	// ErrUnexpectedChallenge is go-sasl's error for a challenge a client did
	// not expect, so errors.Is works across both libraries.
	ErrUnexpectedChallenge = gosasl.ErrUnexpectedServerChallenge
	// ErrUnexpectedResponse is go-sasl's error for a client response a
	// server did not expect.
	ErrUnexpectedResponse = gosasl.ErrUnexpectedClientResponse
)

// MalformedError reports a message that breaks a mechanism's grammar.
// Reason describes the fault; it never quotes the message, which may hold a
// secret.
type MalformedError struct {
	Mechanism string
	Reason    string
}

func (e *MalformedError) Error() string {
	return "sasl: " + e.Mechanism + ": malformed message: " + e.Reason
}

// Unwrap returns ErrMalformed.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// Malformed returns a *MalformedError for mech with reason.
func Malformed(mech, reason string) error {
	return &MalformedError{Mechanism: mech, Reason: reason}
}

// TokenError is a bearer token rejection as XOAUTH2 and OAUTHBEARER carry it
// in their JSON error challenge (RFC 7628 §3.2.2; Google's and Microsoft's
// XOAUTH2 documentation). A client records it when it answers the error
// challenge (see FailureOf); a TokenVerifier returns it to make the server
// send the challenge. It wraps ErrAuthFailed.
type TokenError struct {
	// Mechanism is "XOAUTH2" or "OAUTHBEARER".
	Mechanism string
	// Status is the error status: an HTTP-like code for XOAUTH2 ("400",
	// "401") or an RFC 6750 code for OAUTHBEARER ("invalid_token").
	Status string
	// Schemes lists the HTTP authentication schemes the server accepts.
	Schemes string
	// Scope is the scope the token needs.
	Scope string
	// OpenIDConfiguration is the discovery URL RFC 7628 allows.
	OpenIDConfiguration string
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("sasl: ")
	if e.Mechanism != "" {
		b.WriteString(e.Mechanism + " ")
	}
	b.WriteString("token rejected")
	sep := ": "
	for _, kv := range [][2]string{{"status", e.Status}, {"schemes", e.Schemes}, {"scope", e.Scope}} {
		if kv[1] != "" {
			b.WriteString(sep + kv[0] + " " + kv[1])
			sep = ", "
		}
	}
	return b.String()
}

// Unwrap returns ErrAuthFailed.
func (e *TokenError) Unwrap() error { return ErrAuthFailed }

// CredentialsError says which credential kinds a mechanism needs that the
// credentials lack. It matches ErrNoCredentials with errors.Is; errors.As
// finds it as a value (var ce sasl.CredentialsError), not a pointer.
type CredentialsError struct {
	// Missing are the kinds the mechanism needs and the credentials do
	// not hold.
	Missing Need
}

// Error says what is missing, one phrase per kind: "sasl: no password",
// "sasl: no token source", "sasl: no external identity", joined with ", ".
// Credentials.External asks for an identity the transport established,
// which is usually but not always a TLS client certificate, hence "external
// identity".
func (e CredentialsError) Error() string {
	var b strings.Builder
	b.WriteString("sasl: ")
	sep := ""
	for _, k := range [...]struct {
		n    Need
		what string
	}{{NeedPassword, "no password"}, {NeedToken, "no token source"}, {NeedExternal, "no external identity"}} {
		if e.Missing&k.n != 0 {
			b.WriteString(sep + k.what)
			sep = ", "
		}
	}
	if rest := e.Missing &^ (NeedPassword | NeedToken | NeedExternal); rest != 0 || sep == "" {
		b.WriteString(sep + "credentials missing for mechanism")
	}
	return b.String()
}

// Unwrap returns ErrNoCredentials.
func (e CredentialsError) Unwrap() error { return ErrNoCredentials }

// NegotiationError explains why Negotiate found no mechanism: what the server
// advertised and why each candidate was passed over. It matches
// ErrNoMechanism with errors.Is, and also ErrInsecureTransport when at least
// one advertised mechanism was refused only because the connection is
// insecure, so callers can say "use TLS" rather than "no mechanism".
type NegotiationError struct {
	// Advertised is the server's list as given to Negotiate.
	Advertised []string
	// Rejected lists each advertised mechanism that was passed over and
	// why, in the order considered.
	Rejected []Rejection
}

// Rejection is one mechanism Negotiate found not usable. Err is or wraps one
// of ErrNotRegistered, ErrDenied, ErrNoCredentials (a CredentialsError),
// ErrInsecureTransport, ErrUnusable, or the error a factory or token source
// returned.
type Rejection struct {
	Mechanism string
	Err       error
}

// why is the rejection's reason for a one-line summary: the error's text
// without the "sasl: " prefix, nor the mechanism's name the summary already
// shows ("OAUTHBEARER: fetching token: ..." reads "fetching token: ...").
func (r Rejection) why() string {
	s := strings.TrimPrefix(r.Err.Error(), "sasl: ")
	if rest, ok := strings.CutPrefix(s, r.Mechanism+": "); ok {
		return rest
	}
	return s
}

func (e *NegotiationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoMechanism.Error())
	if len(e.Advertised) == 0 {
		b.WriteString(" (server advertised none)")
		return b.String()
	}
	b.WriteString(" (server offers ")
	b.WriteString(strings.Join(e.Advertised, " "))
	b.WriteString(")")
	for i, r := range e.Rejected {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(r.Mechanism + ": " + r.why())
	}
	return b.String()
}

// Unwrap returns ErrNoMechanism; ErrInsecureTransport when some mechanism
// was refused only for an insecure connection; and every rejection error that
// is not one of the routine reasons (ErrNotRegistered, ErrDenied,
// ErrNoCredentials, ErrUnusable, ErrClientOnly), so that a token source's
// error (for instance "authorize again") can be found with errors.Is and
// errors.As.
func (e *NegotiationError) Unwrap() []error {
	errs := []error{ErrNoMechanism}
	insecure := false
	for _, r := range e.Rejected {
		switch {
		case errors.Is(r.Err, ErrInsecureTransport):
			if !insecure {
				errs = append(errs, ErrInsecureTransport)
				insecure = true
			}
		case r.Err == ErrNotRegistered, r.Err == ErrDenied, routineCredentials(r.Err),
			r.Err == ErrClientOnly, errors.Is(r.Err, ErrUnusable):
		default:
			errs = append(errs, r.Err)
		}
	}
	return errs
}

// routineCredentials reports whether err is the policy's finding that the
// credentials lack what a mechanism needs (a CredentialsError, or the bare
// sentinel). A factory's or token source's error that merely wraps
// ErrNoCredentials is not routine: Unwrap surfaces it like any other error
// of theirs, which errors.Is(err, ErrNoCredentials) would hide.
func routineCredentials(err error) bool {
	if err == ErrNoCredentials {
		return true
	}
	_, ok := err.(CredentialsError)
	return ok
}
