// Package adaptertest is test support for saslkit's protocol adapters
// (adapters/imap, adapters/gosmtp, adapters/netsmtp). It is imported only
// by _test.go files.
//
// It holds what the adapter tests share:
//
//   - a sasltest mail server with Alice as its default user (NewServer),
//     and the profiles and TLS modes to run against (Profiles, Modes,
//     ForEach);
//   - token sources: one that fetches from the server's OAuth server and
//     can revoke what it issues (Issuer, TokenCreds), and a fixed one
//     (StaticCreds);
//   - a settable clock (Clock);
//   - readings of the server's transcripts (LastTranscript,
//     SMTPLinesPerAuth, IMAPLinesPerAuth);
//   - for hostile-server tests, a one-connection scripted listener
//     (Scripted, ReadLine, Bounded) and a SCRAM server-first message
//     (ServerFirst).
package adaptertest
