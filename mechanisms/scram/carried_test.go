package scram

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// rebuilt returns conn as another process sees it: the TLS facts without
// the ability to export keying material, plus cb.
func rebuilt(conn *sasl.ConnState, cb *sasl.ChannelBindingData) *sasl.ConnState {
	st := &tls.ConnectionState{Version: conn.TLS.Version, HandshakeComplete: true, ServerName: conn.TLS.ServerName,
		PeerCertificates: conn.TLS.PeerCertificates, VerifiedChains: conn.TLS.VerifiedChains}
	return &sasl.ConnState{Host: conn.Host, TLS: st, RemoteAddr: conn.RemoteAddr, ChannelBinding: cb}
}

func exporterOf(t *testing.T, conn *sasl.ConnState) []byte {
	t.Helper()
	ekm, err := conn.TLS.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	return ekm
}

// TestCarriedChannelBinding runs SCRAM-SHA-256-PLUS where neither end's TLS
// state can export keying material or name the server's certificate, and
// the material travels in sasl.ConnState.ChannelBinding instead: each
// binding type, on TLS 1.2 and 1.3, succeeds against a live peer, and a
// carried value from another connection fails with
// channel-bindings-dont-match.
func TestCarriedChannelBinding(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	cert := newCertificate(t, "ecdsa-p256")
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cc, sc := tlsPair(t, cert, version, nil)
		live, liveSrv := connStates(cc, sc)
		ekm := exporterOf(t, live)
		otherC, _ := tlsPair(t, cert, version, nil)
		otherEKM := exporterOf(t, sasl.ConnStateOf(otherC, "localhost", 0))
		for _, tc := range []struct {
			name       string
			binding    string
			client     *sasl.ConnState
			server     *sasl.ConnState
			serverOpts *Options
			ok         bool
		}{
			{"exporter carried to the client", BindingTLSExporter, rebuilt(live, &sasl.ChannelBindingData{Exporter: ekm}), liveSrv, nil, true},
			{"exporter carried to the server", BindingTLSExporter, live, rebuilt(liveSrv, &sasl.ChannelBindingData{Exporter: ekm}), nil, true},
			{"exporter carried to both", BindingTLSExporter, rebuilt(live, &sasl.ChannelBindingData{Exporter: ekm}), rebuilt(liveSrv, &sasl.ChannelBindingData{Exporter: ekm}), nil, true},
			{"certificate carried to the server", BindingTLSServerEndPoint, live, rebuilt(liveSrv, &sasl.ChannelBindingData{ServerCertificate: cert.x509}), nil, true},
			{"certificate carried to a live server", BindingTLSServerEndPoint, live, &sasl.ConnState{TLS: liveSrv.TLS, ChannelBinding: &sasl.ChannelBindingData{ServerCertificate: cert.x509}}, nil, true},
			{"certificate carried and in Options", BindingTLSServerEndPoint, live, rebuilt(liveSrv, &sasl.ChannelBindingData{ServerCertificate: cert.x509}), &Options{ServerCertificate: serverCertOf(cert.x509)}, true},
			{"certificate carried to a client without one", BindingTLSServerEndPoint, &sasl.ConnState{TLS: &tls.ConnectionState{Version: version, HandshakeComplete: true}, ChannelBinding: &sasl.ChannelBindingData{ServerCertificate: cert.x509}}, rebuilt(liveSrv, &sasl.ChannelBindingData{ServerCertificate: cert.x509}), nil, true},
			{"another connection's exporter", BindingTLSExporter, rebuilt(live, &sasl.ChannelBindingData{Exporter: otherEKM}), liveSrv, nil, false},
		} {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				opts := &Options{ChannelBindings: []string{tc.binding}}
				c := newTestClient(t, MechSHA256Plus, "user", "pencil", tc.client, opts)
				if c.ChannelBinding() != tc.binding {
					t.Fatalf("client binds with %q", c.ChannelBinding())
				}
				sopts := &Options{ChannelBindings: []string{tc.binding}}
				if tc.serverOpts != nil {
					sopts.ServerCertificate = tc.serverOpts.ServerCertificate
				}
				s := newTestServer(t, MechSHA256Plus, db, tc.server, sopts)
				r := run(t, c, s)
				if r.ok() != tc.ok {
					t.Fatalf("exchange %+v, want ok %v", r, tc.ok)
				}
				if !tc.ok && serverErrorValue(c.Failure()) != ErrValueChannelBindingsDontMatch {
					t.Fatalf("client failure %v, want channel-bindings-dont-match", c.Failure())
				}
			})
		}
	}
}

