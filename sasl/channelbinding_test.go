package sasl_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// TestTLSExporterPrecedence checks the rule ConnState.TLSExporter applies,
// on real TLS 1.2 and 1.3 connections: the live TLS state's value wins and
// a carried value must equal it; a carried value is used where the state
// cannot export; anything else is refused with ErrChannelBindingData.
func TestTLSExporterPrecedence(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			client, server, err := sasltest.TLSConnStates(version)
			if err != nil {
				t.Fatal(err)
			}
			want, err := client.TLS.ExportKeyingMaterial(sasl.ExporterLabel, nil, sasl.ExporterSize)
			if err != nil {
				t.Fatal(err)
			}
			other := bytes.Clone(want)
			other[len(other)-1] ^= 0x80
			// A state as another process rebuilds it: no exporter.
			rebuilt := &tls.ConnectionState{Version: version, HandshakeComplete: true}
			with := func(st *tls.ConnectionState, ekm []byte) *sasl.ConnState {
				return &sasl.ConnState{TLS: st, ChannelBinding: &sasl.ChannelBindingData{Exporter: ekm}}
			}
			for _, tc := range []struct {
				name string
				conn *sasl.ConnState
				want []byte // nil: none available
				bad  bool   // ErrChannelBindingData
			}{
				{"client's live state", client, want, false},
				{"server's live state", server, want, false},
				{"live state, equal carried value", with(client.TLS, want), want, false},
				{"live state, different carried value", with(client.TLS, other), nil, true},
				{"live state, short carried value", with(server.TLS, want[:16]), nil, true},
				{"rebuilt state, carried value", with(rebuilt, want), want, false},
				{"rebuilt state, nothing carried", &sasl.ConnState{TLS: rebuilt}, nil, false},
				{"rebuilt state, empty ChannelBinding", &sasl.ConnState{TLS: rebuilt, ChannelBinding: &sasl.ChannelBindingData{}}, nil, false},
				{"rebuilt state, empty carried value", with(rebuilt, []byte{}), nil, true},
				{"rebuilt state, 33 bytes", with(rebuilt, append(bytes.Clone(want), 0)), nil, true},
				{"incomplete handshake, carried value", with(&tls.ConnectionState{Version: version}, want), nil, true},
				{"no TLS, carried value", &sasl.ConnState{ChannelBinding: &sasl.ChannelBindingData{Exporter: want}}, nil, true},
				{"TLS 1.0, carried value", with(&tls.ConnectionState{Version: tls.VersionTLS10, HandshakeComplete: true}, want), nil, true},
				{"no TLS", &sasl.ConnState{}, nil, false},
				{"nil ConnState", nil, nil, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, err := tc.conn.TLSExporter()
					if tc.bad != errors.Is(err, sasl.ErrChannelBindingData) || (!tc.bad && err != nil) {
						t.Fatalf("error %v, want ErrChannelBindingData %v", err, tc.bad)
					}
					if !bytes.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
						t.Fatalf("exporter %d bytes, want %d", len(got), len(tc.want))
					}
					if err != nil {
						assertNoBytes(t, err.Error(), want, other)
					}
				})
			}
			// The returned value is the caller's: changing it does not
			// change the carried one.
			cs := with(rebuilt, bytes.Clone(want))
			got, _ := cs.TLSExporter()
			got[0] ^= 1
			if !bytes.Equal(cs.ChannelBinding.Exporter, want) {
				t.Fatal("TLSExporter returned the carried slice itself")
			}
		})
	}
}

// TestChannelBindingDataFormat checks that no formatting of a
// ChannelBindingData or of a ConnState holding one shows the exporter.
func TestChannelBindingDataFormat(t *testing.T) {
	client, _, err := sasltest.TLSConnStates(tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	ekm, _ := client.TLSExporter()
	cs := *client
	cs.ChannelBinding = &sasl.ChannelBindingData{Exporter: ekm, ServerCertificate: client.TLS.PeerCertificates[0]}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{cs, &cs, cs.ChannelBinding, *cs.ChannelBinding} {
			assertNoBytes(t, fmt.Sprintf(verb, v), ekm)
		}
	}
	if got := fmt.Sprint(cs.ChannelBinding); got != `sasl.ChannelBindingData{Exporter:[REDACTED](32 bytes) ServerCertificate:"CN=mail.test"}` {
		t.Fatalf("formatted as %s", got)
	}
}

// assertNoBytes fails when out holds any of secrets, raw or encoded.
func assertNoBytes(t *testing.T, out string, secrets ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
			base64.StdEncoding.EncodeToString(s), strings.Trim(fmt.Sprint(s), "[]"), fmt.Sprintf("%q", s)} {
			if strings.Contains(out, form) {
				t.Fatalf("channel-binding bytes printed: %s", out)
			}
		}
	}
}
