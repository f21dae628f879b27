package sasltest_test

import (
	"context"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// Exchange Online app-only access: a client_credentials token opens the
// mailboxes the application was granted, and no other.
func TestMailMicrosoftAppOnlyToken(t *testing.T) {
	ms := startMail(t, &sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err := ms.OAuth().AddClient(sasltest.OAuthClient{ID: "daemon", Secret: "daemon-secret-5e1", Mailboxes: []string{alice}}); err != nil {
		t.Fatal(err)
	}
	conf := &clientcredentials.Config{ClientID: "daemon", ClientSecret: "daemon-secret-5e1",
		TokenURL: ms.OAuth().TokenURL(), Scopes: []string{sasltest.OutlookAppScope}, AuthStyle: oauth2.AuthStyleInParams}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ms.OAuth().HTTPClient())
	tok, err := conf.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range allProtocols {
		s := openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
		if _, err := s.auth("XOAUTH2", tokenCreds(alice, tok)); err != nil {
			t.Errorf("%s: granted mailbox: %v", proto, errText(err))
		}
		s = openSession(t, ms, proto, sasltest.ImplicitTLS, nil)
		if _, err := s.auth("XOAUTH2", tokenCreds(bob, tok)); err == nil {
			t.Errorf("%s: an app-only token opened a mailbox it was not granted", proto)
		}
	}
}
