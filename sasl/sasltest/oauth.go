package sasltest

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
)

// OAuthProfile selects whose documented behaviour an OAuthServer imitates
// where Google's and Microsoft's authorization servers differ: the refresh
// token policy, the shape of error bodies, the device flow's field names and
// the error a mail server's token check reports.
type OAuthProfile int

const (
	// OAuthGoogle imitates Google's OAuth 2.0 endpoints
	// (developers.google.com/identity/protocols/oauth2): a refresh keeps the
	// refresh token ("the response does not include a new refresh token"),
	// errors are {"error":..., "error_description":...}, the device
	// authorization response names verification_url, and Gmail's XOAUTH2
	// error challenge is {"status":"401","schemes":"bearer","scope":...}.
	OAuthGoogle OAuthProfile = iota
	// OAuthMicrosoft imitates the Microsoft identity platform v2.0 endpoints
	// (learn.microsoft.com/entra/identity-platform): every refresh returns a
	// new refresh token, error bodies add error_codes (AADSTS numbers),
	// timestamp, trace_id and correlation_id, client_credentials scopes must
	// end in "/.default", and Exchange Online answers a rejected token with
	// a plain failure and no JSON error challenge.
	OAuthMicrosoft
)

// String returns "google" or "microsoft".
func (p OAuthProfile) String() string {
	switch p {
	case OAuthGoogle:
		return "google"
	case OAuthMicrosoft:
		return "microsoft"
	}
	return fmt.Sprintf("OAuthProfile(%d)", int(p))
}

// RefreshPolicy says what the refresh_token grant does with the refresh
// token it was given.
type RefreshPolicy int

const (
	// RefreshProfileDefault follows the profile: RefreshKeep for
	// OAuthGoogle, RefreshRotate for OAuthMicrosoft.
	RefreshProfileDefault RefreshPolicy = iota
	// RefreshKeep answers without a refresh_token; the presented one stays
	// valid. This is Google's documented behaviour.
	RefreshKeep
	// RefreshRotate answers with a new refresh token each time and leaves
	// the presented one valid until it is revoked. This is the Microsoft
	// identity platform's documented behaviour ("refresh tokens replace
	// themselves with a fresh token upon every use"; the old one is not
	// revoked by use).
	RefreshRotate
	// RefreshRotateOnce answers with a new refresh token and invalidates the
	// presented one: presenting it again gets invalid_grant.
	RefreshRotateOnce
	// RefreshRotateDetectReuse is RefreshRotateOnce plus reuse detection
	// (RFC 9700 §4.14.2): presenting a rotated-out refresh token revokes the
	// whole token family, every refresh and access token descended from the
	// same grant, answers invalid_grant and counts a reuse (ReuseDetected).
	RefreshRotateDetectReuse
)

