package providers_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Obtaining a first refresh token on a machine without a browser: the
// device authorization grant. The user opens the verification URI on any
// device and enters the code; the program polls until approval. Here the
// test kit's server approves after one pending poll.
func ExampleDeviceFlow() {
	entra := sasltest.NewOAuthServer(&sasltest.OAuthOptions{
		Profile:                sasltest.OAuthMicrosoft,
		DeviceInterval:         time.Second,
		DeviceAutoApprove:      "alice@example.test",
		DeviceAutoApprovePolls: 1,
	})
	defer entra.Close()
	entra.AddUser("alice@example.test")
	_ = entra.AddClient(sasltest.OAuthClient{ID: "public-client"})

	conf := &oauth2.Config{
		ClientID: "public-client",
		Endpoint: entra.Endpoint(), // providers.MicrosoftEndpoint("organizations") in production
		Scopes:   []string{providers.ScopeOutlookIMAP, providers.ScopeOfflineAccess},
	}
	show := func(dc providers.DeviceCode) {
		// fmt.Printf("Open %s and enter %s\n", dc.VerificationURI, dc.UserCode)
		fmt.Println("code shown:", dc.UserCode != "")
	}
	progress := func(p providers.DeviceProgress) { fmt.Println("poll", p.Poll, p.Status) }
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tok, err := providers.DeviceFlow(ctx, conf, show, &providers.DeviceFlowOptions{Progress: progress})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("refresh token received:", tok.RefreshToken != "")
	// Output:
	// code shown: true
	// poll 1 authorization_pending
	// refresh token received: true
}
