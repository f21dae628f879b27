package sasl

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	gosasl "github.com/emersion/go-sasl"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
)

// Client is a SASL client conversation. It is the go-sasl interface, so a
// saslkit client can be passed to go-imap's Authenticate or go-smtp's Auth
// directly.
type Client = gosasl.Client

// Server is a SASL server conversation, the go-sasl interface.
type Server = gosasl.Server

// ServerConversation is a Server that reports who authenticated. Every server
// created by a saslkit mechanism implements it.
type ServerConversation interface {
	Server
	// Identity reports the authenticated identity. ok is false until Next
	// has returned done=true with a nil error.
	Identity() (id Identity, ok bool)
}

// Identity is the result of a successful server-side authentication.
type Identity struct {
	// Mechanism is the name of the mechanism that authenticated the client.
	Mechanism string
	// Username is the authentication identity (authcid): the user whose
	// credentials were checked.
	Username string
	// Authzid is the authorization identity the client asked to act as, or
	// "" when it asked for none. An empty authzid is treated as absent.
	Authzid string
}

// AuthorizedAs returns the identity the session acts as: Authzid when the
// client requested one, Username otherwise.
func (id Identity) AuthorizedAs() string {
	if id.Authzid != "" {
		return id.Authzid
	}
	return id.Username
}

// TokenSource supplies OAuth 2.0 access tokens for XOAUTH2 and OAUTHBEARER.
//
// Unlike oauth2.TokenSource, Token takes a context: a token fetch is I/O and
// is bounded by the caller's context, never by one captured earlier. Token
// must be safe for concurrent use. The returned token must not be modified.
type TokenSource interface {
	Token(ctx context.Context) (*oauth2.Token, error)
}

// TokenInvalidator is implemented by token sources that cache tokens. A
// caller whose server rejected tok calls Invalidate so that the next Token
// call fetches a fresh one. Invalidate does nothing unless the source still
// holds that same token, so concurrent callers cannot discard a newer one.
type TokenInvalidator interface {
	Invalidate(tok *oauth2.Token)
}

// Credentials are what a client authenticates with. Fields a mechanism does
// not need are ignored. Credentials never print their secrets.
type Credentials struct {
	// Username is the authentication identity: the mailbox address for
	// XOAUTH2 and OAUTHBEARER, the login name for password mechanisms.
	Username string
	// Authzid is the identity to act as, or "" to act as Username.
	Authzid string
	// Password is the secret for password mechanisms (SCRAM, PLAIN, LOGIN,
	// CRAM-MD5).
	Password string
	// TokenSource supplies access tokens for XOAUTH2 and OAUTHBEARER.
	TokenSource TokenSource
	// External asks for EXTERNAL: the identity the transport established,
	// typically a TLS client certificate.
	External bool
	// Trace is the optional trace information sent by ANONYMOUS.
	Trace string
}

// Format prints the credentials without their secrets.
func (c Credentials) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, c.describe())
}

// String returns a description of the credentials without their secrets.
func (c Credentials) String() string { return c.describe() }

func (c Credentials) describe() string {
	var b strings.Builder
	b.WriteString("sasl.Credentials{Username:")
	b.WriteString(strconv.Quote(c.Username))
	if c.Authzid != "" {
		b.WriteString(" Authzid:")
		b.WriteString(strconv.Quote(c.Authzid))
	}
	if c.Password != "" {
		b.WriteString(" Password:" + redact.Placeholder)
	}
	if c.TokenSource != nil {
		b.WriteString(" TokenSource:set")
	}
	if c.External {
		b.WriteString(" External:true")
	}
	b.WriteString("}")
	return b.String()
}

// need reports which credential kinds c holds.
func (c *Credentials) has() Need {
	if c == nil {
		return NeedNothing
	}
	n := NeedNothing
	if c.Password != "" {
		n |= NeedPassword
	}
	if c.TokenSource != nil {
		n |= NeedToken
	}
	if c.External {
		n |= NeedExternal
	}
	return n
}

