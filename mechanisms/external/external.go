package external

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/internal/mechserver"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "EXTERNAL"

// MaxAuthzidLen caps the authorization identity the server accepts, in
// octets.
const MaxAuthzidLen = 255

// Mechanism returns the EXTERNAL descriptor for a sasl.Registry.
//
// Its client sends the parameters' Authzid (Username is not used: the
// transport carries the authentication identity). Its server calls
// Verifiers.External with the ConnState, and fails with sasl.ErrNoVerifier
// when that is nil.
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:     Name,
		Needs:    sasl.NeedExternal,
		Strength: 80,
		Standard: "RFC 4422",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil {
				return nil, errors.New("external: no client parameters")
			}
			if err := checkAuthzid(p.Authzid); err != nil {
				return nil, err
			}
			return NewClient(p.Authzid), nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, conn *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.External == nil {
				return nil, fmt.Errorf("external: %w", sasl.ErrNoVerifier)
			}
			return NewServer(ctx, v.External, conn), nil
		},
	}
}

func checkAuthzid(authzid string) error {
	switch {
	case strings.IndexByte(authzid, 0) >= 0:
		return errors.New("external: authorization identity contains NUL")
	case !utf8.ValidString(authzid):
		return errors.New("external: authorization identity is not valid UTF-8")
	}
	return nil
}

// client wraps go-sasl's EXTERNAL client.
type client struct {
	authzid string
	inner   sasl.Client
}

// NewClient returns an EXTERNAL client that asks to act as authzid, or as
// the identity the transport established when authzid is empty. Start fails
// when authzid contains NUL or is not valid UTF-8.
func NewClient(authzid string) sasl.Client {
	return &client{authzid: authzid, inner: gosasl.NewExternalClient(authzid)}
}

// Start returns the authorization identity as the initial response, empty
// but never nil when there is none.
func (c *client) Start() (string, []byte, error) {
	if err := checkAuthzid(c.authzid); err != nil {
		return "", nil, err
	}
	mech, ir, err := c.inner.Start()
	if err != nil {
		return "", nil, fmt.Errorf("external: %w", err)
	}
	if ir == nil {
		ir = []byte{}
	}
	return mech, ir, nil
}

// Next fails: EXTERNAL's only message is the initial response.
func (c *client) Next(challenge []byte) ([]byte, error) {
	_, err := c.inner.Next(challenge)
	if err == nil {
		err = sasl.ErrUnexpectedChallenge
	}
	return nil, fmt.Errorf("external: %w", err)
}

// Format prints the client.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "external.Client{Authzid:"+strconv.Quote(c.authzid)+"}")
}

// server is an EXTERNAL server conversation. It keeps the request-scoped
// context it was created with for the verifier call.
type server struct {
	mechserver.OneMessage
	ctx  context.Context
	v    sasl.ExternalVerifier
	conn *sasl.ConnState
}

// NewServer returns an EXTERNAL server conversation that asks v to map the
// transport's identity, described by conn, to a user. ctx bounds the
// verifier call; it should end with the connection or the command. conn may
// be nil for a connection with no facts to offer.
//
// Next fails with an error wrapping sasl.ErrNoVerifier when v is nil; with a
// *sasl.MalformedError for an authorization identity that breaks the rules
// in the package documentation; with the verifier's error, wrapped, when it
// refuses (sasl.ErrAuthFailed) or cannot check; and with an error wrapping
// sasl.ErrDone once the exchange is over. The conversation is not safe for
// concurrent use.
func NewServer(ctx context.Context, v sasl.ExternalVerifier, conn *sasl.ConnState) sasl.ServerConversation {
	if ctx == nil {
		ctx = context.Background()
	}
	if conn == nil {
		conn = &sasl.ConnState{}
	}
	s := &server{ctx: ctx, v: v, conn: conn}
	s.Init("external", v != nil)
	return s
}

// Next implements sasl.Server.
func (s *server) Next(response []byte) ([]byte, bool, error) {
	if !s.Receive(response) {
		return s.Reply()
	}
	switch {
	case len(response) > MaxAuthzidLen:
		return nil, true, sasl.Malformed(Name, "authorization identity longer than "+strconv.Itoa(MaxAuthzidLen)+" octets")
	case !utf8.Valid(response):
		return nil, true, sasl.Malformed(Name, "authorization identity is not valid UTF-8")
	}
	for _, c := range response {
		if c == 0 {
			return nil, true, sasl.Malformed(Name, "authorization identity contains NUL")
		}
	}
	id, err := s.v.VerifyExternal(s.ctx, string(response), s.conn)
	if err != nil {
		return nil, true, mechserver.VerifierError("external", "verifying identity", err)
	}
	if id.Username == "" {
		return nil, true, errors.New("external: verifier accepted the client but named no user")
	}
	id.Mechanism = Name
	return s.Accept(id)
}

// Format prints the conversation's state, never its verifier.
func (s *server) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, s.Describe("external"))
}
