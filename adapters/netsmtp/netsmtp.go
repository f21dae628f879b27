// Package netsmtp authenticates the standard library's net/smtp clients
// with saslkit: Auth is a net/smtp.Auth that negotiates the strongest
// mechanism from the server's EHLO AUTH list (ServerInfo.Auth) under a
// policy, and Authenticate runs it on a client and maps the outcome to the
// adapters error taxonomy.
//
// # The TLS rule
//
// Auth keeps net/smtp's rule: no secret (PLAIN, LOGIN, XOAUTH2,
// OAUTHBEARER) over a connection without TLS unless the server is
// localhost (ServerInfo.Name "localhost", "127.0.0.1" or "::1"). The
// refusal is sasl.ErrInsecureTransport, and nothing is sent. net/smtp sets
// ServerInfo.TLS for any TLS connection, so a tls.Config that skips
// certificate verification defeats the rule: do not use one.
//
// # Context and tokens
//
// net/smtp's Auth.Start takes no context, so NewAuth fetches the access
// token up front, bounded by its ctx, and Auth only carries it; no Auth
// holds a context. Build a new Auth for each connection.
//
// net/smtp closes the connection (QUIT) after any failed AUTH, so there is
// no second attempt on the same connection. When the server rejects the
// token, Authenticate (or Auth.Result) invalidates it in the token source,
// and the next NewAuth fetches a fresh one for the next connection.
package netsmtp

import (
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

// Protocol is the AuthError.Protocol of this package's errors.
const Protocol = "SMTP"

// Options configure an Auth. A nil *Options means the defaults.
type Options struct {
	// Registry holds the mechanisms to negotiate from; nil means
	// mechanisms.Builtin().
	Registry *sasl.Registry
	// Policy constrains the choice; nil means sasl's default policy.
	// Transport security is decided by net/smtp's rule (see the package
	// documentation) unless Policy.AllowInsecure is set.
	Policy *sasl.Policy
	// Credentials are what the client authenticates with.
	Credentials *sasl.Credentials
	// Host, when set, must equal ServerInfo.Name (the name given to
	// smtp.NewClient), as net/smtp's PlainAuth requires.
	Host string
}

// Auth is a net/smtp.Auth backed by a saslkit registry. It is for one
// connection; it is safe for concurrent use but a second Start begins a new
// negotiation.
type Auth struct {
	reg    *sasl.Registry
	policy *sasl.Policy
	creds  sasl.Credentials
	host   string

	mu     sync.Mutex
	n      *sasl.Negotiated
	cancel error // why the mechanism cancelled, if it did
}

var _ smtp.Auth = (*Auth)(nil)

// NewAuth returns an Auth for opts. When the credentials hold a token
// source it fetches the token now, bounded by ctx.
func NewAuth(ctx context.Context, opts *Options) (*Auth, error) {
	a := &Auth{}
	if opts != nil {
		a.reg, a.policy, a.host = opts.Registry, opts.Policy, opts.Host
		if opts.Credentials != nil {
			a.creds = *opts.Credentials
		}
	}
	if a.reg == nil {
		a.reg = mechanisms.Builtin()
	}
	if src := a.creds.TokenSource; src != nil {
		tok, err := src.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("netsmtp: fetching token: %w", err)
		}
		a.creds.TokenSource = &fetched{tok: tok, src: src}
	}
	return a, nil
}

// fetched is a token source holding a token fetched ahead; invalidation
// goes to the source it came from.
type fetched struct {
	tok *oauth2.Token
	src sasl.TokenSource
}

func (f *fetched) Token(context.Context) (*oauth2.Token, error) { return f.tok, nil }

func (f *fetched) Invalidate(tok *oauth2.Token) {
	if inv, ok := f.src.(sasl.TokenInvalidator); ok {
		inv.Invalidate(tok)
	}
}

// Format prints the Auth without its credentials' secrets.
func (a *Auth) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "netsmtp.Auth{Credentials:"+a.creds.String()+"}")
}

func isLocalhost(name string) bool {
	return name == "localhost" || name == "127.0.0.1" || name == "::1"
}

