// Package oauthbearer implements OAUTHBEARER (RFC 7628), the standard OAuth
// 2.0 bearer-token SASL mechanism, client and server.
//
// The client's initial response is a GS2 header naming the authorization
// identity, then key/value pairs separated by ^A (the byte 0x01):
//
//	n,a=user@example.com,^Ahost=server.example.com^Aport=143^Aauth=Bearer <token>^A^A
//
// A server that rejects the token sends a JSON error challenge
// ({"status":"invalid_token","scope":…}); the client must answer it with the
// single byte 0x01 (RFC 7628 §3.2.3), and the server then fails the exchange.
//
// Both sides are written here rather than taken from go-sasl. go-sasl's
// client returns the JSON error from Next instead of answering it, which
// leaves go-imap v2 waiting in the middle of AUTHENTICATE; this client
// answers 0x01, returns no error and records the rejection as a
// *sasl.TokenError that sasl.FailureOf returns. go-sasl's server indexes the
// client's answer to the error challenge without checking its length, so an
// empty answer makes it panic; this server parses every message strictly
// (GS2 header, key/value grammar, host and port checked against the
// connection) and never panics on any input.
//
// Mechanism returns the descriptor a sasl.Registry uses; NewClient and
// NewServer build a conversation directly.
package oauthbearer
