// Package crammd5 implements the CRAM-MD5 SASL mechanism (RFC 2195), client
// and server.
//
// CRAM-MD5 does not send the password: the server sends a challenge, and the
// client answers with its username and HMAC-MD5(password, challenge) in
// lowercase hex. It is nevertheless weak: anyone who records an exchange can
// run an offline dictionary attack on the password, the server must store the
// password in the clear, and the server does not authenticate itself. It is
// therefore off by default in negotiation (sasl.OffByDefault,
// sasl.Dictionary) and ranked lowest among password mechanisms. Prefer SCRAM.
//
// go-sasl has no CRAM-MD5, so both sides are written here.
//
// # Server
//
// The challenge is an RFC 5322 msg-id, "<random.timestamp@hostname>": 64
// random bits in decimal, the Unix time, and the server's host name
// (ServerOptions.Hostname, else sasl.ConnState.Host, else "localhost"). The
// response must be "username SP digest" with the digest as exactly 32
// lowercase hex digits, as RFC 2195 specifies; the username runs to the last
// space, is 1 to 255 octets (MaxUsernameLen) of valid UTF-8 and has no NUL.
// The server fetches the secret with a sasl.SecretLookup and compares digests
// with hmac.Equal. An unknown user and a wrong password get the very same
// error, wrapping sasl.ErrAuthFailed. A client that sends an initial
// response breaks the mechanism (RFC 4954 §4 answers it with 501) and gets a
// *sasl.MalformedError.
package crammd5
