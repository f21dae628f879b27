package anonymous_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/anonymous"
	"github.com/saslkit/saslkit/sasl"
)

// A server that admits anonymous clients and logs their trace.
func Example() {
	admit := sasl.AnonymousVerifierFunc(func(_ context.Context, trace string) error {
		fmt.Printf("anonymous login, trace %q\n", trace)
		return nil
	})
	_, ir, _ := anonymous.NewClient("fred@example.com").Start()
	s := anonymous.NewServer(context.Background(), admit)
	_, done, err := s.Next(ir)
	id, _ := s.Identity()
	fmt.Println(done, err, id.Username)
	// Output:
	// anonymous login, trace "fred@example.com"
	// true <nil> anonymous
}

// Without a verifier the server admits nobody.
func ExampleNewServer() {
	s := anonymous.NewServer(context.Background(), nil)
	_, _, err := s.Next([]byte{})
	fmt.Println(errors.Is(err, sasl.ErrNoVerifier))
	// Output:
	// true
}

// ANONYMOUS is off by default: a policy must allow it.
func ExampleMechanism() {
	r := sasl.NewRegistry()
	r.MustRegister(anonymous.Mechanism())
	n, err := r.Negotiate(context.Background(), []string{"ANONYMOUS"}, &sasl.Credentials{Trace: "sirhc"}, nil,
		&sasl.Policy{Allow: []string{"ANONYMOUS"}})
	fmt.Println(n.Mechanism.Name, err, n.Client)
	// Output:
	// ANONYMOUS <nil> anonymous.Client{Trace:"sirhc"}
}
