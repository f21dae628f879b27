package external

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// TestSMTPOverTLS authenticates with a TLS client certificate over implicit
// TLS through go-smtp's client and server: the empty initial response goes
// on the wire as "AUTH EXTERNAL =" (RFC 4954 §4.1).
func TestSMTPOverTLS(t *testing.T) {
	srvCert := certFor(t, "localhost")
	st := mechtest.StartSMTP(t, mechtest.SMTPOptions{
		Mechanism: Name,
		NewServer: func(ctx context.Context, conn *sasl.ConnState) sasl.ServerConversation {
			return NewServer(ctx, &certVerifier{}, conn)
		},
		TLS: &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequestClientCert},
	})

	leaf, err := x509.ParseCertificate(srvCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	auth := func(cert *tls.Certificate, c sasl.Client) error {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return st.DialTLS(t, cfg).Auth(c)
	}

	fred := certFor(t, "fred@example.com")
	if err := auth(&fred, NewClient("")); err != nil {
		t.Fatalf("derived identity: %v", err)
	}
	if !strings.Contains(st.Log.String(), "AUTH EXTERNAL =\r\n") {
		t.Fatalf("wire lacks AUTH EXTERNAL =:\n%s", st.Log.String())
	}
	if err := auth(&fred, NewClient("fred@example.com")); err != nil {
		t.Fatalf("explicit identity: %v", err)
	}
	var se *smtp.SMTPError
	if err := auth(&fred, NewClient("root")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("other identity: %v", err)
	}
	if err := auth(nil, NewClient("")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("no certificate: %v", err)
	}
}
