package xoauth2

import (
	"bytes"
	"context"
	"strconv"

	"github.com/saslkit/saslkit/internal/bearer"
	"github.com/saslkit/saslkit/internal/kvpairs"
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

// server is an XOAUTH2 server conversation: the bearer-token exchange
// with XOAUTH2's message grammar and error challenge.
type server struct {
	bearer.Server
	opts ServerOptions
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
	s := &server{}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Schemes == "" {
		s.opts.Schemes = "bearer"
	}
	if s.opts.MaxSize <= 0 {
		s.opts.MaxSize = DefaultMaxSize
	}
	s.Init(ctx, Name, verifier)
	return s
}

// Next implements sasl.Server.
func (s *server) Next(response []byte) ([]byte, bool, error) {
	if !s.Receive(response) {
		return s.Reply()
	}
	req, err := s.tokenRequest(response)
	return s.Finish(req, err, s.challenge)
}

// tokenRequest reads the message's user and token, refusing an empty auth=,
// another scheme or a token that is not a b64token with a 400 challenge.
func (s *server) tokenRequest(msg []byte) (sasl.TokenRequest, error) {
	if len(msg) > s.opts.MaxSize {
		return sasl.TokenRequest{}, s.TooLong(s.opts.MaxSize)
	}
	user, auth, err := parse(msg)
	if err != nil {
		return sasl.TokenRequest{}, err
	}
	token, err := kvpairs.ParseBearer(auth)
	if err != nil {
		return sasl.TokenRequest{}, &sasl.TokenError{Status: statusBadRequest}
	}
	return sasl.TokenRequest{Username: user, Token: string(token)}, nil
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

// challenge returns the JSON error challenge for te, filling the members it
// leaves empty from the options, or nil with FailWithoutChallenge.
func (s *server) challenge(te *sasl.TokenError) []byte {
	if te.Status == "" {
		te.Status = statusInvalid
	}
	if te.Schemes == "" {
		te.Schemes = s.opts.Schemes
	}
	if te.Scope == "" {
		te.Scope = s.opts.Scope
	}
	if s.opts.FailWithoutChallenge {
		return nil
	}
	return kvpairs.MarshalXOAUTH2(kvpairs.Error{Status: te.Status, Schemes: te.Schemes, Scope: te.Scope})
}
