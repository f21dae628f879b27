package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
)

// A token endpoint for the examples: it answers the refresh_token grant
// like the Microsoft identity platform, rotating the refresh token.
func exampleEndpoint() *httptest.Server {
	var n atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("refresh_token") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"AADSTS9002313: Invalid request."}`)
			return
		}
		i := strconv.FormatInt(n.Add(1), 10)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"access-%s","refresh_token":"refresh-%s"}`, i, i)
	}))
}

// Keep a refresh token in a store, refresh through a Cache, and let the
// rotated refresh token be saved before the access token is used.
func ExampleNewRefreshFetcher() {
	srv := exampleEndpoint()
	defer srv.Close()
	ctx := context.Background()

	cfg := &oauth2.Config{
		ClientID: "00000000-aaaa-bbbb-cccc-000000000000",
		Endpoint: providers.MicrosoftEndpoint("contoso.onmicrosoft.com"),
		Scopes:   providers.MicrosoftMailScopes(),
	}
	cfg.Endpoint.TokenURL = srv.URL // for the example only

	store := providers.NewMemoryStore()
	// The first refresh token comes from an authorization flow.
	_ = store.Save(ctx, "alice@contoso.com", nil, &oauth2.Token{RefreshToken: "refresh-0"})

	f, err := providers.NewRefreshFetcher(cfg, store, "alice@contoso.com", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := providers.NewCache(f, nil) // a sasl.TokenSource
	tok, err := ts.Token(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	saved, _ := store.Load(ctx, "alice@contoso.com")
	fmt.Println("access token:", tok.AccessToken)
	fmt.Println("stored refresh token:", saved.RefreshToken)
	// Output:
	// access token: access-1
	// stored refresh token: refresh-1
}

// Write your own provider: implement Fetcher (one attempt, no caching, no
// retries) and wrap it with NewCache, which adds reuse, early refresh,
// single flight and retries.
func ExampleNewCache() {
	var fetches atomic.Int64
	f := providers.FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		n := fetches.Add(1)
		return &oauth2.Token{
			AccessToken: "token-" + strconv.FormatInt(n, 10),
			Expiry:      time.Now().Add(time.Hour),
		}, nil
	})
	c := providers.NewCache(f, &providers.CacheOptions{RefreshMargin: 5 * time.Minute})
	for range 3 {
		tok, _ := c.Token(context.Background())
		fmt.Println(tok.AccessToken)
	}
	fmt.Println("fetches:", fetches.Load())
	// Output:
	// token-1
	// token-1
	// token-1
	// fetches: 1
}

// A server rejected the token: drop it so the next call fetches another.
func ExampleCache_Invalidate() {
	var fetches atomic.Int64
	c := providers.NewCache(providers.FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "token-" + strconv.FormatInt(fetches.Add(1), 10), Expiry: time.Now().Add(time.Hour)}, nil
	}), nil)
	ctx := context.Background()
	rejected, _ := c.Token(ctx)
	c.Invalidate(rejected)
	fresh, _ := c.Token(ctx)
	c.Invalidate(rejected) // stale: the newer token stays
	again, _ := c.Token(ctx)
	fmt.Println(rejected.AccessToken, fresh.AccessToken, again.AccessToken)
	// Output: token-1 token-2 token-2
}

func ExampleStaticToken() {
	ts := providers.StaticToken("ya29.example")
	tok, _ := ts.Token(context.Background())
	fmt.Println(tok.Type(), tok.AccessToken)
	fmt.Println(ts) // never prints the token
	// Output:
	// Bearer ya29.example
	// providers.StaticSource{token=[REDACTED]}
}

func ExampleStatic() {
	ts := providers.Static(&oauth2.Token{AccessToken: "old", Expiry: time.Now().Add(-time.Minute)})
	_, err := ts.Token(context.Background())
	fmt.Println(errors.Is(err, providers.ErrTokenExpired))
	// Output: true
}

func ExampleFileStore() {
	dir, _ := os.MkdirTemp("", "tokens")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store := providers.NewFileStore(filepath.Join(dir, "saslkit"), nil)
	_ = store.Save(ctx, "bob@example.com", nil, &oauth2.Token{AccessToken: "a", RefreshToken: "r"})
	fi, _ := os.Stat(store.Path("bob@example.com"))
	di, _ := os.Stat(store.Dir())
	fmt.Println(fi.Mode().Perm(), di.Mode().Perm())

	// Writes are compare-and-swap on the refresh token.
	err := store.Save(ctx, "bob@example.com", &oauth2.Token{RefreshToken: "stale"}, &oauth2.Token{RefreshToken: "x"})
	fmt.Println(errors.Is(err, providers.ErrConflict))
	// Output:
	// -rw------- -rwx------
	// true
}

// Plug an x/oauth2 token source into saslkit.
func ExampleFromOAuth2() {
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "from-x-oauth2"})
	ts := providers.NewCache(providers.FromOAuth2(src), nil)
	tok, _ := ts.Token(context.Background())
	fmt.Println(tok.AccessToken)
	// Output: from-x-oauth2
}

// Hand a saslkit token source to code that wants an oauth2.TokenSource.
func ExampleToOAuth2() {
	ts := providers.ToOAuth2(providers.StaticToken("for-http"), func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 30*time.Second)
	})
	tok, _ := ts.Token()
	fmt.Println(tok.AccessToken)
	// Output: for-http
}

func ExampleMicrosoftEndpoint() {
	cfg := oauth2.Config{
		ClientID: "00000000-aaaa-bbbb-cccc-000000000000",
		Endpoint: providers.MicrosoftEndpoint("contoso.onmicrosoft.com"),
		Scopes:   providers.MicrosoftMailScopes(),
	}
	fmt.Println(cfg.Endpoint.TokenURL)
	fmt.Println(cfg.Scopes)
	// Output:
	// https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token
	// [https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access]
}

func ExampleGoogleEndpoint() {
	cfg := oauth2.Config{Endpoint: providers.GoogleEndpoint(), Scopes: providers.GoogleMailScopes()}
	fmt.Println(cfg.Endpoint.TokenURL, cfg.Scopes)
	// Output: https://oauth2.googleapis.com/token [https://mail.google.com/]
}

// invalid_grant means the user must authorize again; it is never retried.
func ExampleErrReauthRequired() {
	srv := exampleEndpoint()
	defer srv.Close()
	ctx := context.Background()
	store := providers.NewMemoryStore()
	_ = store.Save(ctx, "carol", nil, &oauth2.Token{RefreshToken: ""})
	cfg := &oauth2.Config{ClientID: "id", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}
	f, _ := providers.NewRefreshFetcher(cfg, store, "carol", nil)
	_, err := providers.NewCache(f, nil).Token(ctx)
	fmt.Println(errors.Is(err, providers.ErrReauthRequired))
	// Output: true
}
