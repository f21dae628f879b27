package scram

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// BenchmarkChannelBindingSource measures, in the same run, where the
// tls-exporter binding comes from: exported from a live TLS 1.3 state, or
// carried in sasl.ConnState.ChannelBinding (a state rebuilt in a plugin),
// both for the derivation alone (binding) and for a full
// SCRAM-SHA-256-PLUS exchange at 4096 iterations (exchange), client and
// server on the same kind of state.
func BenchmarkChannelBindingSource(b *testing.B) {
	cert := newCertificate(b, "ecdsa-p256")
	cc, sc := tlsPair(b, cert, tls.VersionTLS13, nil)
	liveC, liveS := connStates(cc, sc)
	ekm, err := liveC.TLSExporter()
	if err != nil {
		b.Fatal(err)
	}
	rebuild := func(conn *sasl.ConnState) *sasl.ConnState {
		return &sasl.ConnState{TLS: &tls.ConnectionState{Version: conn.TLS.Version, HandshakeComplete: true,
			PeerCertificates: conn.TLS.PeerCertificates}, ChannelBinding: &sasl.ChannelBindingData{Exporter: ekm}}
	}
	creds, err := StoredCredentials(HashSHA256, "pencil", []byte("0123456789abcdef"), 4096)
	if err != nil {
		b.Fatal(err)
	}
	lookup := sasl.SCRAMLookupFunc(func(context.Context, string, string) (sasl.SCRAMCredentials, error) { return creds, nil })
	cfg := newConfig(nil, false)
	for _, src := range []struct {
		name           string
		client, server *sasl.ConnState
	}{
		{"live", liveC, liveS},
		{"carried", rebuild(liveC), rebuild(liveS)},
	} {
		b.Run("binding/"+src.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := cfg.clientBinding(src.client); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("exchange/"+src.name, func(b *testing.B) {
			opts := &Options{FakeSaltKey: testKey}
			for b.Loop() {
				c, err := NewClient(MechSHA256Plus, &sasl.ClientParams{Username: "user", Password: "pencil", Conn: src.client}, opts)
				if err != nil {
					b.Fatal(err)
				}
				s, err := NewServer(context.Background(), MechSHA256Plus, lookup, src.server, opts)
				if err != nil {
					b.Fatal(err)
				}
				if r := run(b, c, s); !r.ok() {
					b.Fatalf("exchange failed: %+v", r)
				}
			}
		})
	}
}