// Grant types, as the token endpoint's grant_type parameter names them. The
// counters (Requests, Issued) and OAuthFault.Grant use them.
const (
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	// GrantJWTBearer is RFC 7523's JWT bearer grant, which Google service
	// accounts use.
	GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// GrantDeviceCode is RFC 8628's device authorization grant.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2), which Microsoft's certificate credentials use.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// OAuthOptions configure an OAuthServer. The zero value, like a nil
// *OAuthOptions, gives a Google-profile server on 127.0.0.1 over plain HTTP
// with one-hour access tokens.
type OAuthOptions struct {
	// Profile selects Google's (default) or Microsoft's behaviour.
	Profile OAuthProfile
	// Refresh is the refresh token policy; the default follows Profile.
	Refresh RefreshPolicy
	// TokenLifetime is the access token lifetime; 0 means one hour, the
	// lifetime both Google and Microsoft document.
	TokenLifetime time.Duration
	// Clock returns the current time for every expiry decision; nil means
	// time.Now. Tests pass a fake clock instead of sleeping.
	Clock func() time.Time
	// AuthStyle is the client authentication the Endpoint advertises to
	// golang.org/x/oauth2. The default is oauth2.AuthStyleInParams (as
	// google.Endpoint sets it), never auto-detection, whose retry after a
	// failed request would double every failing call. The server accepts
	// client_secret_basic and client_secret_post whatever is set here.
	AuthStyle oauth2.AuthStyle
	// TLS serves HTTPS, with net/http/httptest's certificate for
	// 127.0.0.1 unless TLSConfig brings one; use HTTPClient or TLSConfig
	// (the method) for a client that trusts it.
	TLS bool
	// TLSConfig is the server's TLS configuration when TLS is set, for
	// instance with a certificate from the test's own CA shared with the
	// mail servers. It is cloned; nil means httptest's default.
	TLSConfig *tls.Config
	// Addr is the listen address; "" means 127.0.0.1 on a free port.
	Addr string

	// IntrospectionAuth requires introspection callers to authenticate as
	// a registered client (HTTP Basic, or client_id and client_secret in
	// the form or query as Dovecot's oauth2 passdb sends them). By default
	// the introspection endpoint is open.
	IntrospectionAuth bool

	// ApproveAs is the user the /authorize page approves as when the
	// request names no registered user in login_hint. "" means the first
	// registered user.
	ApproveAs string

	// DeviceInterval is the device flow's polling interval; 0 means 5
	// seconds (RFC 8628 §3.2's default).
	DeviceInterval time.Duration
	// DeviceCodeLifetime is how long a device code lives; 0 means 30
	// minutes (Google documents 1800 seconds).
	DeviceCodeLifetime time.Duration
	// DeviceAutoApprove, when set, approves every device authorization as
	// this user after DeviceAutoApprovePolls polls were answered
	// authorization_pending. "" leaves approval to ApproveDevice.
	DeviceAutoApprove string
	// DeviceAutoApprovePolls is the number of polls answered
	// authorization_pending before auto-approval.
	DeviceAutoApprovePolls int

	// ClockSkew is the leeway for JWT iat and nbf in the future; 0 means
	// 5 minutes.
	ClockSkew time.Duration
}

// OAuthClient is a registered OAuth client application.
type OAuthClient struct {
	// ID is the client_id.
	ID string
	// Secret is the client secret; "" makes a public client, which
	// authenticates with its client_id alone (and PKCE) unless it has a
	// key for client assertions.
	Secret string
	// RedirectURIs are the exact redirect URIs /authorize accepts.
	RedirectURIs []string
	// LoopbackRedirect also accepts any http://127.0.0.1, http://[::1] or
	// http://localhost redirect URI on any port, as RFC 8252 §7.3 requires
	// for native apps (Google's "loopback IP address" flow).
	LoopbackRedirect bool
	// Certificate authenticates client assertions (private_key_jwt, as
	// Microsoft's certificate credentials): its key verifies the RS256
	// signature, and a JWT x5t (or x5t#S256) header must name its
	// thumbprint.
	Certificate *x509.Certificate
	// PublicKey authenticates client assertions when there is no
	// Certificate; a JWT kid header, if any, must equal KeyID.
	PublicKey *rsa.PublicKey
	// KeyID is the key id of PublicKey.
	KeyID string
	// Mailboxes are the users whose mail an app-only token of this client
	// (client_credentials) may open, as an Exchange Online service
	// principal is granted mailbox permissions. "*" means any user.
	Mailboxes []string
}

// Format prints the client without its secret.
func (c OAuthClient) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.OAuthClient{ID:%q Secret:%s RedirectURIs:%q LoopbackRedirect:%t Certificate:%t PublicKey:%t}",
		c.ID, redact.Secret(c.Secret), c.RedirectURIs, c.LoopbackRedirect, c.Certificate != nil, c.PublicKey != nil))
}

