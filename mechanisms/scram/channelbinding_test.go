package scram

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"testing"
	"time"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/sasl"
)

// TestExporterBindingTLS13 checks that tls-exporter on TLS 1.3 is exactly
// ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32), the same on
// both ends, and that tls-unique is absent there and never used.
func TestExporterBindingTLS13(t *testing.T) {
	cert := newCertificate(t, "ecdsa-p256")
	cc, sc := tlsPair(t, cert, tls.VersionTLS13, nil)
	ccs, scs := cc.ConnectionState(), sc.ConnectionState()
	want, err := ccs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	cfg := newConfig(nil, false)
	cb, err := cfg.clientBinding(onTLS(&ccs))
	if err != nil {
		t.Fatal(err)
	}
	if cb.Type != BindingTLSExporter || !bytes.Equal(cb.Data, want) || len(cb.Data) != 32 {
		t.Fatalf("client binding %s %x, want tls-exporter %x", cb.Type, cb.Data, want)
	}
	sb := serverBindings(t, cfg, onTLS(&scs))
	if got := sb[BindingTLSExporter]; !bytes.Equal(got.Data, want) {
		t.Fatalf("server tls-exporter %x, want %x", got.Data, want)
	}
	if ccs.TLSUnique != nil || scs.TLSUnique != nil {
		t.Fatal("TLS 1.3 state carries tls-unique")
	}
	if _, ok := sb["tls-unique"]; ok {
		t.Fatal("server offers tls-unique")
	}
	// The client-final message carries base64("p=tls-exporter,," ||
	// exporter) as c=.
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	cconn, sconn := connStates(cc, sc)
	c := newTestClient(t, MechSHA256Plus, "user", "pencil", cconn, nil)
	s := newTestServer(t, MechSHA256Plus, db, sconn, nil)
	_, ir, _ := c.Start()
	if !bytes.HasPrefix(ir, []byte("p=tls-exporter,,n=user,r=")) {
		t.Fatalf("client-first %q", ir)
	}
	first, _, err := s.Next(ir)
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Next(first)
	if err != nil {
		t.Fatal(err)
	}
	wantC := "c=" + b64(append([]byte("p=tls-exporter,,"), want...)) + ","
	if !bytes.HasPrefix(final, []byte(wantC)) {
		t.Fatalf("client-final %q does not start with %q", final, wantC)
	}
}

// onTLS is a ConnState holding only a TLS state.
func onTLS(cs *tls.ConnectionState) *sasl.ConnState { return &sasl.ConnState{TLS: cs} }

// serverBindings returns the bindings a server derives from conn, failing
// the test on an error.
func serverBindings(t *testing.T, cfg *config, conn *sasl.ConnState) map[string]xdgscram.ChannelBinding {
	t.Helper()
	sb, err := cfg.serverBindings(conn)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func b64(b []byte) string {
	return base64.StdEncoding.EncodeToString(b)
}

// TestExporterUnavailable checks that tls-exporter is not offered when
// crypto/tls refuses to export keying material, and that a hand-built
// ConnectionState (whose exporter is missing and would panic) is handled.
//
// crypto/tls always negotiates the extended master secret between two Go
// peers, so the TLS 1.2-without-EMS state cannot be produced in-process; a
// client that allows renegotiation gets the same refusal from
// ExportKeyingMaterial and exercises the same path.
func TestExporterUnavailable(t *testing.T) {
	cfg := newConfig(nil, false)
	hand := &tls.ConnectionState{Version: tls.VersionTLS12, HandshakeComplete: true}
	if _, err := deriveExporter(onTLS(hand)); !errors.Is(err, errNoExporter) {
		t.Fatalf("hand-built TLS 1.2 state: %v", err)
	}
	if _, err := cfg.clientBinding(onTLS(hand)); err == nil {
		t.Fatal("binding derived from a hand-built state without certificates")
	}
	if err := SHA256Plus(nil).Usable(&sasl.ConnState{TLS: hand}); err == nil {
		t.Fatal("-PLUS usable on a state without exporter or certificate")
	}
	if _, err := deriveExporter(onTLS(&tls.ConnectionState{Version: tls.VersionTLS13})); !errors.Is(err, errNoTLS) {
		t.Fatalf("incomplete handshake: %v", err)
	}
	if _, err := deriveExporter(onTLS(&tls.ConnectionState{Version: tls.VersionTLS11, HandshakeComplete: true})); !errors.Is(err, errNoExporter) {
		t.Fatalf("TLS 1.1: %v", err)
	}

	cert := newCertificate(t, "ecdsa-p256")
	cc, _ := tlsPair(t, cert, tls.VersionTLS12, func(c *tls.Config) { c.Renegotiation = tls.RenegotiateOnceAsClient })
	ccs := cc.ConnectionState()
	if _, err := ccs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
		t.Fatal("crypto/tls exported keying material; the test premise is wrong")
	}
	if _, err := deriveExporter(onTLS(&ccs)); !errors.Is(err, errNoExporter) {
		t.Fatalf("exporter derived where crypto/tls refuses: %v", err)
	}
	cb, err := cfg.clientBinding(onTLS(&ccs))
	if err != nil || cb.Type != BindingTLSServerEndPoint {
		t.Fatalf("fallback binding %s, %v", cb.Type, err)
	}
	if _, err := (newConfig(&Options{ChannelBindings: []string{BindingTLSExporter}}, false)).clientBinding(onTLS(&ccs)); err == nil {
		t.Fatal("binding derived with only tls-exporter allowed")
	}

	// TLS 1.2 with EMS between Go peers: the exporter is available.
	cc, _ = tlsPair(t, cert, tls.VersionTLS12, nil)
	ccs = cc.ConnectionState()
	if cb, err := deriveExporter(onTLS(&ccs)); err != nil || cb.Type != BindingTLSExporter {
		t.Fatalf("TLS 1.2 with EMS: %v", err)
	}
}

