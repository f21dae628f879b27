package plugins

import (
	"crypto/tls"
	"crypto/x509"
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

// exporterLabel is the RFC 9266 tls-exporter label.
const exporterLabel = "EXPORTER-Channel-Binding"

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
		ti.Exporter = exportBinding(t)
		w.Tls = ti
	}
	return w
}

// exportBinding returns the tls-exporter channel binding, or nil when the
// connection cannot export keying material (TLS 1.2 without extended
// master secret, or a state not made by crypto/tls).
func exportBinding(t *tls.ConnectionState) (b []byte) {
	defer func() {
		if recover() != nil {
			b = nil
		}
	}()
	b, err := t.ExportKeyingMaterial(exporterLabel, nil, 32)
	if err != nil {
		return nil
	}
	return b
}

// connFromWire rebuilds the connection facts a plugin's mechanism sees. The
// TLS state carries the version, server name, peer certificate and whether
// it was verified; it cannot export keying material.
func connFromWire(w *pb.ConnState) *sasl.ConnState {
	c := &sasl.ConnState{}
	if w == nil {
		return c
	}
	c.Host, c.Port = w.GetHost(), int(w.GetPort())
	if ra := w.GetRemoteAddr(); ra != "" {
		if ap, err := netip.ParseAddrPort(ra); err == nil {
			c.RemoteAddr = net.TCPAddrFromAddrPort(ap)
		} else {
			c.RemoteAddr = remoteAddr(ra)
		}
	}
	if t := w.GetTls(); t != nil {
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
	}
	return c
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
