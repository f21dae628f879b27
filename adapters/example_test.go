package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/oauth2"

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

// RedactWriter keeps debug transcripts free of credentials.
func ExampleRedactWriter() {
	w := adapters.RedactWriter(os.Stdout) // keeps each line's ending
	fmt.Fprint(w, "EHLO client\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\n235 2.7.0 Accepted\n")
	fmt.Fprint(w, "AUTH LOGIN\n334 VXNlcm5hbWU6\nYWxpY2U=\n334 UGFzc3dvcmQ6\nc2VjcmV0\n235 2.7.0 Accepted\n")
	// Output:
	// EHLO client
	// AUTH PLAIN [REDACTED]
	// 235 2.7.0 Accepted
	// AUTH LOGIN
	// 334 VXNlcm5hbWU6
	// [REDACTED]
	// 334 UGFzc3dvcmQ6
	// [REDACTED]
	// 235 2.7.0 Accepted
}

// Deadline tells a long-running client when to reconnect: here five
// minutes before the token it authenticated with expires.
func ExampleDeadline() {
	expiry := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	opts := &adapters.Options{Credentials: &sasl.Credentials{
		Username:    "alice@example.test",
		TokenSource: fixedToken{&oauth2.Token{AccessToken: "ya29.example", Expiry: expiry}},
	}}
	n, err := adapters.Authenticate(context.Background(), opts, []string{"XOAUTH2"}, &sasl.ConnState{Host: "localhost"},
		func(context.Context, *sasl.Negotiated) error { return nil })
	if err != nil {
		panic(err)
	}
	d, ok := adapters.Deadline(n, 5*time.Minute)
	fmt.Println(d.Format(time.TimeOnly), ok)
	// Output: 11:55:00 true
}

type fixedToken struct{ tok *oauth2.Token }

func (f fixedToken) Token(context.Context) (*oauth2.Token, error) { return f.tok, nil }
