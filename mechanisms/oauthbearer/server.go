package oauthbearer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/bearer"
	"github.com/saslkit/saslkit/internal/kvpairs"
	"github.com/saslkit/saslkit/sasl"
)

// DefaultMaxSize is the default cap on a client message.
const DefaultMaxSize = 64 << 10

// ErrWrongServer: the client's host= or port= names another server than the
// one it is talking to (RFC 7628 §3.2), so its token may have been meant for
// someone else. It wraps sasl.ErrAuthFailed.
var ErrWrongServer = fmt.Errorf("oauthbearer: host= or port= does not name this server: %w", sasl.ErrAuthFailed)

// ServerOptions tune a server conversation. nil and the zero value are
// valid.
type ServerOptions struct {
	// Host and Port are the server's name and port as clients dial it.
	// When set, a client's host= (compared without regard to case) and
	// port=, if it sends them, must match, or the exchange fails with
	// ErrWrongServer.
	Host string
	Port int
	// Schemes, Scope and OpenIDConfiguration fill those members of the
	// JSON error challenge when the verifier's *sasl.TokenError leaves
	// them empty; members that stay empty are left out (RFC 7628 §3.2.2
	// requires only status).
	Schemes             string
	Scope               string
	OpenIDConfiguration string
	// MaxSize caps the size of a client message; 0 means DefaultMaxSize.
	// A larger message fails the exchange as malformed.
	MaxSize int
}

// Status codes (RFC 6750 §3.1) sent when a verifier's *sasl.TokenError has
// none, and for credentials the server refuses without asking the verifier.
const (
	statusInvalidToken   = "invalid_token"
	statusInvalidRequest = "invalid_request"
)

// server is our own OAUTHBEARER server: go-sasl's panics on an empty answer
// to its error challenge and does not check the GS2 header, host or port. It
// runs the bearer-token exchange with OAUTHBEARER's message grammar and
// error challenge.
type server struct {
	bearer.Server
	opts ServerOptions
}

