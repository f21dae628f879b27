package sasltest

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"time"
)

// oauthState is everything the server remembers, guarded by OAuthServer.mu.
// Tokens are kept only as their SHA-256 (tokenKey).
type oauthState struct {
	clients         map[string]*OAuthClient
	users           map[string]bool
	userOrder       []string
	serviceAccounts map[string]*OAuthServiceAccount
	access          map[tokenKey]*accessRecord
	refresh         map[tokenKey]*refreshRecord
	families        map[uint64]*family
	codes           map[tokenKey]*codeRecord
	devices         map[tokenKey]*deviceRecord
	userCodes       map[string]*deviceRecord
	nextFamily      uint64
}

func newOAuthState() oauthState {
	return oauthState{
		clients:         map[string]*OAuthClient{},
		users:           map[string]bool{},
		serviceAccounts: map[string]*OAuthServiceAccount{},
		access:          map[tokenKey]*accessRecord{},
		refresh:         map[tokenKey]*refreshRecord{},
		families:        map[uint64]*family{},
		codes:           map[tokenKey]*codeRecord{},
		devices:         map[tokenKey]*deviceRecord{},
		userCodes:       map[string]*deviceRecord{},
	}
}

// family groups the tokens descended from one grant (one consent), so that
// reuse detection and revocation can end all of them (RFC 9700 §4.14.2).
type family struct {
	revoked bool
}

// accessRecord is an issued access token.
type accessRecord struct {
	family  uint64 // 0: none (client_credentials, service accounts)
	client  string
	user    string // "" for an app-only token
	scopes  []string
	expiry  time.Time
	issued  time.Time
	grant   string
	revoked bool
}

// refreshRecord is an issued refresh token.
type refreshRecord struct {
	family  uint64
	client  string
	user    string
	scopes  []string
	rotated bool // replaced by a newer token under a one-time policy
	revoked bool
}

func (st *oauthState) newFamily() uint64 {
	st.nextFamily++
	st.families[st.nextFamily] = &family{}
	return st.nextFamily
}

func (st *oauthState) familyRevoked(id uint64) bool {
	f := st.families[id]
	return f != nil && f.revoked
}

// revokeFamily revokes a family and every token in it.
func (st *oauthState) revokeFamily(id uint64) {
	if id == 0 {
		return
	}
	if f := st.families[id]; f != nil {
		f.revoked = true
	}
	for _, a := range st.access {
		if a.family == id {
			a.revoked = true
		}
	}
	for _, r := range st.refresh {
		if r.family == id {
			r.revoked = true
		}
	}
}

func (st *oauthState) revoke(token string) bool {
	k := keyOf(token)
	if a, ok := st.access[k]; ok {
		a.revoked = true
		return true
	}
	if r, ok := st.refresh[k]; ok {
		r.revoked = true
		st.revokeFamily(r.family)
		return true
	}
	return false
}

// Token prefixes make tokens look like each provider's, which helps a reader
// of a test log (tokens never appear in logs the project writes): Google's
// access tokens start "ya29." and refresh tokens "1//"; Microsoft's consumer
// tokens start "EwA" and refresh tokens "M.C".
func accessPrefix(p OAuthProfile) string {
	if p == OAuthMicrosoft {
		return "EwA"
	}
	return "ya29."
}

func refreshPrefix(p OAuthProfile) string {
	if p == OAuthMicrosoft {
		return "M.C"
	}
	return "1//"
}

// randomToken returns prefix plus 32 random bytes in base64url.
func randomToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func (st *oauthState) newRefresh(p OAuthProfile, fam uint64, client, user string, scopes []string) string {
	t := randomToken(refreshPrefix(p))
	st.refresh[keyOf(t)] = &refreshRecord{family: fam, client: client, user: user, scopes: slices.Clone(scopes)}
	return t
}

func (st *oauthState) newAccess(p OAuthProfile, fam uint64, client, user string, scopes []string, expiry time.Time, grant string) string {
	t := randomToken(accessPrefix(p))
	st.access[keyOf(t)] = &accessRecord{family: fam, client: client, user: user, scopes: slices.Clone(scopes), expiry: expiry, grant: grant}
	return t
}

// oauthCounters counts token endpoint traffic, guarded by OAuthServer.mu.
type oauthCounters struct {
	requests       map[string]int
	issued         map[string]int
	reuse          int
	introspections int
	faults         int
}

func newOAuthCounters() oauthCounters {
	return oauthCounters{requests: map[string]int{}, issued: map[string]int{}}
}

// Requests reports how many token endpoint requests named grant as their
// grant_type, whatever the answer (faults included). "" counts requests
// without a grant_type; "*" counts all.
func (s *OAuthServer) Requests(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grant == "*" {
		n := 0
		for _, v := range s.counters.requests {
			n += v
		}
		return n
	}
	return s.counters.requests[grant]
}

// Issued reports how many token endpoint requests with grant succeeded;
// "*" counts all.
func (s *OAuthServer) Issued(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grant == "*" {
		n := 0
		for _, v := range s.counters.issued {
			n += v
		}
		return n
	}
	return s.counters.issued[grant]
}

// ReuseDetected reports how many times a rotated-out refresh token was
// presented under RefreshRotateDetectReuse (each revoked a family).
func (s *OAuthServer) ReuseDetected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters.reuse
}

// Introspections reports how many requests the introspection, tokeninfo
// and userinfo endpoints answered.
func (s *OAuthServer) Introspections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters.introspections
}

// FaultsServed reports how many requests were answered by an injected
// fault.
func (s *OAuthServer) FaultsServed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters.faults
}

// ResetCounters sets every counter to zero.
func (s *OAuthServer) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters = newOAuthCounters()
}
