// Package login implements the LOGIN SASL mechanism
// (draft-murchison-sasl-login), client and server.
//
// LOGIN is obsolete and sends the password in the clear; it exists because
// some servers still offer nothing better. Prefer PLAIN, which Negotiate
// ranks above it. LOGIN carries no authorization identity.
//
// # Exchange
//
// The server asks for the username, then for the password, each with a
// challenge; the client answers each with the value alone.
//
// The client sends no initial response, the form every server accepts. It
// answers the first challenge with the username and the second with the
// password without looking at the challenges' text: servers send "Username:",
// "User Name\x00" (the draft's own example) or other prompts, and the draft
// tells clients to ignore them. A third challenge is a protocol error and
// Next fails, so that the protocol library cancels. go-sasl's LOGIN client is
// not used: it sends the username as an initial response and fails unless
// the second challenge is exactly "Password:".
//
// The server sends "Username:" and then "Password:". It also accepts the
// username as an initial response (as go-sasl's client sends it) and then
// asks only for the password; an empty initial response counts as none.
//
// # Server checks
//
// The username must be 1 to 255 octets (MaxUsernameLen) of valid UTF-8
// without NUL; the password 1 to 4096 octets (MaxPasswordLen) without NUL.
// The password is not required to be UTF-8, because older clients send it
// in their local character set; the verifier compares it as bytes. Faults
// are answered with a *sasl.MalformedError.
package login
