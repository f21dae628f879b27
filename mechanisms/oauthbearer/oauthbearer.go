package oauthbearer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/saslkit/saslkit/internal/bearer"
	"github.com/saslkit/saslkit/internal/kvpairs"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Name is the mechanism's registered name.
const Name = "OAUTHBEARER"

// ErrInvalidInput: an authorization identity, token, host or port cannot be
// carried by OAUTHBEARER (a control character or invalid UTF-8 in the
// identity, a token that is not an RFC 6750 b64token, a host that is not
// printable US-ASCII, a port outside 1–65535). Nothing was sent.
var ErrInvalidInput = errors.New("oauthbearer: identity, token, host or port cannot be encoded")

// MaxChallenge is the largest failure challenge a client parses.
const MaxChallenge = 16 << 10

// Mechanism returns the OAUTHBEARER descriptor for a sasl.Registry. Its
// client sends ClientParams.Authzid (or Username when Authzid is empty) as
// the GS2 authzid, the host and port of ClientParams.Conn when known, and the
// access token with the "Bearer" scheme. Its server checks tokens with
// Verifiers.Token and requires host= and port=, when sent, to match the
// ConnState's Host and Port when those are set.
func Mechanism() sasl.Mechanism {
	return sasl.Mechanism{
		Name:       Name,
		Properties: sasl.SendsSecret,
		Needs:      sasl.NeedToken,
		Strength:   50,
		Standard:   "RFC 7628",
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			if p == nil || p.Token == nil || p.Token.AccessToken == "" {
				return nil, fmt.Errorf("oauthbearer: %w: no access token", sasl.ErrNoCredentials)
			}
			o := ClientOptions{Authzid: p.Authzid, Token: p.Token.AccessToken}
			if o.Authzid == "" {
				o.Authzid = p.Username
			}
			if p.Conn != nil {
				o.Host, o.Port = p.Conn.Host, p.Conn.Port
			}
			c := newClient(o)
			if c.err != nil {
				return nil, c.err
			}
			return c, nil
		},
		NewServer: func(ctx context.Context, v *sasl.Verifiers, conn *sasl.ConnState) (sasl.ServerConversation, error) {
			if v == nil || v.Token == nil {
				return nil, fmt.Errorf("oauthbearer: %w", sasl.ErrNoVerifier)
			}
			opts := &ServerOptions{}
			if conn != nil {
				opts.Host, opts.Port = conn.Host, conn.Port
			}
			return NewServer(ctx, v.Token, opts), nil
		},
	}
}

// ClientOptions are the inputs of an OAUTHBEARER client.
type ClientOptions struct {
	// Authzid is the authorization identity sent in the GS2 header (a=),
	// normally the mailbox address; "" sends none.
	Authzid string
	// Token is the OAuth 2.0 access token.
	Token string
	// Host and Port name the server as the client dialed it; RFC 7628
	// recommends sending them. An empty Host or a zero Port is left out.
	Host string
	Port int
}

// Format prints the options without the token.
func (o ClientOptions) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("oauthbearer.ClientOptions{Authzid:%q Token:%s Host:%q Port:%d}",
		o.Authzid, redact.Secret(o.Token), o.Host, o.Port))
}

// client is the OAUTHBEARER client. It holds values only and is not safe for
// concurrent use, like every go-sasl client.
type client struct {
	bearer.ClientState
	authzid string // escaped saslname
	token   string
	host    string
	port    int
	err     error
}

// NewClient returns an OAUTHBEARER client. It checks the options at once:
// when one cannot be carried by OAUTHBEARER (see ErrInvalidInput), the
// client's Start returns that error, so a protocol library gives up before
// writing anything.
//
// On the server's JSON error challenge the client answers 0x01 and records
// the rejection: sasl.FailureOf returns it as a *sasl.TokenError once the
// server has failed the exchange.
func NewClient(opts ClientOptions) sasl.Client {
	return newClient(opts)
}

func newClient(o ClientOptions) *client {
	c := &client{token: o.Token, host: o.Host, port: o.Port}
	switch {
	case !validName(o.Authzid):
		c.err = fmt.Errorf("%w: authzid holds a control character or invalid UTF-8", ErrInvalidInput)
	case o.Token == "":
		c.err = fmt.Errorf("%w: empty token", ErrInvalidInput)
	case !kvpairs.ValidToken(o.Token):
		c.err = fmt.Errorf("%w: token is not an RFC 6750 b64token", ErrInvalidInput)
	case !validHost(o.Host):
		c.err = fmt.Errorf("%w: host is not printable US-ASCII", ErrInvalidInput)
	case o.Port < 0 || o.Port > 65535:
		c.err = fmt.Errorf("%w: port out of range", ErrInvalidInput)
	}
	c.authzid = escapeSASLName(o.Authzid)
	return c
}

// validName reports whether an authorization identity is well-formed UTF-8
// without control characters. RFC 5801's saslname admits any UTF-8 but NUL;
// identities with control characters are refused on both sides as a matter
// of policy (they only ever serve to confuse logs and lookups).
func validName(s string) bool {
	return utf8.ValidString(s) && kvpairs.Printable(s)
}

// validHost reports whether host can be sent as host=: VCHAR only.
func validHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// escapeSASLName encodes "," as "=2C" and "=" as "=3D" (RFC 5801 saslname).
func escapeSASLName(s string) string {
	if !strings.ContainsAny(s, ",=") {
		return s
	}
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// Start returns the initial response
// n,a=AUTHZID,^Ahost=H^Aport=P^Aauth=Bearer T^A^A (a=, host= and port= only
// when set), built in one allocation. Calling Start again begins a new
// exchange.
func (c *client) Start() (string, []byte, error) {
	if c.err != nil {
		return Name, nil, c.err
	}
	n := len("n,,\x01auth=Bearer \x01\x01") + len(c.token)
	if c.authzid != "" {
		n += len("a=") + len(c.authzid)
	}
	if c.host != "" {
		n += len("host=\x01") + len(c.host)
	}
	if c.port != 0 {
		n += len("port=\x01") + 5
	}
	ir := make([]byte, 0, n)
	ir = append(ir, "n,"...)
	if c.authzid != "" {
		ir = append(ir, "a="...)
		ir = append(ir, c.authzid...)
	}
	ir = append(ir, ",\x01"...)
	if c.host != "" {
		ir = append(ir, "host="...)
		ir = append(ir, c.host...)
		ir = append(ir, kvpairs.Sep)
	}
	if c.port != 0 {
		ir = append(ir, "port="...)
		ir = strconv.AppendInt(ir, int64(c.port), 10)
		ir = append(ir, kvpairs.Sep)
	}
	ir = append(ir, "auth=Bearer "...)
	ir = append(ir, c.token...)
	ir = append(ir, kvpairs.Sep, kvpairs.Sep)
	c.Sent()
	return Name, ir, nil
}

// Next answers a challenge. OAUTHBEARER has one: the server's JSON error,
// answered with 0x01 (RFC 7628 §3.2.3) and recorded. A challenge that is not
// a JSON object, or any challenge after the error was answered, cancels the
// exchange with an error.
func (c *client) Next(challenge []byte) ([]byte, error) {
	if err := c.Take(Name, MaxChallenge, challenge); err != nil {
		return nil, err
	}
	return []byte{kvpairs.Sep}, nil
}

// Format prints the client without its token.
func (c *client) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("oauthbearer.Client{Authzid:%q Token:%s Host:%q Port:%d}",
		c.authzid, redact.Secret(c.token), c.host, c.port))
}
