package gosmtp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
	"golang.org/x/oauth2"
)

// Submit a message on port 587 (STARTTLS) to a Microsoft 365-like server
// with XOAUTH2.
func ExampleDialStartTLS() {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	tokens := providers.NewCache(providers.FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		return ms.IssueToken("alice@example.test")
	}), nil)

	c, n, err := gosmtp.DialStartTLS(context.Background(), ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS), &gosmtp.Options{
		Credentials: &sasl.Credentials{Username: "alice@example.test", TokenSource: tokens},
		TLSConfig:   ms.ClientTLSConfig(),
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Println("authenticated with", n.Mechanism.Name)
	err = c.SendMail("alice@example.test", []string{"bob@example.test"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	fmt.Println("sent:", err == nil)
	// Output:
	// authenticated with XOAUTH2
	// sent: true
}

// A temporary failure (454) is not a reason to ask for new credentials.
func ExampleDialTLS_temporary() {
	ms, err := sasltest.NewMailServer(nil)
	if err != nil {
		panic(err)
	}
	defer ms.Close()
	ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolSMTP})
	_, _, err = gosmtp.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS), &gosmtp.Options{
		Credentials: &sasl.Credentials{Username: "alice@example.test", Password: "app-password"},
		TLSConfig:   ms.ClientTLSConfig(),
	})
	var ae *adapters.AuthError
	fmt.Println(errors.Is(err, adapters.ErrTemporary), errors.As(err, &ae) && ae.Code == "454")
	// Output: true true
}
