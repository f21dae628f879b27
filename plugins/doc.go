// Package plugins runs OAuth 2.0 token sources and SASL mechanisms in
// separate processes, over hashicorp/go-plugin's gRPC protocol
// (saslkit.plugins.v1, see package proto), so that a plugin can be written
// in any language, crash without taking the host down, and hold secrets
// the host never sees.
//
// # Host side
//
// Open starts a plugin and returns a *Plugin:
//
//	p, err := plugins.Open(ctx, "/usr/lib/saslkit/tokenfile", &plugins.Options{Checksum: sum})
//	tokens := p.TokenSource("alice@example.com")   // a sasl.TokenSource behind providers.Cache
//	err = p.Register(reg)                           // the plugin's mechanisms into a sasl.Registry
//	defer p.Close()
//
// OpenDir opens every plugin of a directory whose SHA256SUMS manifest lists
// them, as a Set.
//
// Every start checks the plugin file's SHA-256 first (Options.Checksum;
// running an unchecked plugin takes Options.InsecureSkipChecksum). On Linux
// the file that was hashed is the file that runs: the host executes its own
// open descriptor. The connection is mutually authenticated TLS with
// one-time certificates (go-plugin's AutoMTLS). The plugin inherits only a
// few harmless variables of the host's environment.
//
// Every call carries a deadline (Options.CallTimeout). A plugin that misses
// it is killed; a plugin that crashes fails the calls in flight with
// ErrExited — an authentication in progress fails, it never succeeds — and
// is started again on next use, after a backoff when it keeps crashing.
// Close ends the process and its children. A host that dies takes its
// plugins with it: Linux delivers a parent-death signal, and Serve also
// watches its parent.
//
// A plugin's standard error (plain lines, or hclog JSON lines with their
// level) reaches Options.Logger redacted: tokens the host exchanged with
// it, passwords it was given, Bearer credentials, key=value secrets, JWTs
// and long opaque strings are replaced by [REDACTED].
//
// # Plugin side
//
// A plugin written in Go is a main package that calls Serve:
//
//	func main() {
//		plugins.Serve(&plugins.ServeConfig{
//			TokenSourceFor: func(ctx context.Context, account string, scopes []string) (sasl.TokenSource, error) {
//				return myTokens(account, scopes)
//			},
//		})
//	}
//
// A mechanism plugin sets ServeConfig.Mechanisms and, for server sides,
// ServeConfig.Verifiers: a server mechanism served by a plugin checks
// credentials with the plugin's verifiers, never the host's. Its
// mechanisms see the host's connection as a sasl.ConnState whose
// ChannelBinding carries the host's tls-exporter value and the server's
// certificate, so SCRAM-*-PLUS runs in a plugin as it does in the host.
//
// docs/plugins.md describes the protocol for plugins in other languages,
// the security model, and how to operate plugins.
package plugins
