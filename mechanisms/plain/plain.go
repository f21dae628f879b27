package plain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/mechserver"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "PLAIN"

// Limits the server enforces on a message's fields, in octets.
const (
	// MaxIdentityLen caps the authorization and authentication identities:
	// the 255 octets RFC 4616 §2 requires a server to accept.
	MaxIdentityLen = 255
	// MaxPasswordLen caps the password. It is above RFC 4616's 255 so that
	// an OAuth 2.0 access token sent as a password still fits.
	MaxPasswordLen = 4096
	// maxMessageLen is the longest message whose fields can all be valid.
	maxMessageLen = MaxIdentityLen + 1 + MaxIdentityLen + 1 + MaxPasswordLen
)

// Mechanism returns the PLAIN descriptor for a sasl.Registry.
//
// Its client takes Authzid, Username and Password from the parameters; its
// server checks passwords with Verifiers.Password and fails with
// sasl.ErrNoVerifier when that is nil.
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:       Name,
		Properties: sasl.SendsSecret,
		Needs:      sasl.NeedPassword,
		Strength:   30,
		Standard:   "RFC 4616",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil {
				return nil, errors.New("plain: no client parameters")
			}
			if err := checkClient(p.Authzid, p.Username, p.Password); err != nil {
				return nil, err
			}
			return NewClient(p.Authzid, p.Username, p.Password), nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, _ *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.Password == nil {
				return nil, fmt.Errorf("plain: %w", sasl.ErrNoVerifier)
			}
			return NewServer(ctx, v.Password), nil
		},
	}
}

// client is the PLAIN client. It holds the password and never prints it.
type client struct {
	authzid, username, password string
}

// NewClient returns a PLAIN client that authenticates as username with
// password and, when authzid is not empty, asks to act as authzid.
//
// Start fails, sending nothing, when username or password is empty or any
// field contains NUL (which would change how the server splits the
// message).
func NewClient(authzid, username, password string) sasl.Client {
	return &client{authzid: authzid, username: username, password: password}
}

func checkClient(authzid, username, password string) error {
	switch {
	case username == "":
		return errors.New("plain: empty username")
	case password == "":
		return errors.New("plain: empty password")
	case strings.IndexByte(authzid, 0) >= 0:
		return errors.New("plain: authorization identity contains NUL")
	case strings.IndexByte(username, 0) >= 0:
		return errors.New("plain: username contains NUL")
	case strings.IndexByte(password, 0) >= 0:
		return errors.New("plain: password contains NUL")
	}
	return nil
}

// Start returns the message as the initial response.
func (c *client) Start() (string, []byte, error) {
	msg := make([]byte, 0, len(c.authzid)+1+len(c.username)+1+len(c.password))
	msg = append(msg, c.authzid...)
	msg = append(msg, 0)
	msg = append(msg, c.username...)
	msg = append(msg, 0)
	msg = append(msg, c.password...)
	// One scan of the built message covers the NUL checks; checkClient
	// names the fault.
	if c.username == "" || c.password == "" || bytes.Count(msg, nul) != 2 {
		clear(msg)
		return "", nil, checkClient(c.authzid, c.username, c.password)
	}
	return Name, msg, nil
}

// Next fails: PLAIN's only message is the initial response, which the
// protocol library sends inline or after the server's empty challenge.
func (c *client) Next([]byte) ([]byte, error) {
	return nil, fmt.Errorf("plain: %w", sasl.ErrUnexpectedChallenge)
}

// Format prints the client without its password.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "plain.Client{Authzid:"+strconv.Quote(c.authzid)+
		" Username:"+strconv.Quote(c.username)+" Password:"+redact.Secret(c.password)+"}")
}

var nul = []byte{0}

// message is a parsed PLAIN message.
type message struct {
	authzid, authcid, passwd string
}

// Format prints the message without its password.
func (m message) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "plain.message{Authzid:"+strconv.Quote(m.authzid)+
		" Authcid:"+strconv.Quote(m.authcid)+" Passwd:"+redact.Secret(m.passwd)+"}")
}

