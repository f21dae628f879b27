package scram

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

type serverState uint8

const (
	serverNew        serverState = iota // nothing received
	serverAwaitFirst                    // empty challenge sent, awaiting client-first
	serverAwaitFinal                    // server-first sent, awaiting client-final
	serverAwaitAckOK                    // v= sent, awaiting the client's empty reply
	serverAwaitAckNo                    // e= sent, awaiting the client's reply
	serverDone
)

var stateNames = [...]string{"new", "await-first", "await-final", "await-ack", "await-ack-failure", "done"}

// Server is a SCRAM server conversation for one exchange: a
// sasl.ServerConversation. Create it with NewServer or through a
// descriptor. It keeps the context it was created with for the credential
// lookup (a conversation is request-scoped) and is not safe for concurrent
// use.
type Server struct {
	ctx      context.Context
	cfg      *config
	spec     hashSpec
	mech     string
	plus     bool
	lookup   sasl.SCRAMLookup
	bindings map[string]xdgscram.ChannelBinding

	state    serverState
	conv     *xdgscram.ServerConversation
	username string
	authzid  string
	unknown  error // the lookup's unknown-user error
	lookErr  error // the lookup's other failure
	failure  error // reported after the client answers e=
	authOK   bool
}

var _ sasl.ServerConversation = (*Server)(nil)

func newServer(ctx context.Context, cfg *config, s hashSpec, plus bool, lookup sasl.SCRAMLookup, conn *sasl.ConnState) (*Server, error) {
	if cfg.err != nil {
		return nil, cfg.err
	}
	if len(cfg.fakeKey) == 0 {
		return nil, errors.New("scram: server has no fake-salt key")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	srv := &Server{
		ctx:    ctx,
		cfg:    cfg,
		spec:   s,
		mech:   s.mechName(plus),
		plus:   plus,
		lookup: lookup,
	}
	bindings, err := cfg.serverBindings(conn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", sasl.ErrUnusable, srv.mech, err)
	}
	srv.bindings = bindings
	if plus && len(srv.bindings) == 0 {
		return nil, fmt.Errorf("%w: %s: %w", sasl.ErrUnusable, srv.mech, errNoBinding)
	}
	return srv, nil
}

// Next takes the client's response and returns the next challenge.
//
// Without an initial response (response nil) it asks for the client-first
// message with an empty challenge. It then returns the server-first message,
// and either the verifier "v=…" or a server error "e=…" as the final
// challenge, both with done=false; the client's reply to that ends the
// exchange: done=true and a nil error after a verifier, or an error wrapping
// sasl.ErrAuthFailed (a *ServerError) after a server error. A malformed
// message ends the exchange at once with an error wrapping sasl.ErrMalformed;
// a refused gs2 header (downgrade, unsupported channel binding, m=) with a
// *ServerError. Any call after done=true returns an error wrapping
// sasl.ErrDone.
func (s *Server) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.state {
	case serverNew:
		if response == nil {
			s.state = serverAwaitFirst
			return []byte{}, false, nil
		}
		return s.clientFirst(response)
	case serverAwaitFirst:
		return s.clientFirst(response)
	case serverAwaitFinal:
		return s.clientFinal(response)
	case serverAwaitAckOK:
		if len(response) != 0 {
			return s.finish(sasl.Malformed(s.mech, "the reply to the server's verifier must be empty"))
		}
		s.state = serverDone
		s.authOK = true
		return nil, true, nil
	case serverAwaitAckNo:
		return s.finish(s.failure)
	default:
		return nil, true, fmt.Errorf("%w: %s", sasl.ErrDone, s.mech)
	}
}

func (s *Server) finish(err error) ([]byte, bool, error) {
	s.state = serverDone
	return nil, true, err
}

func (s *Server) malformed(reason string) ([]byte, bool, error) {
	return s.finish(sasl.Malformed(s.mech, reason))
}

func (s *Server) refuse(value string) ([]byte, bool, error) {
	return s.finish(&ServerError{Value: value})
}

