package sasltest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// A server told to offer SCRAM without its -PLUS forms does not advertise
// channel binding, so a client that could bind says "y" in its GS2 header,
// and the server must accept that rather than call it a downgrade.
func TestMailSCRAMWithoutPlusAcceptsY(t *testing.T) {
	for _, mechs := range [][]string{{"SCRAM-SHA-256"}, {"SCRAM-SHA-1", "SCRAM-SHA-512"}} {
		ms := startMail(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll, Mechanisms: mechs})
		c := dialPOP3(t, ms, sasltest.ImplicitTLS)
		// The client learns from the advertised list that -PLUS is not
		// offered, as the adapters tell it.
		n, err := mechanisms.Builtin().Negotiate(context.Background(), mechs, passCreds(alice, alicePass), c.cs(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cl := n.Client
		if got := c.auth(cl, true); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("%v: AUTH answered %q", mechs, got)
		}
		// The exchange above did carry "y": a twin client's first message.
		twin, err := mechanisms.Builtin().Negotiate(context.Background(), mechs, passCreds(alice, alicePass), c.cs(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, first, _ := twin.Client.Start(); !strings.HasPrefix(string(first), "y,") {
			t.Fatalf("client-first %q: a client able to bind must send y", first)
		}
	}
}
