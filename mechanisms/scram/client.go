package scram

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	xdgscram "github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

type clientState uint8

const (
	clientNew       clientState = iota // Start not called
	clientFirstSent                    // awaiting server-first
	clientFinalSent                    // awaiting server-final
	clientDone                         // finished: verified, failed or cancelled
)

// Client is a SCRAM client conversation: a sasl.Client for one exchange.
// Create it with NewClient or through a descriptor. It is not safe for
// concurrent use.
type Client struct {
	cfg      *config
	spec     hashSpec
	mech     string
	username string // SASLprepped, for Format
	authzid  string
	flag     byte   // gs2 flag: 'n', 'y' or 'p'
	binding  string // channel binding type with 'p'
	conv     *xdgscram.ClientConversation

	state       clientState
	clientNonce string
	failure     error
	verified    bool
}

var _ sasl.Client = (*Client)(nil)

// newClient builds a client. It does no I/O.
func newClient(cfg *config, s hashSpec, plus bool, p *sasl.ClientParams) (*Client, error) {
	if cfg.err != nil {
		return nil, cfg.err
	}
	name := s.mechName(plus)
	if p == nil {
		return nil, fmt.Errorf("%w: %s: no client parameters", sasl.ErrNoCredentials, name)
	}
	if p.Username == "" {
		return nil, fmt.Errorf("%w: %s needs a username", sasl.ErrNoCredentials, name)
	}
	if p.Password == "" {
		return nil, fmt.Errorf("%w: %s needs a password", sasl.ErrNoCredentials, name)
	}
	user, err := prep(p.Username, "username")
	if err != nil {
		return nil, err
	}
	pass, err := prep(p.Password, "password")
	if err != nil {
		return nil, err
	}
	authz, err := prep(p.Authzid, "authzid")
	if err != nil {
		return nil, err
	}
	if user == "" || pass == "" {
		return nil, errors.New("scram: username or password is empty after SASLprep")
	}
	xc, err := cfg.generator(s).NewClientUnprepped(user, pass, authz)
	if err != nil {
		return nil, fmt.Errorf("scram: %w", err)
	}
	xc = xc.WithMinIterations(cfg.minIters)
	if cfg.nonce != nil {
		xc = xc.WithNonceGenerator(cfg.nonce)
	}
	c := &Client{cfg: cfg, spec: s, mech: name, username: user, authzid: authz}
	cb, cbErr := cfg.clientBinding(p.Conn)
	switch {
	case errors.Is(cbErr, sasl.ErrChannelBindingData):
		// Whether to bind, and the gs2 flag of a client that does not,
		// depend on this data: refuse rather than guess.
		return nil, fmt.Errorf("%w: %s: %w", sasl.ErrUnusable, name, cbErr)
	case plus:
		if cbErr != nil {
			return nil, fmt.Errorf("%w: %s: %w", sasl.ErrUnusable, name, cbErr)
		}
		c.flag, c.binding = 'p', string(cb.Type)
		c.conv = xc.NewConversationWithChannelBinding(cb)
	case cbErr == nil && p.Advertised != nil && !advertisesPlus(p.Advertised):
		// RFC 5802 §6: a client that could bind, talking to a server that
		// does not appear to offer channel binding, sends "y" so that a
		// server which does offer it detects the stripped list.
		c.flag = 'y'
		c.conv = xc.NewConversationAdvertisingChannelBinding()
	default:
		c.flag = 'n'
		c.conv = xc.NewConversation()
	}
	return c, nil
}

// prep applies SASLprep, reporting failure without quoting the input (a
// password must not appear in an error; stringprep.Error would name the
// offending character).
func prep(s, what string) (string, error) {
	if s == "" {
		return "", nil
	}
	out, err := stringprep.SASLprep.Prepare(s)
	if err != nil {
		reason := "prohibited or invalid characters"
		var se stringprep.Error
		if errors.As(err, &se) {
			reason = se.Msg
		}
		return "", fmt.Errorf("scram: %s is not valid under SASLprep (RFC 4013): %s", what, reason)
	}
	return out, nil
}

// advertisesPlus reports whether a server's list names any SCRAM -PLUS
// mechanism. A server that offers channel binding for one hash supports it
// (RFC 5802 §6 speaks of the server, not the hash), so "y" is sent only when
// none is offered.
func advertisesPlus(advertised []string) bool {
	for _, m := range advertised {
		up := strings.ToUpper(m)
		if strings.HasPrefix(up, "SCRAM-") && strings.HasSuffix(up, plusSuffix) {
			return true
		}
	}
	return false
}

// Start returns the mechanism name and the client-first message.
func (c *Client) Start() (mech string, ir []byte, err error) {
	if c.state != clientNew {
		return "", nil, fmt.Errorf("scram: %s: Start called twice", c.mech)
	}
	first, err := c.conv.Step("")
	if err != nil {
		c.state = clientDone
		return "", nil, fmt.Errorf("scram: %w", err)
	}
	// client-first = gs2-header "n=" username ",r=" nonce: the username is
	// saslname-encoded, so the nonce is the fourth and last comma-separated
	// field (a nonce holding a comma would break that).
	fields := strings.Split(first, ",")
	if len(fields) != 4 || !strings.HasPrefix(fields[3], "r=") || !isPrintable(fields[3][2:]) {
		c.state = clientDone
		return "", nil, fmt.Errorf("scram: %s: nonce generator produced an invalid nonce", c.mech)
	}
	c.clientNonce = fields[3][2:]
	c.state = clientFirstSent
	return c.mech, []byte(first), nil
}