// parse reads a PLAIN message strictly (see the package documentation).
// Reasons never quote the message.
func parse(b []byte) (message, error) {
	if len(b) > maxMessageLen {
		return message{}, sasl.Malformed(Name, "message too long")
	}
	// One pass finds the separators and notes whether any byte is
	// non-ASCII; messages are short, so this beats three IndexByte calls.
	i, j, nuls, ascii := -1, -1, 0, true
	for k, c := range b {
		switch {
		case c == 0:
			switch nuls {
			case 0:
				i = k
			case 1:
				j = k
			}
			nuls++
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	switch nuls {
	case 0:
		return message{}, sasl.Malformed(Name, "missing NUL separators")
	case 1:
		return message{}, sasl.Malformed(Name, "missing second NUL separator")
	case 2:
	default:
		return message{}, sasl.Malformed(Name, "more than two NUL separators")
	}
	authzid, authcid, passwd := b[:i], b[i+1:j], b[j+1:]
	switch {
	case len(authcid) == 0:
		return message{}, sasl.Malformed(Name, "empty authentication identity")
	case len(passwd) == 0:
		return message{}, sasl.Malformed(Name, "empty password")
	case len(authzid) > MaxIdentityLen:
		return message{}, sasl.Malformed(Name, "authorization identity longer than "+strconv.Itoa(MaxIdentityLen)+" octets")
	case len(authcid) > MaxIdentityLen:
		return message{}, sasl.Malformed(Name, "authentication identity longer than "+strconv.Itoa(MaxIdentityLen)+" octets")
	case len(passwd) > MaxPasswordLen:
		return message{}, sasl.Malformed(Name, "password longer than "+strconv.Itoa(MaxPasswordLen)+" octets")
	case ascii:
	case !utf8.Valid(authzid):
		return message{}, sasl.Malformed(Name, "authorization identity is not valid UTF-8")
	case !utf8.Valid(authcid):
		return message{}, sasl.Malformed(Name, "authentication identity is not valid UTF-8")
	case !utf8.Valid(passwd):
		return message{}, sasl.Malformed(Name, "password is not valid UTF-8")
	}
	// One allocation for the three fields.
	str := string(b)
	return message{
		authzid: str[:i],
		authcid: str[i+1 : j],
		passwd:  str[j+1:],
	}, nil
}

// server is a PLAIN server conversation. It keeps the request-scoped context
// it was created with for the verifier call.
type server struct {
	mechserver.OneMessage
	ctx context.Context
	v   sasl.PasswordVerifier
}

// NewServer returns a PLAIN server conversation that checks the password
// with v. ctx bounds the verifier call; it should end with the connection or
// the command.
//
// Next fails with an error wrapping sasl.ErrNoVerifier when v is nil; with a
// *sasl.MalformedError for a message that breaks the rules in the package
// documentation; with the verifier's error, wrapped, when the verifier
// refuses (sasl.ErrAuthFailed) or cannot check; and with an error wrapping
// sasl.ErrDone once the exchange is over. The conversation is not safe for
// concurrent use.
func NewServer(ctx context.Context, v sasl.PasswordVerifier) sasl.ServerConversation {
	if ctx == nil {
		ctx = context.Background()
	}
	s := &server{ctx: ctx, v: v}
	s.Init("plain", v != nil)
	return s
}

// Next implements sasl.Server.
func (s *server) Next(response []byte) ([]byte, bool, error) {
	if !s.Receive(response) {
		return s.Reply()
	}
	m, err := parse(response)
	if err != nil {
		return nil, true, err
	}
	id, err := s.v.VerifyPassword(s.ctx, m.authzid, m.authcid, m.passwd)
	if err != nil {
		return nil, true, mechserver.VerifierError("plain", "verifying password", err)
	}
	id.Mechanism = Name
	if id.Username == "" {
		id.Username = m.authcid
	}
	return s.Accept(id)
}

// Format prints the conversation's state, never its verifier (which may
// hold secrets).
func (s *server) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, s.Describe("plain"))
}