// TestInconsistentChannelBinding checks that channel-binding data which
// contradicts the TLS state, or another source, or has the wrong shape, is
// refused with sasl.ErrChannelBindingData by clients and servers, with or
// without -PLUS, and by Usable when it is inconsistent whichever side the
// ConnState describes; nothing falls back to another binding type or to no
// binding.
func TestInconsistentChannelBinding(t *testing.T) {
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	cert, other := newCertificate(t, "ecdsa-p256"), newCertificate(t, "ecdsa-p256")
	cc, sc := tlsPair(t, cert, tls.VersionTLS13, nil)
	live, liveSrv := connStates(cc, sc)
	ekm := exporterOf(t, live)
	flipped := bytes.Clone(ekm)
	flipped[0] ^= 1
	hand13 := &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true}
	cases := []struct {
		name           string
		conn           *sasl.ConnState
		client, server bool // which side must refuse
		opts           *Options
		unusable       bool // inconsistent whichever side conn describes
	}{
		{"exporter differs from the live one", &sasl.ConnState{TLS: live.TLS, ChannelBinding: &sasl.ChannelBindingData{Exporter: flipped}}, true, true, nil, true},
		{"exporter too short", rebuilt(live, &sasl.ChannelBindingData{Exporter: ekm[:31]}), true, true, nil, true},
		{"exporter too long", rebuilt(live, &sasl.ChannelBindingData{Exporter: append(bytes.Clone(ekm), 0)}), true, true, nil, true},
		{"empty exporter", &sasl.ConnState{TLS: hand13, ChannelBinding: &sasl.ChannelBindingData{Exporter: []byte{}}}, true, true, nil, true},
		{"exporter without TLS", &sasl.ConnState{ChannelBinding: &sasl.ChannelBindingData{Exporter: ekm}}, true, true, nil, true},
		{"exporter on TLS 1.1", &sasl.ConnState{TLS: &tls.ConnectionState{Version: tls.VersionTLS11, HandshakeComplete: true}, ChannelBinding: &sasl.ChannelBindingData{Exporter: ekm}}, true, true, nil, true},
		{"certificate differs from the peer's", &sasl.ConnState{TLS: live.TLS, ChannelBinding: &sasl.ChannelBindingData{ServerCertificate: other.x509}}, true, false, nil, false},
		{"certificate differs from the peer's, exporter only", &sasl.ConnState{TLS: live.TLS, ChannelBinding: &sasl.ChannelBindingData{ServerCertificate: other.x509}}, true, false,
			&Options{ChannelBindings: []string{BindingTLSExporter}}, false},
		{"certificate differs from Options.ServerCertificate", &sasl.ConnState{TLS: liveSrv.TLS, ChannelBinding: &sasl.ChannelBindingData{ServerCertificate: other.x509}}, false, true,
			&Options{ServerCertificate: serverCertOf(cert.x509)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, mech := range []string{MechSHA256Plus, MechSHA256} {
				_, err := NewClient(mech, &sasl.ClientParams{Username: "user", Password: "pencil", Conn: tc.conn, Advertised: []string{MechSHA256}}, tc.opts)
				if tc.client && (!errors.Is(err, sasl.ErrChannelBindingData) || !errors.Is(err, sasl.ErrUnusable)) {
					t.Fatalf("%s client: %v", mech, err)
				}
				if err != nil {
					assertNoBytes(t, err.Error(), ekm, flipped)
				}
				opts := &Options{FakeSaltKey: testKey}
				if tc.opts != nil {
					opts.ServerCertificate, opts.ChannelBindings = tc.opts.ServerCertificate, tc.opts.ChannelBindings
				}
				_, err = NewServer(context.Background(), mech, db, tc.conn, opts)
				if tc.server && (!errors.Is(err, sasl.ErrChannelBindingData) || !errors.Is(err, sasl.ErrUnusable)) {
					t.Fatalf("%s server: %v", mech, err)
				}
				if err != nil {
					assertNoBytes(t, err.Error(), ekm, flipped)
				}
			}
			err := SHA256Plus(tc.opts).Usable(tc.conn)
			if tc.unusable != errors.Is(err, sasl.ErrChannelBindingData) {
				t.Fatalf("Usable: %v", err)
			}
		})
	}
}

// assertNoBytes fails when out holds any of secrets, raw or encoded.
func assertNoBytes(t *testing.T, out string, secrets ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
			base64.StdEncoding.EncodeToString(s), fmt.Sprint(s)} {
			if strings.Contains(out, form) {
				t.Fatalf("channel-binding bytes printed: %s", out)
			}
		}
	}
}
