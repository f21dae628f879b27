package xoauth2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/saslkit/saslkit/internal/kvpairs"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// DefaultMaxSize is the default cap on a client message. A Microsoft access
// token (a JWT) is a few kilobytes; RFC 4954 limits an SMTP AUTH line to
// 12288 octets.
const DefaultMaxSize = 64 << 10

// ServerOptions tune a server conversation. The zero value (and nil) behave
// like Gmail with Schemes "bearer" and no scope.
type ServerOptions struct {
	// Schemes and Scope fill those members of the JSON error challenge
	// when the verifier's *sasl.TokenError leaves them empty. Schemes
	// defaults to "bearer".
	Schemes string
	Scope   string
	// FailWithoutChallenge ends a rejected exchange at once with the
	// *sasl.TokenError instead of sending the JSON error challenge first,
	// as Exchange Online does (it answers NO / 535 directly).
	FailWithoutChallenge bool
	// MaxSize caps the size of a client message; 0 means DefaultMaxSize.
	// A larger message fails the exchange as malformed.
	MaxSize int
}

// GoogleServerOptions returns options that make a server answer like Gmail:
// a rejected token gets {"status":"400","schemes":"Bearer",
// "scope":"https://mail.google.com/"} as challenge (the blob Gmail sends),
// unless the verifier says otherwise.
func GoogleServerOptions() *ServerOptions {
	return &ServerOptions{Schemes: "Bearer", Scope: "https://mail.google.com/"}
}

// MicrosoftServerOptions returns options that make a server answer like
// Exchange Online: a rejected token fails the exchange without a challenge.
func MicrosoftServerOptions() *ServerOptions {
	return &ServerOptions{FailWithoutChallenge: true}
}

// Status values used when a verifier's *sasl.TokenError has none, and for
// credentials the server refuses without asking the verifier.
const (
	statusInvalid    = "401" // the token was refused
	statusBadRequest = "400" // no token, another scheme, not a b64token
)

// server states.
const (
	serverNew       = iota // nothing received yet
	serverWantIR           // sent the empty challenge, waiting for the message
	serverSentError        // sent the JSON error challenge
	serverDone             // finished; Next fails with ErrDone
)

type server struct {
	ctx      context.Context
	verifier sasl.TokenVerifier
	opts     ServerOptions
	state    uint8
	failure  error // reported after the error challenge is answered
	id       sasl.Identity
	ok       bool
}

// NewServer returns an XOAUTH2 server conversation that checks tokens with
// verifier. ctx bounds the verifier call; it should be the connection's or
// the command's context (see the sasl package documentation). opts may be
// nil.
//
// The exchange:
//   - No initial response (or an empty one): the server sends an empty
//     challenge and expects the client's message next.
//   - The message must be exactly user=U^Aauth=Bearer T^A^A: those two
//     fields in that order, U a non-empty printable UTF-8 name, the scheme
//     matched without regard to case, T an RFC 6750 b64token, nothing after
//     the final ^A^A, at most opts.MaxSize bytes. Anything else ends the
//     exchange with a *sasl.MalformedError.
//   - An empty auth=, another scheme or a token that is not a b64token gets
//     the error challenge with status "400" without asking the verifier.
//   - The verifier accepts: done, and Identity reports who: the verifier's
//     Identity, with Mechanism and Username filled from the message when
//     it leaves them empty.
//   - The verifier returns a *sasl.TokenError: the server sends it as the
//     JSON error challenge, and whatever the client answers, ends the
//     exchange with that error (it wraps sasl.ErrAuthFailed). With
//     FailWithoutChallenge it ends at once.
//   - The verifier returns another error: the exchange ends at once with it.
//   - Once done, every Next returns an error wrapping sasl.ErrDone.
func NewServer(ctx context.Context, verifier sasl.TokenVerifier, opts *ServerOptions) sasl.ServerConversation {
	s := &server{ctx: ctx, verifier: verifier}
	if ctx == nil {
		s.ctx = context.Background()
	}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Schemes == "" {
		s.opts.Schemes = "bearer"
	}
	if s.opts.MaxSize <= 0 {
		s.opts.MaxSize = DefaultMaxSize
	}
	return s
}

