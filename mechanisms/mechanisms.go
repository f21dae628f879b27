// Package mechanisms assembles saslkit's built-in SASL mechanisms into a
// registry.
//
// Each mechanism lives in its own package, client and server side:
//
//	xoauth2      XOAUTH2 (Google, Microsoft)
//	oauthbearer  OAUTHBEARER (RFC 7628)
//	scram        SCRAM-SHA-1, -256, -512 and their -PLUS forms (RFC 5802, 7677)
//	plain        PLAIN (RFC 4616)
//	login        LOGIN (draft-murchison-sasl-login)
//	crammd5      CRAM-MD5 (RFC 2195), off by default
//	external     EXTERNAL (RFC 4422 appendix A)
//	anonymous    ANONYMOUS (RFC 4505), off by default
//
// Builtin returns a fresh registry holding all of them; New does the same
// with options. Registries are values: nothing here is global, and a caller
// may add its own mechanisms (or a plugin's) to the registry it gets.
package mechanisms

import (
	"github.com/saslkit/saslkit/mechanisms/anonymous"
	"github.com/saslkit/saslkit/mechanisms/crammd5"
	"github.com/saslkit/saslkit/mechanisms/external"
	"github.com/saslkit/saslkit/mechanisms/login"
	"github.com/saslkit/saslkit/mechanisms/oauthbearer"
	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/mechanisms/xoauth2"
	"github.com/saslkit/saslkit/sasl"
)

// Options configure the built-in mechanisms. A nil *Options means the
// defaults.
type Options struct {
	// SCRAM configures the six SCRAM mechanisms: iteration bounds, the
	// fake-salt key for unknown users, accepted channel bindings. Nil means
	// scram's defaults.
	SCRAM *scram.Options
}

// Builtin returns a new registry holding every built-in mechanism with
// default options.
func Builtin() *sasl.Registry { return New(nil) }

// New returns a new registry holding every built-in mechanism, configured by
// opts (nil for the defaults).
func New(opts *Options) *sasl.Registry {
	if opts == nil {
		opts = &Options{}
	}
	r := sasl.NewRegistry()
	all := append(scram.All(opts.SCRAM),
		oauthbearer.Mechanism(),
		xoauth2.Mechanism(),
		plain.Mechanism(),
		login.Mechanism(),
		crammd5.Mechanism(),
		external.Mechanism(),
		anonymous.Mechanism(),
	)
	for _, m := range all {
		// The built-in names are distinct and valid, so Register cannot
		// fail on a fresh registry.
		r.MustRegister(m)
	}
	return r
}
