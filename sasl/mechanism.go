package sasl

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
)

// Property is a set of security properties of a mechanism.
type Property uint32

const (
	// SendsSecret marks mechanisms that send a reusable secret (a password
	// or a bearer token) readable by anyone who sees the exchange: PLAIN,
	// LOGIN, XOAUTH2, OAUTHBEARER. Negotiate refuses them over a connection
	// that is not Secure unless the peer is loopback or the policy allows
	// it.
	SendsSecret Property = 1 << iota
	// Anonymous marks mechanisms that authenticate nobody (ANONYMOUS).
	Anonymous
	// ChannelBinding marks mechanisms that bind the exchange to the TLS
	// channel (SCRAM-*-PLUS), which defeats a man in the middle.
	ChannelBinding
	// MutualAuth marks mechanisms in which the server proves it knows the
	// client's credentials (SCRAM).
	MutualAuth
	// OffByDefault marks mechanisms Negotiate considers only when the
	// policy names them in Allow (CRAM-MD5, ANONYMOUS).
	OffByDefault
	// Dictionary marks mechanisms whose exchange, once seen, allows an
	// offline dictionary attack on the password (CRAM-MD5).
	Dictionary
)

var propertyNames = []struct {
	p    Property
	name string
}{
	{SendsSecret, "sends-secret"},
	{Anonymous, "anonymous"},
	{ChannelBinding, "channel-binding"},
	{MutualAuth, "mutual-auth"},
	{OffByDefault, "off-by-default"},
	{Dictionary, "dictionary"},
}

// Has reports whether every property in q is set in p.
func (p Property) Has(q Property) bool { return p&q == q }

// String lists the properties, comma-separated.
func (p Property) String() string {
	var names []string
	for _, n := range propertyNames {
		if p.Has(n.p) {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Need is a set of credential kinds a mechanism requires.
type Need uint32

const (
	// NeedNothing: the mechanism needs no credentials (ANONYMOUS).
	NeedNothing Need = 0
	// NeedPassword: Credentials.Password.
	NeedPassword Need = 1 << iota
	// NeedToken: Credentials.TokenSource.
	NeedToken
	// NeedExternal: Credentials.External, an identity established by the
	// transport.
	NeedExternal
)

// String names the credential kinds, comma-separated.
func (n Need) String() string {
	if n == NeedNothing {
		return "nothing"
	}
	var names []string
	for _, x := range []struct {
		n    Need
		name string
	}{{NeedPassword, "password"}, {NeedToken, "token"}, {NeedExternal, "external"}} {
		if n&x.n != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ",")
}

// Mechanism describes a SASL mechanism: its name, security properties, the
// credentials it needs, its rank in negotiation and its factories.
//
// A Mechanism is a value; register it in a Registry to use it.
type Mechanism struct {
	// Name is the IANA-registered name, upper case, as servers advertise it.
	Name string
	// Properties are the mechanism's security properties.
	Properties Property
	// Needs are the credential kinds a client requires.
	Needs Need
	// Strength ranks mechanisms in negotiation: among usable mechanisms the
	// highest strength wins. Built-in values: ANONYMOUS 0, CRAM-MD5 10,
	// LOGIN 20, PLAIN 30, XOAUTH2 40, OAUTHBEARER 50, SCRAM-SHA-1/256/512
	// 60/62/64, their -PLUS forms 70/72/74, EXTERNAL 80.
	Strength int
	// Standard names the document that defines the mechanism, for display.
	Standard string
	// Usable, when set, reports whether a client can run the mechanism over
	// conn (SCRAM-*-PLUS needs a TLS channel binding). A nil Usable means
	// always.
	Usable func(conn *ConnState) error
	// NewClient creates a client. It must not do I/O: the token, if any,
	// has already been fetched into p.Token.
	NewClient func(p *ClientParams) (Client, error)
	// NewServer creates a server conversation. ctx bounds every verifier
	// call the conversation makes (see the package documentation). It may
	// be nil for client-only mechanisms.
	NewServer func(ctx context.Context, v *Verifiers, conn *ConnState) (ServerConversation, error)
}

// ClientParams are the inputs of a mechanism client, resolved by the
// Registry: the credentials with the access token already fetched.
type ClientParams struct {
	Username string
	Authzid  string
	Password string
	// Token is the access token for XOAUTH2 and OAUTHBEARER.
	Token *oauth2.Token
	// Trace is ANONYMOUS's trace information.
	Trace string
	// Conn describes the connection; never nil when created by a Registry.
	Conn *ConnState
	// Advertised is the server's advertised mechanism list, when known.
	// SCRAM uses it to tell a server that does not offer channel binding
	// from a downgrade.
	Advertised []string
}

// Format prints the parameters without their secrets.
func (p *ClientParams) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasl.ClientParams{Username:%q Authzid:%q Password:%s Token:%s}",
		p.Username, p.Authzid, redact.Secret(p.Password), tokenDesc(p.Token)))
}

func tokenDesc(t *oauth2.Token) string {
	if t == nil {
		return "<nil>"
	}
	return redact.Placeholder
}

