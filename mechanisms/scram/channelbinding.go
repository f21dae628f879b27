package scram

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/sasl"
)

// exporterLabel and exporterLength define tls-exporter (RFC 9266 §2).
const (
	exporterLabel  = "EXPORTER-Channel-Binding"
	exporterLength = 32
)

var (
	errNoTLS      = errors.New("scram: channel binding needs a completed TLS handshake")
	errNoBinding  = errors.New("scram: no channel binding can be derived from this TLS connection")
	errCBDisabled = errors.New("scram: channel binding disabled by Options.NoChannelBinding")
	errNoExporter = errors.New("scram: tls-exporter unavailable (needs TLS 1.3, or TLS 1.2 with extended master secret)")
	errNoPeerCert = errors.New("scram: tls-server-end-point unavailable: no server certificate")
	errNoCertHash = errors.New("scram: tls-server-end-point undefined for the certificate's signature algorithm")
)

func handshaken(cs *tls.ConnectionState) bool {
	return cs != nil && cs.HandshakeComplete
}

// exportKeyingMaterial calls cs.ExportKeyingMaterial, turning a panic into
// an error: a tls.ConnectionState built by hand (not returned by a tls.Conn)
// has no exporter and panics when asked for one, and a hand-built state is
// input like any other.
func exportKeyingMaterial(cs *tls.ConnectionState) (out []byte, err error) {
	defer func() {
		if recover() != nil {
			out, err = nil, errNoExporter
		}
	}()
	return cs.ExportKeyingMaterial(exporterLabel, nil, exporterLength)
}

// exporterBinding derives tls-exporter. crypto/tls refuses to export keying
// material on TLS 1.2 without the extended master secret extension (unless
// GODEBUG=tlsunsafeekm=1, which must not be used for channel binding), and on
// connections that allow renegotiation.
func exporterBinding(cs *tls.ConnectionState) (xdgscram.ChannelBinding, error) {
	if !handshaken(cs) {
		return xdgscram.ChannelBinding{}, errNoTLS
	}
	if cs.Version < tls.VersionTLS12 {
		return xdgscram.ChannelBinding{}, errNoExporter
	}
	data, err := exportKeyingMaterial(cs)
	if err != nil || len(data) != exporterLength {
		return xdgscram.ChannelBinding{}, errNoExporter
	}
	return xdgscram.ChannelBinding{Type: xdgscram.ChannelBindingTLSExporter, Data: data}, nil
}

// endPointBinding derives tls-server-end-point from the server's
// certificate. xdg-go/scram implements the RFC 5929 §4.1 hash choice
// (SHA-256 for MD5 and SHA-1, the signature's hash otherwise, nothing for
// Ed25519 and other algorithms without a single hash); it reads the first
// peer certificate, so a server passes its own certificate in that place.
func endPointBinding(cert *x509.Certificate) (xdgscram.ChannelBinding, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return xdgscram.ChannelBinding{}, errNoPeerCert
	}
	cb, err := xdgscram.NewTLSServerEndpointBinding(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
	if err != nil {
		return xdgscram.ChannelBinding{}, fmt.Errorf("%w (%v)", errNoCertHash, cert.SignatureAlgorithm)
	}
	return cb, nil
}

// clientBinding returns the first channel binding in the configured order
// that a client can derive from cs.
func (c *config) clientBinding(cs *tls.ConnectionState) (xdgscram.ChannelBinding, error) {
	if c.noCB {
		return xdgscram.ChannelBinding{}, errCBDisabled
	}
	if !handshaken(cs) {
		return xdgscram.ChannelBinding{}, errNoTLS
	}
	var errs []error
	for _, typ := range c.bindings {
		var cb xdgscram.ChannelBinding
		var err error
		switch typ {
		case BindingTLSExporter:
			cb, err = exporterBinding(cs)
		case BindingTLSServerEndPoint:
			var cert *x509.Certificate
			if len(cs.PeerCertificates) > 0 {
				cert = cs.PeerCertificates[0]
			}
			cb, err = endPointBinding(cert)
		}
		if err == nil {
			return cb, nil
		}
		errs = append(errs, err)
	}
	return xdgscram.ChannelBinding{}, fmt.Errorf("%w: %w", errNoBinding, errors.Join(errs...))
}

// serverBindings returns every channel binding a server can derive from cs,
// by type.
func (c *config) serverBindings(cs *tls.ConnectionState) map[string]xdgscram.ChannelBinding {
	if c.noCB || !handshaken(cs) {
		return nil
	}
	out := map[string]xdgscram.ChannelBinding{}
	for _, typ := range c.bindings {
		switch typ {
		case BindingTLSExporter:
			if cb, err := exporterBinding(cs); err == nil {
				out[typ] = cb
			}
		case BindingTLSServerEndPoint:
			if c.serverCrt == nil {
				continue
			}
			if cb, err := endPointBinding(c.serverCrt(cs)); err == nil {
				out[typ] = cb
			}
		}
	}
	return out
}

// usable is the -PLUS descriptors' Usable: a channel binding must be
// derivable from conn, as a client (from the peer's certificate) or as a
// server (tls-exporter, or Options.ServerCertificate). The core asks it on
// both sides and ConnState does not say which side it describes.
func (c *config) usable(conn *sasl.ConnState) error {
	if c.err != nil {
		return c.err
	}
	if c.noCB {
		return errCBDisabled
	}
	var cs *tls.ConnectionState
	if conn != nil {
		cs = conn.TLS
	}
	if !handshaken(cs) {
		return errNoTLS
	}
	_, err := c.clientBinding(cs)
	if err == nil || len(c.serverBindings(cs)) > 0 {
		return nil
	}
	return err
}
