package pop3

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"time"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

// AuthOptions configure Authenticate. A nil *AuthOptions means no
// credentials, the built-in mechanisms and the default policy.
type AuthOptions struct {
	// Options are the registry, policy and credentials to negotiate with
	// (see adapters.Options).
	adapters.Options
	// UserPass allows the RFC 1939 USER/PASS fallback when no SASL
	// mechanism can be used, the server offers USER and the credentials
	// hold a password. It obeys the same rule as the mechanisms that
	// reveal a secret: never over a connection without verified TLS to a
	// peer that is not loopback, unless Policy.AllowInsecure.
	UserPass bool
	// Advertised, for the package-level Authenticate only, is the SASL
	// mechanism list the caller read from CAPA on the current connection
	// (after STLS). Nil makes Authenticate send CAPA itself. UserPass then
	// assumes the server offers USER.
	Advertised []string
	// DebugWriter, for the package-level Authenticate only, receives the
	// redacted transcript (see Options.DebugWriter).
	DebugWriter io.Writer
}

// AuthResult describes a successful authentication.
type AuthResult struct {
	// Mechanism is the SASL mechanism, or "USER" for USER/PASS.
	Mechanism string
	// Negotiated is the negotiation that authenticated; nil for
	// USER/PASS. adapters.Deadline(Negotiated, margin) tells when a
	// token-authenticated session should be renewed.
	Negotiated *sasl.Negotiated
}

// maxRounds bounds the challenges of one exchange.
const maxRounds = 32

// Authenticate negotiates a SASL mechanism from the server's CAPA SASL
// list (read afresh, after any STLS), with opts' registry, policy and
// credentials, and authenticates (RFC 5034). When the server rejects a
// token, the token is invalidated and the exchange runs once more with a
// fresh one (adapters.Authenticate). On success the session is in the
// TRANSACTION state.
//
// Failures the server reported are an *adapters.AuthError matching
// adapters.ErrRejected ([AUTH], or a plain -ERR), adapters.ErrTemporary
// ([SYS/TEMP], [IN-USE], [LOGIN-DELAY]) or adapters.ErrCancelled; its
// Cause is the *Error. A client that is already authenticated refuses
// with adapters.ErrAlreadyAuthenticated and sends nothing. Nothing secret
// is sent when negotiation fails (sasl.ErrInsecureTransport,
// sasl.ErrNoMechanism).
func (c *Client) Authenticate(ctx context.Context, opts *AuthOptions) (*AuthResult, error) {
	if c.authed {
		return nil, fmt.Errorf("pop3: %w", &adapters.AuthError{Protocol: "POP3", Kind: adapters.ErrAlreadyAuthenticated})
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return nil, err
	}
	var res *AuthResult
	err = c.run(ctx, "AUTH", func() (err error) {
		res, err = authenticate(ctx, c.tc, c.ConnState(), caps.SASL, caps.User, opts)
		return err
	})
	if err != nil {
		var ae *adapters.AuthError
		if errors.As(err, &ae) && errors.Is(err, sasl.ErrServerAuth) {
			// The server considers the session authenticated but did
			// not prove itself: drop the connection.
			c.tc.fail(err)
			c.conn.Close()
		}
		return nil, err
	}
	c.authed = true
	c.caps = nil
	return res, nil
}

// Login authenticates with USER and PASS (RFC 1939 §7). It refuses, before
// sending anything, over a connection without verified TLS to a peer that
// is not loopback (sasl.ErrInsecureTransport).
func (c *Client) Login(ctx context.Context, username, password string) error {
	if c.authed {
		return fmt.Errorf("pop3: %w", &adapters.AuthError{Protocol: "POP3", Mechanism: "USER", Kind: adapters.ErrAlreadyAuthenticated})
	}
	if cs := c.ConnState(); !cs.Secure() && !cs.Loopback() {
		return fmt.Errorf("pop3: USER: %w", sasl.ErrInsecureTransport)
	}
	err := c.run(ctx, "USER", func() error { return userPass(c.tc, username, password) })
	if err != nil {
		return err
	}
	c.authed = true
	c.caps = nil
	return nil
}

// Authenticate authenticates on a POP3 connection the caller already has,
// in the AUTHORIZATION state, with nothing pending: conn is a net.Conn (or a
// *tls.Conn), a *bufio.ReadWriter (whose buffers are used), or any
// io.ReadWriter. For a *textproto.Conn use AuthenticateText. cs describes
// the connection for negotiation (see sasl.ConnStateOf); it decides whether
// a secret may be sent.
//
// It behaves as (*Client).Authenticate. ctx bounds the exchange through
// conn's SetDeadline and Close when it has them (a net.Conn does);
// otherwise it is checked only before the exchange. On return the
// connection is in step with the server: after success in the TRANSACTION
// state, after an *adapters.AuthError or a negotiation error still in the
// AUTHORIZATION state; after any other error it must be closed.
func Authenticate(ctx context.Context, conn io.ReadWriter, cs *sasl.ConnState, opts *AuthOptions) (*AuthResult, error) {
	var br *bufio.Reader
	var bw *bufio.Writer
	if v, ok := conn.(*bufio.ReadWriter); ok {
		br, bw = v.Reader, v.Writer
	} else {
		br, bw = bufio.NewReader(conn), bufio.NewWriter(conn)
	}
	return authenticateOn(ctx, br, bw, conn, cs, opts)
}