// Verifiers are the server side's checks, implemented by the application
// that embeds a server. A mechanism uses the ones it needs and fails with
// ErrNoVerifier when its verifier is missing.
type Verifiers struct {
	// Password checks a username and password (PLAIN, LOGIN).
	Password PasswordVerifier
	// Secret returns a user's shared secret (CRAM-MD5, which needs the
	// plaintext password on the server).
	Secret SecretLookup
	// SCRAM returns a user's stored SCRAM credentials.
	SCRAM SCRAMLookup
	// Token checks an OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER).
	Token TokenVerifier
	// External maps the transport's identity to a user (EXTERNAL).
	External ExternalVerifier
	// Anonymous admits an anonymous client (ANONYMOUS). When it is nil the
	// server refuses every client with ErrNoVerifier.
	Anonymous AnonymousVerifier
}

// PasswordVerifier checks a plaintext password. It returns the identity on
// success, an error wrapping ErrAuthFailed when the credentials are wrong,
// and any other error for a failure to check (a database down). Compare
// secrets in constant time.
type PasswordVerifier interface {
	VerifyPassword(ctx context.Context, authzid, username, password string) (Identity, error)
}

// SecretLookup returns the shared secret of a user for mechanisms that need
// it in the clear on the server (CRAM-MD5). An unknown user is reported with
// an error wrapping ErrAuthFailed.
type SecretLookup interface {
	LookupSecret(ctx context.Context, username string) (secret string, err error)
}

// SCRAMCredentials are the per-user values a SCRAM server stores (RFC 5802
// §3): salt, iteration count, StoredKey and ServerKey. The password itself is
// never needed.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Format prints the credentials without the keys.
func (c SCRAMCredentials) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasl.SCRAMCredentials{Iterations:%d Keys:%s}", c.Iterations, redact.Placeholder))
}

// SCRAMLookup returns stored SCRAM credentials. hash is "SHA-1", "SHA-256"
// or "SHA-512". An unknown user is reported with an error wrapping
// ErrUnknownUser, and the server then answers exactly as it would for a
// known user with a wrong password.
type SCRAMLookup interface {
	LookupSCRAM(ctx context.Context, hash, username string) (SCRAMCredentials, error)
}

// TokenRequest is what a bearer-token mechanism received from the client.
type TokenRequest struct {
	// Mechanism is "XOAUTH2" or "OAUTHBEARER".
	Mechanism string
	// Username is XOAUTH2's user= or OAUTHBEARER's authzid (a=).
	Username string
	// Token is the bearer token.
	Token string
	// Host and Port are OAUTHBEARER's host= and port=, when sent.
	Host string
	Port int
}

// Format prints the request without the token.
func (r TokenRequest) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasl.TokenRequest{Mechanism:%s Username:%q Token:%s Host:%q Port:%d}",
		r.Mechanism, r.Username, redact.Secret(r.Token), r.Host, r.Port))
}

// TokenVerifier checks a bearer token. It returns the identity on success;
// a *TokenError when the token is not acceptable (the server then sends the
// mechanism's JSON error challenge carrying its status, schemes and scope);
// and any other error for a failure to check, which ends the exchange
// without a challenge.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, req TokenRequest) (Identity, error)
}

// ExternalVerifier maps the identity the transport established to a user.
// authzid is what the client asked to act as ("" for the derived identity).
type ExternalVerifier interface {
	VerifyExternal(ctx context.Context, authzid string, conn *ConnState) (Identity, error)
}

// AnonymousVerifier decides whether an anonymous client is admitted; trace
// is the client's optional trace information.
type AnonymousVerifier interface {
	VerifyAnonymous(ctx context.Context, trace string) error
}

// PasswordVerifierFunc adapts a function to PasswordVerifier.
type PasswordVerifierFunc func(ctx context.Context, authzid, username, password string) (Identity, error)

// VerifyPassword calls f.
func (f PasswordVerifierFunc) VerifyPassword(ctx context.Context, authzid, username, password string) (Identity, error) {
	return f(ctx, authzid, username, password)
}

// SecretLookupFunc adapts a function to SecretLookup.
type SecretLookupFunc func(ctx context.Context, username string) (string, error)

// LookupSecret calls f.
func (f SecretLookupFunc) LookupSecret(ctx context.Context, username string) (string, error) {
	return f(ctx, username)
}

// SCRAMLookupFunc adapts a function to SCRAMLookup.
type SCRAMLookupFunc func(ctx context.Context, hash, username string) (SCRAMCredentials, error)

// LookupSCRAM calls f.
func (f SCRAMLookupFunc) LookupSCRAM(ctx context.Context, hash, username string) (SCRAMCredentials, error) {
	return f(ctx, hash, username)
}

// TokenVerifierFunc adapts a function to TokenVerifier.
type TokenVerifierFunc func(ctx context.Context, req TokenRequest) (Identity, error)

// VerifyToken calls f.
func (f TokenVerifierFunc) VerifyToken(ctx context.Context, req TokenRequest) (Identity, error) {
	return f(ctx, req)
}

// ExternalVerifierFunc adapts a function to ExternalVerifier.
type ExternalVerifierFunc func(ctx context.Context, authzid string, conn *ConnState) (Identity, error)

// VerifyExternal calls f.
func (f ExternalVerifierFunc) VerifyExternal(ctx context.Context, authzid string, conn *ConnState) (Identity, error) {
	return f(ctx, authzid, conn)
}

// AnonymousVerifierFunc adapts a function to AnonymousVerifier.
type AnonymousVerifierFunc func(ctx context.Context, trace string) error

// VerifyAnonymous calls f.
func (f AnonymousVerifierFunc) VerifyAnonymous(ctx context.Context, trace string) error {
	return f(ctx, trace)
}
