package scram

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/sasl"
)

// Hash names, as sasl.SCRAMLookup receives them and StoredCredentials takes
// them.
const (
	HashSHA1   = "SHA-1"
	HashSHA256 = "SHA-256"
	HashSHA512 = "SHA-512"
)

// Mechanism names.
const (
	MechSHA1       = "SCRAM-SHA-1"
	MechSHA256     = "SCRAM-SHA-256"
	MechSHA512     = "SCRAM-SHA-512"
	MechSHA1Plus   = "SCRAM-SHA-1-PLUS"
	MechSHA256Plus = "SCRAM-SHA-256-PLUS"
	MechSHA512Plus = "SCRAM-SHA-512-PLUS"
)

// plusSuffix marks the channel-binding form of a mechanism.
const plusSuffix = "-PLUS"

// hashSpec describes one SCRAM hash family.
type hashSpec struct {
	hash     string // "SHA-256"
	mech     string // "SCRAM-SHA-256"
	newHash  func() hash.Hash
	size     int
	strength int // without -PLUS; -PLUS adds plusStrength
	standard string
}

const plusStrength = 10

// specFor returns the family of a hash name.
func specFor(name string) (hashSpec, bool) {
	switch name {
	case HashSHA1:
		return hashSpec{HashSHA1, MechSHA1, sha1.New, sha1.Size, 60, "RFC 5802"}, true
	case HashSHA256:
		return hashSpec{HashSHA256, MechSHA256, sha256.New, sha256.Size, 62, "RFC 7677"}, true
	case HashSHA512:
		return hashSpec{HashSHA512, MechSHA512, sha512.New, sha512.Size, 64, "draft-melnikov-scram-sha-512"}, true
	}
	return hashSpec{}, false
}

// parseMechanism maps a mechanism name (case-insensitive) to its family and
// whether it is the -PLUS form.
func parseMechanism(name string) (hashSpec, bool, error) {
	up := strings.ToUpper(name)
	plus := strings.HasSuffix(up, plusSuffix)
	base := strings.TrimSuffix(up, plusSuffix)
	if h, ok := strings.CutPrefix(base, "SCRAM-"); ok {
		if s, ok := specFor(h); ok {
			return s, plus, nil
		}
	}
	return hashSpec{}, false, fmt.Errorf("scram: unknown mechanism %s", strconv.Quote(name))
}

// mechName returns the mechanism name of s, with -PLUS when plus is set.
func (s hashSpec) mechName(plus bool) string {
	if plus {
		return s.mech + plusSuffix
	}
	return s.mech
}

// generator returns the hash constructor xdg-go/scram runs on, wrapped by
// the test hook when one is set.
func (c *config) generator(s hashSpec) xdgscram.HashGeneratorFcn {
	if c.hashHook != nil {
		return xdgscram.HashGeneratorFcn(c.hashHook(s.newHash))
	}
	return xdgscram.HashGeneratorFcn(s.newHash)
}

// SHA1 returns the SCRAM-SHA-1 descriptor (RFC 5802). opts may be nil.
func SHA1(opts *Options) sasl.Mechanism { return one(opts, HashSHA1, false) }

// SHA256 returns the SCRAM-SHA-256 descriptor (RFC 7677). opts may be nil.
func SHA256(opts *Options) sasl.Mechanism { return one(opts, HashSHA256, false) }

// SHA512 returns the SCRAM-SHA-512 descriptor. opts may be nil.
func SHA512(opts *Options) sasl.Mechanism { return one(opts, HashSHA512, false) }

// SHA1Plus returns the SCRAM-SHA-1-PLUS descriptor, SCRAM-SHA-1 with TLS
// channel binding. opts may be nil.
func SHA1Plus(opts *Options) sasl.Mechanism { return one(opts, HashSHA1, true) }

// SHA256Plus returns the SCRAM-SHA-256-PLUS descriptor, SCRAM-SHA-256 with
// TLS channel binding. opts may be nil.
func SHA256Plus(opts *Options) sasl.Mechanism { return one(opts, HashSHA256, true) }