// NewServer returns an OAUTHBEARER server conversation that checks tokens
// with verifier. ctx bounds the verifier call; it should be the connection's
// or the command's context (see the sasl package documentation). opts may be
// nil.
//
// The exchange:
//   - No initial response (or an empty one): the server sends an empty
//     challenge and expects the client's message next.
//   - The message must be gs2-header ^A *kvpair ^A (RFC 7628 §3.1): the
//     channel-binding flag "n" or "y" (OAUTHBEARER has no channel binding,
//     so "p=" is refused), an optional a=saslname whose only escapes are
//     =2C and =3D, keys of letters only, values without ^A or NUL, auth=
//     exactly once, host= and port= at most once (port a decimal in
//     1–65535), unknown keys ignored, nothing after the final ^A, at most
//     opts.MaxSize bytes. Anything else ends the exchange with a
//     *sasl.MalformedError.
//   - host= or port= that differ from opts.Host or opts.Port end the
//     exchange with ErrWrongServer.
//   - An empty auth= (how RFC 7628 §4.3 asks for the needed scope) gets the
//     error challenge with status "invalid_token"; another scheme or a token
//     that is not a b64token gets "invalid_request"; neither asks the
//     verifier.
//   - The verifier accepts: done, and Identity reports who: the verifier's
//     Identity, with Mechanism filled and Username taken from the authzid
//     when it leaves them empty (a success that names no user is refused).
//     The authzid is never copied into Identity.Authzid: whether the token's
//     owner may act as someone else is the verifier's decision.
//   - The verifier returns a *sasl.TokenError: the server sends it as the
//     JSON error challenge and, whatever the client answers (0x01 as the
//     RFC requires, or anything else), ends the exchange with that error,
//     which wraps sasl.ErrAuthFailed.
//   - The verifier returns another error: the exchange ends at once with it.
//   - Once done, every Next returns an error wrapping sasl.ErrDone.
func NewServer(ctx context.Context, verifier sasl.TokenVerifier, opts *ServerOptions) sasl.ServerConversation {
	s := &server{}
	if opts != nil {
		s.opts = *opts
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

// request is a parsed client message.
type request struct {
	authzid string
	host    []byte
	port    int
	auth    []byte
}

// tokenRequest reads the message, checks host= and port= against the options,
// and refuses an empty auth= (invalid_token), another scheme or a token that
// is not a b64token (invalid_request) with a challenge.
func (s *server) tokenRequest(msg []byte) (sasl.TokenRequest, error) {
	if len(msg) > s.opts.MaxSize {
		return sasl.TokenRequest{}, s.TooLong(s.opts.MaxSize)
	}
	req, err := parse(msg)
	if err != nil {
		return sasl.TokenRequest{}, err
	}
	if s.opts.Host != "" && req.host != nil && !bytes.EqualFold(req.host, []byte(s.opts.Host)) ||
		s.opts.Port != 0 && req.port != 0 && req.port != s.opts.Port {
		return sasl.TokenRequest{}, ErrWrongServer
	}
	token, err := kvpairs.ParseBearer(req.auth)
	switch {
	case errors.Is(err, kvpairs.ErrNoCredentials):
		return sasl.TokenRequest{}, &sasl.TokenError{Status: statusInvalidToken}
	case err != nil:
		return sasl.TokenRequest{}, &sasl.TokenError{Status: statusInvalidRequest}
	}
	return sasl.TokenRequest{Username: req.authzid, Token: string(token), Host: string(req.host), Port: req.port}, nil
}

// parse reads gs2-header ^A *kvpair ^A.
func parse(msg []byte) (request, error) {
	var req request
	authzid, rest, err := parseGS2Header(msg)
	if err != nil {
		return req, err
	}
	req.authzid = authzid
	if len(rest) == 0 || rest[0] != kvpairs.Sep {
		return req, sasl.Malformed(Name, "missing kvsep after the GS2 header")
	}
	sc := kvpairs.NewScanner(rest[1:], false)
	var haveAuth, haveHost, havePort bool
	for sc.Next() {
		v := sc.Value()
		switch string(sc.Key()) {
		case "auth":
			if haveAuth {
				return req, sasl.Malformed(Name, "auth= repeated")
			}
			haveAuth, req.auth = true, v
		case "host":
			if haveHost {
				return req, sasl.Malformed(Name, "host= repeated")
			}
			if len(v) == 0 || !validHost(string(v)) {
				return req, sasl.Malformed(Name, "host= is not a host name")
			}
			haveHost, req.host = true, v
		case "port":
			if havePort {
				return req, sasl.Malformed(Name, "port= repeated")
			}
			p, ok := parsePort(v)
			if !ok {
				return req, sasl.Malformed(Name, "port= is not a decimal port number")
			}
			havePort, req.port = true, p
		}
	}
	if err := sc.Err(); err != nil {
		return req, sasl.Malformed(Name, err.Error())
	}
	if !haveAuth {
		return req, sasl.Malformed(Name, "missing auth=")
	}
	return req, nil
}

// parsePort accepts 1–65535 in decimal without sign or leading zeros.
func parsePort(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 5 || v[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 65535
}

// parseGS2Header reads gs2-cbind-flag "," [ "a=" saslname ] "," (RFC 5801
// §4) and returns the decoded authzid and the rest of the message.
func parseGS2Header(msg []byte) (authzid string, rest []byte, err error) {
	if len(msg) < 2 {
		return "", nil, sasl.Malformed(Name, "truncated GS2 header")
	}
	switch msg[0] {
	case 'n', 'y':
		if msg[1] != ',' {
			return "", nil, sasl.Malformed(Name, "bad GS2 channel-binding flag")
		}
	case 'p':
		return "", nil, sasl.Malformed(Name, "channel binding (p=) requested, but OAUTHBEARER has none")
	default:
		return "", nil, sasl.Malformed(Name, "bad GS2 channel-binding flag")
	}
	msg = msg[2:]
	end := bytes.IndexByte(msg, ',')
	if end < 0 {
		return "", nil, sasl.Malformed(Name, "truncated GS2 header")
	}
	field, rest := msg[:end], msg[end+1:]
	if len(field) == 0 {
		return "", rest, nil
	}
	if !bytes.HasPrefix(field, []byte("a=")) {
		return "", nil, sasl.Malformed(Name, "GS2 authzid is not a=")
	}
	name, ok := unescapeSASLName(field[2:])
	if !ok {
		return "", nil, sasl.Malformed(Name, "GS2 authzid is not a valid saslname")
	}
	return name, rest, nil
}

// unescapeSASLName decodes an RFC 5801 saslname:
// 1*(value-safe-char / "=2C" / "=3D"), value-safe-char being any UTF-8
// character but NUL, "=" and ",". Control characters are refused too (see
// validName).
func unescapeSASLName(b []byte) (string, bool) {
	if len(b) == 0 || !utf8.Valid(b) {
		return "", false
	}
	if bytes.IndexByte(b, '=') < 0 {
		if !validName(string(b)) {
			return "", false
		}
		return string(b), true
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		switch {
		case i+2 < len(b) && b[i+1] == '2' && b[i+2] == 'C':
			out = append(out, ',')
		case i+2 < len(b) && b[i+1] == '3' && b[i+2] == 'D':
			out = append(out, '=')
		default:
			return "", false
		}
		i += 2
	}
	if !validName(string(out)) {
		return "", false
	}
	return string(out), true
}

// challenge returns the JSON error challenge for te, filling the members it
// leaves empty from the options.
func (s *server) challenge(te *sasl.TokenError) []byte {
	if te.Status == "" {
		te.Status = statusInvalidToken
	}
	if te.Schemes == "" {
		te.Schemes = s.opts.Schemes
	}
	if te.Scope == "" {
		te.Scope = s.opts.Scope
	}
	if te.OpenIDConfiguration == "" {
		te.OpenIDConfiguration = s.opts.OpenIDConfiguration
	}
	return kvpairs.MarshalOAuthBearer(kvpairs.Error{Status: te.Status, Schemes: te.Schemes, Scope: te.Scope, OpenIDConfiguration: te.OpenIDConfiguration})
}