// OAuthServiceAccount is a Google-style service account, which obtains
// tokens with the JWT bearer grant by signing an assertion with its private
// key (developers.google.com/identity/protocols/oauth2/service-account).
type OAuthServiceAccount struct {
	// Email is the account's client_email, the assertion's iss.
	Email string
	// KeyID is the private_key_id; when set, the assertion's kid header
	// must match it.
	KeyID string
	// PublicKey verifies the assertion's RS256 signature.
	PublicKey *rsa.PublicKey
	// Delegation allows domain-wide delegation: the assertion's sub may
	// name any registered user, and the token acts as that user. Without
	// it a sub other than Email is refused with unauthorized_client.
	Delegation bool
	// Scopes, when not empty, are the only scopes the account may be
	// granted (the admin console's domain-wide delegation scope list).
	Scopes []string
}

// OAuthServer is an OAuth 2.0 authorization server on a loopback listener,
// for tests. It is a stand-in for Google's and Microsoft's endpoints. Its
// methods are safe for concurrent use.
type OAuthServer struct {
	// URL is the base URL, like "http://127.0.0.1:41234".
	URL string

	srv       *httptest.Server
	profile   OAuthProfile
	refresh   RefreshPolicy
	lifetime  time.Duration
	clock     func() time.Time
	authStyle oauth2.AuthStyle
	opts      OAuthOptions
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	st       oauthState
	counters oauthCounters
	faults   []*queuedFault
}

// OAuth endpoint paths, relative to OAuthServer.URL.
const (
	oauthTokenPath        = "/token"
	oauthAuthPath         = "/authorize"
	oauthDeviceAuthPath   = "/device/code"
	oauthVerifyPath       = "/device"
	oauthIntrospectPath   = "/introspect"
	oauthTokenInfoPath    = "/tokeninfo"
	oauthUserInfoPath     = "/userinfo"
	oauthRevokePath       = "/revoke"
	maxOAuthRequestBody   = 64 << 10
	defaultTokenLifetime  = time.Hour
	defaultDeviceInterval = 5 * time.Second
	defaultDeviceLifetime = 30 * time.Minute
	defaultClockSkew      = 5 * time.Minute
)

// NewOAuthServer starts an OAuth server. opts may be nil. Close it when done.
// It panics if it cannot listen, as httptest.NewServer does; use
// StartOAuthServer to get an error instead.
func NewOAuthServer(opts *OAuthOptions) *OAuthServer {
	s, err := StartOAuthServer(opts)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// StartOAuthServer is NewOAuthServer returning an error when it cannot
// listen on OAuthOptions.Addr, for programs that run the server standalone.
func StartOAuthServer(opts *OAuthOptions) (*OAuthServer, error) {
	var o OAuthOptions
	if opts != nil {
		o = *opts
	}
	s := &OAuthServer{
		profile:   o.Profile,
		refresh:   o.Refresh,
		lifetime:  o.TokenLifetime,
		clock:     o.Clock,
		authStyle: o.AuthStyle,
		opts:      o,
		done:      make(chan struct{}),
		st:        newOAuthState(),
		counters:  newOAuthCounters(),
	}
	if s.refresh == RefreshProfileDefault {
		s.refresh = RefreshKeep
		if s.profile == OAuthMicrosoft {
			s.refresh = RefreshRotate
		}
	}
	if s.lifetime <= 0 {
		s.lifetime = defaultTokenLifetime
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.authStyle == oauth2.AuthStyleAutoDetect {
		s.authStyle = oauth2.AuthStyleInParams
	}
	if s.opts.DeviceInterval <= 0 {
		s.opts.DeviceInterval = defaultDeviceInterval
	}
	if s.opts.DeviceCodeLifetime <= 0 {
		s.opts.DeviceCodeLifetime = defaultDeviceLifetime
	}
	if s.opts.ClockSkew <= 0 {
		s.opts.ClockSkew = defaultClockSkew
	}

	mux := http.NewServeMux()
	mux.HandleFunc(oauthTokenPath, s.handleToken)
	mux.HandleFunc(oauthAuthPath, s.handleAuthorize)
	mux.HandleFunc(oauthDeviceAuthPath, s.handleDeviceAuthorization)
	mux.HandleFunc(oauthVerifyPath, s.handleDeviceVerification)
	mux.HandleFunc(oauthIntrospectPath, s.handleIntrospect)
	mux.HandleFunc(oauthTokenInfoPath, s.handleTokenInfo)
	mux.HandleFunc(oauthUserInfoPath, s.handleUserInfo)
	mux.HandleFunc(oauthRevokePath, s.handleRevoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})

	if o.Addr == "" {
		s.srv = httptest.NewUnstartedServer(mux)
	} else {
		ln, err := net.Listen("tcp", o.Addr)
		if err != nil {
			return nil, fmt.Errorf("sasltest: listen on %s: %w", o.Addr, err)
		}
		s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	}
	scheme := "http://"
	if o.TLS {
		scheme = "https://"
	}
	// Set before serving, so handlers only ever read it.
	s.URL = scheme + s.srv.Listener.Addr().String()
	if o.TLS {
		if o.TLSConfig != nil {
			s.srv.TLS = o.TLSConfig.Clone()
		}
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	return s, nil
}

// Close stops the server. Requests held by a slow-answer fault end at once.
func (s *OAuthServer) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.Close()
	})
}

