package scram

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/saslkit/saslkit/internal/redact"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMinIterations is the smallest iteration count a client
	// accepts by default: the minimum RFC 7677 §4 requires of SCRAM-SHA-256.
	DefaultMinIterations = 4096
	// DefaultMaxIterations is the largest iteration count a client accepts
	// by default. It is the OWASP 2023 recommendation for
	// PBKDF2-HMAC-SHA256; a server asking for more is refused, which bounds
	// the CPU time a hostile server can make a client spend (about 0.12 s
	// for SHA-256 on a current x86-64 core; see docs/benchmarks-scram.md).
	DefaultMaxIterations = 600000
	// DefaultIterations is the iteration count a server announces for an
	// unknown user, matching the count StoredCredentials is usually given.
	DefaultIterations = 4096
	// DefaultMaxMessageSize is the largest SCRAM message, in bytes, a client
	// or server accepts by default.
	DefaultMaxMessageSize = 8192
	// SaltSize is the length of the salts NewSalt returns and of the fake
	// salts a server announces for unknown users.
	SaltSize = 16
)

// Channel binding type names (RFC 5056 §7 registry).
const (
	// BindingTLSExporter is the RFC 9266 binding: 32 bytes exported from
	// the TLS connection with the label "EXPORTER-Channel-Binding".
	BindingTLSExporter = "tls-exporter"
	// BindingTLSServerEndPoint is the RFC 5929 §4 binding: a hash of the
	// server's certificate.
	BindingTLSServerEndPoint = "tls-server-end-point"
)

// Options tune SCRAM clients and servers. A nil *Options means the defaults.
// Options are read when a descriptor, client or server is created and never
// modified.
type Options struct {
	// MinIterations is the smallest iteration count a client accepts from
	// a server. Zero means DefaultMinIterations.
	MinIterations int
	// MaxIterations is the largest iteration count a client accepts from a
	// server. Zero means DefaultMaxIterations.
	MaxIterations int
	// Iterations is the iteration count a server announces for an unknown
	// user. Set it to the count used for real users, so that unknown users
	// cannot be told apart. Zero means DefaultIterations.
	Iterations int
	// FakeSaltKey is the secret from which a server derives the salts it
	// announces for unknown users: HMAC-SHA-256(FakeSaltKey, hash name and
	// username), truncated to SaltSize bytes. Keep it secret and stable
	// across restarts; at least 32 random bytes are recommended.
	//
	// When nil, each descriptor (SHA256 and the others; All shares one key
	// among its six) generates a random key when it is created. Fake salts
	// are then stable for the life of the process but change on restart,
	// which lets a patient attacker tell unknown users from known ones.
	// NewServer, which has nowhere to keep a generated key between
	// conversations, requires FakeSaltKey.
	FakeSaltKey []byte
	// MaxMessageSize is the largest message, in bytes, a client or server
	// accepts. Zero means DefaultMaxMessageSize.
	MaxMessageSize int
	// ChannelBindings lists the channel binding types a client tries, in
	// order, and the types a server accepts: BindingTLSExporter and
	// BindingTLSServerEndPoint. Nil means both, tls-exporter first.
	// tls-unique is not supported.
	ChannelBindings []string
	// ServerCertificate returns the certificate a server presented on a
	// connection, which tls.ConnectionState does not carry. A server needs
	// the certificate to offer tls-server-end-point; when neither this nor
	// sasl.ConnState.ChannelBinding supplies it, the server offers only
	// tls-exporter. It may return nil for "unknown".
	//
	// This is the older way; setting ConnState.ChannelBinding's
	// ServerCertificate per connection is preferred, and takes precedence.
	// When both name a certificate they must be the same one, or the
	// server refuses to run (sasl.ErrChannelBindingData).
	ServerCertificate func(cs *tls.ConnectionState) *x509.Certificate
	// NoChannelBinding turns channel binding off: All omits the -PLUS
	// forms, the -PLUS descriptors are never usable, clients send the gs2
	// flag "n", and servers accept a client's "y" (they do not offer
	// -PLUS). Leave it false unless the server does not advertise the
	// -PLUS forms; a server that can bind otherwise treats "y" as a
	// downgrade.
	NoChannelBinding bool

	// nonce replaces the nonce generator (tests only: golden vectors need
	// fixed nonces).
	nonce func() string
	// hashHook wraps the hash constructor (tests only: counting hash
	// constructions proves PBKDF2 never runs on a rejected challenge).
	hashHook func(func() hash.Hash) func() hash.Hash
}

