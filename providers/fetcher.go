package providers

import (
	"context"

	"golang.org/x/oauth2"
)

// Fetcher obtains a fresh token from its origin: one attempt, no caching and
// no retries. Every provider in this package is a Fetcher; a Cache in front of
// it adds reuse, early refresh, single flight and retries.
//
// Fetch must be safe for concurrent use and must honour ctx.
type Fetcher interface {
	Fetch(ctx context.Context) (*oauth2.Token, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context) (*oauth2.Token, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context) (*oauth2.Token, error) { return f(ctx) }
