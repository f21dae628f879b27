package login_test

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/login"
	"github.com/saslkit/saslkit/sasl"
)

var verifier = sasl.PasswordVerifierFunc(func(_ context.Context, _, username, password string) (sasl.Identity, error) {
	if username != "tim" || subtle.ConstantTimeCompare([]byte(password), []byte("tanstaaftanstaaf")) != 1 {
		return sasl.Identity{}, sasl.ErrAuthFailed
	}
	return sasl.Identity{Username: username}, nil
})

// The server prompts for the username and the password; the client answers
// each prompt in turn.
func Example() {
	c := login.NewClient("tim", "tanstaaftanstaaf")
	s := login.NewServer(context.Background(), verifier)

	_, resp, _ := c.Start()
	fmt.Printf("initial response: %v\n", resp != nil)
	for {
		ch, done, err := s.Next(resp)
		if err != nil {
			fmt.Println(err)
			return
		}
		if done {
			break
		}
		resp, _ = c.Next(ch)
		fmt.Printf("S: %s C: %s\n", ch, resp)
	}
	id, _ := s.Identity()
	fmt.Println("authenticated:", id.Username)
	// Output:
	// initial response: false
	// S: Username: C: tim
	// S: Password: C: tanstaaftanstaaf
	// authenticated: tim
}

// The client ignores the challenges' text, so it also answers the draft's
// own prompts.
func ExampleNewClient() {
	c := login.NewClient("tim", "tanstaaftanstaaf")
	_, _, _ = c.Start()
	user, _ := c.Next([]byte("User Name\x00"))
	pass, _ := c.Next([]byte("Password\x00"))
	_, err := c.Next([]byte("Password\x00"))
	fmt.Printf("%s %s\n%v\n", user, pass, err)
	fmt.Println(c)
	// Output:
	// tim tanstaaftanstaaf
	// login: third challenge: sasl: unexpected server challenge
	// login.Client{Username:"tim" Password:[REDACTED]}
}

// The server also takes the username as an initial response.
func ExampleNewServer() {
	s := login.NewServer(context.Background(), verifier)
	ch, _, _ := s.Next([]byte("tim"))
	fmt.Printf("%s\n", ch)
	_, done, err := s.Next([]byte("tanstaaftanstaaf"))
	fmt.Println(done, err)
	// Output:
	// Password:
	// true <nil>
}

// The descriptor plugs LOGIN into a registry.
func ExampleMechanism() {
	r := sasl.NewRegistry()
	r.MustRegister(login.Mechanism())
	s, err := r.NewServer(context.Background(), "LOGIN", &sasl.Verifiers{Password: verifier}, nil)
	if err != nil {
		panic(err)
	}
	ch, _, _ := s.Next(nil)
	fmt.Printf("%s\n", ch)
	// Output:
	// Username:
}
