// Package gosmtp authenticates go-smtp clients (github.com/emersion/go-smtp)
// with saslkit: it reads the mechanisms from the EHLO AUTH keyword,
// negotiates the strongest one the registry, the credentials and the policy
// allow, runs AUTH, maps the server's reply to the adapters error taxonomy,
// and, when the server rejects an OAuth token, authenticates once more with
// a fresh one.
//
// Authenticate works on a client the caller already has. DialTLS (implicit
// TLS, port 465) and DialStartTLS (port 587) connect, secure the connection
// and authenticate, bounded by the caller's context. Session is a sender
// that outlives its token: it reconnects with a fresh token before the
// deadline or after the server ends the session, and never sends a message
// twice.
//
// # Initial response and the line limit
//
// go-smtp always sends a mechanism's initial response inline, as
// "AUTH mech base64". XOAUTH2 and OAUTHBEARER thus take one round trip. When
// that line would be longer than Options.MaxLineLength (RFC 4954 §4: 12288
// octets by default), the adapter withholds the initial response and sends
// it as the answer to the server's first, empty 334 challenge.
//
// # Staying in step
//
// When a mechanism cancels, go-smtp sends "*" and reads the server's 501,
// so the connection stays usable; the result is an *adapters.AuthError
// matching adapters.ErrCancelled. A mechanism's empty response is always
// sent as an empty line, never as nil (which go-smtp would take for
// success).
//
// # Context
//
// go-smtp takes no context. Authenticate closes the client when ctx ends
// before authentication has finished.
package gosmtp
