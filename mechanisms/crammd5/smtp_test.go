package crammd5

import (
	"context"
	"errors"
	netsmtp "net/smtp"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// TestSMTPInterop runs CRAM-MD5 over real SMTP: this package's client through
// go-smtp, and the standard library's net/smtp CRAM-MD5 client, both against
// this package's server behind go-smtp's server.
func TestSMTPInterop(t *testing.T) {
	st := mechtest.StartSMTP(t, mechtest.SMTPOptions{
		Mechanism: Name,
		NewServer: func(ctx context.Context, _ *sasl.ConnState) sasl.ServerConversation {
			return NewServer(ctx, testSecrets(), &ServerOptions{Hostname: "localhost"})
		},
	})
	gs := func(c sasl.Client) error { return st.Authenticate(t, c) }
	std := func(a netsmtp.Auth) error {
		cl, err := netsmtp.Dial(st.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Hello("client.example.com"); err != nil {
			t.Fatal(err)
		}
		return cl.Auth(a)
	}

	if err := gs(NewClient("tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("go-smtp client: %v", err)
	}
	if err := std(netsmtp.CRAMMD5Auth("rjs3", "1234")); err != nil {
		t.Fatalf("net/smtp client: %v", err)
	}
	var se *smtp.SMTPError
	if err := gs(NewClient("tim", "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("wrong password: %v", err)
	}
	if err := std(netsmtp.CRAMMD5Auth("nobody", "1234")); err == nil {
		t.Fatal("net/smtp: unknown user accepted")
	}
}
