package xoauth2_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/xoauth2"
	"github.com/saslkit/saslkit/sasl"
)

// The initial response for Google's worked example, as IMAP and SMTP send
// it.
func ExampleNewClient() {
	c := xoauth2.NewClient("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	mech, ir, err := c.Start()
	if err != nil {
		panic(err)
	}
	fmt.Println(mech, base64.StdEncoding.EncodeToString(ir))
	// Output:
	// XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==
}

// A server that accepts one token, run against a client in memory, as
// go-imap's or go-smtp's server loop would run it.
func ExampleNewServer() {
	verifier := sasl.TokenVerifierFunc(func(ctx context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
		if req.Username == "someuser@example.com" && req.Token == "ya29.good" {
			return sasl.Identity{Username: req.Username}, nil
		}
		return sasl.Identity{}, &sasl.TokenError{Status: "401"}
	})
	srv := xoauth2.NewServer(context.Background(), verifier, xoauth2.GoogleServerOptions())

	_, ir, _ := xoauth2.NewClient("someuser@example.com", "ya29.good").Start()
	_, done, err := srv.Next(ir)
	id, ok := srv.Identity()
	fmt.Println(done, err, id.Username, ok)
	// Output:
	// true <nil> someuser@example.com true
}

// When the server rejects the token, the client answers its JSON challenge
// with an empty response, as the protocol requires, and records why: after
// the protocol library reports the failure, sasl.FailureOf returns it.
func Example_rejectedToken() {
	c := xoauth2.NewClient("someuser@example.com", "ya29.expired")
	c.Start()
	// Gmail's challenge, already base64-decoded by the protocol library.
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}` + "\n"))
	fmt.Printf("answer %q, error %v\n", resp, err)

	var te *sasl.TokenError
	if errors.As(sasl.FailureOf(c), &te) {
		fmt.Println("status:", te.Status)
		fmt.Println("scope:", te.Scope)
	}
	fmt.Println(sasl.FailureOf(c))
	// Output:
	// answer "", error <nil>
	// status: 401
	// scope: https://mail.google.com/
	// sasl: XOAUTH2 token rejected: status 401, schemes bearer mac, scope https://mail.google.com/
}

// Register the mechanism and let the registry fetch the token.
func ExampleMechanism() {
	reg := sasl.NewRegistry()
	reg.MustRegister(xoauth2.Mechanism())
	m, _ := reg.Lookup("xoauth2")
	fmt.Println(m.Name, m.Strength, m.Properties, m.Needs)
	// Output:
	// XOAUTH2 40 sends-secret token
}