// certWithAlg returns a certificate value whose SignatureAlgorithm is alg.
// RFC 5929's hash choice depends only on that field and the DER bytes.
func certWithAlg(t *testing.T, alg x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alg"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: alg}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.SignatureAlgorithm != alg {
		t.Fatalf("signature algorithm %v, want %v", c.SignatureAlgorithm, alg)
	}
	return c
}

// TestServerEndPointHash checks RFC 5929 §4.1: SHA-256 for SHA-1 (and MD5)
// signed certificates, the signature's hash otherwise (SHA-384 for
// ecdsa-with-SHA384), and no binding for Ed25519.
func TestServerEndPointHash(t *testing.T) {
	sum256 := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	sum384 := func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
	sum512 := func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }
	p384 := newCertificate(t, "ecdsa-p384").x509
	cases := []struct {
		name string
		cert *x509.Certificate
		want func([]byte) []byte
	}{
		{"sha1WithRSA uses SHA-256", certWithAlg(t, x509.SHA1WithRSA), sum256},
		{"sha256WithRSA", certWithAlg(t, x509.SHA256WithRSA), sum256},
		{"sha512WithRSA", certWithAlg(t, x509.SHA512WithRSA), sum512},
		{"ecdsa-with-SHA256", newCertificate(t, "ecdsa-p256").x509, sum256},
		{"ecdsa-with-SHA384", p384, sum384},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := endPointBinding(tc.cert)
			if err != nil {
				t.Fatal(err)
			}
			if cb.Type != BindingTLSServerEndPoint || !bytes.Equal(cb.Data, tc.want(tc.cert.Raw)) {
				t.Fatalf("binding %s %x", cb.Type, cb.Data)
			}
		})
	}
	if _, err := endPointBinding(nil); err == nil {
		t.Fatal("binding without a certificate")
	}
	// An MD5-signed certificate cannot be made with crypto/x509; the
	// selection reads only SignatureAlgorithm and Raw.
	md5 := &x509.Certificate{Raw: []byte("der"), SignatureAlgorithm: x509.MD5WithRSA}
	if cb, err := endPointBinding(md5); err != nil || !bytes.Equal(cb.Data, sum256(md5.Raw)) {
		t.Fatalf("MD5WithRSA: %x, %v", cb.Data, err)
	}

	t.Run("ecdsa-with-SHA384 over TLS", func(t *testing.T) {
		cert := newCertificate(t, "ecdsa-p384")
		cc, sc := tlsPair(t, cert, tls.VersionTLS13, nil)
		ccs := cc.ConnectionState()
		cfg := newConfig(&Options{ChannelBindings: []string{BindingTLSServerEndPoint}, ServerCertificate: serverCertOf(cert.x509)}, false)
		cb, err := cfg.clientBinding(onTLS(&ccs))
		if err != nil || !bytes.Equal(cb.Data, sum384(cert.x509.Raw)) {
			t.Fatalf("client %x, %v", cb.Data, err)
		}
		scs := sc.ConnectionState()
		if got := serverBindings(t, cfg, onTLS(&scs))[BindingTLSServerEndPoint]; !bytes.Equal(got.Data, cb.Data) {
			t.Fatalf("server %x, client %x", got.Data, cb.Data)
		}
	})
	t.Run("Ed25519 not offered", func(t *testing.T) {
		cert := newCertificate(t, "ed25519")
		cc, sc := tlsPair(t, cert, tls.VersionTLS13, nil)
		ccs, scs := cc.ConnectionState(), sc.ConnectionState()
		endOnly := &Options{ChannelBindings: []string{BindingTLSServerEndPoint}, ServerCertificate: serverCertOf(cert.x509)}
		cfg := newConfig(endOnly, false)
		if _, err := cfg.clientBinding(onTLS(&ccs)); !errors.Is(err, errNoCertHash) {
			t.Fatalf("client binding on Ed25519: %v", err)
		}
		if len(serverBindings(t, cfg, onTLS(&scs))) != 0 {
			t.Fatal("server offers tls-server-end-point on Ed25519")
		}
		if err := SHA256Plus(endOnly).Usable(&sasl.ConnState{TLS: &ccs}); err == nil {
			t.Fatal("-PLUS usable with only tls-server-end-point on Ed25519")
		}
		// With the defaults, tls-exporter still works.
		if cb, err := newConfig(nil, false).clientBinding(onTLS(&ccs)); err != nil || cb.Type != BindingTLSExporter {
			t.Fatalf("default binding on Ed25519: %s, %v", cb.Type, err)
		}
	})
}

