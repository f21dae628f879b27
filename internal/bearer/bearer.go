// Package bearer holds the exchange that XOAUTH2 and OAUTHBEARER share.
//
// Both carry a bearer token in a single client message. When the server
// refuses the token it sends a JSON error challenge, which the client must
// answer (XOAUTH2 with an empty response, OAUTHBEARER with 0x01, RFC 7628
// §3.2.3) before the server fails the exchange, so that the connection stays
// in step. Server is that conversation on the server side, ClientState the
// client's part of it. The mechanism packages supply the message grammar and
// the encoding of the challenge.
package bearer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Server states.
const (
	serverNew       = iota // nothing received yet
	serverWantMsg          // sent the empty challenge, waiting for the message
	serverSentError        // sent the JSON error challenge
	serverDone             // finished; Next fails with ErrDone
)

// Server is the server conversation of a bearer-token mechanism:
//
//   - No initial response (or an empty one): the server sends an empty
//     challenge and expects the message next; an empty message then is
//     malformed.
//   - The mechanism reads the message; a malformed one ends the exchange.
//   - Credentials the mechanism refuses while reading, and a
//     *sasl.TokenError from the verifier, get the error challenge; whatever
//     the client answers, the exchange then ends with that error (it wraps
//     sasl.ErrAuthFailed).
//   - The verifier accepts: done, and Identity reports the verifier's
//     identity, with Mechanism and Username (the request's) filled in when
//     it leaves them empty. A success that names no user is refused.
//   - Any other error from the verifier ends the exchange at once.
//   - Once done, Next fails with an error wrapping sasl.ErrDone.
//
// A mechanism embeds Server in its server type, calls Init from its
// constructor, and writes Next as
//
//	if !s.Receive(response) {
//		return s.Reply()
//	}
//	req, err := s.read(response) // the mechanism's reading of the message
//	return s.Finish(req, err, s.challenge)
//
// It is not safe for concurrent use.
type Server struct {
	ctx      context.Context
	verifier sasl.TokenVerifier
	name     string
	failure  *sasl.TokenError // reported after the error challenge is answered
	id       sasl.Identity
	state    uint8
	ok       bool
}

// Init sets up the conversation of the mechanism name ("XOAUTH2"): ctx
// bounds the verifier call (nil means context.Background()), and verifier
// checks tokens (nil fails every well-formed message with
// sasl.ErrNoVerifier).
func (s *Server) Init(ctx context.Context, name string, verifier sasl.TokenVerifier) {
	if ctx == nil {
		ctx = context.Background()
	}
	s.ctx, s.name, s.verifier = ctx, name, verifier
}

// prefix begins the errors the server makes itself: "xoauth2".
func (s *Server) prefix() string { return strings.ToLower(s.name) }

// Receive reports whether response is the client's message, for the
// mechanism to read and hand to Finish. Otherwise the server answers with
// Reply.
func (s *Server) Receive(response []byte) bool {
	return len(response) != 0 && (s.state == serverNew || s.state == serverWantMsg)
}

// Reply answers a response that is not the client's message: the empty
// challenge that asks for it, the end of an exchange whose message is empty
// or whose error challenge was answered, or an error wrapping sasl.ErrDone.
func (s *Server) Reply() ([]byte, bool, error) {
	switch s.state {
	case serverNew:
		s.state = serverWantMsg
		return nil, false, nil
	case serverWantMsg:
		return s.fail(sasl.Malformed(s.name, "empty message"))
	case serverSentError:
		// The client's answer to the error challenge is meant to be
		// empty (XOAUTH2) or 0x01 (OAUTHBEARER); whatever it is, the
		// exchange fails with the error.
		return s.fail(s.failure)
	default:
		return nil, true, fmt.Errorf("%s: %w", s.prefix(), sasl.ErrDone)
	}
}

// TooLong is the error for a message longer than maxSize bytes, which the
// mechanism refuses before reading it.
func (s *Server) TooLong(maxSize int) error {
	return sasl.Malformed(s.name, "message longer than "+strconv.Itoa(maxSize)+" bytes")
}

// Finish takes the mechanism's reading of the client's message and asks the
// verifier. err is the reading's error: a *sasl.TokenError for a message
// that is well formed but carries no usable credentials, which gets the
// error challenge without asking the verifier, or any other error, which
// ends the exchange. challenge fills the members a rejection leaves empty
// and returns the error challenge that carries it, or nil to end the
// exchange at once with the rejection.
func (s *Server) Finish(req sasl.TokenRequest, err error, challenge func(te *sasl.TokenError) []byte) ([]byte, bool, error) {
	if err != nil {
		if te, ok := errors.AsType[*sasl.TokenError](err); ok {
			return s.reject(te, challenge)
		}
		return s.fail(err)
	}
	if s.verifier == nil {
		return s.fail(fmt.Errorf("%s: %w", s.prefix(), sasl.ErrNoVerifier))
	}
	req.Mechanism = s.name
	id, err := s.verifier.VerifyToken(s.ctx, req)
	if err != nil {
		if te, ok := errors.AsType[*sasl.TokenError](err); ok {
			return s.reject(te, challenge)
		}
		return s.fail(fmt.Errorf("%s: verifying token: %w", s.prefix(), err))
	}
	if id.Mechanism == "" {
		id.Mechanism = s.name
	}
	if id.Username == "" {
		id.Username = req.Username
	}
	if id.Username == "" {
		return s.fail(errors.New(s.prefix() + ": verifier accepted the token without naming a user"))
	}
	s.id, s.ok = id, true
	s.state = serverDone
	return nil, true, nil
}

func (s *Server) fail(err error) ([]byte, bool, error) {
	s.state = serverDone
	return nil, true, err
}

// reject sends te as the error challenge, or fails at once when the
// mechanism has no challenge for it.
func (s *Server) reject(te *sasl.TokenError, challenge func(te *sasl.TokenError) []byte) ([]byte, bool, error) {
	e := *te
	e.Mechanism = s.name
	ch := challenge(&e)
	if ch == nil {
		return s.fail(&e)
	}
	s.failure = &e
	s.state = serverSentError
	return ch, false, nil
}

// Identity implements sasl.ServerConversation.
func (s *Server) Identity() (sasl.Identity, bool) { return s.id, s.ok }

// Format prints the conversation's state. The server keeps no token.
func (s *Server) Format(f fmt.State, verb rune) {
	state := [...]string{"new", "awaiting message", "error sent", "done"}[s.state]
	redact.Format(f, verb, fmt.Sprintf("%s.Server{State:%s Authenticated:%t}", s.prefix(), state, s.ok))
}
