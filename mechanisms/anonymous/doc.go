// Package anonymous implements the ANONYMOUS SASL mechanism (RFC 4505),
// client and server.
//
// ANONYMOUS authenticates nobody: the client sends optional trace
// information (an email address or an opaque token) that the server may log,
// and the server admits or refuses anonymous access. It is off by default in
// negotiation (sasl.Anonymous, sasl.OffByDefault).
//
// # Trace
//
// Both sides check the trace the same way: valid UTF-8, at most 255
// characters (MaxTraceChars, RFC 4505 §2's limit on a token, here applied to
// the email form as well, which keeps the message within 1020 octets), and no
// control characters, which the "trace" stringprep profile prohibits (RFC
// 4505 §3). The full profile is not applied: the trace has no meaning to the
// mechanism and reaches only the verifier. An empty trace is allowed. The
// client refuses a bad trace in Start; the server answers it with a
// *sasl.MalformedError.
//
// # Server
//
// The server takes the trace from the initial response, or sends an empty
// challenge and takes it from the response, and asks the
// sasl.AnonymousVerifier whether to admit the client. Without a verifier the
// server admits nobody: Mechanism's factory fails with sasl.ErrNoVerifier,
// and a conversation made by NewServer with a nil verifier fails its first
// Next with an error wrapping sasl.ErrNoVerifier. An admitted client's
// Identity has Username "anonymous" and no Authzid.
//
// The client wraps go-sasl's ANONYMOUS client; the server is written here
// because go-sasl's takes no context, reports no identity and checks nothing.
package anonymous
