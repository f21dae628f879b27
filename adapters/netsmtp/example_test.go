package netsmtp_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/smtp"

	"github.com/saslkit/saslkit/adapters/netsmtp"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Authenticate a net/smtp client over implicit TLS with an OAuth token;
// against Microsoft 365's profile that is XOAUTH2.
func ExampleAuthenticate() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tok, _ := ms.IssueToken("alice@example.test")

	conn, err := tls.Dial("tcp", ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS), ms.ClientTLSConfig())
	if err != nil {
		panic(err)
	}
	c, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	n, err := netsmtp.Authenticate(context.Background(), c, &netsmtp.Options{
		Credentials: &sasl.Credentials{Username: "alice@example.test", TokenSource: staticToken{tok}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(n.Mechanism.Name)
	// Output: XOAUTH2
}

// Auth plugs into smtp.SendMail and anything else that takes a
// net/smtp.Auth; build one per connection.
func ExampleNewAuth() {
	a, err := netsmtp.NewAuth(context.Background(), &netsmtp.Options{
		Credentials: &sasl.Credentials{Username: "alice@example.test", Password: "app-password"},
		Host:        "smtp.example.test",
	})
	if err != nil {
		panic(err)
	}
	var _ smtp.Auth = a
	fmt.Printf("%v\n", a)
	// Output: netsmtp.Auth{Credentials:sasl.Credentials{Username:"alice@example.test" Password:[REDACTED]}}
}
