// Package sasltest provides servers for testing mail code that
// authenticates with SASL and OAuth 2.0, in the spirit of
// net/http/httptest: each runs in-process on a loopback listener, is
// started by a constructor and stopped by Close, and needs no account with
// any provider.
//
// OAuthServer is an OAuth 2.0 authorization server that behaves, where it
// matters to a mail client, like Google's and Microsoft's: the token
// endpoint serves the refresh_token, client_credentials, JWT bearer
// (Google service accounts), device authorization and authorization code
// (with PKCE) grants; it answers errors in each provider's documented
// shape; it offers RFC 7662 introspection for mail servers such as
// Dovecot; and it lets a test inject faults (5xx, 429 with Retry-After,
// slow answers, invalid_grant, HTML and non-JSON bodies) and count
// requests by grant. Its TokenVerifier checks bearer tokens in-process for
// the XOAUTH2 and OAUTHBEARER server mechanisms, rejecting them as Gmail
// or Exchange Online would.
//
// CheckMechanism and CheckTokenSource are conformance checks for third-party
// code: they run a sasl.Mechanism or a sasl.TokenSource through the contract
// every saslkit mechanism and provider keeps (success and rejection paths,
// hostile input, context cancellation, concurrency, no secret in any error
// or formatted value) and report each violation to a *testing.T.
// TLSConnStates supplies the two ends of a real TLS connection for
// mechanisms that bind to the channel.
//
// Every time-dependent decision uses the clock given in OAuthOptions, so
// tests advance a fake clock instead of sleeping. No value in this package
// prints a token or secret with fmt.
package sasltest
