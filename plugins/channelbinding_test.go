package plugins

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	gosmtpadapter "github.com/saslkit/saslkit/adapters/gosmtp"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/mechanisms/scram"
	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

func mustConnFromWire(t *testing.T, w *pb.ConnState) *sasl.ConnState {
	t.Helper()
	c, err := connFromWire(w)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestChannelBindingCrossesTheWire checks that a real TLS connection's
// channel-binding material reaches the plugin's ConnState: the host's
// tls-exporter value, the server's certificate (the peer's on a client, the
// carried one on a server), and the facts Secure reads.
func TestChannelBindingCrossesTheWire(t *testing.T) {
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
			leaf := client.TLS.PeerCertificates[0]

			got := mustConnFromWire(t, connToWire(client, true))
			if got.TLS == nil || got.TLS.Version != version || !got.Secure() {
				t.Fatalf("client side: TLS %+v, secure %v", got.TLS, got.Secure())
			}
			if cb := got.ChannelBinding; cb == nil || !bytes.Equal(cb.Exporter, want) || cb.ServerCertificate == nil || !bytes.Equal(cb.ServerCertificate.Raw, leaf.Raw) {
				t.Fatalf("client side channel binding %v", got.ChannelBinding)
			}
			if ekm, err := got.TLSExporter(); err != nil || !bytes.Equal(ekm, want) {
				t.Fatalf("rebuilt TLSExporter: %v", err)
			}

			// A server's TLS state lacks its own certificate: without
			// carried material only the exporter crosses; with it, the
			// certificate does too. No client certificate: not Secure.
			got = mustConnFromWire(t, connToWire(server, false))
			if got.Secure() || got.ChannelBinding == nil || !bytes.Equal(got.ChannelBinding.Exporter, want) || got.ChannelBinding.ServerCertificate != nil {
				t.Fatalf("server side: secure %v, channel binding %v", got.Secure(), got.ChannelBinding)
			}
			carried := *server
			carried.ChannelBinding = &sasl.ChannelBindingData{ServerCertificate: leaf}
			got = mustConnFromWire(t, connToWire(&carried, false))
			if cb := got.ChannelBinding; cb == nil || cb.ServerCertificate == nil || !bytes.Equal(cb.ServerCertificate.Raw, leaf.Raw) || !bytes.Equal(cb.Exporter, want) {
				t.Fatalf("server side with a carried certificate: %v", got.ChannelBinding)
			}

			// A host whose ConnState contradicts its TLS state sends no
			// exporter: the plugin cannot bind to the wrong value.
			bad := *client
			bad.ChannelBinding = &sasl.ChannelBindingData{Exporter: make([]byte, sasl.ExporterSize)}
			if w := connToWire(&bad, true); len(w.GetTls().GetExporter()) != 0 {
				t.Fatal("an inconsistent exporter was sent")
			}
		})
	}
}

// TestChannelBindingFromWireRefused checks that material of the wrong shape
// is refused with a typed error that does not print it.
func TestChannelBindingFromWireRefused(t *testing.T) {
	ekm := bytes.Repeat([]byte{0xa7}, 33)
	for name, ti := range map[string]*pb.TLSInfo{
		"short exporter":    {Version: tls.VersionTLS13, Exporter: ekm[:31]},
		"long exporter":     {Version: tls.VersionTLS13, Exporter: ekm},
		"junk certificate":  {Version: tls.VersionTLS13, Exporter: ekm[:32], ServerCertificate: []byte("junk")},
		"truncated the DER": {Version: tls.VersionTLS12, ServerCertificate: []byte{0x30, 0x82, 0x01}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := connFromWire(&pb.ConnState{Tls: ti})
			if c != nil || !errors.Is(err, sasl.ErrChannelBindingData) || !errors.Is(err, sasl.ErrUnusable) {
				t.Fatalf("got %v, %v", c, err)
			}
			assertNoExporter(t, err.Error(), ekm[:32])
		})
	}
}

