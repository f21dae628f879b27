package sasl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds mechanisms by name. It is safe for concurrent use; lookups
// take no lock. The zero Registry is not usable: create one with
// NewRegistry, or take mechanisms.Builtin() for every built-in mechanism.
type Registry struct {
	mu    sync.Mutex                            // serialises writers
	mechs atomic.Pointer[map[string]*Mechanism] // immutable snapshot, replaced on Register
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	m := map[string]*Mechanism{}
	r.mechs.Store(&m)
	return r
}

// maxNameLen is the longest mechanism name RFC 4422 §3.1 allows.
const maxNameLen = 20

// validName reports whether name follows RFC 4422 §3.1: 1 to 20 characters
// from upper-case letters, digits, hyphen and underscore.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Register adds m. It fails with ErrDuplicate when a mechanism of that name
// is already present, and with an error when the name is not a valid SASL
// mechanism name (RFC 4422 §3.1: upper case, at most 20 characters) or m has
// neither a client nor a server factory.
func (r *Registry) Register(m Mechanism) error {
	if !validName(m.Name) {
		return fmt.Errorf("sasl: invalid mechanism name %q", m.Name)
	}
	if m.NewClient == nil && m.NewServer == nil {
		return fmt.Errorf("sasl: mechanism %s has neither a client nor a server", m.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.mechs.Load()
	if _, dup := old[m.Name]; dup {
		return fmt.Errorf("%w: %s", ErrDuplicate, m.Name)
	}
	next := make(map[string]*Mechanism, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	mm := m
	next[m.Name] = &mm
	r.mechs.Store(&next)
	return nil
}

// MustRegister is Register for setup code: it panics on error.
func (r *Registry) MustRegister(m Mechanism) {
	if err := r.Register(m); err != nil {
		panic(err)
	}
}

// lookup finds a mechanism by name, case-insensitively, without allocating
// when name is already upper case.
func (r *Registry) lookup(name string) *Mechanism {
	mechs := *r.mechs.Load()
	if m, ok := mechs[name]; ok {
		return m
	}
	for i := 0; i < len(name); i++ {
		if 'a' <= name[i] && name[i] <= 'z' {
			return mechs[strings.ToUpper(name)]
		}
	}
	return nil
}

// Lookup returns the mechanism registered under name (case-insensitive).
func (r *Registry) Lookup(name string) (Mechanism, bool) {
	if m := r.lookup(name); m != nil {
		return *m, true
	}
	return Mechanism{}, false
}

// Mechanisms returns every registered mechanism, strongest first.
func (r *Registry) Mechanisms() []Mechanism {
	mechs := *r.mechs.Load()
	out := make([]Mechanism, 0, len(mechs))
	for _, m := range mechs {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Mechanism) int {
		if a.Strength != b.Strength {
			return b.Strength - a.Strength
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Names returns the names of every registered mechanism, strongest first.
func (r *Registry) Names() []string {
	ms := r.Mechanisms()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names
}

// NewClient creates a client for the named mechanism. It applies the same
// checks as Negotiate (policy, credentials, transport security) and fetches
// the access token with ctx when the mechanism needs one. policy may be nil
// for the defaults; a mechanism that is off by default is allowed here
// because the caller named it.
func (r *Registry) NewClient(ctx context.Context, name string, creds *Credentials, conn *ConnState, policy *Policy) (*Negotiated, error) {
	m := r.lookup(name)
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRegistered, name)
	}
	if conn == nil {
		conn = &ConnState{}
	}
	if err := policy.check(m, creds, conn, true); err != nil {
		return nil, fmt.Errorf("%w: %s", err, m.Name)
	}
	var tc tokenCache
	n, err := r.start(ctx, m, creds, conn, nil, &tc)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// NewServer creates a server conversation for the named mechanism. ctx bounds
// the verifier calls the conversation makes and should end with the
// connection (see the package documentation). v holds the application's
// verifiers; conn describes the connection (nil for none).
func (r *Registry) NewServer(ctx context.Context, name string, v *Verifiers, conn *ConnState) (ServerConversation, error) {
	m := r.lookup(name)
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRegistered, name)
	}
	if m.NewServer == nil {
		return nil, fmt.Errorf("%w: %s", ErrClientOnly, m.Name)
	}
	if v == nil {
		v = &Verifiers{}
	}
	if conn == nil {
		conn = &ConnState{}
	}
	return m.NewServer(ctx, v, conn)
}

// ServerMechanisms returns the names a server should advertise over conn,
// strongest first: mechanisms with a server side, allowed by policy, minus
// those that send a secret when conn is not encrypted (unless the policy
// allows it or the peer is loopback) and those unusable on conn (-PLUS
// without TLS). The server side counts any completed TLS handshake as
// encrypted.
func (r *Registry) ServerMechanisms(conn *ConnState, policy *Policy) []string {
	var names []string
	for _, m := range r.Mechanisms() {
		if m.NewServer == nil || policy.denied(&m, false) != nil {
			continue
		}
		if m.Properties.Has(SendsSecret) && !conn.Encrypted() && !conn.Loopback() && !policy.allowInsecure() {
			continue
		}
		if m.Usable != nil && m.Usable(conn) != nil {
			continue
		}
		names = append(names, m.Name)
	}
	return names
}

// Encrypted reports whether the connection completed a TLS handshake,
// whether or not the peer's certificate was verified. Servers use it;
// clients need Secure.
func (c *ConnState) Encrypted() bool {
	return c != nil && c.TLS != nil && c.TLS.HandshakeComplete
}
