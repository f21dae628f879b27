package sasl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
)

// Policy constrains which mechanisms Negotiate may choose. A nil *Policy
// means the defaults: every registered mechanism except those marked
// OffByDefault (CRAM-MD5, ANONYMOUS), strongest first, and no mechanism that
// sends a secret over a connection that is not Secure unless the peer is
// loopback. Names compare case-insensitively.
type Policy struct {
	// Prefer lists mechanisms to try first, in this order, before the
	// rest by strength.
	Prefer []string
	// Deny lists mechanisms never to use.
	Deny []string
	// Allow opts in to mechanisms that are off by default (CRAM-MD5,
	// ANONYMOUS).
	Allow []string
	// Minimum names the weakest acceptable mechanism: anything of lower
	// strength is refused ("SCRAM-SHA-256" refuses PLAIN and XOAUTH2).
	// It must name a registered mechanism.
	Minimum string
	// AllowInsecure permits mechanisms that send a secret over a
	// connection without verified TLS. Leave it false outside tests and
	// trusted networks.
	AllowInsecure bool
}

func containsFold(list []string, name string) bool {
	for _, s := range list {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

func (p *Policy) allowInsecure() bool { return p != nil && p.AllowInsecure }

func (p *Policy) preferIndex(name string) int {
	if p == nil {
		return -1
	}
	for i, s := range p.Prefer {
		if strings.EqualFold(s, name) {
			return i
		}
	}
	return -1
}

// denied reports why the policy refuses m regardless of credentials and
// connection, or nil. explicit is true when the caller named the mechanism
// (NewClient), which counts as opting in to an off-by-default mechanism.
func (p *Policy) denied(m *Mechanism, explicit bool) error {
	if p == nil {
		if m.Properties.Has(OffByDefault) && !explicit {
			return ErrDenied
		}
		return nil
	}
	if containsFold(p.Deny, m.Name) {
		return ErrDenied
	}
	if m.Properties.Has(OffByDefault) && !explicit && !containsFold(p.Allow, m.Name) {
		return ErrDenied
	}
	return nil
}

// check reports why m cannot be used with creds over conn under p, or nil.
func (p *Policy) check(m *Mechanism, creds *Credentials, conn *ConnState, explicit bool) error {
	if err := p.denied(m, explicit); err != nil {
		return err
	}
	if m.NewClient == nil {
		return ErrClientOnly
	}
	if missing := m.Needs &^ creds.has(); missing != 0 {
		// A small non-pointer value: converting it to an error does not
		// allocate.
		return CredentialsError{Missing: missing}
	}
	if m.Properties.Has(SendsSecret) && !conn.Secure() && !conn.Loopback() && !p.allowInsecure() {
		return ErrInsecureTransport
	}
	if m.Usable != nil {
		if err := m.Usable(conn); err != nil {
			return fmt.Errorf("%w: %w", ErrUnusable, err)
		}
	}
	return nil
}

// Negotiated is the outcome of a successful negotiation: the chosen
// mechanism and a client ready to hand to a protocol library.
type Negotiated struct {
	// Mechanism is the chosen mechanism.
	Mechanism Mechanism
	// Client is the ready client.
	Client Client
	// Rejected lists the advertised mechanisms found not usable, in the
	// order considered, and why.
	Rejected []Rejection

	token  *oauth2.Token
	source TokenSource
	params ClientParams // the client's inputs, allocated with n
}

// Format prints the outcome without the token it carries.
func (n *Negotiated) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "sasl.Negotiated{Mechanism:"+n.Mechanism.Name+"}")
}

