// Package redisstore keeps OAuth tokens in Redis (or Valkey) so that a
// fleet of processes on many machines shares them and refreshes each
// account once.
//
// A Store is a providers.TokenStore: one Redis hash per account holds the
// access token, its expiry and the refresh token, written and read whole,
// so no reader ever sees an access token without the refresh token that
// goes with it. Every write is a compare-and-swap in a Lua script on a
// version number and on the refresh token the writer started from, so a
// late writer never overwrites a newer token.
//
// Refreshes are serialised by a lease: a key set with SET NX PX to a value
// naming its owner, renewed while its holder is alive, released by its
// owner only. A holder that dies stops renewing; the lease expires and the
// next worker takes over with the refresh token in the store, which the
// dead holder never replaced.
//
// A Fetcher (Store.NewFetcher) is a providers.Fetcher for one account
// built on providers.RefreshFetcher: it adopts a token another worker
// stored with one round trip, waits for the lease holder's result instead
// of refreshing, and refreshes under the lease otherwise. Store.TokenSource
// puts a providers.Cache in front, so a worker reads Redis only when its
// own token nears expiry. When Redis cannot be reached, FetcherOptions
// choose between failing with ErrUnavailable and refreshing locally.
//
// Keys follow the Redis Cluster rules: an account's keys share the hash
// tag {account}, so they live in one slot, and every script touches the
// keys of one account only. Errors are prefixed "redisstore: " and never
// hold a token; neither does the %v of any type in this package.
//
// docs/fleet.md describes the protocol, its failure modes and what it
// guarantees.
package redisstore
