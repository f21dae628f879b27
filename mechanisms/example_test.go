package mechanisms_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

// Builtin returns a registry with every built-in mechanism, strongest first.
func ExampleBuiltin() {
	reg := mechanisms.Builtin()
	for _, m := range reg.Mechanisms() {
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%-18s %d %s", m.Name, m.Strength, m.Properties)))
	}
	// Output:
	// EXTERNAL           80
	// SCRAM-SHA-512-PLUS 74 channel-binding,mutual-auth
	// SCRAM-SHA-256-PLUS 72 channel-binding,mutual-auth
	// SCRAM-SHA-1-PLUS   70 channel-binding,mutual-auth
	// SCRAM-SHA-512      64 mutual-auth
	// SCRAM-SHA-256      62 mutual-auth
	// SCRAM-SHA-1        60 mutual-auth
	// OAUTHBEARER        50 sends-secret
	// XOAUTH2            40 sends-secret
	// PLAIN              30 sends-secret
	// LOGIN              20 sends-secret
	// CRAM-MD5           10 off-by-default,dictionary
	// ANONYMOUS          0 anonymous,off-by-default
}

// Negotiate against Gmail's advertised list with an OAuth token: OAUTHBEARER
// is chosen; the initial response carries the token in one round trip.
func ExampleBuiltin_negotiate() {
	reg := mechanisms.Builtin()
	gmail := []string{"XOAUTH2", "OAUTHBEARER", "PLAIN", "PLAIN-CLIENTTOKEN", "XOAUTH"}
	creds := &sasl.Credentials{Username: "someone@gmail.com", TokenSource: tokenSource{"ya29.example"}}
	// A loopback peer stands in for a verified TLS connection here.
	conn := &sasl.ConnState{Host: "localhost", Port: 993}

	n, err := reg.Negotiate(context.Background(), gmail, creds, conn, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	mech, ir, _ := n.Client.Start()
	fmt.Println(mech, len(ir) > 0)
	fmt.Println(n.Reason())
	// Output:
	// OAUTHBEARER true
	// OAUTHBEARER chosen; not usable: PLAIN (no password), PLAIN-CLIENTTOKEN (mechanism not registered), XOAUTH (mechanism not registered)
}
