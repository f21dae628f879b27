// Package scram implements the SCRAM SASL mechanisms, client and server:
// SCRAM-SHA-1 (RFC 5802), SCRAM-SHA-256 (RFC 7677), SCRAM-SHA-512
// (draft-melnikov-scram-sha-512) and their channel-binding forms
// SCRAM-SHA-1-PLUS, SCRAM-SHA-256-PLUS and SCRAM-SHA-512-PLUS.
//
// The cryptography and the message state machine are those of
// github.com/xdg-go/scram. This package adds what a mail client and server
// need around it: a strict parser that checks every message received from the
// network before xdg-go/scram sees it (so that, for example, a hostile server
// cannot make the client run PBKDF2 with an iteration count outside
// [Options.MinIterations, Options.MaxIterations] or a malformed salt), channel
// binding derived from a TLS connection, answers for unknown users that look
// exactly like those for known users, and the saslkit error and failure
// conventions.
//
// # Using it
//
// SHA1, SHA256, SHA512, SHA1Plus, SHA256Plus and SHA512Plus return
// sasl.Mechanism descriptors to register in a sasl.Registry; All returns all
// six. NewClient and NewServer create a client or a server conversation
// directly, without a registry. StoredCredentials computes the values a
// server stores for a user from the password.
//
// # Failure without desynchronisation
//
// A server that rejects the client's proof sends "e=…" as its final
// challenge. The client answers it with an empty response and a nil error,
// as the protocol requires, and records a *ServerError (wrapping
// sasl.ErrAuthFailed) that Client.Failure and sasl.FailureOf return. The
// client returns an error from Next only to cancel the exchange: on a
// malformed challenge (sasl.ErrMalformed), an iteration count outside the
// allowed range (ErrIterationCount), or a server signature that does not
// verify (sasl.ErrServerAuth). The client never reports success before the
// server signature has verified; Client.Verified tells whether it has.
//
// The server sends "v=…" as a challenge (not as additional data with the
// outcome, which go-smtp and go-imap would drop), expects the client's empty
// reply and only then reports done. After a failure challenge it reports the
// error, wrapping sasl.ErrAuthFailed, once the client has replied.
//
// # Channel binding
//
// The -PLUS forms bind the exchange to the TLS connection (RFC 5056), which
// defeats a man in the middle that terminates TLS with a certificate the
// client trusts. The binding type is chosen from Options.ChannelBindings, by
// default tls-exporter (RFC 9266) and then tls-server-end-point (RFC 5929
// §4.1):
//
//   - tls-exporter is available on TLS 1.3, and on TLS 1.2 only with the
//     extended master secret extension (crypto/tls refuses to export keying
//     material otherwise).
//   - tls-server-end-point hashes the server's certificate with SHA-256 when
//     it is signed with MD5 or SHA-1, with the signature's hash otherwise, and
//     is unavailable for signature algorithms without a single hash, such as
//     Ed25519. A server cannot read its own certificate from a
//     tls.ConnectionState, so it offers tls-server-end-point only when it
//     learns the certificate from sasl.ConnState.ChannelBinding or, the
//     older way, Options.ServerCertificate.
//   - tls-unique is never used: it is undefined on TLS 1.3 and weak on
//     TLS 1.2 (the triple-handshake attack).
//
// Where the TLS state cannot supply the binding data itself, it comes from
// sasl.ConnState.ChannelBinding: a ConnState rebuilt in another process (a
// plugin receives the host's tls-exporter value and the server's
// certificate) carries the exporter value and the server certificate, and a
// server's ConnState carries the certificate it presented. The live TLS
// state wins where it can supply a value, and carried values must agree
// with it and with Options.ServerCertificate. Data that does not (an
// exporter of the wrong length or one that differs from the live export, a
// certificate that differs from the peer's) makes NewClient and NewServer
// fail with an error wrapping sasl.ErrUnusable and
// sasl.ErrChannelBindingData, for the -PLUS forms and the others alike
// (the gs2 flag depends on it): it is never skipped in favour of another
// binding type or of no binding.
//
// A client running a mechanism without -PLUS on a connection where it could
// bind sends the gs2 flag "y" when the server's advertised list
// (sasl.ClientParams.Advertised) is known and lacks the -PLUS form, and "n"
// otherwise. A server that can bind assumes it offers the -PLUS forms, and
// rejects "y" as a downgrade; set Options.NoChannelBinding on a server that
// does not offer them.
//
// # Unknown users
//
// A server whose credential lookup reports sasl.ErrUnknownUser (or
// sasl.ErrAuthFailed, for an account that must not log in) answers the
// client-first message exactly as for a known user: with a salt derived
// deterministically from Options.FakeSaltKey and the username (so repeated
// attempts see the same salt) and Options.Iterations. The exchange fails at
// proof time with e=invalid-proof, and the error the server reports wraps
// both sasl.ErrAuthFailed and sasl.ErrUnknownUser, for the server's log.
//
// # Identities
//
// The client applies SASLprep (RFC 4013) to the username, password and
// authzid, as RFC 5802 requires; StoredCredentials applies it to the
// password. The server passes the username it received, with =2C and =3D
// decoded, to the credential lookup unchanged. Server.Identity reports the
// username and the requested authzid; whether the user may act as that
// authzid is for the application to decide.
//
// Clients and servers are not safe for concurrent use; a conversation runs
// one exchange. No value in this package prints a password or a key.
package scram