// TestChannelBindingDataNeverPrinted checks that a rebuilt ConnState and
// its channel-binding data print no exporter bytes in any form.
func TestChannelBindingDataNeverPrinted(t *testing.T) {
	client, _, err := sasltest.TLSConnStates(tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	got := mustConnFromWire(t, connToWire(client, true))
	ekm := got.ChannelBinding.Exporter
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		assertNoExporter(t, fmt.Sprintf(verb, got), ekm)
		assertNoExporter(t, fmt.Sprintf(verb, got.ChannelBinding), ekm)
		assertNoExporter(t, fmt.Sprintf(verb, *got.ChannelBinding), ekm)
	}
}

func assertNoExporter(t *testing.T, out string, ekm []byte) {
	t.Helper()
	for _, form := range []string{string(ekm), hex.EncodeToString(ekm), strings.ToUpper(hex.EncodeToString(ekm)),
		base64.StdEncoding.EncodeToString(ekm), fmt.Sprint(ekm), fmt.Sprintf("%q", ekm)} {
		if strings.Contains(out, form) || strings.Contains(out, form[:len(form)/2]) {
			t.Fatalf("exporter printed: %s", out)
		}
	}
}

// TestChannelBindingThroughPlugin runs SCRAM-SHA-256-PLUS with the userdb
// plugin as the sasltest mail servers' mechanism, over real TLS 1.2 and
// TLS 1.3: the plugin's client and a built-in client authenticate, bound to
// the TLS connection by the exporter value the hosts send; a
// TLS-terminating proxy the client trusts makes -PLUS fail with
// channel-bindings-dont-match while SCRAM-SHA-256 without binding passes
// through it.
func TestChannelBindingThroughPlugin(t *testing.T) {
	server, client := openUserDB(t), openUserDB(t)
	serverReg, clientReg := sasl.NewRegistry(), sasl.NewRegistry()
	if err := server.Register(serverReg); err != nil {
		t.Fatal(err)
	}
	if err := client.Register(clientReg); err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ms, err := sasltest.NewMailServer(&sasltest.MailOptions{
				Registry:      serverReg,
				Mechanisms:    []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"},
				Users:         []sasltest.MailUser{{Address: "alice@example.test", Password: userPassword}},
				MinTLSVersion: version,
				MaxTLSVersion: version,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ms.Close()
			creds := &sasl.Credentials{Username: "alice@example.test", Password: userPassword}
			imapAddr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
			dialIMAP := func(t *testing.T, addr string, reg *sasl.Registry, prefer string) (*imapclient.Client, *sasl.Negotiated, error) {
				return imapadapter.DialTLS(bounded(t), addr, &imapadapter.Options{
					Registry:    reg,
					Policy:      &sasl.Policy{Prefer: []string{prefer}},
					Credentials: creds,
					Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
				})
			}

			t.Run("plugin client", func(t *testing.T) {
				c, n, err := dialIMAP(t, imapAddr, clientReg, "SCRAM-SHA-256-PLUS")
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if n.Mechanism.Name != "SCRAM-SHA-256-PLUS" {
					t.Fatalf("negotiated %s", n.Mechanism.Name)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("built-in client", func(t *testing.T) {
				c, n, err := gosmtpadapter.DialStartTLS(bounded(t), ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS), &gosmtpadapter.Options{
					Registry:    mechanisms.Builtin(),
					Credentials: creds,
					TLSConfig:   ms.ClientTLSConfig(),
				})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if n.Mechanism.Name != "SCRAM-SHA-256-PLUS" {
					t.Fatalf("negotiated %s", n.Mechanism.Name)
				}
				if err := c.SendMail("alice@example.test", []string{"alice@example.test"}, strings.NewReader("Subject: bound\r\n\r\nhello\r\n")); err != nil {
					t.Fatal(err)
				}
			})
			if st := ms.AuthStats(sasltest.ProtocolIMAP, "SCRAM-SHA-256-PLUS"); st.Succeeded == 0 {
				t.Fatalf("IMAP stats: %+v", st)
			}

			t.Run("man in the middle", func(t *testing.T) {
				proxyCert, err := ms.CA().IssueServer("127.0.0.1", "localhost")
				if err != nil {
					t.Fatal(err)
				}
				proxy := startTLSProxy(t, proxyCert, imapAddr, ms.ClientTLSConfig(), version)
				for _, reg := range map[string]*sasl.Registry{"plugin client": clientReg, "built-in client": mechanisms.Builtin()} {
					_, _, err := dialIMAP(t, proxy, reg, "SCRAM-SHA-256-PLUS")
					if !errors.Is(err, adapters.ErrRejected) || !strings.Contains(err.Error(), "channel-bindings-dont-match") {
						t.Fatalf("-PLUS through the proxy: %v", err)
					}
				}
				// Without channel binding the proxy goes unnoticed.
				c, n, err := dialIMAP(t, proxy, clientReg, "SCRAM-SHA-256")
				if err != nil {
					t.Fatalf("SCRAM-SHA-256 through the proxy: %v", err)
				}
				defer c.Close()
				if n.Mechanism.Name != "SCRAM-SHA-256" {
					t.Fatalf("negotiated %s", n.Mechanism.Name)
				}
			})
		})
	}
}

// startTLSProxy starts a proxy that terminates TLS with its own certificate
// and re-originates TLS to upstream, relaying bytes both ways: a man in the
// middle whose certificate the client trusts.
func startTLSProxy(t *testing.T, own tls.Certificate, upstream string, upstreamTLS *tls.Config, version uint16) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	upstreamTLS.MinVersion, upstreamTLS.MaxVersion = version, version
	wg.Go(func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				down := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{own}, MinVersion: version, MaxVersion: version})
				defer down.Close()
				d := &net.Dialer{Timeout: 10 * time.Second}
				up, err := tls.DialWithDialer(d, "tcp", upstream, upstreamTLS)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, down); _ = up.CloseWrite(); done <- struct{}{} }()
				go func() { _, _ = io.Copy(down, up); _ = down.CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			})
		}
	})
	return ln.Addr().String()
}

