package scram

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	xdgscram "github.com/xdg-go/scram"

	"github.com/saslkit/saslkit/sasl"
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

// exporterBinding makes the tls-exporter binding from ekm, the value
// sasl.ConnState.TLSExporter returned for conn: exported from its TLS state,
// or carried in conn.ChannelBinding when the state cannot export.
// crypto/tls refuses to export keying material on TLS 1.2 without the
// extended master secret extension (unless GODEBUG=tlsunsafeekm=1, which
// must not be used for channel binding), and on connections that allow
// renegotiation.
func exporterBinding(conn *sasl.ConnState, ekm []byte) (xdgscram.ChannelBinding, error) {
	switch {
	case ekm == nil && !handshaken(connTLS(conn)):
		return xdgscram.ChannelBinding{}, errNoTLS
	case ekm == nil:
		return xdgscram.ChannelBinding{}, errNoExporter
	}
	return xdgscram.ChannelBinding{Type: xdgscram.ChannelBindingTLSExporter, Data: ekm}, nil
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

// carriedCert returns the server certificate conn.ChannelBinding carries,
// or nil.
func carriedCert(conn *sasl.ConnState) *x509.Certificate {
	if conn == nil || conn.ChannelBinding == nil {
		return nil
	}
	return conn.ChannelBinding.ServerCertificate
}

// pickCert applies the precedence rule to two sources of the server's
// certificate: the first non-nil one wins, and when both are set they must
// be the same certificate.
func pickCert(first, second *x509.Certificate, what string) (*x509.Certificate, error) {
	if first != nil && second != nil && !first.Equal(second) {
		return nil, fmt.Errorf("scram: %w: the carried server certificate differs from %s", sasl.ErrChannelBindingData, what)
	}
	if first != nil {
		return first, nil
	}
	return second, nil
}

// clientCert returns the server certificate a client binds to with
// tls-server-end-point: the peer's certificate in the TLS state, or the one
// conn.ChannelBinding carries when the state has none.
func clientCert(conn *sasl.ConnState) (*x509.Certificate, error) {
	var peer *x509.Certificate
	if cs := connTLS(conn); cs != nil && len(cs.PeerCertificates) > 0 {
		peer = cs.PeerCertificates[0]
	}
	return pickCert(peer, carriedCert(conn), "the peer's")
}

// clientEndPoint derives a client's tls-server-end-point.
func clientEndPoint(conn *sasl.ConnState) (xdgscram.ChannelBinding, error) {
	cert, err := clientCert(conn)
	if err != nil {
		return xdgscram.ChannelBinding{}, err
	}
	return endPointBinding(cert)
}

// consistent checks every piece of carried channel-binding material
// against the other sources, whichever binding type is configured or
// chosen: data that contradicts itself is refused even when the type it
// feeds would not be used. It returns the tls-exporter value, or nil.
func (c *config) consistent(conn *sasl.ConnState, client bool) ([]byte, error) {
	ekm, err := conn.TLSExporter()
	if err != nil {
		return nil, fmt.Errorf("scram: %w", err)
	}
	if client {
		_, err = clientCert(conn)
	} else {
		_, err = c.serverEndPoint(conn)
	}
	return ekm, err
}

// serverEndPoint derives a server's tls-server-end-point from the
// certificate conn.ChannelBinding carries or, failing that, the one
// Options.ServerCertificate returns. It returns no binding and no error
// when neither knows the certificate.
func (c *config) serverEndPoint(conn *sasl.ConnState) (*xdgscram.ChannelBinding, error) {
	var fromOpts *x509.Certificate
	if c.serverCrt != nil {
		fromOpts = c.serverCrt(connTLS(conn))
	}
	cert, err := pickCert(carriedCert(conn), fromOpts, "Options.ServerCertificate's")
	if err != nil || cert == nil {
		return nil, err
	}
	cb, err := endPointBinding(cert)
	if err != nil {
		return nil, nil
	}
	return &cb, nil
}

// clientBinding returns the first channel binding in the configured order
// that a client can derive from conn. Inconsistent channel-binding data
// (sasl.ErrChannelBindingData) stops the search: it is never skipped in
// favour of another type.
func (c *config) clientBinding(conn *sasl.ConnState) (xdgscram.ChannelBinding, error) {
	if c.noCB {
		return xdgscram.ChannelBinding{}, errCBDisabled
	}
	ekm, err := c.consistent(conn, true)
	if err != nil {
		return xdgscram.ChannelBinding{}, err
	}
	if !handshaken(connTLS(conn)) {
		return xdgscram.ChannelBinding{}, errNoTLS
	}
	var errs []error
	for _, typ := range c.bindings {
		var cb xdgscram.ChannelBinding
		var err error
		switch typ {
		case BindingTLSExporter:
			cb, err = exporterBinding(conn, ekm)
		case BindingTLSServerEndPoint:
			cb, err = clientEndPoint(conn)
		}
		if err == nil {
			return cb, nil
		}
		if errors.Is(err, sasl.ErrChannelBindingData) {
			return xdgscram.ChannelBinding{}, err
		}
		errs = append(errs, err)
	}
	return xdgscram.ChannelBinding{}, fmt.Errorf("%w: %w", errNoBinding, errors.Join(errs...))
}

// serverBindings returns every channel binding a server can derive from
// conn, by type. Inconsistent channel-binding data is an error, not a
// missing type.
func (c *config) serverBindings(conn *sasl.ConnState) (map[string]xdgscram.ChannelBinding, error) {
	if c.noCB {
		return nil, nil
	}
	ekm, err := c.consistent(conn, false)
	if err != nil {
		return nil, err
	}
	if !handshaken(connTLS(conn)) {
		return nil, nil
	}
	out := map[string]xdgscram.ChannelBinding{}
	for _, typ := range c.bindings {
		switch typ {
		case BindingTLSExporter:
			if cb, err := exporterBinding(conn, ekm); err == nil {
				out[typ] = cb
			}
		case BindingTLSServerEndPoint:
			cb, err := c.serverEndPoint(conn)
			if err != nil {
				return nil, err
			}
			if cb != nil {
				out[typ] = *cb
			}
		}
	}
	return out, nil
}

// usable is the -PLUS descriptors' Usable: a channel binding must be
// derivable from conn, as a client (from the peer's certificate) or as a
// server (tls-exporter, the certificate conn.ChannelBinding carries, or
// Options.ServerCertificate). The core asks it on both sides and ConnState
// does not say which side it describes, so carried data counts as
// inconsistent here only when it is inconsistent in both readings (a
// tls-exporter value that contradicts the TLS state always is; a carried
// server certificate that differs from the peer's is the normal view of a
// server whose client presented a certificate).
func (c *config) usable(conn *sasl.ConnState) error {
	if c.err != nil {
		return c.err
	}
	if c.noCB {
		return errCBDisabled
	}
	_, cerr := c.clientBinding(conn)
	if cerr == nil {
		// Usable as a client; the server reading is not needed (and
		// costs a second key export).
		return nil
	}
	srv, serr := c.serverBindings(conn)
	switch {
	case serr == nil && len(srv) > 0:
		return nil
	case errors.Is(serr, sasl.ErrChannelBindingData):
		return serr
	}
	return cerr
}
