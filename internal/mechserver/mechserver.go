// Package mechserver holds server-side logic that several mechanism packages
// share: the conversation of a mechanism whose client sends a single message
// (PLAIN, EXTERNAL, ANONYMOUS), and how a verifier's verdict becomes the
// conversation's error.
package mechserver

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/saslkit/saslkit/sasl"
)

// Conversation states.
const (
	stateStart = iota
	stateChallenged
	stateDone
)

// OneMessage is the state of a server conversation whose client sends a
// single message:
//
//   - Without an initial response (a nil response first), the server sends
//     an empty challenge and reads the message from the next response. An
//     empty initial response is a message.
//   - The server checks the message and is done: it accepts an identity or
//     fails with the check's error.
//   - Once done, Next fails with an error wrapping sasl.ErrDone.
//
// A mechanism embeds OneMessage in its server type, calls Init from its
// constructor, and writes Next as
//
//	if !s.Receive(response) {
//		return s.Reply()
//	}
//	// check response, failing with nil, true, err
//	return s.Accept(id)
//
// The zero value is a conversation with no verifier. It is not safe for
// concurrent use.
type OneMessage struct {
	prefix string
	ready  bool
	state  uint8
	id     sasl.Identity
	ok     bool
}

// Init sets the prefix of the conversation's own errors ("plain") and
// whether the server has a verifier; without one, the first Next fails with
// an error wrapping sasl.ErrNoVerifier, before any challenge.
func (c *OneMessage) Init(prefix string, ready bool) {
	c.prefix, c.ready = prefix, ready
}

// Receive reports whether response is the client's message: the response to
// the empty challenge, or an initial response to a server with a verifier.
// The conversation is then over; the server checks the message. Otherwise
// the server answers with Reply.
func (c *OneMessage) Receive(response []byte) bool {
	if c.state == stateChallenged || c.state == stateStart && c.ready && response != nil {
		c.state = stateDone
		return true
	}
	return false
}

// Reply answers a response that is not the message: the empty challenge
// that asks for it, or an error wrapping sasl.ErrNoVerifier or sasl.ErrDone.
func (c *OneMessage) Reply() ([]byte, bool, error) {
	switch {
	case c.state == stateDone:
		return nil, true, fmt.Errorf("%s: %w", c.prefix, sasl.ErrDone)
	case !c.ready:
		c.state = stateDone
		return nil, true, fmt.Errorf("%s: %w", c.prefix, sasl.ErrNoVerifier)
	default:
		c.state = stateChallenged
		return []byte{}, false, nil
	}
}

// Accept records the identity of a message that passed the check and ends
// the exchange with success.
func (c *OneMessage) Accept(id sasl.Identity) ([]byte, bool, error) {
	c.id, c.ok = id, true
	return nil, true, nil
}

// Identity implements sasl.ServerConversation.
func (c *OneMessage) Identity() (sasl.Identity, bool) { return c.id, c.ok }

// State names the conversation's state for a description: "start",
// "challenged" or "done".
func (c *OneMessage) State() string {
	return [...]string{"start", "challenged", "done"}[c.state]
}

// Describe returns pkg.Server{state:S}, with Username:"U" added once a
// client is accepted: the description a server prints instead of its
// fields.
func (c *OneMessage) Describe(pkg string) string {
	desc := pkg + ".Server{state:" + c.State()
	if c.ok {
		desc += " Username:" + strconv.Quote(c.id.Username)
	}
	return desc + "}"
}

// VerifierError is the conversation's error when a verifier returned err: a
// refusal (an error wrapping sasl.ErrAuthFailed) as it is; an unknown user
// (sasl.ErrUnknownUser) as a refusal that still wraps it, so that it reads
// like a wrong password; and anything else as a failure to check, which
// doing names ("verifying password"). Each begins with prefix ("plain").
func VerifierError(prefix, doing string, err error) error {
	switch {
	case errors.Is(err, sasl.ErrAuthFailed):
		return fmt.Errorf("%s: %w", prefix, err)
	case errors.Is(err, sasl.ErrUnknownUser):
		return fmt.Errorf("%s: %w: %w", prefix, sasl.ErrAuthFailed, err)
	default:
		return fmt.Errorf("%s: %s: %w", prefix, doing, err)
	}
}
