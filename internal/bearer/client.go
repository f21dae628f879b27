package bearer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/saslkit/saslkit/internal/kvpairs"
	"github.com/saslkit/saslkit/sasl"
)

// Client states.
const (
	clientNew      = iota // Start not called yet
	clientSent            // initial response sent
	clientAnswered        // the error challenge was answered
	clientCanceled        // Next returned an error
)

// ClientState is a bearer-token client's part of the exchange after its
// initial response. The only challenge such a client expects is the
// server's JSON error: it records the rejection for sasl.FailureOf and the
// mechanism answers it. A challenge that is not a JSON object, or any
// challenge after the error was answered, cancels the exchange.
//
// A mechanism embeds ClientState in its client type, calls Sent from Start,
// and answers in Next after Take. It is not safe for concurrent use.
type ClientState struct {
	state   uint8
	failure *sasl.TokenError
}

// Sent begins an exchange: the initial response is on its way, and no
// rejection is recorded.
func (c *ClientState) Sent() {
	c.state, c.failure = clientSent, nil
}

// Take reads the server's challenge to a client of the mechanism name
// ("XOAUTH2"), which parses challenges of at most maxChallenge bytes. It
// returns nil when the challenge is the error to answer, now recorded, and
// otherwise the error that cancels the exchange.
func (c *ClientState) Take(name string, maxChallenge int, challenge []byte) error {
	switch c.state {
	case clientSent:
	case clientAnswered:
		c.state = clientCanceled
		return fmt.Errorf("%s: %w: challenge after the error challenge was answered", strings.ToLower(name), sasl.ErrUnexpectedChallenge)
	default:
		return fmt.Errorf("%s: %w", strings.ToLower(name), sasl.ErrUnexpectedChallenge)
	}
	if len(challenge) > maxChallenge {
		c.state = clientCanceled
		return sasl.Malformed(name, "error challenge longer than "+strconv.Itoa(maxChallenge)+" bytes")
	}
	e, err := kvpairs.ParseError(challenge)
	if err != nil {
		c.state = clientCanceled
		return sasl.Malformed(name, err.Error())
	}
	c.failure = &sasl.TokenError{Mechanism: name, Status: e.Status, Schemes: e.Schemes, Scope: e.Scope, OpenIDConfiguration: e.OpenIDConfiguration}
	c.state = clientAnswered
	return nil
}

// Failure returns the rejection recorded when the client answered the
// server's error challenge (a *sasl.TokenError), or nil.
func (c *ClientState) Failure() error {
	if c.failure == nil {
		return nil
	}
	return c.failure
}
