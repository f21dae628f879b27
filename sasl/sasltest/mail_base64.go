package sasltest

import "github.com/saslkit/saslkit/internal/wire"

// decodeSASLResponse decodes a SASL response or initial response as the
// mail protocols carry it (RFC 4954 §4, RFC 5034 §4, RFC 9051 §6.2.2),
// strictly: "=" and the empty line stand for an empty response; anything
// else must be canonical padded base64 of the standard alphabet, with no
// whitespace, no CR, no data after the padding and no stray bits in the
// last character. ok is false otherwise.
func decodeSASLResponse(s []byte) (b []byte, ok bool) {
	if len(s) == 1 && s[0] == '=' {
		return []byte{}, true
	}
	return wire.DecodeBase64(s)
}