// AuthenticateText is Authenticate over a *textproto.Conn: it reads and
// writes through the Conn's buffers, and closes it when ctx ends
// mid-exchange.
func AuthenticateText(ctx context.Context, tc *textproto.Conn, cs *sasl.ConnState, opts *AuthOptions) (*AuthResult, error) {
	return authenticateOn(ctx, tc.R, tc.W, tc, cs, opts)
}

func authenticateOn(ctx context.Context, br *bufio.Reader, bw *bufio.Writer, raw any, cs *sasl.ConnState, opts *AuthOptions) (*AuthResult, error) {
	var debug io.Writer
	if opts != nil {
		debug = opts.DebugWriter
	}
	t := newTextConn(br, bw, 0, debug)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pop3: AUTH: %w", err)
	}
	if d, ok := raw.(interface{ SetDeadline(time.Time) error }); ok {
		dl, _ := ctx.Deadline()
		_ = d.SetDeadline(dl)
		defer d.SetDeadline(time.Time{})
	}
	if cl, ok := raw.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { cl.Close() })
		defer stop()
	}
	advertised, user := []string(nil), true
	if opts != nil {
		advertised = opts.Advertised
	}
	if advertised == nil {
		caps, err := capa(t)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		advertised, user = caps.SASL, caps.User
	}
	res, err := authenticate(ctx, t, cs, advertised, user, opts)
	return res, ctxErr(ctx, err)
}

// ctxErr prefers the context's error when ctx ended during an I/O error.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		var ae *adapters.AuthError
		if !errors.As(err, &ae) {
			return fmt.Errorf("pop3: AUTH: %w (%w)", context.Cause(ctx), err)
		}
	}
	return err
}

// authenticate is the shared body of both Authenticates.
func authenticate(ctx context.Context, t *textConn, cs *sasl.ConnState, advertised []string, userOffered bool, opts *AuthOptions) (*AuthResult, error) {
	if opts == nil {
		opts = &AuthOptions{}
	}
	n, err := adapters.Authenticate(ctx, &opts.Options, advertised, cs,
		func(ctx context.Context, n *sasl.Negotiated) error { return exchange(t, n) })
	if err == nil {
		return &AuthResult{Mechanism: n.Mechanism.Name, Negotiated: n}, nil
	}
	creds := opts.Credentials
	if errors.Is(err, sasl.ErrNoMechanism) && !errors.Is(err, sasl.ErrInsecureTransport) &&
		opts.UserPass && userOffered && creds != nil && creds.Password != "" && creds.Username != "" {
		if !cs.Secure() && !cs.Loopback() && (opts.Policy == nil || !opts.Policy.AllowInsecure) {
			return nil, fmt.Errorf("pop3: USER: %w", sasl.ErrInsecureTransport)
		}
		if !userPassAllowed(&opts.Options) {
			return nil, fmt.Errorf("pop3: USER: %w (USER/PASS counts as PLAIN): %w", sasl.ErrDenied, err)
		}
		if err := userPass(t, creds.Username, creds.Password); err != nil {
			return nil, err
		}
		return &AuthResult{Mechanism: "USER"}, nil
	}
	if strings.HasPrefix(err.Error(), "pop3: ") {
		return nil, err
	}
	return nil, fmt.Errorf("pop3: %w", err)
}

// userPassAllowed applies the policy to USER/PASS as if it were PLAIN,
// which reveals the password in the same way: denied when the policy
// denies PLAIN or USER, or sets a minimum stronger than PLAIN.
func userPassAllowed(o *adapters.Options) bool {
	p := o.Policy
	if p == nil {
		return true
	}
	for _, d := range p.Deny {
		if strings.EqualFold(d, "PLAIN") || strings.EqualFold(d, "USER") {
			return false
		}
	}
	if p.Minimum == "" {
		return true
	}
	reg := o.Registry
	if reg == nil {
		reg = mechanisms.Builtin()
	}
	minimum, ok1 := reg.Lookup(p.Minimum)
	plainMech, ok2 := reg.Lookup("PLAIN")
	return ok1 && ok2 && minimum.Strength <= plainMech.Strength
}

