// Package readme holds the Go code the repository's README shows, as
// Examples that the compiler checks on every build of the tests, so that
// the README cannot drift from the API. A test checks that every Go block
// of the README is the body of one of them, word for word.
//
// The Examples need real accounts (Gmail, a Google Workspace service
// account, a Microsoft 365 tenant), so they have no Output comment and are
// compiled, not run; the same calls run against the sasltest servers in
// the adapters' and providers' tests.
package readme
