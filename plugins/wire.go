package plugins

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/oauth2"

	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/sasl"
)

// Conversions between saslkit's types and the protocol's messages.

var propertyWire = []struct {
	p sasl.Property
	w pb.Property
}{
	{sasl.SendsSecret, pb.Property_PROPERTY_SENDS_SECRET},
	{sasl.Anonymous, pb.Property_PROPERTY_ANONYMOUS},
	{sasl.ChannelBinding, pb.Property_PROPERTY_CHANNEL_BINDING},
	{sasl.MutualAuth, pb.Property_PROPERTY_MUTUAL_AUTH},
	{sasl.OffByDefault, pb.Property_PROPERTY_OFF_BY_DEFAULT},
	{sasl.Dictionary, pb.Property_PROPERTY_DICTIONARY},
}

var needWire = []struct {
	n sasl.Need
	w pb.Need
}{
	{sasl.NeedPassword, pb.Need_NEED_PASSWORD},
	{sasl.NeedToken, pb.Need_NEED_TOKEN},
	{sasl.NeedExternal, pb.Need_NEED_EXTERNAL},
}

func mechanismToWire(m *sasl.Mechanism) *pb.MechanismInfo {
	w := &pb.MechanismInfo{Name: m.Name, Strength: int32(m.Strength), Standard: m.Standard,
		Client: m.NewClient != nil, Server: m.NewServer != nil}
	for _, p := range propertyWire {
		if m.Properties.Has(p.p) {
			w.Properties = append(w.Properties, p.w)
		}
	}
	for _, n := range needWire {
		if m.Needs&n.n != 0 {
			w.Needs = append(w.Needs, n.w)
		}
	}
	return w
}

// propertiesFromWire reads properties; unknown values (from a newer
// protocol) are ignored.
func propertiesFromWire(ws []pb.Property) sasl.Property {
	var p sasl.Property
	for _, w := range ws {
		for _, x := range propertyWire {
			if x.w == w {
				p |= x.p
			}
		}
	}
	return p
}

// needsFromWire reads needs. An unknown need makes the mechanism unusable
// by this host, reported by ok false.
func needsFromWire(ws []pb.Need) (n sasl.Need, ok bool) {
	for _, w := range ws {
		found := false
		for _, x := range needWire {
			if x.w == w {
				n |= x.n
				found = true
			}
		}
		if !found {
			return n, false
		}
	}
	return n, true
}

// connToWire describes c to a plugin. The TLS state travels as facts
// (version, verification, certificates) plus the channel-binding material
// the plugin cannot compute: the tls-exporter value (exported here, where
// the connection is live, or carried in c.ChannelBinding) and the server's
// certificate (the peer's on a client; on a server, the one
// c.ChannelBinding carries). Material c holds inconsistently
// (sasl.ErrChannelBindingData) is not sent, so the plugin cannot bind
// either and its -PLUS mechanisms refuse to run.
func connToWire(c *sasl.ConnState, client bool) *pb.ConnState {
	if c == nil {
		return nil
	}
	w := &pb.ConnState{Host: c.Host, Port: uint32(max(c.Port, 0))}
	if c.RemoteAddr != nil {
		w.RemoteAddr = c.RemoteAddr.String()
	}
	if t := c.TLS; t != nil && t.HandshakeComplete {
		ti := &pb.TLSInfo{Version: uint32(t.Version), Verified: len(t.VerifiedChains) > 0,
			ServerName: t.ServerName, NegotiatedProtocol: t.NegotiatedProtocol}
		if len(t.PeerCertificates) > 0 {
			ti.PeerCertificate = t.PeerCertificates[0].Raw
			if client {
				ti.ServerCertificate = ti.PeerCertificate
			}
		}
		if cb := c.ChannelBinding; cb != nil && cb.ServerCertificate != nil && ti.ServerCertificate == nil {
			ti.ServerCertificate = cb.ServerCertificate.Raw
		}
		if ekm, err := c.TLSExporter(); err == nil {
			ti.Exporter = ekm
		}
		w.Tls = ti
	}
	return w
}

