package external_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"

	"github.com/saslkit/saslkit/mechanisms/external"
	"github.com/saslkit/saslkit/sasl"
)

// certUser maps the TLS client certificate to a user, who may act only as
// itself.
var certUser = sasl.ExternalVerifierFunc(func(_ context.Context, authzid string, conn *sasl.ConnState) (sasl.Identity, error) {
	if conn.TLS == nil || len(conn.TLS.PeerCertificates) == 0 {
		return sasl.Identity{}, fmt.Errorf("no client certificate: %w", sasl.ErrAuthFailed)
	}
	user := conn.TLS.PeerCertificates[0].Subject.CommonName
	if authzid != "" && authzid != user {
		return sasl.Identity{}, fmt.Errorf("cannot assume requested authorization identity: %w", sasl.ErrAuthFailed)
	}
	return sasl.Identity{Username: user, Authzid: authzid}, nil
})

// conn stands for a TLS connection whose client presented a certificate for
// fred@example.com; a server takes it from its *tls.Conn (see
// sasl.ConnStateOf).
var conn = &sasl.ConnState{TLS: &tls.ConnectionState{
	HandshakeComplete: true,
	PeerCertificates:  []*x509.Certificate{{Subject: pkix.Name{CommonName: "fred@example.com"}}},
}}

// The client asks for the identity the certificate established.
func Example() {
	_, ir, _ := external.NewClient("").Start()
	fmt.Printf("initial response %q (sent as \"=\")\n", ir)

	s := external.NewServer(context.Background(), certUser, conn)
	_, done, err := s.Next(ir)
	id, _ := s.Identity()
	fmt.Println(done, err, id.AuthorizedAs())
	// Output:
	// initial response "" (sent as "=")
	// true <nil> fred@example.com
}

// RFC 4422 A.2's second example: the server refuses an authorization
// identity the certificate does not allow.
func ExampleNewServer() {
	s := external.NewServer(context.Background(), certUser, conn)
	_, _, err := s.Next([]byte("root"))
	fmt.Println(errors.Is(err, sasl.ErrAuthFailed))
	// Output:
	// true
}

// The descriptor plugs EXTERNAL into a registry; Credentials.External asks
// for it.
func ExampleMechanism() {
	r := sasl.NewRegistry()
	r.MustRegister(external.Mechanism())
	n, err := r.Negotiate(context.Background(), []string{"PLAIN", "EXTERNAL"}, &sasl.Credentials{External: true}, conn, nil)
	fmt.Println(n.Mechanism.Name, err)
	// Output:
	// EXTERNAL <nil>
}
