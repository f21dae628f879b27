package providers_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Obtaining a user's first refresh token from a command-line program: the
// authorization code flow with PKCE and a loopback redirect. A real
// program prints the URL or opens a browser in openURL; here an HTTP
// client plays the browser against the test kit's server, which approves
// at once.
func ExampleAuthCodeFlow() {
	google := sasltest.NewOAuthServer(nil)
	defer google.Close()
	google.AddUser("alice@example.test")
	_ = google.AddClient(sasltest.OAuthClient{ID: "desktop-app", Secret: "desktop-secret", LoopbackRedirect: true})

	conf := &oauth2.Config{
		ClientID:     "desktop-app",
		ClientSecret: "desktop-secret",  // Google's "installed app" secret is not confidential
		Endpoint:     google.Endpoint(), // providers.GoogleEndpoint() in production
		Scopes:       []string{providers.ScopeGmail},
	}
	openURL := func(authURL string) {
		// fmt.Println("Open this URL in your browser:", authURL)
		go func() {
			if resp, err := http.Get(authURL); err == nil {
				resp.Body.Close()
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tok, err := providers.AuthCodeFlow(ctx, conf, openURL, &providers.AuthCodeOptions{
		AuthURLOptions: []oauth2.AuthCodeOption{oauth2.AccessTypeOffline},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Store tok (its refresh token) in a TokenStore for RefreshFetcher.
	fmt.Println("refresh token received:", tok.RefreshToken != "")
	// Output:
	// refresh token received: true
}
