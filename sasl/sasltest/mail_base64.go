package sasltest

import "encoding/base64"

// decodeSASLResponse decodes a SASL response or initial response as the
// mail protocols carry it (RFC 4954 §4, RFC 5034 §4, RFC 9051 §6.2.2),
// strictly: "=" and the empty line stand for an empty response; anything
// else must be canonical padded base64 of the standard alphabet, with no
// whitespace, no CR, no data after the padding and no stray bits in the
// last character. ok is false otherwise.
func decodeSASLResponse(s []byte) (b []byte, ok bool) {
	if len(s) == 0 || len(s) == 1 && s[0] == '=' {
		return []byte{}, true
	}
	if !canonicalBase64(s) {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(out, s)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// canonicalBase64 checks the shape of s: a multiple of four characters from
// the base64 alphabet, with at most two '=' and only at the end.
// (encoding/base64 alone would skip embedded CR and LF.)
func canonicalBase64(s []byte) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i, c := range s {
		switch {
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
