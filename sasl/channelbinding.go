package sasl

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/saslkit/saslkit/internal/redact"
)

// ExporterLabel and ExporterSize define the tls-exporter channel binding
// (RFC 9266 §2): ExporterSize bytes of keying material exported from the
// TLS connection with the label ExporterLabel and no context.
const (
	ExporterLabel = "EXPORTER-Channel-Binding"
	ExporterSize  = 32
)

// ErrChannelBindingData reports channel-binding material that cannot be
// trusted: a ChannelBindingData value of the wrong shape, one that
// contradicts the live TLS state, or one on a connection without TLS. A
// mechanism that binds to the channel refuses to run rather than bind to
// something else or fall back to no binding.
var ErrChannelBindingData = errors.New("sasl: inconsistent channel-binding data")

// ChannelBindingData is channel-binding material computed where the TLS
// connection is live, for use where the TLS state cannot supply it itself:
// a ConnState rebuilt in another process (a plugin receives the host's
// values over the wire), or a server, whose tls.ConnectionState does not
// hold the certificate it presented.
//
// Set only the values the TLS state lacks. When ConnState.TLS can supply a
// value, the TLS state wins and the carried value must agree with it (see
// ConnState.TLSExporter); a disagreement is an ErrChannelBindingData, never
// a silent choice of one or the other.
//
// The exporter value is secret-adjacent (it is derived from the session's
// keys): ChannelBindingData never prints it.
type ChannelBindingData struct {
	// Exporter is the RFC 9266 tls-exporter value: ExporterSize bytes
	// exported with ExporterLabel and no context. Nil when unknown. A
	// producer must leave it nil when crypto/tls refuses to export (TLS 1.2
	// without the extended master secret extension).
	Exporter []byte
	// ServerCertificate is the server's leaf certificate, from which
	// tls-server-end-point (RFC 5929 §4) is computed. Nil when unknown.
	ServerCertificate *x509.Certificate
}

// Format prints which values are present, never the exporter value.
func (d ChannelBindingData) Format(f fmt.State, verb rune) {
	var b strings.Builder
	b.WriteString("sasl.ChannelBindingData{")
	sep := ""
	if d.Exporter != nil {
		b.WriteString("Exporter:" + redact.Placeholder + "(" + strconv.Itoa(len(d.Exporter)) + " bytes)")
		sep = " "
	}
	if d.ServerCertificate != nil {
		b.WriteString(sep + "ServerCertificate:" + strconv.Quote(d.ServerCertificate.Subject.String()))
	}
	b.WriteString("}")
	redact.Format(f, verb, b.String())
}

// TLSExporter returns the tls-exporter channel binding of the connection
// (RFC 9266), or nil and no error when none is available: no completed TLS
// handshake, or a connection from which crypto/tls refuses to export keying
// material (TLS 1.2 without the extended master secret extension) and no
// ChannelBindingData.Exporter.
//
// The precedence rule: a value exported from c.TLS wins; c.ChannelBinding's
// Exporter is used only when c.TLS cannot export (a rebuilt state), and when
// both are present they must be equal. It fails with an error wrapping
// ErrChannelBindingData when the carried value has the wrong length,
// disagrees with the exported one, or comes without a completed TLS
// handshake of version 1.2 or later.
func (c *ConnState) TLSExporter() ([]byte, error) {
	if c == nil {
		return nil, nil
	}
	var carried []byte
	if c.ChannelBinding != nil {
		carried = c.ChannelBinding.Exporter
	}
	if c.TLS == nil || !c.TLS.HandshakeComplete {
		if carried != nil {
			return nil, fmt.Errorf("%w: tls-exporter value without a completed TLS handshake", ErrChannelBindingData)
		}
		return nil, nil
	}
	if c.TLS.Version < tls.VersionTLS12 {
		if carried != nil {
			return nil, fmt.Errorf("%w: tls-exporter value on a TLS version below 1.2", ErrChannelBindingData)
		}
		return nil, nil
	}
	if carried != nil && len(carried) != ExporterSize {
		return nil, fmt.Errorf("%w: tls-exporter value is %d bytes, want %d", ErrChannelBindingData, len(carried), ExporterSize)
	}
	live := exportFrom(c.TLS)
	switch {
	case live != nil && carried != nil && subtle.ConstantTimeCompare(live, carried) != 1:
		return nil, fmt.Errorf("%w: tls-exporter value differs from the one the TLS state exports", ErrChannelBindingData)
	case live != nil:
		return live, nil
	case carried != nil:
		return bytes.Clone(carried), nil
	}
	return nil, nil
}

// exportFrom exports the tls-exporter value from st, or returns nil when
// st cannot: crypto/tls refuses (TLS 1.2 without extended master secret,
// renegotiation enabled), or st was not made by crypto/tls (a
// tls.ConnectionState built by hand has no exporter and panics when asked
// for one; a hand-built state is input like any other).
func exportFrom(st *tls.ConnectionState) (out []byte) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	b, err := st.ExportKeyingMaterial(ExporterLabel, nil, ExporterSize)
	if err != nil || len(b) != ExporterSize {
		return nil
	}
	return b
}
