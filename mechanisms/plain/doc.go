// Package plain implements the PLAIN SASL mechanism (RFC 4616), client and
// server.
//
// PLAIN sends the password in the clear: use it only over TLS (Negotiate
// refuses it elsewhere unless the peer is loopback or the policy allows it).
//
// # Message
//
// The client sends one message, authzid NUL authcid NUL passwd. An empty
// authzid means "act as authcid" and is omitted, so the message starts with
// NUL.
//
// # Server parsing
//
// The server parses strictly and answers every fault with a
// *sasl.MalformedError: exactly two NUL separators; a non-empty
// authentication identity and password (so "admin\x00\x00pw" is rejected and
// never authenticates anybody as admin); every field valid UTF-8. RFC 4616 §2
// requires a server to accept fields of up to 255 octets; this package caps
// the two identities at exactly that (MaxIdentityLen) and the password at
// MaxPasswordLen (4096 octets), which leaves room for servers that accept an
// OAuth 2.0 access token in place of a password.
//
// An empty authzid is passed to the verifier as "". The verifier decides
// which authorization identity it grants: the Identity a conversation reports
// is the verifier's, with Username defaulting to the authcid it checked;
// Authzid is never filled in on the verifier's behalf.
//
// When the client sends no initial response the server sends an empty
// challenge and takes the message from the next response.
//
// # Why hand-written
//
// go-sasl's PLAIN client prints its password under %v and sends NULs inside
// a field, which shifts the fields the server sees; its server splits on
// every NUL, accepts empty or non-UTF-8 fields, and answers a second missing
// response with another challenge. This package writes both sides itself so that the rules above
// hold, and its tests check it against go-sasl's implementation byte for byte
// and, by differential fuzzing, verdict for verdict.
package plain
