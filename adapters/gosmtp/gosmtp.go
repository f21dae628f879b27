package gosmtp

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// Protocol is the AuthError.Protocol of this package's errors.
const Protocol = "SMTP"

// DefaultMaxLineLength is the longest AUTH command line with an initial
// response the adapter sends, CRLF included (RFC 4954 §4).
const DefaultMaxLineLength = 12288

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
	// Authenticate. Nil means only the client's TLS state is known (no
	// host, so OAUTHBEARER sends none, and no loopback exemption). The
	// dial helpers fill it themselves.
	ConnState *sasl.ConnState
	// MaxLineLength bounds "AUTH mech initial-response" (CRLF included);
	// a longer initial response goes in a continuation line. Zero means
	// DefaultMaxLineLength.
	MaxLineLength int
	// TLSConfig is used by the dial helpers; nil means a default
	// configuration. ServerName defaults to the host of addr.
	TLSConfig *tls.Config
	// Dialer dials for the dial helpers; nil means a zero net.Dialer.
	Dialer *net.Dialer
	// LocalName is the name sent with EHLO by the dial helpers after TLS
	// is established; "" means "localhost".
	LocalName string
	// DebugWriter, when set, receives the dial helpers' SMTP transcript
	// with authentication payloads redacted (adapters.RedactWriter).
	DebugWriter io.Writer
}

func (o *Options) auth() *adapters.Options {
	if o == nil {
		return nil
	}
	return &adapters.Options{Registry: o.Registry, Policy: o.Policy, Credentials: o.Credentials}
}

func (o *Options) maxLine() int {
	if o == nil || o.MaxLineLength <= 0 {
		return DefaultMaxLineLength
	}
	return o.MaxLineLength
}

// Authenticate authenticates c with the strongest mechanism the server
// advertises in its EHLO AUTH keyword and opts allow, and returns the
// negotiation that succeeded (see adapters.Deadline).
//
// Errors: an *adapters.AuthError for the server's reply (535 ErrRejected;
// 454 and other 4xx ErrTemporary; 530 with a TLS text, 523, 534, 538
// ErrTLSRequired; 503 ErrAlreadyAuthenticated; a cancelled exchange
// ErrCancelled); sasl.ErrNoMechanism and sasl.ErrInsecureTransport from
// negotiation (nothing sent); other errors when the connection failed. When
// ctx ends first, or when a SCRAM server fails mutual authentication
// (ErrCancelled wrapping sasl.ErrServerAuth), the client is closed.
func Authenticate(ctx context.Context, c *smtp.Client, opts *Options) (*sasl.Negotiated, error) {
	if c == nil {
		return nil, errors.New("gosmtp: Authenticate: nil client")
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	var cs *sasl.ConnState
	if opts != nil && opts.ConnState != nil {
		cs = opts.ConnState
	} else {
		cs = &sasl.ConnState{}
		if st, ok := c.TLSConnectionState(); ok {
			cs.TLS = &st
		}
	}
	return authenticate(ctx, c, opts, cs)
}

func authenticate(ctx context.Context, c *smtp.Client, opts *Options, cs *sasl.ConnState) (*sasl.Negotiated, error) {
	ok, params := c.Extension("AUTH")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gosmtp: EHLO: %w", err)
	}
	var advertised []string
	if ok {
		advertised = strings.Fields(params)
	} else if err := c.Noop(); err != nil {
		// Extension hides a failed EHLO; NOOP reports it (or the
		// connection's failure) instead of "no mechanism".
		return nil, fmt.Errorf("gosmtp: EHLO: %w", withCtx(ctx, err))
	}
	maxLine := opts.maxLine()
	n, err := adapters.Authenticate(ctx, opts.auth(), advertised, cs, func(ctx context.Context, n *sasl.Negotiated) error {
		return exchange(ctx, c, n, maxLine)
	})
	if err != nil && errors.Is(err, sasl.ErrServerAuth) {
		// The server may have taken the exchange as a success without
		// proving itself: the session must not be used.
		_ = c.Close()
	}
	return n, err
}

// guard adapts a mechanism for go-smtp: it withholds an initial response
// too long for the AUTH line, never returns a nil response (go-smtp would
// take it for success), and records why the mechanism cancelled.
type guard struct {
	sasl.Client
	maxLine  int
	withheld []byte // the initial response to send on the first 334
	err      error
	started  bool
}

func (g *guard) Start() (string, []byte, error) {
	mech, ir, err := g.Client.Start()
	if err != nil {
		return mech, ir, err
	}
	g.started = true
	if ir != nil && len("AUTH ")+len(mech)+1+base64.StdEncoding.EncodedLen(len(ir))+2 > g.maxLine {
		g.withheld = ir
		return mech, nil, nil
	}
	return mech, ir, nil
}

func (g *guard) Next(challenge []byte) ([]byte, error) {
	if g.withheld != nil {
		ir := g.withheld
		g.withheld = nil
		if len(challenge) != 0 {
			g.err = fmt.Errorf("gosmtp: %w: non-empty challenge where the initial response was expected", sasl.ErrUnexpectedChallenge)
			return nil, g.err
		}
		return ir, nil
	}
	resp, err := g.Client.Next(challenge)
	if err != nil {
		g.err = err
		return nil, err
	}
	if resp == nil {
		resp = []byte{}
	}
	return resp, nil
}

func exchange(ctx context.Context, c *smtp.Client, n *sasl.Negotiated, maxLine int) error {
	g := &guard{Client: n.Client, maxLine: maxLine}
	err := c.Auth(g)
	if err == nil {
		return nil
	}
	mech := n.Mechanism.Name
	if g.err != nil {
		ae := &adapters.AuthError{Protocol: Protocol, Mechanism: mech, Kind: adapters.ErrCancelled, Cause: g.err}
		return ae
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &adapters.AuthError{
			Protocol:  Protocol,
			Mechanism: mech,
			Code:      strconv.Itoa(se.Code),
			Text:      adapters.Sanitize(enhanced(se) + se.Message),
			Kind:      kindOf(se),
			Cause:     err,
		}
	}
	if !g.started {
		return fmt.Errorf("gosmtp: %s: %w", mech, err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("gosmtp: AUTH %s interrupted: %w (%w)", mech, ctxErr, err)
	}
	return fmt.Errorf("gosmtp: AUTH %s: %w", mech, err)
}

func enhanced(se *smtp.SMTPError) string {
	if se.EnhancedCode == (smtp.EnhancedCode{}) || se.EnhancedCode == smtp.NoEnhancedCode {
		return ""
	}
	e := se.EnhancedCode
	return fmt.Sprintf("%d.%d.%d ", e[0], e[1], e[2])
}

// kindOf classifies an SMTP reply to AUTH.
func kindOf(se *smtp.SMTPError) error {
	switch se.Code {
	case 535:
		return adapters.ErrRejected
	case 534, 538, 523:
		return adapters.ErrTLSRequired
	case 530:
		if strings.Contains(strings.ToUpper(se.Message), "TLS") {
			return adapters.ErrTLSRequired
		}
		return nil
	case 503:
		if strings.Contains(strings.ToLower(se.Message), "already") {
			return adapters.ErrAlreadyAuthenticated
		}
		return nil
	}
	if se.Code >= 400 && se.Code < 500 {
		return adapters.ErrTemporary
	}
	return nil
}

// withCtx prefers ctx's error: when ctx ended, the client was closed
// because of it.
func withCtx(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return err
}
