package sasl_test

import (
	"context"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// BenchmarkNegotiate chooses among a 10-mechanism advertised list with
// password credentials over verified TLS.
func BenchmarkNegotiate(b *testing.B) {
	r := testRegistry(b)
	advertised := []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER", "ANONYMOUS", "GSSAPI"}
	creds := &sasl.Credentials{Username: "u", Password: "p"}
	conn := verifiedTLS()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n, err := r.Negotiate(ctx, advertised, creds, conn, nil)
		if err != nil || n.Mechanism.Name != "SCRAM-SHA-256-PLUS" {
			b.Fatal(n, err)
		}
	}
}