// converse drives c against s in memory, as a protocol library would, and
// returns the server's verdict.
func converse(t *testing.T, c sasl.Client, s sasl.Server) error {
	t.Helper()
	_, resp, err := c.Start()
	if err != nil {
		return fmt.Errorf("client start: %w", err)
	}
	for range 8 {
		ch, done, err := s.Next(resp)
		if done || err != nil {
			return err
		}
		if resp, err = c.Next(ch); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	return errors.New("exchange did not end")
}

// TestServerEndPointThroughPlugin binds with tls-server-end-point to a
// SCRAM server running in the plugin: the plugin learns the server's
// certificate only from the host's ConnState.ChannelBinding (a server's
// TLS state lacks it), over real TLS 1.2 and 1.3 states. Without it the
// plugin cannot offer that type and refuses the client.
func TestServerEndPointThroughPlugin(t *testing.T) {
	p := openUserDB(t)
	reg := sasl.NewRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	endPointOnly := &scram.Options{ChannelBindings: []string{scram.BindingTLSServerEndPoint}}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client, server, err := sasltest.TLSConnStates(version)
		if err != nil {
			t.Fatal(err)
		}
		withCert := *server
		withCert.ChannelBinding = &sasl.ChannelBindingData{ServerCertificate: client.TLS.PeerCertificates[0]}
		for _, tc := range []struct {
			name   string
			server *sasl.ConnState
			ok     bool
		}{
			{"certificate carried", &withCert, true},
			{"certificate unknown", server, false},
		} {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				c, err := scram.NewClient(scram.MechSHA256Plus, &sasl.ClientParams{Username: "alice@example.test", Password: userPassword, Conn: client}, endPointOnly)
				if err != nil {
					t.Fatal(err)
				}
				s, err := reg.NewServer(bounded(t), scram.MechSHA256Plus, nil, tc.server)
				if err != nil {
					t.Fatal(err)
				}
				err = converse(t, c, s)
				if tc.ok {
					if err != nil {
						t.Fatal(err)
					}
					if id, ok := s.Identity(); !ok || id.Username != "alice@example.test" || id.Mechanism != scram.MechSHA256Plus {
						t.Fatalf("identity %+v, %v", id, ok)
					}
					if !c.Verified() {
						t.Fatal("server signature not verified")
					}
					return
				}
				if !errors.Is(err, sasl.ErrAuthFailed) || !strings.Contains(err.Error(), scram.ErrValueUnsupportedChannelBindingType) {
					t.Fatalf("server: %v", err)
				}
				if _, ok := s.Identity(); ok {
					t.Fatal("identity reported after a refusal")
				}
			})
		}
	}
}