// Format prints the server's URL and profile, never a token or secret.
func (s *OAuthServer) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.OAuthServer{URL:%s Profile:%s}", s.URL, s.profile))
}

// Profile reports the profile the server imitates.
func (s *OAuthServer) Profile() OAuthProfile { return s.profile }

// TokenURL is the token endpoint.
func (s *OAuthServer) TokenURL() string { return s.URL + oauthTokenPath }

// AuthURL is the authorization endpoint, an auto-approving consent page.
func (s *OAuthServer) AuthURL() string { return s.URL + oauthAuthPath }

// DeviceAuthURL is the device authorization endpoint (RFC 8628 §3.1).
func (s *OAuthServer) DeviceAuthURL() string { return s.URL + oauthDeviceAuthPath }

// VerificationURL is the device flow's verification page, where a user
// enters a user code.
func (s *OAuthServer) VerificationURL() string { return s.URL + oauthVerifyPath }

// IntrospectionURL is the RFC 7662 token introspection endpoint. It answers
// POST (form field token) and GET (query parameter token), the two ways
// Dovecot's oauth2 passdb asks.
func (s *OAuthServer) IntrospectionURL() string { return s.URL + oauthIntrospectPath }

// TokenInfoURL is a Google-style tokeninfo endpoint:
// GET ?access_token=... answers the token's fields, or 400 invalid_token.
func (s *OAuthServer) TokenInfoURL() string { return s.URL + oauthTokenInfoPath }

// UserInfoURL answers GET with "Authorization: Bearer <token>" with the
// token's user, or 401 (Dovecot's introspection_mode = auth).
func (s *OAuthServer) UserInfoURL() string { return s.URL + oauthUserInfoPath }

// RevocationURL is a revocation endpoint in Google's style (RFC 7009):
// POST token=... revokes the token and, for a refresh token, its family.
func (s *OAuthServer) RevocationURL() string { return s.URL + oauthRevokePath }

// Endpoint is the oauth2.Endpoint for golang.org/x/oauth2, with AuthStyle
// set explicitly (see OAuthOptions.AuthStyle).
func (s *OAuthServer) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{
		AuthURL:       s.AuthURL(),
		DeviceAuthURL: s.DeviceAuthURL(),
		TokenURL:      s.TokenURL(),
		AuthStyle:     s.authStyle,
	}
}

// HTTPClient returns an HTTP client for the server: with TLS, one that
// trusts its certificate. Put it in a context under oauth2.HTTPClient for
// golang.org/x/oauth2.
func (s *OAuthServer) HTTPClient() *http.Client { return s.srv.Client() }

// Certificate returns the server's TLS certificate, or nil without TLS.
func (s *OAuthServer) Certificate() *x509.Certificate { return s.srv.Certificate() }

