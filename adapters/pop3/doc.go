// Package pop3 is a POP3 client (RFC 1939) with CAPA (RFC 2449), STLS
// (RFC 2595) and SASL authentication (RFC 5034) through saslkit's
// registry: XOAUTH2 and OAUTHBEARER for Gmail and Exchange Online, SCRAM,
// PLAIN and the rest, chosen by policy, with the token refreshed and the
// exchange retried once when the server rejects a token.
//
// No POP3 module is available to this project, so the client is its own,
// small and strict:
//
//   - Dial (port 110, then STLS), DialTLS (POP3S, port 995) or NewClient
//     over a connection the caller opened; each reads the greeting.
//   - Capabilities sends CAPA; STLS discards what it returned before.
//   - Authenticate negotiates from CAPA's SASL list and authenticates;
//     Login is USER/PASS. The package-level Authenticate and
//     AuthenticateText do the same on a connection the caller manages.
//   - Stat, List, ListOne, UIDL, UIDLOne, Dele, Rset, Noop and Quit; Retr
//     and Top return a streaming, dot-unstuffed io.ReadCloser, and the
//     client refuses other commands (ErrBusy) until it is closed or read
//     to the end.
//   - Session runs a long-lived poller: each Poll is a session of its
//     own, with the token renewed before its deadline and the poll run
//     again once when the server ends the session.
//
// # Contexts
//
// Every method that talks to the server takes a context. Its deadline is
// set on the connection for the command, and its end closes the
// connection: a command cut short leaves the session in an unknown state,
// so the client is then unusable (ErrClosed). The context given to Retr or
// Top also bounds the reading of the message.
//
// # Errors
//
// Every error starts with "pop3: ". A -ERR answer is a *Error with the RFC
// 2449/3206 response code (AUTH, SYS/TEMP, SYS/PERM, IN-USE, LOGIN-DELAY)
// split off the text. Authentication failures are *adapters.AuthError
// values matching adapters.ErrRejected, ErrTemporary, ErrCancelled or
// ErrAlreadyAuthenticated, with the *Error as their cause. A server that
// breaks the protocol gives ErrProtocol, an oversized line ErrLineTooLong;
// both leave the client unusable. Server lines are bounded
// (Options.MaxLineLength), listings too (Options.MaxListLines).
//
// # Secrets
//
// Authenticate refuses mechanisms that reveal a secret (PLAIN, LOGIN,
// XOAUTH2, OAUTHBEARER, and USER/PASS) over a connection without verified
// TLS to a peer that is not loopback, before sending anything. The debug
// transcript (Options.DebugWriter) replaces AUTH initial responses, SASL
// challenges and responses and PASS arguments with "[REDACTED]", and no
// error holds a secret.
package pop3
