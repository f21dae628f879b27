package plugins

import (
	"crypto/tls"
	"testing"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// TestConformance runs the userdb example's mechanisms, both sides in the
// plugin over real TLS 1.2 and 1.3 connections, and a plugin's token source through sasltest's conformance
// checks: the contract every saslkit mechanism and token source keeps.
func TestConformance(t *testing.T) {
	p := openUserDB(t)
	mechs := p.Mechanisms()
	if len(mechs) != 3 {
		t.Fatalf("userdb lists %d mechanisms", len(mechs))
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client, server, err := sasltest.TLSConnStates(version)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mechs {
			t.Run(m.Name+"/"+tls.VersionName(version), func(t *testing.T) {
				sasltest.CheckMechanism(t, sasltest.MechanismCheck{
					Mechanism: m,
					// Not used: the plugin checks with its own verifiers.
					Verifiers:  &sasl.Verifiers{},
					Good:       &sasl.Credentials{Username: "alice@example.test", Password: userPassword},
					Bad:        &sasl.Credentials{Username: "alice@example.test", Password: "not " + userPassword},
					ClientConn: client,
					ServerConn: server,
				})
			})
		}
	}
	t.Run("TokenSource", func(t *testing.T) {
		sasltest.CheckTokenSource(t, openTest(t, nil).TokenSource("alice@example.com"), nil)
	})
}