// TLSConfig returns a client TLS configuration that trusts the server, or
// nil without TLS.
func (s *OAuthServer) TLSConfig() *tls.Config {
	c := s.srv.Certificate()
	if c == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func (s *OAuthServer) now() time.Time { return s.clock() }

// AddClient registers a client, replacing any with the same ID.
func (s *OAuthServer) AddClient(c OAuthClient) error {
	if c.ID == "" {
		return errors.New("sasltest: OAuthClient.ID is empty")
	}
	if c.Certificate != nil {
		if _, ok := c.Certificate.PublicKey.(*rsa.PublicKey); !ok {
			return errors.New("sasltest: OAuthClient.Certificate does not hold an RSA key")
		}
	}
	c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	c.Mailboxes = append([]string(nil), c.Mailboxes...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.clients[c.ID] = &c
	return nil
}

// AddUser registers users (email addresses) that may authorize clients.
func (s *OAuthServer) AddUser(users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		if u == "" {
			continue
		}
		if _, ok := s.st.users[u]; !ok {
			s.st.userOrder = append(s.st.userOrder, u)
		}
		s.st.users[u] = true
	}
}

// AddServiceAccount registers a Google-style service account.
func (s *OAuthServer) AddServiceAccount(sa OAuthServiceAccount) error {
	if sa.Email == "" {
		return errors.New("sasltest: OAuthServiceAccount.Email is empty")
	}
	if sa.PublicKey == nil {
		return errors.New("sasltest: OAuthServiceAccount.PublicKey is nil")
	}
	sa.Scopes = append([]string(nil), sa.Scopes...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.serviceAccounts[sa.Email] = &sa
	return nil
}

// SeedRefreshToken issues a refresh token for user to client with scopes
// directly, as if the user had consented earlier, and returns it. The user
// is registered if it was not. It fails for an unknown client.
func (s *OAuthServer) SeedRefreshToken(clientID, user string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.clients[clientID]; !ok {
		return "", fmt.Errorf("sasltest: unknown client %q", clientID)
	}
	s.addUserLocked(user)
	fam := s.st.newFamily()
	return s.st.newRefresh(s.profile, fam, clientID, user, scopes), nil
}

// IssueToken issues an access token and a refresh token for user to client
// with scopes directly, as a completed authorization would, and returns them
// with Expiry set. The user is registered if it was not.
func (s *OAuthServer) IssueToken(clientID, user string, scopes ...string) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.clients[clientID]; !ok {
		return nil, fmt.Errorf("sasltest: unknown client %q", clientID)
	}
	s.addUserLocked(user)
	fam := s.st.newFamily()
	rt := s.st.newRefresh(s.profile, fam, clientID, user, scopes)
	now := s.now()
	at := s.st.newAccess(s.profile, fam, clientID, user, scopes, now.Add(s.lifetime), "seed")
	return &oauth2.Token{
		AccessToken:  at,
		TokenType:    "Bearer",
		RefreshToken: rt,
		Expiry:       now.Add(s.lifetime),
		ExpiresIn:    int64(s.lifetime / time.Second),
	}, nil
}

func (s *OAuthServer) addUserLocked(u string) {
	if u == "" {
		return
	}
	if _, ok := s.st.users[u]; !ok {
		s.st.userOrder = append(s.st.userOrder, u)
	}
	s.st.users[u] = true
}

// Revoke revokes token, an access or a refresh token. Revoking a refresh
// token revokes its whole family: every refresh and access token descended
// from the same grant (Google documents that revoking either revokes the
// grant). It reports whether the token was known.
func (s *OAuthServer) Revoke(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.revoke(token)
}

// RevokeUser revokes every token issued for user, as a password change or
// an administrator's sign-out would.
func (s *OAuthServer) RevokeUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.st.access {
		if a.user == user {
			a.revoked = true
		}
	}
	for _, r := range s.st.refresh {
		if r.user == user {
			r.revoked = true
		}
	}
}

// tokenKey is how tokens are stored: their SHA-256, so that the server's
// state never holds a usable token.
type tokenKey [sha256.Size]byte

func keyOf(token string) tokenKey { return sha256.Sum256([]byte(token)) }

func scopeString(scopes []string) string { return strings.Join(scopes, " ") }

func splitScope(s string) []string { return strings.Fields(s) }