// connFromWire rebuilds the connection facts a plugin's mechanism sees. The
// TLS state carries the version, server name, peer certificate and whether
// it was verified (which is what ConnState.Secure reads); it cannot export
// keying material, so the host's tls-exporter value and the server's
// certificate travel in ConnState.ChannelBinding, from which SCRAM-*-PLUS
// binds. A channel-binding value of the wrong shape (an exporter that is not
// 32 bytes, a server certificate that does not parse) is refused with an
// error wrapping sasl.ErrUnusable and sasl.ErrChannelBindingData: a
// mechanism must not bind to it, nor run as if there were nothing to bind
// to.
func connFromWire(w *pb.ConnState) (*sasl.ConnState, error) {
	c := &sasl.ConnState{}
	if w == nil {
		return c, nil
	}
	c.Host, c.Port = w.GetHost(), int(w.GetPort())
	if ra := w.GetRemoteAddr(); ra != "" {
		if ap, err := netip.ParseAddrPort(ra); err == nil {
			c.RemoteAddr = net.TCPAddrFromAddrPort(ap)
		} else {
			c.RemoteAddr = remoteAddr(ra)
		}
	}
	t := w.GetTls()
	if t == nil {
		return c, nil
	}
	st := &tls.ConnectionState{Version: uint16(t.GetVersion()), HandshakeComplete: true,
		ServerName: t.GetServerName(), NegotiatedProtocol: t.GetNegotiatedProtocol()}
	if der := t.GetPeerCertificate(); len(der) > 0 {
		if cert, err := x509.ParseCertificate(der); err == nil {
			st.PeerCertificates = []*x509.Certificate{cert}
			if t.GetVerified() {
				st.VerifiedChains = [][]*x509.Certificate{{cert}}
			}
		}
	}
	c.TLS = st
	var cb sasl.ChannelBindingData
	if ekm := t.GetExporter(); len(ekm) > 0 {
		if len(ekm) != sasl.ExporterSize {
			return nil, fmt.Errorf("plugins: %w: host sent %w: tls-exporter value is %d bytes, want %d", sasl.ErrUnusable, sasl.ErrChannelBindingData, len(ekm), sasl.ExporterSize)
		}
		cb.Exporter = bytes.Clone(ekm)
	}
	if der := t.GetServerCertificate(); len(der) > 0 {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("plugins: %w: host sent %w: server certificate does not parse", sasl.ErrUnusable, sasl.ErrChannelBindingData)
		}
		cb.ServerCertificate = cert
	}
	if cb.Exporter != nil || cb.ServerCertificate != nil {
		c.ChannelBinding = &cb
	}
	return c, nil
}

// remoteAddr is a peer address that is not ip:port (a Unix socket path).
type remoteAddr string

func (a remoteAddr) Network() string { return "unknown" }
func (a remoteAddr) String() string  { return string(a) }

func tokenToWire(t *oauth2.Token) (access, typ string, expiry int64) {
	if t == nil {
		return "", "", 0
	}
	if !t.Expiry.IsZero() {
		expiry = t.Expiry.UnixMilli()
		if expiry == 0 {
			// 0 would read as unknown; 1 ms earlier is as expired.
			expiry = -1
		}
	}
	return t.AccessToken, t.TokenType, expiry
}

func tokenFromWire(access, typ string, expiry int64) *oauth2.Token {
	if access == "" {
		return nil
	}
	if typ == "" {
		typ = "Bearer"
	}
	t := &oauth2.Token{AccessToken: access, TokenType: typ}
	// Only 0 means unknown: a negative value is a time before 1970, an
	// expired token, never one that does not expire.
	if expiry != 0 {
		t.Expiry = time.UnixMilli(expiry)
	}
	return t
}

func identityToWire(id sasl.Identity) *pb.Identity {
	return &pb.Identity{Mechanism: id.Mechanism, Username: id.Username, Authzid: id.Authzid}
}

func identityFromWire(w *pb.Identity) sasl.Identity {
	return sasl.Identity{Mechanism: w.GetMechanism(), Username: w.GetUsername(), Authzid: w.GetAuthzid()}
}
