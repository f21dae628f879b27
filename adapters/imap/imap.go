package imap

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// Protocol is the AuthError.Protocol of this package's errors.
const Protocol = "IMAP"

// Options configure authentication and the dial helpers. A nil *Options
// means the defaults.
type Options struct {
	// Registry holds the mechanisms to negotiate from; nil means
	// mechanisms.Builtin().
	Registry *sasl.Registry
	// Policy constrains the choice; nil means sasl's default policy.
	Policy *sasl.Policy
	// Credentials are what the client authenticates with.
	Credentials *sasl.Credentials
	// ConnState describes the connection of a client passed to
	// Authenticate: host, port and TLS state, which decide whether a
	// secret may be sent and feed SCRAM channel binding. Nil means
	// nothing is known, so mechanisms that send a secret are refused
	// unless the policy allows insecure transport. The dial helpers fill
	// it from the connection they make and ignore this field.
	ConnState *sasl.ConnState
	// Client holds imapclient's options for the dial helpers (TLSConfig,
	// Dialer, DebugWriter, handlers). The dial helpers pass DebugWriter
	// through adapters.RedactWriter, so the transcript holds no
	// credentials; a client the caller builds itself should do the same.
	Client *imapclient.Options
}

func (o *Options) auth() *adapters.Options {
	if o == nil {
		return nil
	}
	return &adapters.Options{Registry: o.Registry, Policy: o.Policy, Credentials: o.Credentials}
}

func (o *Options) connState() *sasl.ConnState {
	if o == nil {
		return nil
	}
	return o.ConnState
}

