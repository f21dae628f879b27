package imap_test

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// handXOAUTH2 is the minimal XOAUTH2 client every Go mail program copies.
type handXOAUTH2 struct{ user, token string }

func (h handXOAUTH2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + h.user + "\x01auth=Bearer " + h.token + "\x01\x01"), nil
}

func (h handXOAUTH2) Next([]byte) ([]byte, error) { return []byte{}, nil }

// BenchmarkConnectAuthenticate compares, in one run, connecting with
// implicit TLS and authenticating with XOAUTH2 through DialTLS against
// go-imap's own DialTLS + Authenticate with a hand-written XOAUTH2 client.
func BenchmarkConnectAuthenticate(b *testing.B) {
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{Profile: sasltest.ProfileMicrosoft})
	if err != nil {
		b.Fatal(err)
	}
	defer ms.Close()
	tok, err := ms.IssueToken(alice)
	if err != nil {
		b.Fatal(err)
	}
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	tlsConfig := ms.ClientTLSConfig()
	ctx := context.Background()

	b.Run("go-imap", func(b *testing.B) {
		for b.Loop() {
			c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: tlsConfig})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Authenticate(handXOAUTH2{alice, tok.AccessToken}); err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
	})
	b.Run("saslkit", func(b *testing.B) {
		opts := &imapadapter.Options{
			Registry:    mechanisms.Builtin(),
			Credentials: &sasl.Credentials{Username: alice, TokenSource: staticToken{tok}},
			Client:      &imapclient.Options{TLSConfig: tlsConfig},
		}
		for b.Loop() {
			c, _, err := imapadapter.DialTLS(ctx, addr, opts)
			if err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
	})
}