// Start negotiates from server.Auth and returns the chosen mechanism's
// initial response. It refuses, without sending anything, mechanisms that
// reveal a secret when server.TLS is false and server.Name is not
// localhost.
func (a *Auth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if a.host != "" && server.Name != a.host {
		return "", nil, fmt.Errorf("netsmtp: server name %q is not the expected host %q", server.Name, a.host)
	}
	policy := sasl.Policy{}
	if a.policy != nil {
		policy = *a.policy
	}
	if server.TLS || isLocalhost(server.Name) {
		// net/smtp's rule: TLS (verified by crypto/tls) or localhost.
		policy.AllowInsecure = true
	}
	cs := &sasl.ConnState{Host: server.Name}
	// No I/O happens here: the token, if any, was fetched by NewAuth.
	n, err := a.reg.Negotiate(context.Background(), server.Auth, &a.creds, cs, &policy)
	if err != nil {
		return "", nil, fmt.Errorf("netsmtp: %w", err)
	}
	mech, ir, err := n.Client.Start()
	if err != nil {
		return "", nil, fmt.Errorf("netsmtp: %s: %w", n.Mechanism.Name, err)
	}
	a.mu.Lock()
	a.n, a.cancel = n, nil
	a.mu.Unlock()
	return mech, ir, nil
}

// Next answers a challenge (more is true) or checks the server's success
// (more is false): a SCRAM server that did not prove itself is refused.
func (a *Auth) Next(fromServer []byte, more bool) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		return nil, errors.New("netsmtp: Next before Start")
	}
	if !more {
		if err := sasl.CheckServerAuth(a.n.Client); err != nil {
			a.cancel = err
			return nil, err
		}
		return nil, nil
	}
	resp, err := a.n.Client.Next(fromServer)
	if err != nil {
		a.cancel = err
		return nil, err
	}
	if resp == nil {
		resp = []byte{} // nil would end net/smtp's loop as if it succeeded
	}
	return resp, nil
}

// Negotiated returns the outcome of the last Start, or nil.
func (a *Auth) Negotiated() *sasl.Negotiated {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// Result maps the error smtp.Client.Auth returned with a to the adapters
// taxonomy: an *adapters.AuthError for the server's reply (535
// ErrRejected, 454 and other 4xx ErrTemporary, 530 with a TLS text, 534 and
// 538 ErrTLSRequired) or for a cancelled exchange (ErrCancelled). When the
// server rejected the token the mechanism carried, Result invalidates it
// in the token source. Other errors are returned wrapped.
func (a *Auth) Result(err error) error {
	if err == nil {
		return nil
	}
	a.mu.Lock()
	n, cancel := a.n, a.cancel
	a.mu.Unlock()
	if n == nil {
		if strings.HasPrefix(err.Error(), "netsmtp: ") {
			return err
		}
		return fmt.Errorf("netsmtp: %w", err)
	}
	mech := n.Mechanism.Name
	if cancel != nil {
		return &adapters.AuthError{Protocol: Protocol, Mechanism: mech, Kind: adapters.ErrCancelled, Cause: cancel}
	}
	var te *textproto.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("netsmtp: AUTH %s: %w", mech, err)
	}
	ae := &adapters.AuthError{
		Protocol:  Protocol,
		Mechanism: mech,
		Code:      strconv.Itoa(te.Code),
		Text:      adapters.Sanitize(te.Msg),
		Kind:      kindOf(te.Code, te.Msg),
		Failure:   sasl.FailureOf(n.Client),
		Cause:     err,
	}
	if ae.Kind == adapters.ErrRejected && n.Mechanism.Needs&sasl.NeedToken != 0 {
		n.InvalidateToken()
	}
	return ae
}

func kindOf(code int, msg string) error {
	switch code {
	case 535:
		return adapters.ErrRejected
	case 534, 538, 523:
		return adapters.ErrTLSRequired
	case 530:
		if strings.Contains(strings.ToUpper(msg), "TLS") {
			return adapters.ErrTLSRequired
		}
		return nil
	case 503:
		if strings.Contains(strings.ToLower(msg), "already") {
			return adapters.ErrAlreadyAuthenticated
		}
		return nil
	}
	if code >= 400 && code < 500 {
		return adapters.ErrTemporary
	}
	return nil
}

// Authenticate authenticates c with a new Auth for opts and returns the
// negotiation that succeeded. ctx bounds the token fetch and the exchange:
// when it ends first, c is closed. On failure net/smtp has already closed
// the connection; the error is mapped as by Auth.Result, and a rejected
// token is invalidated so that the next connection uses a fresh one.
func Authenticate(ctx context.Context, c *smtp.Client, opts *Options) (*sasl.Negotiated, error) {
	if c == nil {
		return nil, errors.New("netsmtp: Authenticate: nil client")
	}
	a, err := NewAuth(ctx, opts)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	if err := a.Result(c.Auth(a)); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			return nil, fmt.Errorf("netsmtp: authentication interrupted: %w (%w)", ctxErr, err)
		}
		return nil, err
	}
	return a.Negotiated(), nil
}
