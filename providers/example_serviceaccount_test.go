package providers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// A backend reading many Google Workspace mailboxes through one service
// account with domain-wide delegation. Here the test kit's server stands in
// for Google, and the key file is made up on the spot; in production it is
// the JSON key downloaded from the Google Cloud console (os.ReadFile), and
// ServiceAccountOptions.TokenURL and HTTPClient stay unset.
func ExampleNewServiceAccount() {
	google := sasltest.NewOAuthServer(nil)
	defer google.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	google.AddUser("alice@example.test", "bob@example.test")
	_ = google.AddServiceAccount(sasltest.OAuthServiceAccount{
		Email: e2eSAEmail, PublicKey: &key.PublicKey, Delegation: true,
		Scopes: []string{providers.ScopeGmail}, // granted in the Admin console
	})
	jsonKey := serviceAccountKeyFile(key, google.TokenURL())

	sa, err := providers.NewServiceAccount(jsonKey, &providers.ServiceAccountOptions{
		MaxUsers:   50000, // tokens kept for at most this many mailboxes
		HTTPClient: google.HTTPClient(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, user := range []string{"alice@example.test", "bob@example.test"} {
		// sa.User(user) is a sasl.TokenSource: put it in
		// sasl.Credentials{Username: user, TokenSource: sa.User(user)}.
		tok, err := sa.User(user).Token(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(user, tok.Type())
	}
	fmt.Println("users cached:", sa.CachedUsers())
	// Output:
	// alice@example.test Bearer
	// bob@example.test Bearer
	// users cached: 2
}

// When the Workspace administrator has not granted domain-wide delegation
// for the account's client ID and scope, the token request fails with a
// *DelegationError that says what to fix.
func ExampleDelegationError() {
	google := sasltest.NewOAuthServer(nil)
	defer google.Close()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	google.AddUser("alice@example.test")
	_ = google.AddServiceAccount(sasltest.OAuthServiceAccount{Email: e2eSAEmail, PublicKey: &key.PublicKey}) // no delegation

	sa, _ := providers.NewServiceAccount(serviceAccountKeyFile(key, google.TokenURL()),
		&providers.ServiceAccountOptions{HTTPClient: google.HTTPClient()})
	_, err := sa.User("alice@example.test").Fetch(context.Background())
	var de *providers.DelegationError
	if errors.As(err, &de) {
		fmt.Println("grant domain-wide delegation to client", de.ClientID, "for", de.Scopes)
	}

	// A mail server's refusal of a delegated token is explained too.
	rejected := &sasl.TokenError{Mechanism: "XOAUTH2", Status: "400", Schemes: "Bearer", Scope: providers.ScopeGmail}
	fmt.Println(errors.Is(sa.User("alice@example.test").Diagnose(rejected), providers.ErrDelegationDenied))
	// Output:
	// grant domain-wide delegation to client 100000000000000000042 for [https://mail.google.com/]
	// true
}
