package login

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/mechserver"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "LOGIN"

// Limits the server enforces, in octets.
const (
	// MaxUsernameLen caps the username.
	MaxUsernameLen = 255
	// MaxPasswordLen caps the password.
	MaxPasswordLen = 4096
)

// The server's challenges.
const (
	usernameChallenge = "Username:"
	passwordChallenge = "Password:"
)

// Mechanism returns the LOGIN descriptor for a sasl.Registry.
//
// Its client takes Username and Password from the parameters and fails when
// Authzid is set, since LOGIN cannot carry one; its server checks passwords
// with Verifiers.Password and fails with sasl.ErrNoVerifier when that is nil.
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:       Name,
		Properties: sasl.SendsSecret,
		Needs:      sasl.NeedPassword,
		Strength:   20,
		Standard:   "draft-murchison-sasl-login-00",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil {
				return nil, errors.New("login: no client parameters")
			}
			if p.Authzid != "" {
				return nil, errors.New("login: LOGIN cannot carry an authorization identity")
			}
			if err := checkClient(p.Username, p.Password); err != nil {
				return nil, err
			}
			return NewClient(p.Username, p.Password), nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, _ *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.Password == nil {
				return nil, fmt.Errorf("login: %w", sasl.ErrNoVerifier)
			}
			return NewServer(ctx, v.Password), nil
		},
	}
}

func checkClient(username, password string) error {
	switch {
	case username == "":
		return errors.New("login: empty username")
	case password == "":
		return errors.New("login: empty password")
	}
	return nil
}

// client is the LOGIN client. It holds the password and never prints it.
type client struct {
	username, password string
	step               int // challenges answered
}

// NewClient returns a LOGIN client for username and password. Start fails
// when either is empty. See the package documentation for how it answers
// challenges.
func NewClient(username, password string) sasl.Client {
	return &client{username: username, password: password}
}

// Start sends no initial response.
func (c *client) Start() (string, []byte, error) {
	if err := checkClient(c.username, c.password); err != nil {
		return "", nil, err
	}
	c.step = 0
	return Name, nil, nil
}

// Next answers the first challenge with the username and the second with the
// password, whatever their text; a third challenge fails.
func (c *client) Next([]byte) ([]byte, error) {
	c.step++
	switch c.step {
	case 1:
		return []byte(c.username), nil
	case 2:
		return []byte(c.password), nil
	default:
		return nil, fmt.Errorf("login: third challenge: %w", sasl.ErrUnexpectedChallenge)
	}
}

// Format prints the client without its password.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "login.Client{Username:"+strconv.Quote(c.username)+" Password:"+redact.Secret(c.password)+"}")
}

// server states.
const (
	stateStart = iota
	stateUsername
	statePassword
	stateDone
)

// server is a LOGIN server conversation. It keeps the request-scoped context
// it was created with for the verifier call.
type server struct {
	ctx      context.Context
	v        sasl.PasswordVerifier
	state    int
	username string
	id       sasl.Identity
	ok       bool
}

// NewServer returns a LOGIN server conversation that checks the password
// with v. ctx bounds the verifier call; it should end with the connection or
// the command.
//
// Next fails with an error wrapping sasl.ErrNoVerifier when v is nil; with a
// *sasl.MalformedError for a username or password that breaks the rules in
// the package documentation; with the verifier's error, wrapped, when the
// verifier refuses (sasl.ErrAuthFailed) or cannot check; and with an error
// wrapping sasl.ErrDone once the exchange is over. The conversation is not
// safe for concurrent use.
func NewServer(ctx context.Context, v sasl.PasswordVerifier) sasl.ServerConversation {
	if ctx == nil {
		ctx = context.Background()
	}
	return &server{ctx: ctx, v: v}
}

// Next implements sasl.Server.
func (s *server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case stateStart:
		if s.v == nil {
			s.state = stateDone
			return nil, true, fmt.Errorf("login: %w", sasl.ErrNoVerifier)
		}
		if len(response) == 0 {
			s.state = stateUsername
			return []byte(usernameChallenge), false, nil
		}
		return s.takeUsername(response)
	case stateUsername:
		return s.takeUsername(response)
	case statePassword:
		s.state = stateDone
		return s.verify(response)
	default:
		return nil, true, fmt.Errorf("login: %w", sasl.ErrDone)
	}
}

func (s *server) takeUsername(b []byte) ([]byte, bool, error) {
	switch {
	case len(b) == 0:
		return s.fail("empty username")
	case len(b) > MaxUsernameLen:
		return s.fail("username longer than " + strconv.Itoa(MaxUsernameLen) + " octets")
	case bytes.IndexByte(b, 0) >= 0:
		return s.fail("username contains NUL")
	case !utf8.Valid(b):
		return s.fail("username is not valid UTF-8")
	}
	s.username = string(b)
	s.state = statePassword
	return []byte(passwordChallenge), false, nil
}

func (s *server) fail(reason string) ([]byte, bool, error) {
	s.state = stateDone
	return nil, true, sasl.Malformed(Name, reason)
}

func (s *server) verify(b []byte) ([]byte, bool, error) {
	switch {
	case len(b) == 0:
		return s.fail("empty password")
	case len(b) > MaxPasswordLen:
		return s.fail("password longer than " + strconv.Itoa(MaxPasswordLen) + " octets")
	case bytes.IndexByte(b, 0) >= 0:
		return s.fail("password contains NUL")
	}
	id, err := s.v.VerifyPassword(s.ctx, "", s.username, string(b))
	if err != nil {
		return nil, true, mechserver.VerifierError("login", "verifying password", err)
	}
	id.Mechanism = Name
	if id.Username == "" {
		id.Username = s.username
	}
	s.id, s.ok = id, true
	return nil, true, nil
}

// Identity implements sasl.ServerConversation.
func (s *server) Identity() (sasl.Identity, bool) { return s.id, s.ok }

// Format prints the conversation's state, never its verifier (which may
// hold secrets).
func (s *server) Format(f fmt.State, verb rune) {
	desc := "login.Server{state:" + [...]string{"start", "username", "password", "done"}[s.state]
	if s.username != "" {
		desc += " Username:" + strconv.Quote(s.username)
	}
	redact.Format(f, verb, desc+"}")
}
