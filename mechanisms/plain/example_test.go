package plain_test

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/plain"
	"github.com/saslkit/saslkit/sasl"
)

// verifier accepts one user. A real one looks the user up and compares in
// constant time, as here.
var verifier = sasl.PasswordVerifierFunc(func(_ context.Context, authzid, username, password string) (sasl.Identity, error) {
	if username != "tim" || subtle.ConstantTimeCompare([]byte(password), []byte("tanstaaftanstaaf")) != 1 {
		return sasl.Identity{}, sasl.ErrAuthFailed
	}
	if authzid != "" {
		return sasl.Identity{}, fmt.Errorf("tim may act only as tim: %w", sasl.ErrAuthFailed)
	}
	return sasl.Identity{Username: username}, nil
})

// A client and a server exchange the single PLAIN message in memory.
func Example() {
	c := plain.NewClient("", "tim", "tanstaaftanstaaf")
	mech, ir, err := c.Start()
	if err != nil {
		panic(err)
	}
	fmt.Println(mech, base64.StdEncoding.EncodeToString(ir))

	s := plain.NewServer(context.Background(), verifier)
	_, done, err := s.Next(ir)
	id, _ := s.Identity()
	fmt.Println(done, err, id.Username)
	// Output:
	// PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm
	// true <nil> tim
}

// Without an initial response the server first sends an empty challenge.
func ExampleNewServer() {
	s := plain.NewServer(context.Background(), verifier)
	ch, done, _ := s.Next(nil)
	fmt.Printf("challenge %q, done %v\n", ch, done)

	_, _, err := s.Next([]byte("\x00tim\x00wrong"))
	fmt.Println(errors.Is(err, sasl.ErrAuthFailed))

	_, _, err = s.Next([]byte("\x00tim\x00tanstaaftanstaaf"))
	fmt.Println(errors.Is(err, sasl.ErrDone))
	// Output:
	// challenge "", done false
	// true
	// true
}

// The server rejects a message with an empty authentication identity, so
// "admin\x00\x00pw" never authenticates anybody as admin.
func ExampleNewServer_malformed() {
	s := plain.NewServer(context.Background(), verifier)
	_, _, err := s.Next([]byte("admin\x00\x00pw"))
	var me *sasl.MalformedError
	fmt.Println(errors.As(err, &me), me.Reason)
	// Output:
	// true empty authentication identity
}

// The descriptor plugs PLAIN into a registry for negotiation and for
// servers.
func ExampleMechanism() {
	r := sasl.NewRegistry()
	r.MustRegister(plain.Mechanism())

	ctx := context.Background()
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}
	// PLAIN sends the password in the clear: without verified TLS it is
	// allowed only to a loopback peer.
	n, err := r.Negotiate(ctx, []string{"PLAIN"}, creds, &sasl.ConnState{Host: "localhost"}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(n.Mechanism.Name, n.Client)

	_, err = r.Negotiate(ctx, []string{"PLAIN"}, creds, &sasl.ConnState{Host: "mail.example.com"}, nil)
	fmt.Println(errors.Is(err, sasl.ErrInsecureTransport))
	// Output:
	// PLAIN plain.Client{Authzid:"" Username:"tim" Password:[REDACTED]}
	// true
}
