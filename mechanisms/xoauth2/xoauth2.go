package xoauth2

import (
	"context"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/internal/bearer"
	"github.com/saslkit/saslkit/internal/kvpairs"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "XOAUTH2"

// ErrInvalidInput: a username or token cannot be carried by XOAUTH2 (empty, a
// control character such as ^A that would break the message's framing, or a
// token that is not an RFC 6750 b64token). Nothing was sent.
var ErrInvalidInput = errors.New("xoauth2: username or token cannot be encoded")

// MaxChallenge is the largest failure challenge a client parses. Real ones
// are about a hundred bytes.
const MaxChallenge = 16 << 10

// Mechanism returns the XOAUTH2 descriptor for a sasl.Registry. Its client
// sends Username and the access token (always with the "Bearer" scheme, as
// Google and Microsoft document, whatever the token's TokenType); its server
// checks tokens with Verifiers.Token and, like Gmail, answers a rejected
// token with the JSON error challenge, carrying the status, schemes and
// scope of the verifier's *sasl.TokenError (NewServer with nil options).
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:       Name,
		Properties: sasl.SendsSecret,
		Needs:      sasl.NeedToken,
		Strength:   40,
		Standard:   "Google/Microsoft XOAUTH2",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil || p.Token == nil || p.Token.AccessToken == "" {
				return nil, fmt.Errorf("xoauth2: %w: no access token", sasl.ErrNoCredentials)
			}
			c := newClient(p.Username, p.Token.AccessToken)
			if c.err != nil {
				return nil, c.err
			}
			return c, nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, _ *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.Token == nil {
				return nil, fmt.Errorf("xoauth2: %w", sasl.ErrNoVerifier)
			}
			return NewServer(ctx, v.Token, nil), nil
		},
	}
}

// client is the XOAUTH2 client. It holds values only and is not safe for
// concurrent use, like every go-sasl client.
type client struct {
	bearer.ClientState
	user, token string
	err         error // construction error, returned by Start
}

// NewClient returns an XOAUTH2 client for user with an OAuth 2.0 access
// token. It checks both at once: when either cannot be carried by XOAUTH2
// (see ErrInvalidInput), the client's Start returns that error, so a protocol
// library gives up before writing anything.
//
// On the server's JSON error challenge the client answers with an empty
// response and records the rejection: sasl.FailureOf returns it as a
// *sasl.TokenError once the server has failed the exchange.
func NewClient(user, token string) sasl.Client {
	return newClient(user, token)
}

func newClient(user, token string) *client {
	c := &client{user: user, token: token}
	switch {
	case user == "":
		c.err = fmt.Errorf("%w: empty username", ErrInvalidInput)
	case !validUser(user):
		c.err = fmt.Errorf("%w: username holds a control character or invalid UTF-8", ErrInvalidInput)
	case token == "":
		c.err = fmt.Errorf("%w: empty token", ErrInvalidInput)
	case !kvpairs.ValidToken(token):
		c.err = fmt.Errorf("%w: token is not an RFC 6750 b64token", ErrInvalidInput)
	}
	return c
}

// validUser reports whether user can be sent as user=: printable, well-formed
// UTF-8 (so no ^A, NUL, CR or LF).
func validUser(user string) bool {
	return user != "" && kvpairs.Printable(user) && kvpairs.ValidValue(user, true)
}

const (
	prefixUser = "user="
	prefixAuth = "\x01auth=Bearer "
	suffix     = "\x01\x01"
)

// Start returns the initial response, user=U^Aauth=Bearer T^A^A, built in
// one allocation. Calling Start again begins a new exchange.
func (c *client) Start() (string, []byte, error) {
	if c.err != nil {
		return Name, nil, c.err
	}
	ir := make([]byte, 0, len(prefixUser)+len(c.user)+len(prefixAuth)+len(c.token)+len(suffix))
	ir = append(ir, prefixUser...)
	ir = append(ir, c.user...)
	ir = append(ir, prefixAuth...)
	ir = append(ir, c.token...)
	ir = append(ir, suffix...)
	c.Sent()
	return Name, ir, nil
}

// Next answers a challenge. XOAUTH2 has one: the server's JSON error, which
// is answered with an empty response (never nil) and recorded. A challenge
// that is not a JSON object, or any challenge after the error was answered,
// cancels the exchange with an error.
func (c *client) Next(challenge []byte) ([]byte, error) {
	if err := c.Take(Name, MaxChallenge, challenge); err != nil {
		return nil, err
	}
	return []byte{}, nil
}

// Format prints the client without its token.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("xoauth2.Client{User:%q Token:%s}", c.user, redact.Secret(c.token)))
}
