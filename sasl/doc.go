// Package sasl is the vocabulary of saslkit: SASL clients and servers, the
// Mechanism descriptor, the Registry that holds mechanisms, Credentials and
// connection facts, the TokenSource interface for OAuth 2.0 mechanisms, and
// Negotiate, which picks the strongest mechanism a server offers under a
// security Policy.
//
// # Clients and servers
//
// Client and Server are aliases of github.com/emersion/go-sasl's interfaces,
// so every saslkit mechanism plugs into go-imap, go-smtp and any other library
// built on go-sasl without a shim.
//
// go-sasl's interfaces take no context. saslkit therefore does all I/O a
// client needs (fetching an OAuth 2.0 access token) in Registry.NewClient and
// Registry.Negotiate, with the caller's context, before the client is handed
// to a protocol library. A mechanism client holds values only.
//
// A server conversation is created per authentication attempt by
// Registry.NewServer with a context. That context is request-scoped, like
// http.Request's: it bounds every verifier call (password check, credential
// lookup, token introspection) made while the conversation runs, and it
// should be the connection's or the command's context, never a long-lived one.
//
// # Failure without desynchronisation
//
// When a server rejects a token (XOAUTH2 and OAUTHBEARER send a JSON error
// challenge) or a SCRAM server sends "e=…", the protocol requires the client to
// answer before the server ends the exchange. saslkit's clients therefore
// answer such a challenge with the response the mechanism prescribes and a nil
// error, and record the typed error; FailureOf returns it once the server has
// sent its final answer. A client returns an error from Next only when the
// exchange must be cancelled (a malformed challenge, a server that failed
// mutual authentication): protocol adapters then send the protocol's cancel.
//
// # Secrets
//
// No type in saslkit prints a password, token or key: Credentials and every
// client and server implement fmt.Formatter and print a redacted
// description, and no error string carries a secret.
package sasl
