package redisstore_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/providers/redisstore"
)

// Share tokens across a fleet: every process builds the same few lines,
// and each account is refreshed once per expiry whatever the number of
// processes. It needs a Redis server, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{
		Addr:      "redis.internal:6380",
		Username:  "mailer",
		Password:  "from-your-secret-manager",
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	})
	defer client.Close()

	store, err := redisstore.New(client, &redisstore.Options{Prefix: "mailer"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	cfg := &oauth2.Config{
		ClientID: "00000000-aaaa-bbbb-cccc-000000000000",
		Endpoint: providers.MicrosoftEndpoint("contoso.onmicrosoft.com"),
		Scopes:   providers.MicrosoftMailScopes(),
	}
	// A sasl.TokenSource: Redis is read only when the cached token nears
	// expiry, and refreshed under a lease by one process of the fleet.
	ts, err := store.TokenSource(cfg, "alice@contoso.com", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	_ = tok // hand ts to an adapter, or use tok for XOAUTH2
}

// The keys of an account share the hash tag {account}, so that Redis
// Cluster keeps them in one slot; the prefix separates applications.
func ExampleStore_Keys() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()
	store, err := redisstore.New(client, &redisstore.Options{Prefix: "mailer"})
	if err != nil {
		fmt.Println(err)
		return
	}
	token, lease := store.Keys("alice@contoso.com")
	fmt.Println(token)
	fmt.Println(lease)
	fmt.Println(store)
	// Output:
	// mailer:{alice@contoso.com}:token
	// mailer:{alice@contoso.com}:lease
	// redisstore.Store{prefix="mailer" lease_ttl=10s}
}

// Choose what a worker does when it cannot reach Redis and its token has
// expired.
func ExampleFetcherOptions() {
	opts := &redisstore.FetcherOptions{
		// Refresh alone with the newest refresh token this process knows
		// and store the result once Redis answers again. Safe with
		// providers whose refresh tokens survive a refresh; see
		// FallbackLocal for the risk with one-time refresh tokens.
		OnUnavailable: redisstore.FallbackLocal,
	}
	fmt.Println(opts.OnUnavailable, redisstore.FailClosed)
	// Output: fallback-local fail-closed
}