func (s *Server) clientFirst(response []byte) ([]byte, bool, error) {
	if len(response) > s.cfg.maxMsg {
		return s.malformed("client-first message exceeds the size limit")
	}
	msg := string(response)
	cf, mext, reason := parseClientFirst(msg)
	switch {
	case mext:
		return s.refuse(ErrValueExtensionsNotSupported)
	case reason != "":
		return s.malformed(reason)
	}
	gen := s.cfg.generator(s.spec)
	xs, err := gen.NewServer(s.credentials)
	if err != nil {
		return s.finish(fmt.Errorf("scram: %s: %w", s.mech, err))
	}
	if s.cfg.nonce != nil {
		xs = xs.WithNonceGenerator(s.cfg.nonce)
	}
	// The gs2 flag is judged here rather than by xdg-go/scram, because
	// xdg-go/scram takes one channel binding per conversation while this
	// server accepts every type it can derive, and does not know whether the
	// client chose the -PLUS name.
	switch cf.flag {
	case 'p':
		if !s.plus {
			return s.malformed("gs2 flag p (channel binding) is only valid with the -PLUS mechanism")
		}
		cb, ok := s.bindings[cf.cbType]
		if !ok {
			return s.refuse(ErrValueUnsupportedChannelBindingType)
		}
		s.conv = xs.NewConversationWithChannelBindingRequired(cb)
	case 'y':
		if s.plus {
			return s.malformed("the -PLUS mechanism requires gs2 flag p")
		}
		if len(s.bindings) > 0 {
			// RFC 5802 §6: the client could bind but did not see -PLUS
			// offered; this server offers it, so the list was tampered
			// with.
			return s.refuse(ErrValueServerDoesSupportCB)
		}
		s.conv = xs.NewConversation()
	default: // 'n'
		if s.plus {
			return s.malformed("the -PLUS mechanism requires gs2 flag p")
		}
		s.conv = xs.NewConversation()
	}
	out, err := s.conv.Step(msg)
	if s.lookErr != nil {
		return s.finish(fmt.Errorf("scram: %s: credential lookup: %w", s.mech, s.lookErr))
	}
	if err != nil {
		value := ErrValueOtherError
		if v, ok := strings.CutPrefix(out, "e="); ok && v != "" {
			value = v
		}
		return s.refuse(value)
	}
	s.username, s.authzid = cf.username, cf.authzid
	s.state = serverAwaitFinal
	return []byte(out), false, nil
}

// credentials is xdg-go/scram's CredentialLookup. An unknown user gets
// credentials derived from the fake-salt key, so the server-first message
// looks like a known user's and the exchange fails at the proof.
func (s *Server) credentials(username string) (xdgscram.StoredCredentials, error) {
	creds, err := s.lookup.LookupSCRAM(s.ctx, s.spec.hash, username)
	if errors.Is(err, sasl.ErrUnknownUser) || errors.Is(err, sasl.ErrAuthFailed) {
		s.unknown = err
		return s.fakeCredentials(username), nil
	}
	if err != nil {
		s.lookErr = err
		return xdgscram.StoredCredentials{}, err
	}
	if creds.Iterations <= 0 || len(creds.Salt) == 0 || len(creds.StoredKey) != s.spec.size || len(creds.ServerKey) != s.spec.size {
		s.lookErr = fmt.Errorf("stored %s credentials for %q are invalid (salt, iteration count or key length)", s.spec.hash, username)
		return xdgscram.StoredCredentials{}, s.lookErr
	}
	return xdgscram.StoredCredentials{
		KeyFactors: xdgscram.KeyFactors{Salt: string(creds.Salt), Iters: creds.Iterations},
		StoredKey:  creds.StoredKey,
		ServerKey:  creds.ServerKey,
	}, nil
}

// fakeCredentials derives an unknown user's credentials from the fake-salt
// key: the salt deterministically (the same on every attempt), the keys so
// that no proof matches them.
func (s *Server) fakeCredentials(username string) xdgscram.StoredCredentials {
	label := s.spec.hash + "\x00" + username
	mac := hmac.New(sha256.New, s.cfg.fakeKey)
	mac.Write([]byte("saslkit scram fake salt\x00" + label))
	salt := mac.Sum(nil)[:SaltSize]
	key := func(what string) []byte {
		m := hmac.New(s.spec.newHash, s.cfg.fakeKey)
		m.Write([]byte("saslkit scram fake " + what + "\x00" + label))
		return m.Sum(nil)
	}
	return xdgscram.StoredCredentials{
		KeyFactors: xdgscram.KeyFactors{Salt: string(salt), Iters: s.cfg.fakeIters},
		StoredKey:  key("stored key"),
		ServerKey:  key("server key"),
	}
}

func (s *Server) clientFinal(response []byte) ([]byte, bool, error) {
	if len(response) > s.cfg.maxMsg {
		return s.malformed("client-final message exceeds the size limit")
	}
	msg := string(response)
	if _, reason := parseClientFinal(msg, s.spec.size); reason != "" {
		return s.malformed(reason)
	}
	out, err := s.conv.Step(msg)
	if err == nil && s.unknown == nil && s.conv.Valid() && strings.HasPrefix(out, "v=") {
		s.state = serverAwaitAckOK
		return []byte(out), false, nil
	}
	// The checks before the proof (channel binding, nonce) do not depend
	// on the user, so their error values are sent as they are; an unknown
	// user otherwise fails exactly as a wrong password does.
	value := ErrValueInvalidProof
	if v, ok := strings.CutPrefix(out, "e="); ok && v != "" {
		value = v
	}
	s.failure = &ServerError{Value: value, cause: s.unknown}
	s.state = serverAwaitAckNo
	return []byte("e=" + value), false, nil
}

// Identity reports the authenticated username and the authzid the client
// asked for ("" for none). ok is false until Next has returned done=true
// with a nil error. Whether Username may act as Authzid is for the
// application to decide.
func (s *Server) Identity() (sasl.Identity, bool) {
	if !s.authOK {
		return sasl.Identity{}, false
	}
	return sasl.Identity{Mechanism: s.mech, Username: s.username, Authzid: s.authzid}, true
}

// Format prints the conversation without credentials.
func (s *Server) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("scram.Server{Mechanism:%s Username:%q Authzid:%q State:%s Credentials:%s}",
		s.mech, s.username, s.authzid, stateNames[s.state], redact.Placeholder))
}
