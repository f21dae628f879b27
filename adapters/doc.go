// Package adapters holds what saslkit's protocol adapters share: the error
// taxonomy callers branch on, and the driver that negotiates a mechanism,
// runs one protocol exchange and, when the server rejects an OAuth token,
// invalidates it and authenticates once more with a fresh one.
//
// The protocol packages build on it:
//
//	adapters/imap     go-imap v2's imapclient
//	adapters/gosmtp   go-smtp's client
//	adapters/netsmtp  the standard library's net/smtp (a net/smtp.Auth)
//	adapters/pop3     saslkit's own POP3 client
//
// # Errors
//
// Every failure an adapter reports after the server answered is an
// *AuthError. It matches one of the sentinels with errors.Is:
//
//	ErrRejected              the server refused the credentials (IMAP NO [AUTHENTICATIONFAILED], SMTP 535, POP3 -ERR [AUTH])
//	ErrTemporary             try again later (SMTP 454, IMAP [UNAVAILABLE], POP3 [SYS/TEMP])
//	ErrTLSRequired           the server wants TLS or a stronger mechanism (SMTP 530/534/538, IMAP [PRIVACYREQUIRED])
//	ErrCancelled             the client cancelled the exchange (malformed challenge, server failed mutual authentication)
//	ErrAlreadyAuthenticated  a second authentication on a connection that is already authenticated
//
// It also wraps the mechanism's recorded failure (sasl.FailureOf: a
// *sasl.TokenError with the OAuth status and scope for XOAUTH2 and
// OAUTHBEARER) and the protocol library's own error. Server text is
// untrusted: AuthError keeps it only after Sanitize.
//
// Failures before anything was sent come from negotiation: sasl.ErrNoMechanism
// (inside a *sasl.NegotiationError), and sasl.ErrInsecureTransport when a
// mechanism would reveal a secret over a connection without verified TLS.
//
// # Token rejection
//
// Authenticate retries exactly once, on the same connection, when the chosen
// mechanism carries a token, the server rejected it (ErrRejected, with or
// without a JSON error challenge: Microsoft 365 sends none) and the token
// source can invalidate the token (sasl.TokenInvalidator, as providers.Cache
// does). A second rejection is returned; it never loops.
//
// # Sessions
//
// A session authenticated with a token lives about as long as the token.
// Deadline tells when to re-dial and authenticate again with a fresh token.
package adapters
