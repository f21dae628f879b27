package oauthbearer_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/oauthbearer"
	"github.com/saslkit/saslkit/sasl"
)

// The initial response of RFC 7628 §4.1's IMAP example.
func ExampleNewClient() {
	c := oauthbearer.NewClient(oauthbearer.ClientOptions{
		Authzid: "user@example.com",
		Token:   "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
		Host:    "server.example.com",
		Port:    143,
	})
	mech, ir, err := c.Start()
	if err != nil {
		panic(err)
	}
	fmt.Println(mech, base64.StdEncoding.EncodeToString(ir))
	// Output:
	// OAUTHBEARER bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB
}

// A server on imap.example.com:993 with a verifier, run against a client in
// memory as go-imap's or go-smtp's server loop would run it.
func ExampleNewServer() {
	verifier := sasl.TokenVerifierFunc(func(ctx context.Context, req sasl.TokenRequest) (sasl.Identity, error) {
		if req.Token == "good-token" {
			return sasl.Identity{Username: req.Username}, nil
		}
		return sasl.Identity{}, &sasl.TokenError{Status: "invalid_token"}
	})
	srv := oauthbearer.NewServer(context.Background(), verifier, &oauthbearer.ServerOptions{
		Host:  "imap.example.com",
		Port:  993,
		Scope: "https://mail.example.com/",
	})

	c := oauthbearer.NewClient(oauthbearer.ClientOptions{Authzid: "user@example.com", Token: "expired", Host: "imap.example.com", Port: 993})
	_, ir, _ := c.Start()
	challenge, done, err := srv.Next(ir)
	fmt.Printf("%s %v %v\n", challenge, done, err)
	resp, _ := c.Next(challenge)
	fmt.Printf("client answers %q\n", resp)
	_, done, err = srv.Next(resp)
	fmt.Println(done, err)
	// Output:
	// {"status":"invalid_token","scope":"https://mail.example.com/"} false <nil>
	// client answers "\x01"
	// true sasl: OAUTHBEARER token rejected: status invalid_token, scope https://mail.example.com/
}

// After the protocol library reports the failure, sasl.FailureOf tells why.
func Example_rejectedToken() {
	c := oauthbearer.NewClient(oauthbearer.ClientOptions{Authzid: "user@example.com", Token: "expired"})
	c.Start()
	// RFC 7628 §4.3's challenge, already base64-decoded by the protocol library.
	c.Next([]byte(`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`))

	var te *sasl.TokenError
	if errors.As(sasl.FailureOf(c), &te) {
		fmt.Println(te.Status, te.Scope, te.OpenIDConfiguration)
	}
	fmt.Println(errors.Is(sasl.FailureOf(c), sasl.ErrAuthFailed))
	// Output:
	// invalid_token example_scope https://example.com/.well-known/openid-configuration
	// true
}

// Register the mechanism; the registry fills host and port from the
// connection and fetches the token.
func ExampleMechanism() {
	reg := sasl.NewRegistry()
	reg.MustRegister(oauthbearer.Mechanism())
	m, _ := reg.Lookup("OAUTHBEARER")
	fmt.Println(m.Name, m.Strength, m.Standard)
	// Output:
	// OAUTHBEARER 50 RFC 7628
}