// Next answers a server challenge.
//
// To the server-first message it returns the client-final message; to the
// server's verifier it returns an empty response once the signature has
// verified. To a server error ("e=…") it returns an empty response and a
// nil error and records a *ServerError, which Failure returns. It returns
// an error, for the caller to cancel the exchange, when the challenge is
// malformed (sasl.ErrMalformed), asks for an iteration count outside the
// allowed range (ErrIterationCount), carries a server signature that does
// not verify (sasl.ErrServerAuth), or arrives after the exchange ended
// (sasl.ErrUnexpectedChallenge).
func (c *Client) Next(challenge []byte) ([]byte, error) {
	switch c.state {
	case clientFirstSent:
		return c.serverFirst(challenge)
	case clientFinalSent:
		return c.serverFinal(challenge)
	case clientNew:
		return nil, fmt.Errorf("%w: %s: Next called before Start", sasl.ErrUnexpectedChallenge, c.mech)
	default:
		return nil, fmt.Errorf("%w: %s: %w", sasl.ErrUnexpectedChallenge, c.mech, sasl.ErrDone)
	}
}

func (c *Client) cancel(err error) ([]byte, error) {
	c.state = clientDone
	return nil, err
}

func (c *Client) malformed(reason string) ([]byte, error) {
	return c.cancel(sasl.Malformed(c.mech, reason))
}

// fail records a server error and answers it with an empty response.
func (c *Client) fail(value string) ([]byte, error) {
	c.state = clientDone
	c.failure = &ServerError{Value: value}
	return []byte{}, nil
}

func (c *Client) serverFirst(challenge []byte) ([]byte, error) {
	if len(challenge) > c.cfg.maxMsg {
		return c.malformed("server-first message exceeds the size limit")
	}
	msg := string(challenge)
	// Some servers refuse at this step with "e=…" (unknown user, a
	// refused gs2 flag). Answer it like a server-final error.
	if v, ok := field(msg, 'e'); ok {
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		if !isValue(v) {
			return c.malformed("server error (e=) is not a valid value")
		}
		return c.fail(v)
	}
	sf, reason := parseServerFirst(msg)
	if reason != "" {
		return c.malformed(reason)
	}
	if !strings.HasPrefix(sf.nonce, c.clientNonce) {
		return c.malformed("server nonce does not begin with the client nonce")
	}
	if len(sf.nonce) == len(c.clientNonce) {
		return c.malformed("server nonce adds nothing to the client nonce")
	}
	if sf.iters < c.cfg.minIters || sf.iters > c.cfg.maxIters {
		return c.cancel(fmt.Errorf("%w: %s: server asked for %d, allowed %d to %d",
			ErrIterationCount, c.mech, sf.iters, c.cfg.minIters, c.cfg.maxIters))
	}
	resp, err := c.conv.Step(msg)
	if err != nil {
		return c.cancel(fmt.Errorf("scram: %s: %w", c.mech, err))
	}
	c.state = clientFinalSent
	return []byte(resp), nil
}

func (c *Client) serverFinal(challenge []byte) ([]byte, error) {
	if len(challenge) > c.cfg.maxMsg {
		return c.malformed("server-final message exceeds the size limit")
	}
	msg := string(challenge)
	sf, reason := parseServerFinal(msg, c.spec.size)
	if reason != "" {
		return c.malformed(reason)
	}
	if sf.errValue != "" {
		return c.fail(sf.errValue)
	}
	if _, err := c.conv.Step(msg); err != nil || !c.conv.Valid() {
		return c.cancel(fmt.Errorf("%w: %s: server signature (v=) does not verify", sasl.ErrServerAuth, c.mech))
	}
	c.state = clientDone
	c.verified = true
	return []byte{}, nil
}

// Failure returns the *ServerError the client recorded when the server
// answered with "e=…", or nil. sasl.FailureOf calls it.
func (c *Client) Failure() error {
	if c.failure == nil {
		return nil
	}
	return c.failure
}

// Verified reports whether the server proved it knows the user's
// credentials: its signature (v=) arrived and verified. A protocol library
// that reports success while Verified is false has skipped the server's
// final message, and the server is not authenticated.
func (c *Client) Verified() bool { return c.verified }

// ChannelBinding returns the channel binding type the client binds to
// ("tls-exporter" or "tls-server-end-point"), or "" when it does not bind.
func (c *Client) ChannelBinding() string { return c.binding }

// Format prints the client without its password.
func (c *Client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("scram.Client{Mechanism:%s Username:%q Authzid:%q Password:%s GS2Flag:%c Binding:%q Verified:%t}",
		c.mech, c.username, c.authzid, redact.Placeholder, c.flag, c.binding, c.verified))
}

func connTLS(conn *sasl.ConnState) *tls.ConnectionState {
	if conn == nil {
		return nil
	}
	return conn.TLS
}
