// Package imap authenticates go-imap v2 clients (imapclient) with saslkit:
// it reads the server's CAPABILITY (AUTH=…, SASL-IR), negotiates the
// strongest mechanism the registry, the credentials and the policy allow,
// runs AUTHENTICATE, maps the server's answer to the adapters error taxonomy
// and, when the server rejects an OAuth token, authenticates once more with
// a fresh one.
//
// Authenticate works on a client the caller already has. DialTLS (implicit
// TLS, port 993) and DialStartTLS (port 143) connect, secure the connection
// and authenticate, all bounded by the caller's context. Session keeps a
// connection alive past its token's lifetime by reconnecting with a fresh
// token.
//
// # Staying in step with the server
//
// imapclient sends nothing when a SASL client's Next returns an error: the
// server still waits for a response line, and the next command would be
// read as one. Authenticate therefore never lets Next fail. When the
// mechanism cancels (a malformed challenge, a SCRAM server whose signature
// does not verify), it answers the challenge with an empty response and
// remembers why; the server then fails the exchange (the mechanisms make
// sure an empty response cannot succeed, except as the final acknowledgement
// of SCRAM) and the connection stays usable. The result is an
// *adapters.AuthError matching adapters.ErrCancelled. In the one case where
// the server answers OK anyway (a SCRAM server that failed to prove itself)
// the client is closed: it is logged in to a server that is not trusted.
//
// When imapclient itself gives up in the middle of the exchange (a challenge
// that is not base64, a connection closed by the server), the command has
// not completed and the connection's state is unknown, so the client is
// closed as well.
//
// # Context
//
// imapclient takes no context. Authenticate closes the client when ctx ends
// before authentication has finished; the dial helpers bound the dial, the
// TLS handshake and authentication with ctx the same way.
package imap
