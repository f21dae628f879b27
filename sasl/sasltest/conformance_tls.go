package sasltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// TLSConnStates performs a real TLS handshake of the given version
// (tls.VersionTLS12 or tls.VersionTLS13) over a loopback TCP connection with
// a freshly generated certificate for "mail.test", closes the connection,
// and returns the client's and the server's view of it. The client's view has
// a verified chain, so sasl.ConnState.Secure reports true, and both carry
// what channel binding needs (the exporter secret, the server certificate),
// which makes them suitable for CheckMechanism with SCRAM-*-PLUS.
func TLSConnStates(version uint16) (client, server *sasl.ConnState, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sasltest: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		DNSNames: []string{"mail.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sasltest: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("sasltest: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("sasltest: %w", err)
	}
	defer ln.Close()
	type result struct {
		state tls.ConnectionState
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		tc := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			MinVersion:   version, MaxVersion: version,
		})
		err = tc.Handshake()
		ch <- result{tc.ConnectionState(), err}
	}()
	d := &net.Dialer{Timeout: 30 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{
		ServerName: "mail.test", RootCAs: pool, MinVersion: version, MaxVersion: version,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sasltest: TLS handshake: %w", err)
	}
	defer c.Close()
	r := <-ch
	if r.err != nil {
		return nil, nil, fmt.Errorf("sasltest: TLS handshake: %w", r.err)
	}
	client = sasl.ConnStateOf(c, "mail.test", 993)
	server = &sasl.ConnState{Host: "mail.test", Port: 993, TLS: &r.state, RemoteAddr: c.LocalAddr()}
	return client, server, nil
}
