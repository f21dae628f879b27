// Package adaptertest is test support for saslkit's protocol adapters
// (adapters/imap, adapters/gosmtp, adapters/netsmtp). It is imported only
// by _test.go files.
//
// It holds what the adapter tests share: a sasltest mail server with a
// default user (NewServer), a token source that fetches from the server's
// OAuth server and can revoke what it issues (Issuer, TokenCreds), a
// settable clock (Clock), and readings of the server's transcripts
// (LastTranscript, SMTPLinesPerAuth, IMAPLinesPerAuth).
package adaptertest
