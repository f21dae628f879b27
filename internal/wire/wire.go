// Package wire holds the small grammar helpers that several protocol and
// mechanism parsers share.
package wire

import "encoding/base64"

// Base64 reports whether s has the shape of canonical padded base64 of the
// standard alphabet: a multiple of four characters, letters, digits, "+" and
// "/", with at most two "=" and only at the end. encoding/base64 alone
// skips embedded CR and LF, so mail protocols that must refuse them (RFC
// 4954 §4, RFC 5034 §4, RFC 9051 §6.2.2) check the shape first.
func Base64[T string | []byte](s T) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			if pad > 0 {
				return false
			}
		case c == '=':
			pad++
			if pad > 2 || i < len(s)-2 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// DecodeBase64 decodes s when it is canonical padded base64 (see Base64)
// whose last character carries no stray bits. ok is false otherwise. An
// empty s decodes to an empty, non-nil slice.
func DecodeBase64[T string | []byte](s T) (b []byte, ok bool) {
	if !Base64(s) {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(out, []byte(s))
	if err != nil {
		return nil, false
	}
	return out[:n], true
}
