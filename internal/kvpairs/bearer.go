package kvpairs

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Faults in an auth= value. Their text never quotes the value.
var (
	// ErrNoCredentials: the auth= value is empty. RFC 7628 §4.3 uses this
	// to ask the server which scope it needs.
	ErrNoCredentials = errors.New("no credentials in auth=")
	// ErrNotBearer: the auth= value uses a scheme other than Bearer.
	ErrNotBearer = errors.New("authorization scheme is not Bearer")
	// ErrBadToken: the credentials are not "Bearer" 1*SP b64token.
	ErrBadToken = errors.New("bearer token is not a b64token")
)

// BearerScheme is the scheme name clients send. Servers compare it without
// regard to case, as HTTP does.
const BearerScheme = "Bearer"

// ParseBearer parses an auth= value as RFC 6750 §2.1 Bearer credentials,
// "Bearer" 1*SP b64token, with the scheme name matched case-insensitively,
// and returns the token, a sub-slice of v.
func ParseBearer(v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, ErrNoCredentials
	}
	sp := bytes.IndexByte(v, ' ')
	scheme := v
	if sp >= 0 {
		scheme = v[:sp]
	}
	if !bytes.EqualFold(scheme, []byte(BearerScheme)) {
		return nil, ErrNotBearer
	}
	if sp < 0 {
		return nil, ErrBadToken
	}
	tok := v[sp:]
	for len(tok) > 0 && tok[0] == ' ' {
		tok = tok[1:]
	}
	if !ValidToken(tok) {
		return nil, ErrBadToken
	}
	return tok, nil
}

// ValidToken reports whether t is an RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// Every access token Google and Microsoft issue has this form (opaque
// "ya29." tokens and JWTs alike).
func ValidToken[T string | []byte](t T) bool {
	i := 0
	for i < len(t) && tokenChar(t[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(t) && t[i] == '=' {
		i++
	}
	return i == len(t)
}

// tokenTable[c] is 1 for every b64token character c: ALPHA, DIGIT and
// "-._~+/". A constant string is an immutable lookup table the compiler
// indexes without a bounds check. TestTokenTable checks it against the
// grammar.
const tokenTable = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00" +
	"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x01" +
	"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x01\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

func tokenChar(c byte) bool { return tokenTable[c] != 0 }

// Error is the JSON error object a server sends as its failure challenge.
type Error struct {
	// Status is the error code: "400"/"401" for XOAUTH2, an RFC 6750 code
	// such as "invalid_token" for OAUTHBEARER.
	Status string
	// Schemes lists the authorization schemes the server accepts.
	Schemes string
	// Scope is the scope the token needs.
	Scope string
	// OpenIDConfiguration is the discovery URL RFC 7628 §3.2.2 allows.
	OpenIDConfiguration string
}

// ErrNotJSON: a failure challenge is not a JSON object.
var ErrNotJSON = errors.New("challenge is not a JSON error object")

// flexString decodes a JSON string, or a number as its literal text (a
// server that writes "status":401), or null as "".
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9'):
		*f = flexString(b)
	case string(b) == "null":
	default:
		return ErrNotJSON
	}
	return nil
}

// ParseError decodes a failure challenge. It accepts a JSON object with any
// of the members status, schemes, scope and openid-configuration (others are
// ignored), followed by optional whitespace (Google's blob ends with a
// newline). Anything else is ErrNotJSON.
func ParseError(b []byte) (Error, error) {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Error{}, ErrNotJSON
	}
	var raw struct {
		Status              flexString `json:"status"`
		Schemes             flexString `json:"schemes"`
		Scope               flexString `json:"scope"`
		OpenIDConfiguration flexString `json:"openid-configuration"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Error{}, ErrNotJSON
	}
	return Error{
		Status:              string(raw.Status),
		Schemes:             string(raw.Schemes),
		Scope:               string(raw.Scope),
		OpenIDConfiguration: string(raw.OpenIDConfiguration),
	}, nil
}

// MarshalXOAUTH2 encodes e as XOAUTH2 servers do:
// {"status":…,"schemes":…,"scope":…}, always the three members, in this
// order.
func MarshalXOAUTH2(e Error) []byte {
	b := make([]byte, 0, 40+len(e.Status)+len(e.Schemes)+len(e.Scope))
	b = appendMember(append(b, '{'), "status", e.Status)
	b = appendMember(append(b, ','), "schemes", e.Schemes)
	b = appendMember(append(b, ','), "scope", e.Scope)
	return append(b, '}')
}

// MarshalOAuthBearer encodes e as RFC 7628 §3.2.2 describes: status, then
// schemes, scope and openid-configuration when they are set.
func MarshalOAuthBearer(e Error) []byte {
	b := make([]byte, 0, 72+len(e.Status)+len(e.Schemes)+len(e.Scope)+len(e.OpenIDConfiguration))
	b = appendMember(append(b, '{'), "status", e.Status)
	for _, m := range [...]struct{ k, v string }{{"schemes", e.Schemes}, {"scope", e.Scope}, {"openid-configuration", e.OpenIDConfiguration}} {
		if m.v != "" {
			b = appendMember(append(b, ','), m.k, m.v)
		}
	}
	return append(b, '}')
}

// The error object is written by hand rather than with encoding/json: it is
// four fixed string members, and skipping reflection keeps a server's
// failure path as cheap as its success path. TestMarshalMatchesEncodingJSON
// and FuzzMarshal hold it to encoding/json's output.
func appendMember(b []byte, key, value string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendString appends s as a JSON string (RFC 8259 §7): quotation mark,
// reverse solidus and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, as encoding/json does. "<", ">" and "&" are kept as they are (a
// scope is a URL).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
