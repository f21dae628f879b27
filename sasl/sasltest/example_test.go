package sasltest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// A test starts the server, registers a client, seeds a refresh token as if
// the user had consented, and lets golang.org/x/oauth2 refresh it. The mail
// server side checks the token with TokenVerifier.
func ExampleNewOAuthServer() {
	srv := sasltest.NewOAuthServer(nil) // Google profile, 1 h tokens
	defer srv.Close()
	if err := srv.AddClient(sasltest.OAuthClient{ID: "my-app", Secret: "app-secret"}); err != nil {
		panic(err)
	}
	refresh, err := srv.SeedRefreshToken("my-app", "alice@example.test", sasltest.GmailScope)
	if err != nil {
		panic(err)
	}

	conf := &oauth2.Config{ClientID: "my-app", ClientSecret: "app-secret", Endpoint: srv.Endpoint()}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.HTTPClient())
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.TokenType, "token; refreshes:", srv.Requests(sasltest.GrantRefreshToken))

	verifier := srv.TokenVerifier(sasltest.GmailScope)
	id, err := verifier.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "alice@example.test", Token: tok.AccessToken})
	fmt.Println(id.Username, err)
	_, err = verifier.VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "bob@example.test", Token: tok.AccessToken})
	fmt.Println(err)
	// Output:
	// Bearer token; refreshes: 1
	// alice@example.test <nil>
	// sasl: XOAUTH2 token rejected: status 400, schemes Bearer, scope https://mail.google.com/
}

// Faults are queued: here the token endpoint fails twice with 503 and then
// answers, and the counters show exactly how many requests arrived.
func ExampleOAuthServer_InjectFault() {
	srv := sasltest.NewOAuthServer(nil)
	defer srv.Close()
	_ = srv.AddClient(sasltest.OAuthClient{ID: "my-app", Secret: "app-secret"})
	refresh, _ := srv.SeedRefreshToken("my-app", "alice@example.test", sasltest.GmailScope)
	srv.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultStatus, Status: 503, Times: 2})

	conf := &oauth2.Config{ClientID: "my-app", ClientSecret: "app-secret", Endpoint: srv.Endpoint()}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.HTTPClient())
	for attempt := 1; ; attempt++ {
		_, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			fmt.Println("attempt", attempt, "status", re.Response.StatusCode)
			continue
		}
		fmt.Println("attempt", attempt, "error", err)
		break
	}
	fmt.Println("requests:", srv.Requests(sasltest.GrantRefreshToken), "issued:", srv.Issued(sasltest.GrantRefreshToken))
	// Output:
	// attempt 1 status 503
	// attempt 2 status 503
	// attempt 3 error <nil>
	// requests: 3 issued: 1
}

// With an injected clock a test moves time instead of sleeping. Under the
// Microsoft profile a rejected token fails without an error challenge, as
// Exchange Online does.
func ExampleOAuthServer_TokenVerifier() {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).Unix())
	srv := sasltest.NewOAuthServer(&sasltest.OAuthOptions{
		Profile: sasltest.OAuthMicrosoft,
		Clock:   func() time.Time { return time.Unix(now.Load(), 0) },
	})
	defer srv.Close()
	_ = srv.AddClient(sasltest.OAuthClient{ID: "my-app"})
	tok, _ := srv.IssueToken("my-app", "alice@contoso.test", sasltest.OutlookIMAPScope, "offline_access")
	verifier := srv.TokenVerifier(sasltest.OutlookIMAPScope)
	req := sasl.TokenRequest{Mechanism: "XOAUTH2", Username: "alice@contoso.test", Token: tok.AccessToken}

	_, err := verifier.VerifyToken(context.Background(), req)
	fmt.Println("at 09:00:", err)
	now.Add(int64(time.Hour / time.Second))
	_, err = verifier.VerifyToken(context.Background(), req)
	fmt.Println("at 10:00:", err, errors.Is(err, sasl.ErrAuthFailed))
	// Output:
	// at 09:00: <nil>
	// at 10:00: sasltest: XOAUTH2 token expired true
}

// Dovecot's oauth2 passdb (introspection_mode = post) asks the
// introspection endpoint about each token it receives.
func ExampleOAuthServer_IntrospectionURL() {
	srv := sasltest.NewOAuthServer(nil)
	defer srv.Close()
	_ = srv.AddClient(sasltest.OAuthClient{ID: "dovecot", Secret: "dovecot-secret"})
	tok, _ := srv.IssueToken("dovecot", "alice@example.test", "mail")

	resp, err := srv.HTTPClient().PostForm(srv.IntrospectionURL(), url.Values{
		"token": {tok.AccessToken}, "client_id": {"dovecot"}, "client_secret": {"dovecot-secret"},
	})
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Active   bool   `json:"active"`
		Username string `json:"username"`
		Scope    string `json:"scope"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	fmt.Println(answer.Active, answer.Username, answer.Scope)
	// Output:
	// true alice@example.test mail
}
