// Package xoauth2 implements XOAUTH2, the OAuth 2.0 bearer-token SASL
// mechanism of Gmail and Microsoft 365 (Exchange Online), client and server.
//
// XOAUTH2 is not an RFC; the format is the one Google and Microsoft publish:
// the client's initial response is
//
//	"user=" {User} ^A "auth=Bearer " {Access Token} ^A ^A
//
// where ^A is the byte 0x01. A server that accepts the token ends the
// exchange with success. A server that rejects it either sends a base64 JSON
// challenge such as {"status":"401","schemes":"bearer","scope":"…"}, which
// the client must answer with an empty response before the server ends the
// exchange with a failure (Gmail), or fails at once (Exchange Online).
//
// go-sasl has no XOAUTH2, so this package writes both sides. The client
// answers the JSON challenge with an empty, non-nil response (go-smtp reads a
// nil one as "done", which would report a false success), returns no error
// (go-imap v2 would leave the command half-finished) and records the
// rejection as a *sasl.TokenError, which sasl.FailureOf returns. The server
// parses the initial response strictly, asks a sasl.TokenVerifier, and never
// panics on any input.
//
// Mechanism returns the descriptor a sasl.Registry uses; NewClient and
// NewServer build a conversation directly.
package xoauth2