// Reason explains the choice in one line, for logs and diagnostics: the
// chosen mechanism, then each advertised mechanism that was not usable and
// why, as in
//
//	OAUTHBEARER chosen; not usable: PLAIN (no password), LOGIN (no password)
//
// Usable mechanisms that ranked lower are not listed.
func (n *Negotiated) Reason() string {
	var b strings.Builder
	b.WriteString(n.Mechanism.Name)
	b.WriteString(" chosen")
	for i, r := range n.Rejected {
		if i == 0 {
			b.WriteString("; not usable: ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(r.Mechanism + " (" + r.why() + ")")
	}
	return b.String()
}

// Advertised returns the server's mechanism list as given to Negotiate (the
// caller's slice, not a copy), so that a diagnostic can show what the choice
// was made from. It is nil for a client from Registry.NewClient. It is the
// list the client received as ClientParams.Advertised, which is why it is a
// method: the outcome holds it once.
func (n *Negotiated) Advertised() []string { return n.params.Advertised }

// TokenExpiry returns the expiry of the access token the client carries, or
// the zero time when it carries none or the expiry is unknown. A session
// authenticated with the token usually ends around then.
func (n *Negotiated) TokenExpiry() time.Time {
	if n.token == nil {
		return time.Time{}
	}
	return n.token.Expiry
}

// InvalidateToken tells the token source that the server rejected the token
// the client carried, so the next fetch returns a fresh one. It reports
// whether the source supports invalidation (TokenInvalidator).
func (n *Negotiated) InvalidateToken() bool {
	if n.token == nil || n.source == nil {
		return false
	}
	inv, ok := n.source.(TokenInvalidator)
	if ok {
		inv.Invalidate(n.token)
	}
	return ok
}

// tokenCache fetches the access token at most once per negotiation.
type tokenCache struct {
	tok *oauth2.Token
	err error
	did bool
}

func (tc *tokenCache) get(ctx context.Context, src TokenSource) (*oauth2.Token, error) {
	if !tc.did {
		tc.did = true
		tc.tok, tc.err = src.Token(ctx)
		if tc.err == nil && (tc.tok == nil || tc.tok.AccessToken == "") {
			tc.err = errors.New("sasl: token source returned an empty token")
		}
	}
	return tc.tok, tc.err
}

// start builds the client for m, fetching a token when needed.
func (r *Registry) start(ctx context.Context, m *Mechanism, creds *Credentials, conn *ConnState, advertised []string, tc *tokenCache) (*Negotiated, error) {
	if creds == nil {
		creds = &Credentials{}
	}
	n := &Negotiated{}
	p := &n.params
	*p = ClientParams{
		Username:   creds.Username,
		Authzid:    creds.Authzid,
		Password:   creds.Password,
		Trace:      creds.Trace,
		Conn:       conn,
		Advertised: advertised,
	}
	if m.Needs&NeedToken != 0 {
		tok, err := tc.get(ctx, creds.TokenSource)
		if err != nil {
			return nil, fmt.Errorf("sasl: %s: fetching token: %w", m.Name, err)
		}
		p.Token = tok
		n.token, n.source = tok, creds.TokenSource
	}
	c, err := m.NewClient(p)
	if err != nil {
		return nil, err
	}
	n.Mechanism = *m
	n.Client = c
	return n, nil
}

// Negotiate chooses the strongest mechanism that the server advertises, that
// is registered, that the policy allows, that the credentials can drive, and
// that is safe over conn, and returns a ready client for it. The access token,
// if the chosen mechanism needs one, is fetched with ctx.
//
// Order: the policy's Prefer list first, then by Mechanism.Strength
// (SCRAM-*-PLUS > SCRAM-* > OAUTHBEARER > XOAUTH2 > PLAIN > LOGIN). If a
// candidate's client cannot be created, the next one is tried. When none is
// usable the error is a *NegotiationError matching ErrNoMechanism (and
// ErrInsecureTransport when TLS would have made one usable). A cancelled ctx
// is returned as such.
//
// advertised is the list the server sent over the current connection; a list
// read before STARTTLS must be discarded and read again after it (RFC 4954
// §4, RFC 3501 §6.2.1).
func (r *Registry) Negotiate(ctx context.Context, advertised []string, creds *Credentials, conn *ConnState, policy *Policy) (*Negotiated, error) {
	if conn == nil {
		conn = &ConnState{}
	}
	var minStrength int
	hasMin := false
	if policy != nil && policy.Minimum != "" {
		mm := r.lookup(policy.Minimum)
		if mm == nil {
			return nil, fmt.Errorf("%w: policy minimum %s", ErrNotRegistered, policy.Minimum)
		}
		minStrength, hasMin = mm.Strength, true
	}

	// Candidates in advertised order; a fixed array avoids allocating for
	// typical lists.
	type cand struct {
		m      *Mechanism
		prefer int
	}
	var buf [16]cand
	cands := buf[:0]
	var rejected []Rejection
	reject := func(name string, err error) {
		if rejected == nil {
			rejected = make([]Rejection, 0, len(advertised))
		}
		rejected = append(rejected, Rejection{Mechanism: name, Err: err})
	}
outer:
	for _, name := range advertised {
		m := r.lookup(name)
		if m == nil {
			reject(name, ErrNotRegistered)
			continue
		}
		for _, c := range cands {
			if c.m == m {
				continue outer
			}
		}
		if hasMin && m.Strength < minStrength {
			reject(m.Name, ErrDenied)
			continue
		}
		if err := policy.check(m, creds, conn, false); err != nil {
			reject(m.Name, err)
			continue
		}
		cands = append(cands, cand{m: m, prefer: policy.preferIndex(m.Name)})
	}

	var tc tokenCache
	for len(cands) > 0 {
		best := 0
		for i := 1; i < len(cands); i++ {
			if better(cands[i].m, cands[i].prefer, cands[best].m, cands[best].prefer) {
				best = i
			}
		}
		c := cands[best]
		cands = append(cands[:best], cands[best+1:]...)
		n, err := r.start(ctx, c.m, creds, conn, advertised, &tc)
		if err == nil {
			n.Rejected = rejected
			return n, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("sasl: negotiation cancelled: %w", err)
		}
		reject(c.m.Name, err)
	}
	return nil, &NegotiationError{Advertised: advertised, Rejected: rejected}
}

// better reports whether mechanism a (at preference index pa, -1 for none)
// ranks above b.
func better(a *Mechanism, pa int, b *Mechanism, pb int) bool {
	switch {
	case pa >= 0 && pb >= 0:
		return pa < pb
	case pa >= 0:
		return true
	case pb >= 0:
		return false
	case a.Strength != b.Strength:
		return a.Strength > b.Strength
	default:
		return a.Name < b.Name
	}
}
