package readme_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// Gmail over IMAP with a refresh token kept in a token directory (by
// saslkit authorize, or by providers.AuthCodeFlow).
func Example_gmailIMAP() {
	conf := &oauth2.Config{ClientID: "1234-abc.apps.googleusercontent.com", ClientSecret: os.Getenv("GMAIL_CLIENT_SECRET"),
		Endpoint: providers.GoogleEndpoint(), Scopes: providers.GoogleMailScopes()}
	fetcher, err := providers.NewRefreshFetcher(conf, providers.NewFileStore("/var/lib/myapp/tokens", nil), "alice@gmail.com", nil)
	if err != nil {
		log.Fatal(err)
	}
	creds := &sasl.Credentials{Username: "alice@gmail.com", TokenSource: providers.NewCache(fetcher, nil)}
	c, n, err := imap.DialTLS(context.Background(), "imap.gmail.com:993", &imap.Options{Credentials: creds})
	if err != nil {
		log.Fatal(err) // an *adapters.AuthError (errors.Is adapters.ErrRejected, ...), sasl.ErrNoMechanism, ...
	}
	defer c.Close()
	inbox, err := c.Select("INBOX", nil).Wait()
	fmt.Println(n.Reason(), inbox.NumMessages, err)
}

// SMTP submission as a Google Workspace user, through a service account
// with domain-wide delegation.
func Example_serviceAccountSMTP() {
	key, err := os.ReadFile("/etc/myapp/service-account.json")
	if err != nil {
		log.Fatal(err)
	}
	sa, err := providers.NewServiceAccount(key, nil) // scope https://mail.google.com/
	if err != nil {
		log.Fatal(err)
	}
	creds := &sasl.Credentials{Username: "noreply@example.com", TokenSource: sa.User("noreply@example.com")}
	c, _, err := gosmtp.DialTLS(context.Background(), "smtp.gmail.com:465", &gosmtp.Options{Credentials: creds})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.SendMail("noreply@example.com", []string{"bob@example.org"}, strings.NewReader("Subject: Hi\r\n\r\nHello.\r\n")), c.Quit())
}

// A Microsoft 365 mailbox over POP3 with app-only access (client
// credentials); each Poll is one POP3 session, with a fresh token when
// needed.
func Example_microsoft365POP3() {
	cfg := providers.MicrosoftAppOnly("contoso.onmicrosoft.com", "00000000-1111-2222-3333-444444444444")
	cfg.ClientSecret = os.Getenv("M365_CLIENT_SECRET")
	app, err := providers.NewClientCredentials(cfg)
	if err != nil {
		log.Fatal(err)
	}
	creds := &sasl.Credentials{Username: "archive@contoso.com", TokenSource: providers.NewCache(app, nil)}
	s := pop3.NewSession("outlook.office365.com:995", &pop3.SessionOptions{Auth: &pop3.AuthOptions{Options: adapters.Options{Credentials: creds}}})
	defer s.Close()
	fmt.Println(s.Poll(context.Background(), func(ctx context.Context, c *pop3.Client) error {
		count, size, err := c.Stat(ctx)
		fmt.Println(count, size)
		return err
	}))
}
