package crammd5

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "CRAM-MD5"

// MaxUsernameLen caps the username the server accepts, in octets.
const MaxUsernameLen = 255

// digestLen is the length of the hex digest.
const digestLen = 2 * md5.Size

// Mechanism returns the CRAM-MD5 descriptor for a sasl.Registry.
//
// Its client takes Username and Password from the parameters and fails when
// Authzid is set, since CRAM-MD5 cannot carry one. Its server looks secrets
// up with Verifiers.Secret, failing with sasl.ErrNoVerifier when that is nil,
// and names itself in the challenge with the ConnState's Host.
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:       Name,
		Properties: sasl.OffByDefault | sasl.Dictionary,
		Needs:      sasl.NeedPassword,
		Strength:   10,
		Standard:   "RFC 2195",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil {
				return nil, errors.New("crammd5: no client parameters")
			}
			if p.Authzid != "" {
				return nil, errors.New("crammd5: CRAM-MD5 cannot carry an authorization identity")
			}
			if err := checkClient(p.Username, p.Password); err != nil {
				return nil, err
			}
			return NewClient(p.Username, p.Password), nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, conn *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.Secret == nil {
				return nil, fmt.Errorf("crammd5: %w", sasl.ErrNoVerifier)
			}
			opts := &ServerOptions{}
			if conn != nil {
				opts.Hostname = conn.Host
			}
			return NewServer(ctx, v.Secret, opts), nil
		},
	}
}

func checkClient(username, secret string) error {
	switch {
	case username == "":
		return errors.New("crammd5: empty username")
	case secret == "":
		return errors.New("crammd5: empty password")
	}
	return nil
}

// client is the CRAM-MD5 client. It holds the password and never prints it.
type client struct {
	username, secret string
	answered         bool
}

// NewClient returns a CRAM-MD5 client for username and secret (the
// password). Start fails when either is empty.
func NewClient(username, secret string) sasl.Client {
	return &client{username: username, secret: secret}
}

// Start sends no initial response: the server speaks first.
func (c *client) Start() (string, []byte, error) {
	if err := checkClient(c.username, c.secret); err != nil {
		return "", nil, err
	}
	c.answered = false
	return Name, nil, nil
}

// Next answers the challenge with "username SP hex(HMAC-MD5(secret,
// challenge))". An empty challenge, or a second one, fails.
func (c *client) Next(challenge []byte) ([]byte, error) {
	if c.answered {
		return nil, fmt.Errorf("crammd5: second challenge: %w", sasl.ErrUnexpectedChallenge)
	}
	c.answered = true
	if len(challenge) == 0 {
		return nil, sasl.Malformed(Name, "empty challenge")
	}
	return appendResponse(make([]byte, 0, len(c.username)+1+digestLen), c.username, c.secret, challenge), nil
}

// appendResponse appends "username SP hex digest" to dst.
func appendResponse(dst []byte, username, secret string, challenge []byte) []byte {
	var sum [md5.Size]byte
	m := hmac.New(md5.New, []byte(secret))
	m.Write(challenge)
	dst = append(dst, username...)
	dst = append(dst, ' ')
	return hex.AppendEncode(dst, m.Sum(sum[:0]))
}

// Format prints the client without its password.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "crammd5.Client{Username:"+strconv.Quote(c.username)+" Password:"+redact.Secret(c.secret)+"}")
}

// ServerOptions tune a CRAM-MD5 server. The zero value is ready to use.
type ServerOptions struct {
	// Hostname is the domain part of the challenge. Empty, or not a plain
	// host name (letters, digits, '-', '.', '_'), means "localhost".
	Hostname string
	// Rand supplies the challenge's 64 random bits. Nil means crypto/rand.
	// Tests set it to reproduce a challenge.
	Rand io.Reader
	// Now supplies the challenge's timestamp. Nil means time.Now.
	Now func() time.Time
}

// server states.
const (
	stateStart = iota
	stateChallenged
	stateDone
)

// errAuthFailed is the one failure for a wrong password and an unknown user.
var errAuthFailed = fmt.Errorf("crammd5: %w", sasl.ErrAuthFailed)

// server is a CRAM-MD5 server conversation. It keeps the request-scoped
// context it was created with for the secret lookup.
type server struct {
	ctx       context.Context
	lookup    sasl.SecretLookup
	opts      ServerOptions
	state     int
	challenge []byte
	id        sasl.Identity
	ok        bool
}

