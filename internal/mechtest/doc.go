// Package mechtest is test support for saslkit's mechanism packages. It is
// imported only by _test.go files.
//
// It holds what the mechanism tests share:
//
//   - golden files and transcripts in testdata (ReadTranscript,
//     ReplayClient, ReplayServer, Golden, GoldenBase64);
//   - an in-memory exchange driver (Run, Drive) and checks on a server
//     conversation (Feed, AssertDone);
//   - go-smtp and go-imap v2 servers on the loopback interface that run a
//     sasl.ServerConversation per authentication (StartSMTP, StartIMAP);
//   - a token verifier over a fixed table (TokenTable);
//   - a secret-hygiene checker (Secrets) that looks for a secret in every
//     formatting of a value and every form of an error.
//
// Run and Secrets.Find report without a testing.TB, so that checks which
// collect violations of their own (such as sasltest's conformance checks)
// can use them too.
package mechtest