// Format prints the options without FakeSaltKey.
func (o Options) Format(f fmt.State, verb rune) {
	key := ""
	if len(o.FakeSaltKey) > 0 {
		key = redact.Placeholder
	}
	redact.Format(f, verb, fmt.Sprintf("scram.Options{MinIterations:%d MaxIterations:%d Iterations:%d FakeSaltKey:%s MaxMessageSize:%d ChannelBindings:%s NoChannelBinding:%t}",
		o.MinIterations, o.MaxIterations, o.Iterations, key, o.MaxMessageSize, strings.Join(o.ChannelBindings, ","), o.NoChannelBinding))
}

// config is Options resolved: defaults applied, validated, key generated.
// It is immutable once built and shared by every conversation of a
// descriptor.
type config struct {
	err       error // invalid options: every factory returns it
	minIters  int
	maxIters  int
	fakeIters int
	fakeKey   []byte
	maxMsg    int
	bindings  []string
	serverCrt func(*tls.ConnectionState) *x509.Certificate
	noCB      bool
	nonce     func() string
	hashHook  func(func() hash.Hash) func() hash.Hash
}

// Format keeps the fake-salt key out of any accidental print.
func (c *config) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "scram.config{"+redact.Placeholder+"}")
}

// newConfig resolves opts. When genKey is set and opts has no FakeSaltKey, a
// random key is generated.
func newConfig(opts *Options, genKey bool) *config {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &config{
		minIters:  orDefault(o.MinIterations, DefaultMinIterations),
		maxIters:  orDefault(o.MaxIterations, DefaultMaxIterations),
		fakeIters: orDefault(o.Iterations, DefaultIterations),
		maxMsg:    orDefault(o.MaxMessageSize, DefaultMaxMessageSize),
		serverCrt: o.ServerCertificate,
		noCB:      o.NoChannelBinding,
		nonce:     o.nonce,
		hashHook:  o.hashHook,
	}
	switch {
	case o.MinIterations < 0, o.MaxIterations < 0, o.Iterations < 0:
		c.err = errors.New("scram: invalid options: iteration counts must not be negative")
	case c.maxIters < c.minIters:
		c.err = fmt.Errorf("scram: invalid options: MaxIterations %d is below MinIterations %d", c.maxIters, c.minIters)
	case o.MaxMessageSize < 0:
		c.err = errors.New("scram: invalid options: MaxMessageSize must not be negative")
	}
	if o.ChannelBindings == nil {
		c.bindings = []string{BindingTLSExporter, BindingTLSServerEndPoint}
	} else {
		for _, b := range o.ChannelBindings {
			switch b {
			case BindingTLSExporter, BindingTLSServerEndPoint:
				c.bindings = append(c.bindings, b)
			default:
				if c.err == nil {
					c.err = fmt.Errorf("scram: invalid options: unsupported channel binding type %s", strconv.Quote(b))
				}
			}
		}
	}
	switch {
	case len(o.FakeSaltKey) > 0:
		c.fakeKey = append([]byte(nil), o.FakeSaltKey...)
	case genKey:
		c.fakeKey = make([]byte, 32)
		// crypto/rand.Read never returns an error (Go 1.24 and later).
		_, _ = rand.Read(c.fakeKey)
	}
	return c
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
