package sasl_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/sasl"
)

// A registry holds mechanism descriptors; Negotiate picks among them.
func ExampleRegistry() {
	reg := sasl.NewRegistry()
	reg.MustRegister(sasl.Mechanism{
		Name:       "X-DEMO",
		Properties: sasl.SendsSecret,
		Needs:      sasl.NeedPassword,
		Strength:   25,
		NewClient: func(p *sasl.ClientParams) (sasl.Client, error) {
			return &fixedClient{mech: "X-DEMO", p: p}, nil
		},
	})
	err := reg.Register(sasl.Mechanism{Name: "X-DEMO", NewClient: newFixed("X-DEMO")})
	fmt.Println(errors.Is(err, sasl.ErrDuplicate))
	m, ok := reg.Lookup("x-demo")
	fmt.Println(m.Name, ok, m.Properties, m.Needs)
	// Output:
	// true
	// X-DEMO true sends-secret password
}

// Negotiate chooses the strongest usable mechanism and explains the choice.
func ExampleRegistry_Negotiate() {
	reg := testRegistry(nil)
	advertised := []string{"PLAIN", "SCRAM-SHA-256", "XOAUTH2"}
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}

	n, err := reg.Negotiate(context.Background(), advertised, creds, verifiedTLS(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Reason())
	// Output:
	// SCRAM-SHA-256 chosen; not usable: XOAUTH2 (no token source)
}

// The outcome keeps the list it was chosen from, for diagnostics.
func ExampleNegotiated_Advertised() {
	reg := testRegistry(nil)
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}

	n, err := reg.Negotiate(context.Background(), []string{"PLAIN", "GSSAPI", "SCRAM-SHA-256"}, creds, verifiedTLS(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Mechanism.Name, "from", n.Advertised())
	fmt.Println(n.Reason())
	// Output:
	// SCRAM-SHA-256 from [PLAIN GSSAPI SCRAM-SHA-256]
	// SCRAM-SHA-256 chosen; not usable: GSSAPI (mechanism not registered)
}

// A mechanism the credentials cannot drive is rejected with a
// CredentialsError that says what is missing; it matches ErrNoCredentials.
func ExampleCredentialsError() {
	reg := testRegistry(nil)
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}

	_, err := reg.Negotiate(context.Background(), []string{"XOAUTH2"}, creds, verifiedTLS(), nil)
	var ne *sasl.NegotiationError
	if errors.As(err, &ne) {
		rj := ne.Rejected[0]
		var ce sasl.CredentialsError
		fmt.Println(rj.Mechanism, errors.As(rj.Err, &ce), ce.Missing, errors.Is(rj.Err, sasl.ErrNoCredentials))
	}
	fmt.Println(err)
	// Output:
	// XOAUTH2 true token true
	// sasl: no mechanism in common (server offers XOAUTH2): XOAUTH2: no token source
}

// Over a connection without TLS, mechanisms that send a secret are refused
// before a byte is written, and the error says so.
func ExampleRegistry_Negotiate_insecure() {
	reg := testRegistry(nil)
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}

	_, err := reg.Negotiate(context.Background(), []string{"PLAIN", "LOGIN"}, creds, cleartext(), nil)
	fmt.Println(errors.Is(err, sasl.ErrInsecureTransport))
	fmt.Println(err)
	// Output:
	// true
	// sasl: no mechanism in common (server offers PLAIN LOGIN): PLAIN: refusing to send a secret over an insecure connection; LOGIN: refusing to send a secret over an insecure connection
}

// A Policy prefers, denies or opts in to mechanisms and sets a floor.
func ExamplePolicy() {
	reg := testRegistry(nil)
	creds := &sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}
	advertised := []string{"CRAM-MD5", "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"}

	for _, p := range []*sasl.Policy{
		nil,
		{Prefer: []string{"PLAIN"}},
		{Deny: []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}, Allow: []string{"CRAM-MD5"}},
		{Minimum: "SCRAM-SHA-256", Deny: []string{"SCRAM-SHA-256"}},
	} {
		n, err := reg.Negotiate(context.Background(), advertised, creds, verifiedTLS(), p)
		if err != nil {
			fmt.Println(errors.Is(err, sasl.ErrNoMechanism))
			continue
		}
		fmt.Println(n.Mechanism.Name)
	}
	// Output:
	// SCRAM-SHA-256
	// PLAIN
	// CRAM-MD5
	// true
}

// Credentials print without their secrets.
func ExampleCredentials() {
	c := sasl.Credentials{Username: "tim", Password: "tanstaaftanstaaf"}
	fmt.Printf("%v\n", c)
	// Output:
	// sasl.Credentials{Username:"tim" Password:[REDACTED]}
}

// A ConnState rebuilt away from the TLS connection (in a plugin process, for
// example) carries the tls-exporter value computed where the connection is
// live; TLSExporter returns it, and refuses a value of the wrong shape.
func ExampleConnState_TLSExporter() {
	cs := &sasl.ConnState{
		TLS:            &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true},
		ChannelBinding: &sasl.ChannelBindingData{Exporter: bytes.Repeat([]byte{0x5a}, sasl.ExporterSize)},
	}
	ekm, err := cs.TLSExporter()
	fmt.Println(len(ekm), err)
	fmt.Println(cs.ChannelBinding)

	cs.ChannelBinding.Exporter = cs.ChannelBinding.Exporter[:16]
	_, err = cs.TLSExporter()
	fmt.Println(errors.Is(err, sasl.ErrChannelBindingData))
	fmt.Println(err)
	// Output:
	// 32 <nil>
	// sasl.ChannelBindingData{Exporter:[REDACTED](32 bytes)}
	// true
	// sasl: inconsistent channel-binding data: tls-exporter value is 16 bytes, want 32
}
