// Package providers supplies OAuth 2.0 access tokens for XOAUTH2 and
// OAUTHBEARER: where tokens come from, how they are cached and refreshed,
// and where refresh tokens are kept.
//
// A provider is a Fetcher: it obtains a fresh token from its origin with one
// attempt, no caching and no retries. A Cache in front of a Fetcher
// (NewCache) turns it into a sasl.TokenSource fit for many goroutines and
// many processes: lock-free reads of a valid token, refresh ahead of expiry
// with jitter, one refresh in flight, waiters that can leave on their own
// context, and retries of transient failures with capped exponential
// backoff.
//
// Providers:
//
//   - Static and StaticToken: a fixed access token.
//   - RefreshFetcher: the refresh_token grant over any oauth2.Config,
//     keeping the refresh token in a TokenStore and persisting a rotated one
//     before the new access token is handed to anyone.
//   - NewServiceAccount: Google service accounts with domain-wide
//     delegation, one DelegatedUser per impersonated mailbox.
//   - NewClientCredentials: the client credentials grant (Microsoft 365
//     app-only access, MicrosoftAppOnly), with a secret or a certificate.
//   - NewExec: a helper command that prints a token.
//   - FromOAuth2 and ToOAuth2: bridges to and from golang.org/x/oauth2.
//
// AuthCodeFlow and DeviceFlow obtain the first refresh token interactively.
//
// Token stores (TokenStore): MemoryStore and FileStore, the latter with
// atomic writes and an advisory file lock so that processes sharing the
// files refresh once. Package providers/redisstore keeps them in Redis, with
// a lease per refresh, for fleets of machines.
//
// GoogleEndpoint, MicrosoftEndpoint and the Scope constants configure an
// oauth2.Config for Gmail and Microsoft 365 mail.
//
// Errors are prefixed "providers: ". ErrReauthRequired means the user must
// authorize again; ErrPersistFailed means a token could not be saved;
// *OAuthError carries the token endpoint's error code, description and
// HTTP status. No error, log record or formatted value holds a token or a
// secret.
package providers
