package gosmtp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// go-smtp's client does not expose whether it has authenticated, so a
// second AUTH goes out and the server's 503 is mapped.
func TestAuthenticateTwice(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	creds, _ := adaptertest.TokenCreds(ms, 0)
	c, _, err := gosmtp.DialTLS(context.Background(), ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS), clientOpts(ms, creds))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = gosmtp.Authenticate(context.Background(), c, &gosmtp.Options{Credentials: creds})
	if !errors.Is(err, adapters.ErrAlreadyAuthenticated) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
}
