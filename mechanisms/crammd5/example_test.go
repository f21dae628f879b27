package crammd5_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/saslkit/saslkit/mechanisms/crammd5"
	"github.com/saslkit/saslkit/sasl"
)

var lookup = sasl.SecretLookupFunc(func(_ context.Context, username string) (string, error) {
	if username != "tim" {
		return "", fmt.Errorf("%q: %w", username, sasl.ErrUnknownUser)
	}
	return "tanstaaftanstaaf", nil
})

// The RFC 2195 exchange, with the server's random number and clock fixed to
// reproduce the RFC's challenge.
func Example() {
	opts := &crammd5.ServerOptions{
		Hostname: "postoffice.reston.mci.net",
		Rand:     bytes.NewReader(binary.BigEndian.AppendUint64(nil, 1896)),
		Now:      func() time.Time { return time.Unix(697170952, 0) },
	}
	s := crammd5.NewServer(context.Background(), lookup, opts)
	c := crammd5.NewClient("tim", "tanstaaftanstaaf")

	_, _, _ = c.Start()
	ch, _, _ := s.Next(nil)
	resp, _ := c.Next(ch)
	_, done, err := s.Next(resp)
	fmt.Printf("S: %s\nC: %s\n%v %v\n", ch, resp, done, err)
	// Output:
	// S: <1896.697170952@postoffice.reston.mci.net>
	// C: tim b913a602c7eda7a495b4e6e7334d3890
	// true <nil>
}

// An unknown user and a wrong password fail alike.
func ExampleNewServer() {
	for _, user := range []string{"tim", "nobody"} {
		s := crammd5.NewServer(context.Background(), lookup, nil)
		ch, _, _ := s.Next(nil)
		c := crammd5.NewClient(user, "guess")
		_, _, _ = c.Start()
		resp, _ := c.Next(ch)
		_, _, err := s.Next(resp)
		fmt.Println(err, errors.Is(err, sasl.ErrAuthFailed))
	}
	// Output:
	// crammd5: sasl: authentication failed true
	// crammd5: sasl: authentication failed true
}

// CRAM-MD5 is off by default: a policy must allow it.
func ExampleMechanism() {
	r := sasl.NewRegistry()
	r.MustRegister(crammd5.Mechanism())
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}

	_, err := r.Negotiate(context.Background(), []string{"CRAM-MD5"}, creds, nil, nil)
	fmt.Println(errors.Is(err, sasl.ErrNoMechanism))

	n, err := r.Negotiate(context.Background(), []string{"CRAM-MD5"}, creds, nil, &sasl.Policy{Allow: []string{"CRAM-MD5"}})
	fmt.Println(n.Mechanism.Name, err)
	// Output:
	// true
	// CRAM-MD5 <nil>
}
