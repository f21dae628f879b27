// Package external implements the EXTERNAL SASL mechanism (RFC 4422
// Appendix A), client and server.
//
// With EXTERNAL the client authenticates by means outside SASL, typically a
// TLS client certificate, and the exchange only carries the authorization
// identity the client asks to act as, or nothing to act as the identity the
// transport established.
//
// # Client
//
// The initial response is the authorization identity. An empty one is sent
// as an empty, non-nil response, which protocol adapters send as "=" (SMTP,
// POP3, IMAP with SASL-IR) or as an empty line after the server's empty
// challenge. The client wraps go-sasl's EXTERNAL client and checks the
// identity first: it must be valid UTF-8 without NUL (RFC 4422 A.1).
//
// # Server
//
// The server takes the authorization identity from the initial response, or
// sends an empty challenge and takes it from the response. It must be at
// most 255 octets (MaxAuthzidLen) of valid UTF-8 without NUL; a fault gets a
// *sasl.MalformedError. The server then calls the sasl.ExternalVerifier with
// the identity and the connection facts; the verifier maps the transport's
// identity (for example conn.TLS.PeerCertificates) to a user and decides
// whether that user may act as the requested authzid. The Identity the
// conversation reports is the verifier's; it must name a Username.
//
// go-sasl's EXTERNAL server is not used: it takes no context and no
// connection facts, reports a NUL in the identity without ending the
// exchange, and does not check UTF-8 or length.
package external
