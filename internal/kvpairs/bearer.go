package kvpairs

import (
	"bytes"
	"encoding/json"
	"errors"
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

// tokenMask has bit c set for every b64token character c below 128:
// ALPHA, DIGIT and "-._~+/". TestTokenMask checks it against the grammar.
const (
	tokenMaskLo uint64 = 0x03ffe80000000000
	tokenMaskHi uint64 = 0x47fffffe87fffffe
)

func tokenChar(c byte) bool {
	switch {
	case c < 64:
		return tokenMaskLo&(1<<c) != 0
	case c < 128:
		return tokenMaskHi&(1<<(c-64)) != 0
	}
	return false
}

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

// xoauth2JSON is Google's and Microsoft's XOAUTH2 error object: always the
// three members, in this order.
type xoauth2JSON struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

// oauthBearerJSON is RFC 7628 §3.2.2's error object: status is required,
// the others are sent when set.
type oauthBearerJSON struct {
	Status              string `json:"status"`
	Schemes             string `json:"schemes,omitempty"`
	Scope               string `json:"scope,omitempty"`
	OpenIDConfiguration string `json:"openid-configuration,omitempty"`
}

// MarshalXOAUTH2 encodes e as XOAUTH2 servers do:
// {"status":…,"schemes":…,"scope":…}.
func MarshalXOAUTH2(e Error) []byte {
	return marshal(xoauth2JSON{Status: e.Status, Schemes: e.Schemes, Scope: e.Scope})
}

// MarshalOAuthBearer encodes e as RFC 7628 §3.2.2 describes: status, then
// schemes, scope and openid-configuration when they are set.
func MarshalOAuthBearer(e Error) []byte {
	return marshal(oauthBearerJSON(e))
}

func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// A scope is a URL; keep "&" as it is rather than \u0026.
	enc.SetEscapeHTML(false)
	// Encoding a struct of strings cannot fail.
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