// Authenticate authenticates c, a client that has not authenticated yet,
// with the strongest mechanism the server advertises in CAPABILITY and
// opts allow. It returns the negotiation that succeeded (see
// adapters.Deadline for a token's session lifetime). The advertised list it
// negotiates from (Negotiated.Advertised(), AuthError.Advertised) holds the
// AUTH= capabilities in alphabetical order, upper case: IMAP capabilities
// form a set.
//
// Errors: an *adapters.AuthError for the server's answer (ErrRejected,
// ErrTemporary, ErrTLSRequired, ErrCancelled) or for a client that is
// already authenticated (ErrAlreadyAuthenticated, nothing sent);
// sasl.ErrNoMechanism and sasl.ErrInsecureTransport from negotiation
// (nothing sent); other errors when the connection failed, in which case the
// client is closed. When ctx ends first, or when a SCRAM server fails mutual
// authentication (ErrCancelled wrapping sasl.ErrServerAuth), the client is
// closed.
func Authenticate(ctx context.Context, c *imapclient.Client, opts *Options) (*sasl.Negotiated, error) {
	if c == nil {
		return nil, errors.New("imap: Authenticate: nil client")
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	return authenticate(ctx, c, opts, opts.connState())
}

func authenticate(ctx context.Context, c *imapclient.Client, opts *Options, cs *sasl.ConnState) (*sasl.Negotiated, error) {
	if err := c.WaitGreeting(); err != nil {
		return nil, fmt.Errorf("imap: waiting for the greeting: %w", withCtx(ctx, err))
	}
	switch st := c.State(); st {
	case imap.ConnStateNotAuthenticated:
	case imap.ConnStateAuthenticated, imap.ConnStateSelected:
		return nil, &adapters.AuthError{Protocol: Protocol, Kind: adapters.ErrAlreadyAuthenticated}
	default:
		return nil, fmt.Errorf("imap: cannot authenticate in state %v", st)
	}
	caps := c.Caps()
	if caps == nil {
		_ = c.Close()
		return nil, fmt.Errorf("imap: reading CAPABILITY: %w", withCtx(ctx, errors.New("no answer")))
	}
	// CAPABILITY is a set, and go-imap keeps it in a map: sorting gives
	// the negotiation (its Rejected list, Negotiated.Advertised()) a stable
	// order.
	advertised := caps.AuthMechanisms()
	slices.Sort(advertised)
	n, err := adapters.Authenticate(ctx, opts.auth(), advertised, cs, func(ctx context.Context, n *sasl.Negotiated) error {
		return exchange(ctx, c, n)
	})
	if err != nil && errors.Is(err, sasl.ErrServerAuth) {
		// The server took the exchange as a success but did not prove
		// itself: the session it opened must not be used.
		_ = c.Close()
	}
	if err == nil {
		settle(c, func() bool { return c.State() != imap.ConnStateNotAuthenticated })
	}
	return n, err
}

// settle waits until cond holds or c closes. imapclient reports a command
// done to its caller before it updates the client's state (the
// authenticated state, the selected mailbox) in its reader goroutine, which
// does so right after; settle bridges that gap so that State and Mailbox
// are current when this package returns.
func settle(c *imapclient.Client, cond func() bool) {
	for !cond() {
		select {
		case <-c.Closed():
			return
		default:
			runtime.Gosched()
		}
	}
}

// withCtx prefers ctx's error: when ctx ended, the client was closed
// because of it.
func withCtx(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return err
}

// maxChallenges bounds the challenges of one exchange; a server that goes
// on past it is cut off.
const maxChallenges = 32

// guard keeps a mechanism's Next from returning an error, which would leave
// imapclient and the server out of step. It answers with an empty response
// instead and records the mechanism's error.
type guard struct {
	sasl.Client
	c       *imapclient.Client
	err     error // why the mechanism cancelled
	started bool  // Start succeeded, so AUTHENTICATE may be on the wire
	rounds  int
}

func (g *guard) Start() (string, []byte, error) {
	mech, ir, err := g.Client.Start()
	g.started = err == nil
	return mech, ir, err
}

func (g *guard) Next(challenge []byte) ([]byte, error) {
	g.rounds++
	if g.rounds > maxChallenges {
		_ = g.c.Close()
		return nil, fmt.Errorf("imap: more than %d challenges", maxChallenges)
	}
	if g.err != nil {
		return []byte{}, nil
	}
	resp, err := g.Client.Next(challenge)
	if err != nil {
		g.err = err
		return []byte{}, nil
	}
	if resp == nil {
		resp = []byte{}
	}
	return resp, nil
}

// exchange runs one AUTHENTICATE and maps its outcome.
func exchange(ctx context.Context, c *imapclient.Client, n *sasl.Negotiated) error {
	g := &guard{Client: n.Client, c: c}
	err := c.Authenticate(g)
	mech := n.Mechanism.Name
	if err == nil {
		if g.err != nil {
			_ = c.Close()
			return &adapters.AuthError{Protocol: Protocol, Mechanism: mech, Kind: adapters.ErrCancelled, Cause: g.err}
		}
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		ae := &adapters.AuthError{
			Protocol:  Protocol,
			Mechanism: mech,
			Code:      string(ie.Code),
			Text:      adapters.Sanitize(ie.Text),
			Kind:      kindOf(ie),
			Cause:     err,
		}
		if g.err != nil {
			ae.Kind, ae.Cause = adapters.ErrCancelled, g.err
		}
		return ae
	}
	if !g.started {
		// The mechanism refused to start: nothing was sent.
		return fmt.Errorf("imap: %s: %w", mech, err)
	}
	// The exchange stopped half-way: the server may still wait for a
	// response, so the connection cannot be used any more.
	_ = c.Close()
	return fmt.Errorf("imap: AUTHENTICATE %s interrupted, connection closed: %w", mech, withCtx(ctx, err))
}

// kindOf classifies a tagged NO or BAD answer to AUTHENTICATE.
func kindOf(e *imap.Error) error {
	switch e.Code {
	case imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed,
		imap.ResponseCodeExpired, imap.ResponseCodeContactAdmin:
		return adapters.ErrRejected
	case imap.ResponseCodeUnavailable, imap.ResponseCodeServerBug, imap.ResponseCodeLimit, imap.ResponseCodeInUse:
		return adapters.ErrTemporary
	case imap.ResponseCodePrivacyRequired:
		return adapters.ErrTLSRequired
	}
	if e.Type == imap.StatusResponseTypeNo {
		// Servers without RFC 5530 codes (Microsoft 365: "NO AUTHENTICATE
		// failed.") say NO for rejected credentials.
		return adapters.ErrRejected
	}
	return nil
}