// Next implements sasl.Server.
func (s *server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case serverNew:
		if len(response) == 0 {
			s.state = serverWantIR
			return nil, false, nil
		}
	case serverWantIR:
		if len(response) == 0 {
			return s.fail(sasl.Malformed(Name, "empty message"))
		}
	case serverSentError:
		// The client's answer to the error challenge is meant to be
		// empty; whatever it is, the exchange fails with the error.
		return s.fail(s.failure)
	default:
		return nil, true, fmt.Errorf("xoauth2: %w", sasl.ErrDone)
	}
	return s.handle(response)
}

func (s *server) fail(err error) ([]byte, bool, error) {
	s.state = serverDone
	return nil, true, err
}

// handle parses the client's message and asks the verifier.
func (s *server) handle(msg []byte) ([]byte, bool, error) {
	if len(msg) > s.opts.MaxSize {
		return s.fail(sasl.Malformed(Name, "message longer than "+strconv.Itoa(s.opts.MaxSize)+" bytes"))
	}
	user, auth, err := parse(msg)
	if err != nil {
		return s.fail(err)
	}
	token, err := kvpairs.ParseBearer(auth)
	if err != nil {
		return s.reject(&sasl.TokenError{Status: statusBadRequest})
	}
	if s.verifier == nil {
		return s.fail(fmt.Errorf("xoauth2: %w", sasl.ErrNoVerifier))
	}
	req := sasl.TokenRequest{Mechanism: Name, Username: user, Token: string(token)}
	id, err := s.verifier.VerifyToken(s.ctx, req)
	if err != nil {
		if te, ok := errors.AsType[*sasl.TokenError](err); ok {
			return s.reject(te)
		}
		return s.fail(fmt.Errorf("xoauth2: verifying token: %w", err))
	}
	if id.Mechanism == "" {
		id.Mechanism = Name
	}
	if id.Username == "" {
		id.Username = user
	}
	s.id, s.ok = id, true
	s.state = serverDone
	return nil, true, nil
}

// parse reads user=U^Aauth=V^A^A strictly and returns U and V.
func parse(msg []byte) (user string, auth []byte, err error) {
	sc := kvpairs.NewScanner(msg, true)
	var fields [2][]byte
	for i, want := range [...]string{"user", "auth"} {
		if !sc.Next() {
			if sc.Err() != nil {
				return "", nil, sasl.Malformed(Name, sc.Err().Error())
			}
			return "", nil, sasl.Malformed(Name, "missing "+want+"=")
		}
		if string(sc.Key()) != want {
			return "", nil, sasl.Malformed(Name, "field "+strconv.Itoa(i+1)+" is not "+want+"=")
		}
		fields[i] = sc.Value()
	}
	if sc.Next() {
		return "", nil, sasl.Malformed(Name, "field after auth=")
	}
	if sc.Err() != nil {
		return "", nil, sasl.Malformed(Name, sc.Err().Error())
	}
	if len(fields[0]) == 0 || bytes.ContainsAny(fields[0], "\t\r\n") {
		return "", nil, sasl.Malformed(Name, "user= is empty or holds a control character")
	}
	return string(fields[0]), fields[1], nil
}

// reject sends te as the JSON error challenge (or fails at once with
// FailWithoutChallenge), filling the members it leaves empty.
func (s *server) reject(te *sasl.TokenError) ([]byte, bool, error) {
	e := *te
	e.Mechanism = Name
	if e.Status == "" {
		e.Status = statusInvalid
	}
	if e.Schemes == "" {
		e.Schemes = s.opts.Schemes
	}
	if e.Scope == "" {
		e.Scope = s.opts.Scope
	}
	if s.opts.FailWithoutChallenge {
		return s.fail(&e)
	}
	s.failure = &e
	s.state = serverSentError
	return kvpairs.MarshalXOAUTH2(kvpairs.Error{Status: e.Status, Schemes: e.Schemes, Scope: e.Scope}), false, nil
}

// Identity implements sasl.ServerConversation.
func (s *server) Identity() (sasl.Identity, bool) {
	return s.id, s.ok
}

// Format prints the conversation's state. The server keeps no token.
func (s *server) Format(f fmt.State, verb rune) {
	state := [...]string{"new", "awaiting message", "error sent", "done"}[s.state]
	redact.Format(f, verb, fmt.Sprintf("xoauth2.Server{State:%s Authenticated:%t}", state, s.ok))
}