// TestGS2Flag checks the client's choice of n, y and p.
func TestGS2Flag(t *testing.T) {
	cert := newCertificate(t, "ecdsa-p256")
	cc, _ := tlsPair(t, cert, tls.VersionTLS13, nil)
	tlsConn := sasl.ConnStateOf(cc, "localhost", 0)
	cases := []struct {
		name       string
		mech       string
		conn       *sasl.ConnState
		advertised []string
		opts       *Options
		want       string
	}{
		{"no TLS", MechSHA256, nil, []string{MechSHA256}, nil, "n,,"},
		{"TLS, list unknown", MechSHA256, tlsConn, nil, nil, "n,,"},
		{"TLS, no -PLUS advertised", MechSHA256, tlsConn, []string{"PLAIN", MechSHA256}, nil, "y,,"},
		{"TLS, -PLUS advertised", MechSHA256, tlsConn, []string{MechSHA256, MechSHA256Plus}, nil, "n,,"},
		{"TLS, another hash's -PLUS advertised", MechSHA256, tlsConn, []string{MechSHA256, "scram-sha-1-plus"}, nil, "n,,"},
		{"TLS, channel binding off", MechSHA256, tlsConn, []string{MechSHA256}, &Options{NoChannelBinding: true}, "n,,"},
		{"-PLUS", MechSHA256Plus, tlsConn, nil, nil, "p=tls-exporter,,"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.mech, &sasl.ClientParams{Username: "user", Password: "pencil", Conn: tc.conn, Advertised: tc.advertised}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, ir, err := c.Start()
			if err != nil || !bytes.HasPrefix(ir, []byte(tc.want+"n=user,")) {
				t.Fatalf("client-first %q, %v; want prefix %q", ir, err, tc.want)
			}
		})
	}
	if _, err := NewClient(MechSHA256Plus, &sasl.ClientParams{Username: "u", Password: "p", Conn: tlsConn}, &Options{NoChannelBinding: true}); !errors.Is(err, sasl.ErrUnusable) {
		t.Fatalf("-PLUS with channel binding off: %v", err)
	}
}

// TestServerAcceptsYWithoutPlus: a server that cannot bind, or whose
// options say -PLUS is not offered, accepts "y".
func TestServerAcceptsYWithoutPlus(t *testing.T) {
	cert := newCertificate(t, "ecdsa-p256")
	cc, sc := tlsPair(t, cert, tls.VersionTLS13, nil)
	cconn, sconn := connStates(cc, sc)
	db := newUserDB(t, 4096, [2]string{"user", "pencil"})
	c, err := NewClient(MechSHA256, &sasl.ClientParams{Username: "user", Password: "pencil", Conn: cconn, Advertised: []string{MechSHA256}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, MechSHA256, db, sconn, &Options{NoChannelBinding: true})
	if r := run(t, c, s); !r.ok() {
		t.Fatalf("exchange: %+v", r)
	}
}

// deriveExporter derives tls-exporter from conn as clients and servers do.
func deriveExporter(conn *sasl.ConnState) (xdgscram.ChannelBinding, error) {
	ekm, err := conn.TLSExporter()
	if err != nil {
		return xdgscram.ChannelBinding{}, err
	}
	return exporterBinding(conn, ekm)
}
