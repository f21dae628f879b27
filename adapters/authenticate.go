package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

// Options configure authentication. A nil *Options means the defaults: the
// built-in mechanisms, the default policy and no credentials (so only
// mechanisms that need none, which the default policy does not allow).
type Options struct {
	// Registry holds the mechanisms to negotiate from. Nil means
	// mechanisms.Builtin().
	Registry *sasl.Registry
	// Policy constrains the choice. Nil means sasl's default policy: no
	// secret over a connection without verified TLS except to loopback.
	Policy *sasl.Policy
	// Credentials are what the client authenticates with.
	Credentials *sasl.Credentials
}

func (o *Options) registry() *sasl.Registry {
	if o == nil || o.Registry == nil {
		return mechanisms.Builtin()
	}
	return o.Registry
}

// Exchange runs one protocol authentication exchange with the negotiated
// client n.Client on the connection, bounded by ctx. It returns nil when the
// server reported success, an *AuthError when the server answered with a
// failure, and any other error when the exchange could not complete (I/O).
type Exchange func(ctx context.Context, n *sasl.Negotiated) error

// Authenticate negotiates a mechanism from advertised (the list the server
// sent over the current connection, after any STARTTLS) for the connection
// described by conn, and runs exchange with it.
//
// After the server reports success it checks sasl.CheckServerAuth: a SCRAM
// server that did not prove itself gives an *AuthError matching
// ErrCancelled and sasl.ErrServerAuth, and the caller must drop the
// connection, which the server considers authenticated.
//
// When the mechanism carries a token, the server rejected it (ErrRejected)
// and the token source can invalidate it, Authenticate invalidates the
// token, negotiates again (fetching a fresh token) and runs exchange once
// more on the same connection. The second outcome is returned as it is.
//
// On success it returns the negotiation that authenticated. Errors before
// anything was sent are negotiation errors (sasl.ErrNoMechanism,
// sasl.ErrInsecureTransport, a token source's error); an *AuthError records
// sasl.FailureOf of the client when the exchange does not, and the
// advertised list it negotiated from.
func Authenticate(ctx context.Context, opts *Options, advertised []string, conn *sasl.ConnState, exchange Exchange) (*sasl.Negotiated, error) {
	if exchange == nil {
		return nil, errors.New("adapters: Authenticate: nil exchange")
	}
	reg := opts.registry()
	var creds *sasl.Credentials
	var policy *sasl.Policy
	if opts != nil {
		creds, policy = opts.Credentials, opts.Policy
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("adapters: authentication: %w", err)
		}
		n, err := reg.Negotiate(ctx, advertised, creds, conn, policy)
		if err != nil {
			return nil, fmt.Errorf("adapters: %w", err)
		}
		err = runOnce(ctx, n, exchange)
		if err == nil {
			return n, nil
		}
		if attempt == 1 && tokenRejected(n, err) && n.InvalidateToken() {
			continue
		}
		return nil, err
	}
}

// runOnce runs exchange and completes the error it returns.
func runOnce(ctx context.Context, n *sasl.Negotiated, exchange Exchange) error {
	err := exchange(ctx, n)
	if err == nil {
		if err := sasl.CheckServerAuth(n.Client); err != nil {
			return &AuthError{Mechanism: n.Mechanism.Name, Kind: ErrCancelled, Cause: err, Advertised: n.Advertised()}
		}
		return nil
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		if ae.Mechanism == "" {
			ae.Mechanism = n.Mechanism.Name
		}
		if ae.Failure == nil {
			ae.Failure = sasl.FailureOf(n.Client)
		}
		if ae.Advertised == nil {
			ae.Advertised = n.Advertised()
		}
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("adapters: %s authentication interrupted: %w (%w)", n.Mechanism.Name, ctxErr, err)
	}
	return err
}

// tokenRejected reports whether err is the server's rejection of the token
// n carried.
func tokenRejected(n *sasl.Negotiated, err error) bool {
	return n.Mechanism.Needs&sasl.NeedToken != 0 && errors.Is(err, ErrRejected)
}

// Deadline returns when a session authenticated by n should be considered
// over: the expiry of the token it authenticated with, less margin, so the
// caller can re-dial and authenticate with a fresh token first. ok is false
// when n carried no token or the token's expiry is unknown; such a session
// lasts until the server ends it.
func Deadline(n *sasl.Negotiated, margin time.Duration) (deadline time.Time, ok bool) {
	if n == nil {
		return time.Time{}, false
	}
	exp := n.TokenExpiry()
	if exp.IsZero() {
		return time.Time{}, false
	}
	return exp.Add(-margin), true
}
