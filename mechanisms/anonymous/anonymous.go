package anonymous

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechserver"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "ANONYMOUS"

// MaxTraceChars caps the trace, in characters (RFC 4505 §2).
const MaxTraceChars = 255

// maxTraceOctets is the longest trace MaxTraceChars characters can take.
const maxTraceOctets = MaxTraceChars * utf8.UTFMax

// Username is the Identity.Username of an admitted anonymous client.
const Username = "anonymous"

// Mechanism returns the ANONYMOUS descriptor for a sasl.Registry.
//
// Its client sends the parameters' Trace. Its server asks
// Verifiers.Anonymous and fails with sasl.ErrNoVerifier when that is nil.
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:       Name,
		Properties: sasl.Anonymous | sasl.OffByDefault,
		Needs:      sasl.NeedNothing,
		Strength:   0,
		Standard:   "RFC 4505",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil {
				return nil, errors.New("anonymous: no client parameters")
			}
			if reason := checkTrace([]byte(p.Trace)); reason != "" {
				return nil, errors.New("anonymous: trace " + reason)
			}
			return NewClient(p.Trace), nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, _ *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.Anonymous == nil {
				return nil, fmt.Errorf("anonymous: %w", sasl.ErrNoVerifier)
			}
			return NewServer(ctx, v.Anonymous), nil
		},
	}
}

// checkTrace returns why b is not an acceptable trace, or "".
func checkTrace(b []byte) string {
	if len(b) > maxTraceOctets {
		return "longer than " + strconv.Itoa(MaxTraceChars) + " characters"
	}
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return "is not valid UTF-8"
		}
		if unicode.IsControl(r) {
			return "contains a control character"
		}
		b = b[size:]
		n++
	}
	if n > MaxTraceChars {
		return "longer than " + strconv.Itoa(MaxTraceChars) + " characters"
	}
	return ""
}

// client wraps go-sasl's ANONYMOUS client.
type client struct {
	trace string
	inner sasl.Client
}

// NewClient returns an ANONYMOUS client that sends trace, which may be
// empty. Start fails when the trace breaks the rules in the package
// documentation.
func NewClient(trace string) sasl.Client {
	return &client{trace: trace, inner: gosasl.NewAnonymousClient(trace)}
}

// Start returns the trace as the initial response, empty but never nil when
// there is none.
func (c *client) Start() (string, []byte, error) {
	if reason := checkTrace([]byte(c.trace)); reason != "" {
		return "", nil, errors.New("anonymous: trace " + reason)
	}
	mech, ir, err := c.inner.Start()
	if err != nil {
		return "", nil, fmt.Errorf("anonymous: %w", err)
	}
	if ir == nil {
		ir = []byte{}
	}
	return mech, ir, nil
}

// Next fails: ANONYMOUS's only message is the initial response.
func (c *client) Next(challenge []byte) ([]byte, error) {
	_, err := c.inner.Next(challenge)
	if err == nil {
		err = sasl.ErrUnexpectedChallenge
	}
	return nil, fmt.Errorf("anonymous: %w", err)
}

// Format prints the client.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "anonymous.Client{Trace:"+strconv.Quote(c.trace)+"}")
}

// server is an ANONYMOUS server conversation. It keeps the request-scoped
// context it was created with for the verifier call.
type server struct {
	mechserver.OneMessage
	ctx context.Context
	v   sasl.AnonymousVerifier
}

// NewServer returns an ANONYMOUS server conversation that asks v whether to
// admit the client. ctx bounds the verifier call.
//
// Next fails with an error wrapping sasl.ErrNoVerifier when v is nil; with a
// *sasl.MalformedError for a trace that breaks the rules in the package
// documentation; with the verifier's error, wrapped, when it refuses
// (sasl.ErrAuthFailed) or cannot decide; and with an error wrapping
// sasl.ErrDone once the exchange is over. The conversation is not safe for
// concurrent use.
func NewServer(ctx context.Context, v sasl.AnonymousVerifier) sasl.ServerConversation {
	if ctx == nil {
		ctx = context.Background()
	}
	s := &server{ctx: ctx, v: v}
	s.Init("anonymous", v != nil)
	return s
}

// Next implements sasl.Server. An admitted client's Identity has Username
// "anonymous".
func (s *server) Next(response []byte) ([]byte, bool, error) {
	if !s.Receive(response) {
		return s.Reply()
	}
	if reason := checkTrace(response); reason != "" {
		return nil, true, sasl.Malformed(Name, "trace "+reason)
	}
	if err := s.v.VerifyAnonymous(s.ctx, string(response)); err != nil {
		// An anonymous client has no user to be unknown, so only a
		// refusal and a failure to decide are told apart.
		if errors.Is(err, sasl.ErrAuthFailed) {
			return nil, true, fmt.Errorf("anonymous: %w", err)
		}
		return nil, true, fmt.Errorf("anonymous: admitting client: %w", err)
	}
	return s.Accept(sasl.Identity{Mechanism: Name, Username: Username})
}

// Format prints the conversation's state, never its verifier.
func (s *server) Format(f fmt.State, verb rune) {
	_, admitted := s.Identity()
	redact.Format(f, verb, "anonymous.Server{state:"+s.State()+" Admitted:"+strconv.FormatBool(admitted)+"}")
}