// NewServer returns a CRAM-MD5 server conversation that fetches secrets with
// lookup. ctx bounds the lookup; it should end with the connection or the
// command. opts may be nil.
//
// Next fails with an error wrapping sasl.ErrNoVerifier when lookup is nil;
// with a *sasl.MalformedError for an initial response or a malformed
// response; with an error wrapping sasl.ErrAuthFailed, identical for an
// unknown user (a lookup error wrapping sasl.ErrAuthFailed or
// sasl.ErrUnknownUser) and a wrong password; with the lookup's error,
// wrapped, when it cannot look up; and with an error wrapping sasl.ErrDone
// once the exchange is over. The conversation is not safe for concurrent use.
func NewServer(ctx context.Context, lookup sasl.SecretLookup, opts *ServerOptions) sasl.ServerConversation {
	if ctx == nil {
		ctx = context.Background()
	}
	s := &server{ctx: ctx, lookup: lookup}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

// validHostname reports whether h can stand as the challenge's domain.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// newChallenge builds "<random.timestamp@hostname>".
func (s *server) newChallenge() ([]byte, error) {
	r := s.opts.Rand
	if r == nil {
		r = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("crammd5: generating challenge: %w", err)
	}
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	host := s.opts.Hostname
	if !validHostname(host) {
		host = "localhost"
	}
	ch := make([]byte, 0, 1+20+1+20+1+len(host)+1)
	ch = append(ch, '<')
	ch = strconv.AppendUint(ch, binary.BigEndian.Uint64(b[:]), 10)
	ch = append(ch, '.')
	ch = strconv.AppendInt(ch, now().Unix(), 10)
	ch = append(ch, '@')
	ch = append(ch, host...)
	ch = append(ch, '>')
	return ch, nil
}

// Next implements sasl.Server.
func (s *server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case stateStart:
		s.state = stateDone
		if s.lookup == nil {
			return nil, true, fmt.Errorf("crammd5: %w", sasl.ErrNoVerifier)
		}
		if response != nil {
			return nil, true, sasl.Malformed(Name, "initial response not allowed")
		}
		ch, err := s.newChallenge()
		if err != nil {
			return nil, true, err
		}
		s.challenge = ch
		s.state = stateChallenged
		return append([]byte(nil), ch...), false, nil
	case stateChallenged:
		s.state = stateDone
		return s.verify(response)
	default:
		return nil, true, fmt.Errorf("crammd5: %w", sasl.ErrDone)
	}
}

// parseResponse splits "username SP digest" and checks both parts.
func parseResponse(b []byte) (username string, digest [md5.Size]byte, err error) {
	if len(b) > MaxUsernameLen+1+digestLen {
		return "", digest, sasl.Malformed(Name, "response too long")
	}
	sp := -1
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ' ' {
			sp = i
			break
		}
	}
	if sp < 0 {
		return "", digest, sasl.Malformed(Name, "missing space before the digest")
	}
	user, hexd := b[:sp], b[sp+1:]
	if len(hexd) != digestLen {
		return "", digest, sasl.Malformed(Name, "digest is not 32 hex digits")
	}
	for _, c := range hexd {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", digest, sasl.Malformed(Name, "digest is not lowercase hex")
		}
	}
	switch {
	case len(user) == 0:
		return "", digest, sasl.Malformed(Name, "empty username")
	case len(user) > MaxUsernameLen:
		return "", digest, sasl.Malformed(Name, "username longer than "+strconv.Itoa(MaxUsernameLen)+" octets")
	case !utf8.Valid(user):
		return "", digest, sasl.Malformed(Name, "username is not valid UTF-8")
	}
	for _, c := range user {
		if c == 0 {
			return "", digest, sasl.Malformed(Name, "username contains NUL")
		}
	}
	if _, err := hex.Decode(digest[:], hexd); err != nil {
		return "", digest, sasl.Malformed(Name, "digest is not hex")
	}
	return string(user), digest, nil
}

func (s *server) verify(response []byte) ([]byte, bool, error) {
	username, digest, err := parseResponse(response)
	if err != nil {
		return nil, true, err
	}
	secret, err := s.lookup.LookupSecret(s.ctx, username)
	unknown := err != nil && (errors.Is(err, sasl.ErrAuthFailed) || errors.Is(err, sasl.ErrUnknownUser))
	if err != nil && !unknown {
		return nil, true, fmt.Errorf("crammd5: looking up secret: %w", err)
	}
	// For an unknown user the digest is still computed and compared, against
	// an empty secret, so that both failures take the same path.
	m := hmac.New(md5.New, []byte(secret))
	m.Write(s.challenge)
	var want [md5.Size]byte
	match := hmac.Equal(m.Sum(want[:0]), digest[:])
	if unknown || !match || secret == "" {
		return nil, true, errAuthFailed
	}
	s.id, s.ok = sasl.Identity{Mechanism: Name, Username: username}, true
	return nil, true, nil
}

// Identity implements sasl.ServerConversation.
func (s *server) Identity() (sasl.Identity, bool) { return s.id, s.ok }

// Format prints the conversation's state, never its lookup (which may hold
// secrets).
func (s *server) Format(f fmt.State, verb rune) {
	desc := "crammd5.Server{state:" + [...]string{"start", "challenged", "done"}[s.state]
	if s.challenge != nil {
		desc += " Challenge:" + strconv.Quote(string(s.challenge))
	}
	if s.ok {
		desc += " Username:" + strconv.Quote(s.id.Username)
	}
	redact.Format(f, verb, desc+"}")
}