// ConnState describes the connection an exchange runs over. Clients use it to
// decide whether a secret may be sent, to fill OAUTHBEARER's host and port,
// and for SCRAM channel binding; servers use it for channel binding and to
// check OAUTHBEARER's host and port.
type ConnState struct {
	// Host is the server's host name as the client dialed it (or, on the
	// server side, the name the server answers to).
	Host string
	// Port is the server's port, or 0 when unknown.
	Port int
	// TLS is the state of the TLS connection, or nil when the connection
	// is not encrypted.
	TLS *tls.ConnectionState
	// RemoteAddr is the peer's address, when known. A loopback peer is
	// trusted with secrets over an unencrypted connection.
	RemoteAddr net.Addr
	// ChannelBinding carries channel-binding material that TLS cannot
	// supply itself. Set it only in two cases: on a ConnState rebuilt in
	// another process, whose TLS state cannot export keying material (the
	// exporter value computed where the connection is live), and on a
	// server, whose TLS state lacks the certificate it presented (the
	// server certificate, for tls-server-end-point). Values TLS can supply
	// take precedence, and carried values must agree with them; see
	// ChannelBindingData. Nil means none.
	ChannelBinding *ChannelBindingData
}

// ConnStateOf returns the connection facts of conn: TLS state when conn is a
// *tls.Conn that has completed its handshake, and the remote address. host
// and port describe the server as dialed.
func ConnStateOf(conn net.Conn, host string, port int) *ConnState {
	cs := &ConnState{Host: host, Port: port}
	if conn == nil {
		return cs
	}
	cs.RemoteAddr = conn.RemoteAddr()
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		if st.HandshakeComplete {
			cs.TLS = &st
		}
	}
	return cs
}

// Secure reports whether the connection is encrypted with TLS and the peer's
// certificate was verified (the TLS state has verified chains). A connection
// that skipped verification can be intercepted, so it counts as insecure.
func (c *ConnState) Secure() bool {
	return c != nil && c.TLS != nil && c.TLS.HandshakeComplete && len(c.TLS.VerifiedChains) > 0
}

// Loopback reports whether the peer is on the loopback interface: its
// RemoteAddr is a loopback IP or, when RemoteAddr is unset, Host is
// "localhost" or a loopback IP literal.
func (c *ConnState) Loopback() bool {
	if c == nil {
		return false
	}
	if c.RemoteAddr != nil {
		host := c.RemoteAddr.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ip, err := netip.ParseAddr(host)
		return err == nil && ip.Unmap().IsLoopback()
	}
	if strings.EqualFold(c.Host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(c.Host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// failureReporter is implemented by clients that answer a failure challenge
// (an XOAUTH2 or OAUTHBEARER error, a SCRAM "e=" message) instead of
// returning an error from Next.
type failureReporter interface {
	Failure() error
}

// FailureOf returns the error a client recorded when it answered a failure
// challenge from the server, or nil. After a protocol library reports that
// the server rejected the authentication, FailureOf tells why in typed form,
// for example a *TokenError carrying the OAuth status and scope.
func FailureOf(c Client) error {
	if f, ok := c.(failureReporter); ok {
		return f.Failure()
	}
	return nil
}

// verifier is implemented by clients of mechanisms with mutual
// authentication (SCRAM): Verified reports whether the server proved that it
// knows the client's credentials.
type verifier interface {
	Verified() bool
}

// CheckServerAuth tells whether a client may accept the server's success
// reply. For a mechanism whose client can verify the server (SCRAM), it
// returns an error wrapping ErrServerAuth unless the server's proof was
// received and verified: a server that answers success without sending its
// proof (in a final challenge, or as additional data that the caller must
// pass to Next) has not authenticated itself, and the caller must treat the
// session as failed. Clients without mutual authentication always pass.
//
// Protocol adapters call it after the server's final success reply.
func CheckServerAuth(c Client) error {
	if v, ok := c.(verifier); ok && !v.Verified() {
		return fmt.Errorf("%w: success reported before the server proved itself", ErrServerAuth)
	}
	return nil
}