// userPass runs USER and PASS; the password never reaches the transcript
// or an error.
func userPass(t *textConn, username, password string) error {
	if strings.ContainsAny(username, " \r\n\x00") || strings.ContainsAny(password, "\r\n\x00") {
		return errors.New("pop3: USER: user name or password holds a space, CR, LF or NUL")
	}
	if len("PASS ")+len(password)+2 > maxCommand || len("USER ")+len(username)+2 > maxCommand {
		return fmt.Errorf("pop3: USER: user name or password longer than the %d-octet command limit", maxCommand)
	}
	if _, err := t.cmd("USER", "USER "+username); err != nil {
		return userErr(err)
	}
	if err := t.writeLine("PASS", "PASS "+password, "PASS "+redact.Placeholder); err != nil {
		return err
	}
	_, err := t.readStatus("PASS")
	return userErr(err)
}

func userErr(err error) error {
	var pe *Error
	if errors.As(err, &pe) {
		return fmt.Errorf("pop3: %w", authError("USER", pe))
	}
	return err
}

// authError maps a -ERR answer to AUTH or PASS onto the taxonomy.
func authError(mech string, pe *Error) *adapters.AuthError {
	ae := &adapters.AuthError{Protocol: "POP3", Mechanism: mech, Code: pe.Code, Text: pe.Text, Cause: pe}
	switch {
	case pe.Temporary():
		ae.Kind = adapters.ErrTemporary
	case pe.Credentials(), pe.Code == "":
		// RFC 5034 §4: -ERR means the exchange failed; without a code
		// (Exchange Online sends none) the credentials are to blame.
		ae.Kind = adapters.ErrRejected
	}
	return ae
}

// exchange runs one RFC 5034 AUTH exchange with n.Client on t. It leaves
// the connection in step with the server whatever happens: when the
// mechanism fails or the server sends a challenge that is not strict
// base64, it answers "*" and reads the server's -ERR.
func exchange(t *textConn, n *sasl.Negotiated) error {
	cl := n.Client
	mech, ir, err := cl.Start()
	if err != nil {
		return fmt.Errorf("pop3: AUTH %s: starting the mechanism: %w", n.Mechanism.Name, err)
	}
	if !validMech(mech) {
		return fmt.Errorf("pop3: AUTH: the mechanism named itself %q", clip(mech))
	}
	line, logAs := "AUTH "+mech, "AUTH "+mech
	pendingIR := ir
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		// RFC 5034 §4: the initial response only if the command fits
		// the 255-octet limit, else the client waits for "+ ".
		if len(line)+1+len(enc)+2 <= maxCommand {
			line += " " + enc
			logAs += " " + redact.Placeholder
			pendingIR = nil
		}
	}
	if err := t.writeLine("AUTH", line, logAs); err != nil {
		return err
	}
	for round := 0; ; round++ {
		raw, err := t.readLine("AUTH")
		if err != nil {
			return err
		}
		challenge, isCont, perr := parseContinuation(raw)
		if !isCont {
			t.log("S: ", raw)
			st, err := parseStatus("AUTH", raw)
			if err != nil {
				return t.fail(err)
			}
			if st.ok {
				return nil
			}
			return authError(mech, &Error{Command: "AUTH", Code: st.code, Text: sanitize(st.text)})
		}
		t.log("S: ", redactedLine(raw))
		if perr == nil && round >= maxRounds {
			perr = protoErr("AUTH", fmt.Sprintf("more than %d challenges", maxRounds))
		}
		if perr != nil {
			return cancel(t, mech, perr)
		}
		var resp []byte
		if pendingIR != nil {
			if len(challenge) != 0 {
				return cancel(t, mech, protoErr("AUTH", "challenge before the initial response"))
			}
			resp, pendingIR = pendingIR, nil
		} else if resp, err = cl.Next(challenge); err != nil {
			return cancel(t, mech, err)
		}
		enc, logResp := "", ""
		if len(resp) > 0 {
			enc, logResp = base64.StdEncoding.EncodeToString(resp), redact.Placeholder
		}
		if err := t.writeLine("AUTH", enc, logResp); err != nil {
			return err
		}
	}
}

// cancel answers "*" (RFC 5034 §4), reads the server's answer and returns
// an *adapters.AuthError matching ErrCancelled with why as its cause.
func cancel(t *textConn, mech string, why error) error {
	if err := t.writeLine("AUTH", "*", "*"); err != nil {
		return err
	}
	raw, err := t.readLine("AUTH")
	if err != nil {
		return err
	}
	t.log("S: ", redactedLine(raw))
	st, err := parseStatus("AUTH", raw)
	if err != nil {
		return t.fail(err)
	}
	if st.ok {
		return t.fail(protoErr("AUTH", "server accepted a cancelled exchange"))
	}
	return &adapters.AuthError{Protocol: "POP3", Mechanism: mech, Code: st.code, Text: sanitize(st.text),
		Kind: adapters.ErrCancelled, Cause: why}
}
