package sasltest

// JSON Web Token parsing and signature verification for the assertions the
// OAuth server receives: Google service-account assertions (JWT bearer
// grant, RFC 7523 §2.1) and private_key_jwt client assertions (RFC 7523
// §2.2). The module carries no JWT library, and verifying RS256 and PS256 is
// a SHA-256 and one crypto/rsa call, so the parser is written here, strictly
// (compact serialization only, unpadded base64url, JSON objects, a size
// limit), and fuzzed (FuzzParseJWT).

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/saslkit/saslkit/internal/redact"
)

// maxJWTSize bounds an assertion; real ones are well under 4 KiB.
const maxJWTSize = 16 << 10

var (
	errJWTMalformed = errors.New("sasltest: malformed JWT")
	errJWTSignature = errors.New("sasltest: JWT signature does not verify")
	errJWTAlg       = errors.New("sasltest: JWT alg not accepted")
	errJWTKey       = errors.New("sasltest: JWT names another key")
)

// jwtHeader is the JOSE header fields the server looks at.
type jwtHeader struct {
	Alg     string `json:"alg"`
	Typ     string `json:"typ"`
	Kid     string `json:"kid"`
	X5t     string `json:"x5t"`
	X5tS256 string `json:"x5t#S256"`
	hasCrit bool
}

// jwtClaims is a JWT claims set.
type jwtClaims map[string]any

// jwtToken is a parsed, not yet verified, JWT.
type jwtToken struct {
	Header       jwtHeader
	Claims       jwtClaims
	signingInput string
	signature    []byte
}

// Format prints the token's header fields only: an assertion is a
// credential until it expires.
func (t *jwtToken) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.jwtToken{alg:%q kid:%q claims:%s}", t.Header.Alg, t.Header.Kid, redact.Placeholder))
}

// parseJWT parses a JWS compact serialization (RFC 7515 §7.1) whose payload
// is a JSON claims set (RFC 7519). It checks form only; verify the signature
// with verifyRS256 or verifyWithCertificate.
func parseJWT(s string) (*jwtToken, error) {
	if len(s) > maxJWTSize {
		return nil, errJWTMalformed
	}
	h, rest, ok := strings.Cut(s, ".")
	if !ok {
		return nil, errJWTMalformed
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") || h == "" || p == "" || sig == "" {
		return nil, errJWTMalformed
	}
	hb, err := b64url(h)
	if err != nil {
		return nil, errJWTMalformed
	}
	pb, err := b64url(p)
	if err != nil {
		return nil, errJWTMalformed
	}
	sb, err := b64url(sig)
	if err != nil {
		return nil, errJWTMalformed
	}
	t := &jwtToken{signingInput: s[:len(h)+1+len(p)], signature: sb}
	if err := decodeJSONObject(hb, &t.Header); err != nil {
		return nil, errJWTMalformed
	}
	var raw map[string]json.RawMessage
	if err := decodeJSONObject(hb, &raw); err != nil {
		return nil, errJWTMalformed
	}
	_, t.Header.hasCrit = raw["crit"]
	if t.Header.Alg == "" {
		return nil, errJWTMalformed
	}
	var claims map[string]any
	if err := decodeJSONObject(pb, &claims); err != nil || claims == nil {
		return nil, errJWTMalformed
	}
	t.Claims = claims
	return t, nil
}

// b64url decodes unpadded base64url strictly (RFC 7515 §2).
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// decodeJSONObject decodes exactly one JSON object from b into v, numbers
// as json.Number, and refuses trailing data.
func decodeJSONObject(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return errJWTMalformed
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errJWTMalformed
	}
	if _, err := d.Token(); err == nil {
		return errJWTMalformed
	}
	return nil
}

// verifyRS256 verifies an RS256 (or PS256) signature with pub. If kid is
// set and the header names a kid, they must match.
func (t *jwtToken) verifyRS256(pub *rsa.PublicKey, kid string) error {
	if pub == nil {
		return errJWTKey
	}
	if t.Header.hasCrit {
		// RFC 7515 §4.1.11: extensions we do not understand must fail.
		return errJWTMalformed
	}
	if kid != "" && t.Header.Kid != "" && t.Header.Kid != kid {
		return errJWTKey
	}
	sum := sha256.Sum256([]byte(t.signingInput))
	switch t.Header.Alg {
	case "RS256":
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], t.signature) != nil {
			return errJWTSignature
		}
	case "PS256":
		if rsa.VerifyPSS(pub, crypto.SHA256, sum[:], t.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) != nil {
			return errJWTSignature
		}
	default:
		// "none", HS256 and the rest: never accepted.
		return errJWTAlg
	}
	return nil
}

// verifyWithCertificate verifies the signature with the certificate's RSA
// key, after checking that the x5t (SHA-1) or x5t#S256 header is the
// certificate's thumbprint, as Microsoft's certificate credentials require.
func (t *jwtToken) verifyWithCertificate(cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errJWTKey
	}
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	switch {
	case t.Header.X5tS256 != "":
		if !thumbprintEqual(t.Header.X5tS256, s256[:]) {
			return errJWTKey
		}
	case t.Header.X5t != "":
		if !thumbprintEqual(t.Header.X5t, s1[:]) {
			return errJWTKey
		}
	default:
		return errJWTKey
	}
	return t.verifyRS256(pub, "")
}

// thumbprintEqual compares a base64url thumbprint with sum. Microsoft's
// documentation shows x5t padded and unpadded, so both are accepted.
func thumbprintEqual(h string, sum []byte) bool {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(b, sum) == 1
}

// string returns a string claim.
func (c jwtClaims) string(name string) (string, bool) {
	v, ok := c[name].(string)
	return v, ok
}

// time returns a NumericDate claim (RFC 7519 §2): seconds since the epoch,
// possibly fractional. Values outside a sane range are refused.
func (c jwtClaims) time(name string) (time.Time, bool) {
	n, ok := c[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	if i, err := n.Int64(); err == nil {
		if i < 0 || i > 1<<40 {
			return time.Time{}, false
		}
		return time.Unix(i, 0), true
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// hasAudience reports whether aud, a string or an array of strings (RFC
// 7519 §4.1.3), contains want.
func (c jwtClaims) hasAudience(want string) bool {
	switch v := c["aud"].(type) {
	case string:
		return v == want
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}
