package adapters_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// Authenticate drives one exchange; a protocol adapter supplies the
// exchange and maps the server's answer to an *AuthError.
func ExampleAuthenticate() {
	opts := &adapters.Options{Credentials: &sasl.Credentials{Username: "alice", Password: "secret"}}
	conn := &sasl.ConnState{Host: "localhost"} // loopback: a secret may travel without TLS
	_, err := adapters.Authenticate(context.Background(), opts, []string{"LOGIN", "PLAIN"}, conn,
		func(ctx context.Context, n *sasl.Negotiated) error {
			fmt.Println("trying", n.Mechanism.Name)
			return &adapters.AuthError{Protocol: "SMTP", Code: "535", Text: "5.7.8 Authentication failed", Kind: adapters.ErrRejected}
		})
	fmt.Println(errors.Is(err, adapters.ErrRejected))
	fmt.Println(err)
	// Output:
	// trying PLAIN
	// true
	// adapters: SMTP PLAIN authentication failed: credentials rejected [535] "5.7.8 Authentication failed"
}

// Sanitize keeps server text printable and short before it is shown.
func ExampleSanitize() {
	fmt.Printf("%q\n", adapters.Sanitize("5.7.8 bad\r\n\x1b[2Jcredentials"))
	// Output: "5.7.8 bad [2Jcredentials"
}
