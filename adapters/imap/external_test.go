package imap_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// EXTERNAL with a TLS client certificate: the empty initial response goes
// on the command line as "=" (SASL-IR), one round trip.
func TestExternalEmptyInitialResponse(t *testing.T) {
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: sasltest.ProfileAll})
	cert, err := ms.ClientCertificate(alice)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ms.ClientTLSConfig()
	cfg.Certificates = []tls.Certificate{cert}
	c, n, err := imapadapter.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.Options{
		Credentials: &sasl.Credentials{External: true},
		Client:      &imapclient.Options{TLSConfig: cfg},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n.Mechanism.Name != "EXTERNAL" {
		t.Fatalf("mechanism %s", n.Mechanism.Name)
	}
	if got := adaptertest.IMAPLinesPerAuth(adaptertest.LastTranscript(t, ms, sasltest.ProtocolIMAP)); len(got) != 1 || got[0] != 1 {
		t.Fatalf("client lines per AUTHENTICATE %v, want [1]", got)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}