// SHA512Plus returns the SCRAM-SHA-512-PLUS descriptor, SCRAM-SHA-512 with
// TLS channel binding. opts may be nil.
func SHA512Plus(opts *Options) sasl.Mechanism { return one(opts, HashSHA512, true) }

// All returns every SCRAM descriptor, strongest first: the three -PLUS forms
// (omitted when opts.NoChannelBinding is set), then SCRAM-SHA-512, -256 and
// -1. The descriptors share one configuration, including the fake-salt key
// generated when opts.FakeSaltKey is nil.
func All(opts *Options) []sasl.Mechanism {
	cfg := newConfig(opts, true)
	hashes := []string{HashSHA512, HashSHA256, HashSHA1}
	var out []sasl.Mechanism
	if !cfg.noCB {
		for _, h := range hashes {
			s, _ := specFor(h)
			out = append(out, descriptor(cfg, s, true))
		}
	}
	for _, h := range hashes {
		s, _ := specFor(h)
		out = append(out, descriptor(cfg, s, false))
	}
	return out
}

func one(opts *Options, h string, plus bool) sasl.Mechanism {
	s, _ := specFor(h)
	return descriptor(newConfig(opts, true), s, plus)
}

func descriptor(cfg *config, s hashSpec, plus bool) sasl.Mechanism {
	m := sasl.Mechanism{
		Name:       s.mechName(plus),
		Properties: sasl.MutualAuth,
		Needs:      sasl.NeedPassword,
		Strength:   s.strength,
		Standard:   s.standard,
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			c, err := newClient(cfg, s, plus, p)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, conn *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.SCRAM == nil {
				return nil, fmt.Errorf("%w: %s needs Verifiers.SCRAM", sasl.ErrNoVerifier, s.mechName(plus))
			}
			srv, err := newServer(ctx, cfg, s, plus, v.SCRAM, conn)
			if err != nil {
				return nil, err
			}
			return srv, nil
		},
	}
	if plus {
		m.Properties |= sasl.ChannelBinding
		m.Strength += plusStrength
		m.Standard += ", RFC 9266"
		m.Usable = cfg.usable
	} else if cfg.err != nil {
		m.Usable = func(*sasl.ConnState) error { return cfg.err }
	}
	return m
}

// NewClient returns a client for the named mechanism ("SCRAM-SHA-256",
// "SCRAM-SHA-256-PLUS" and so on) with the username, authzid and password in
// p. p.Conn supplies the TLS state for channel binding, and p.Advertised the
// server's list, from which the client tells a server that does not offer
// -PLUS from a downgrade. opts may be nil.
//
// It fails with an error wrapping sasl.ErrUnusable for a -PLUS mechanism
// when no channel binding can be derived from p.Conn.
func NewClient(mechanism string, p *sasl.ClientParams, opts *Options) (*Client, error) {
	s, plus, err := parseMechanism(mechanism)
	if err != nil {
		return nil, err
	}
	return newClient(newConfig(opts, false), s, plus, p)
}

// NewServer returns a server conversation for the named mechanism that looks
// up credentials with lookup. ctx bounds the lookup and should end with the
// connection or the command. conn supplies the TLS state for channel
// binding; it may be nil for a connection without TLS.
//
// opts.FakeSaltKey must be set: a key generated per conversation would give
// an unknown user a different salt on every attempt and so reveal that the
// user does not exist. Descriptors (SHA256 and the others) generate a key
// once instead.
func NewServer(ctx context.Context, mechanism string, lookup sasl.SCRAMLookup, conn *sasl.ConnState, opts *Options) (*Server, error) {
	s, plus, err := parseMechanism(mechanism)
	if err != nil {
		return nil, err
	}
	if lookup == nil {
		return nil, fmt.Errorf("%w: %s needs a credential lookup", sasl.ErrNoVerifier, s.mechName(plus))
	}
	if opts == nil || len(opts.FakeSaltKey) == 0 {
		return nil, errors.New("scram: NewServer needs Options.FakeSaltKey")
	}
	return newServer(ctx, newConfig(opts, false), s, plus, lookup, conn)
}
