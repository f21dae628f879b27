package providers

import (
	"container/list"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// DefaultMaxDelegatedUsers is how many users' tokens a ServiceAccount keeps
// when ServiceAccountOptions.MaxUsers is zero. Each kept user costs about
// one kilobyte; a user dropped from the cache simply fetches a new token
// on next use.
const DefaultMaxDelegatedUsers = 10000

// ErrDelegationDenied matches a *DelegationError: Google refused to let the
// service account act for the user, because domain-wide delegation is not
// granted to it for the requested scopes, or the token it obtained is not
// accepted for the mailbox.
var ErrDelegationDenied = errors.New("providers: domain-wide delegation not granted")

// ServiceAccountOptions configure a ServiceAccount. The zero value (or nil)
// gives the defaults.
type ServiceAccountOptions struct {
	// Scopes requested for every user. Nil means ScopeGmail
	// (https://mail.google.com/), the scope Gmail's IMAP, POP and SMTP
	// require.
	Scopes []string
	// TokenURL overrides the key's token_uri (which defaults to Google's
	// https://oauth2.googleapis.com/token).
	TokenURL string
	// HTTPClient makes the token requests; nil means the client in the
	// request context (oauth2.HTTPClient) or http.DefaultClient.
	HTTPClient *http.Client
	// MaxUsers bounds how many users' cached tokens are kept; when a new
	// user would exceed it, the least recently used one is dropped. Zero
	// means DefaultMaxDelegatedUsers.
	MaxUsers int
	// Cache configures each user's Cache. Name, when empty, is set to the
	// user's address.
	Cache *CacheOptions
}

// ServiceAccount is a Google service account with domain-wide delegation:
// it obtains access tokens for any user of a Google Workspace domain whose
// administrator granted the account's client ID the requested scopes.
//
// It holds the parsed key. User returns a provider for one user; tokens are
// cached per user, for at most MaxUsers users (least recently used first
// out), so one ServiceAccount serves a whole domain — 100,000 mailboxes or
// more — with bounded memory.
//
// Each token request is the JWT bearer grant (RFC 7523) at the token
// endpoint: an assertion signed with the account's key, with iss the
// account's address, sub the user, scope the scopes, aud the token URL, and
// a one-hour lifetime. The signing and the request are those of
// golang.org/x/oauth2/jwt.
type ServiceAccount struct {
	cfg      jwt.Config // Subject empty; copied per request
	clientID string
	hc       *http.Client
	cacheOpt *CacheOptions

	users *userLRU
}

// saKeyFile is the part of a service account JSON key this package checks.
type saKeyFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	ClientID     string `json:"client_id"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// NewServiceAccount parses a service account JSON key, as downloaded from
// the Google Cloud console. Errors match ErrInvalidKey and never quote the
// key.
func NewServiceAccount(jsonKey []byte, opts *ServiceAccountOptions) (*ServiceAccount, error) {
	var o ServiceAccountOptions
	if opts != nil {
		o = *opts
	}
	var k saKeyFile
	if err := json.Unmarshal(jsonKey, &k); err != nil {
		return nil, fmt.Errorf("%w: service account key is not a JSON object (%s)", ErrInvalidKey, jsonFault(err))
	}
	switch {
	case k.Type == "":
		return nil, fmt.Errorf("%w: service account key has no \"type\"", ErrInvalidKey)
	case k.Type != "service_account":
		return nil, fmt.Errorf("%w: key type is %s, not service_account", ErrInvalidKey, quoteShort(k.Type))
	case k.ClientEmail == "":
		return nil, fmt.Errorf("%w: service account key has no client_email", ErrInvalidKey)
	case k.PrivateKey == "":
		return nil, fmt.Errorf("%w: service account key has no private_key", ErrInvalidKey)
	}
	der := []byte(k.PrivateKey)
	if block, _ := pem.Decode(der); block != nil {
		der = block.Bytes
	}
	if _, err := parseRSAKey(der); err != nil {
		return nil, fmt.Errorf("%w (in the service account key's private_key)", err)
	}

	scopes := o.Scopes
	if scopes == nil {
		scopes = []string{ScopeGmail}
	}
	cfg, err := google.JWTConfigFromJSON(jsonKey, scopes...)
	if err != nil {
		// Checked above; reported without the library's message, which
		// may quote the input.
		return nil, fmt.Errorf("%w: service account key rejected", ErrInvalidKey)
	}
	if o.TokenURL != "" {
		cfg.TokenURL = o.TokenURL
	}
	if u, err := url.Parse(cfg.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: token URL is not an http(s) URL", ErrInvalidKey)
	}
	maxUsers := o.MaxUsers
	if maxUsers <= 0 {
		maxUsers = DefaultMaxDelegatedUsers
	}
	sa := &ServiceAccount{
		cfg:      *cfg,
		clientID: k.ClientID,
		hc:       o.HTTPClient,
		users:    newUserLRU(maxUsers),
	}
	if o.Cache != nil {
		c := *o.Cache
		sa.cacheOpt = &c
	}
	return sa, nil
}

// jsonFault describes a JSON decoding error without quoting the input.
func jsonFault(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at offset " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + strconv.Quote(te.Field) + " has the wrong type"
	}
	return "malformed"
}

// quoteShort quotes a short, non-secret value from a file for a message,
// bounded and printable.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strconv.QuoteToGraphic(s)
}

// ClientEmail returns the service account's address (the JWT issuer).
func (sa *ServiceAccount) ClientEmail() string { return sa.cfg.Email }

// ClientID returns the service account's numeric client ID, the one an
// administrator enters in the Google Admin console to grant domain-wide
// delegation. It is "" when the key file has none.
func (sa *ServiceAccount) ClientID() string { return sa.clientID }

// Scopes returns the scopes requested for every user.
func (sa *ServiceAccount) Scopes() []string { return append([]string(nil), sa.cfg.Scopes...) }

// CachedUsers reports how many users' caches are kept.
func (sa *ServiceAccount) CachedUsers() int { return sa.users.len() }

// Forget drops the cached token of user, if any.
func (sa *ServiceAccount) Forget(user string) { sa.users.remove(userKey(user)) }

// Format prints the service account without its private key.
func (sa ServiceAccount) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "providers.ServiceAccount{ClientEmail:"+strconv.Quote(sa.cfg.Email)+
		" ClientID:"+strconv.Quote(sa.clientID)+" PrivateKey:"+redact.Placeholder+
		" Users:"+strconv.Itoa(sa.users.len())+"}")
}

// User returns the provider for user, the address of the mailbox to act
// for (the JWT's sub). It is cheap: the per-user state lives in the
// ServiceAccount's bounded cache, not in the returned value.
func (sa *ServiceAccount) User(user string) *DelegatedUser {
	return &DelegatedUser{sa: sa, user: user}
}

// DelegatedUser is a ServiceAccount acting for one user. It is a Fetcher
// (Fetch: one token request) and a cached sasl.TokenSource (Token), the
// cache being the ServiceAccount's per-user cache.
type DelegatedUser struct {
	sa   *ServiceAccount
	user string
}

var (
	_ Fetcher               = (*DelegatedUser)(nil)
	_ sasl.TokenSource      = (*DelegatedUser)(nil)
	_ sasl.TokenInvalidator = (*DelegatedUser)(nil)
)

// Email returns the user's address.
func (u *DelegatedUser) Email() string { return u.user }

// Format prints the user and service account, never the key or a token.
func (u DelegatedUser) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "providers.DelegatedUser{User:"+strconv.Quote(u.user)+
		" ServiceAccount:"+strconv.Quote(u.sa.cfg.Email)+"}")
}

// Token returns a valid token for the user from the ServiceAccount's
// per-user cache, fetching one if needed (see Cache).
func (u *DelegatedUser) Token(ctx context.Context) (*oauth2.Token, error) {
	if !plausibleAddress(u.user) {
		// Refused before it takes a place in the cache.
		return u.sa.fetch(ctx, u.user)
	}
	return u.sa.users.get(userKey(u.user), u.newCache).Token(ctx)
}

// Invalidate drops tok from the user's cache if it still holds it.
func (u *DelegatedUser) Invalidate(tok *oauth2.Token) {
	if c := u.sa.users.peek(userKey(u.user)); c != nil {
		c.Invalidate(tok)
	}
}

func (u *DelegatedUser) newCache() *Cache {
	var o CacheOptions
	if u.sa.cacheOpt != nil {
		o = *u.sa.cacheOpt
	}
	if o.Name == "" {
		o.Name = u.user
	}
	// The Cache calls a plain Fetcher, not u, whose Invalidate leads back
	// to the Cache.
	sa, user := u.sa, u.user
	return NewCache(FetcherFunc(func(ctx context.Context) (*oauth2.Token, error) {
		return sa.fetch(ctx, user)
	}), &o)
}

// Fetch requests a new token for the user: one request, no cache. A token
// endpoint refusal that means delegation is not granted
// (unauthorized_client, access_denied) is a *DelegationError; other
// refusals are *OAuthError values.
func (u *DelegatedUser) Fetch(ctx context.Context) (*oauth2.Token, error) {
	return u.sa.fetch(ctx, u.user)
}

// Diagnose explains err, an authentication failure of this user's token at
// the mail server, when it points at delegation: a *sasl.TokenError with
// status 400 (what Gmail answers to a token lacking the mail scope), or a
// server message saying "Lookup failed". It then returns a
// *DelegationError wrapping err; otherwise err unchanged.
func (u *DelegatedUser) Diagnose(err error) error {
	if err == nil {
		return nil
	}
	var de *DelegationError
	if errors.As(err, &de) {
		return err
	}
	var te *sasl.TokenError
	if (errors.As(err, &te) && te.Status == "400") || strings.Contains(strings.ToLower(err.Error()), "lookup failed") {
		return u.sa.delegationError(u.user, err, true)
	}
	return err
}

func userKey(user string) string { return strings.ToLower(strings.TrimSpace(user)) }

// fetch runs the JWT bearer grant for user.
func (sa *ServiceAccount) fetch(ctx context.Context, user string) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !plausibleAddress(user) {
		return nil, fmt.Errorf("providers: service account: %s is not an email address", quoteShort(user))
	}
	cfg := sa.cfg
	cfg.Subject = user
	// jwt posts without a request context; bind this call's ctx to every
	// request so that cancellation reaches the network.
	hc, transportErr := ctxBoundClient(ctx, sa.hc)
	tok, err := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc)).Token()
	if err == nil {
		if tok == nil || tok.AccessToken == "" {
			return nil, fmt.Errorf("%w: service account token response has no access_token", ErrBadResponse)
		}
		return tok, nil
	}
	err = tokenRequestError(ctx, err, transportErr, "service account token for "+user)
	var oe *OAuthError
	if errors.As(err, &oe) && (oe.Code == "unauthorized_client" || oe.Code == "access_denied") {
		return nil, sa.delegationError(user, err, false)
	}
	return nil, err
}

// plausibleAddress accepts a non-empty address with an @ and no spaces or
// control characters: enough to refuse garbage before signing anything.
func plausibleAddress(s string) bool {
	if s == "" || len(s) > 320 || !strings.Contains(s, "@") || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

func (sa *ServiceAccount) delegationError(user string, err error, atServer bool) *DelegationError {
	return &DelegationError{
		ClientEmail: sa.cfg.Email,
		ClientID:    sa.clientID,
		User:        user,
		Scopes:      append([]string(nil), sa.cfg.Scopes...),
		AtServer:    atServer,
		Err:         err,
	}
}

// DelegationError says that a service account could not act for a user,
// and what to check. It matches ErrDelegationDenied and wraps the
// underlying error (an *OAuthError from the token endpoint, or the mail
// server's rejection).
type DelegationError struct {
	// ClientEmail is the service account's address.
	ClientEmail string
	// ClientID is the numeric client ID to grant delegation to.
	ClientID string
	// User is the address the account tried to act for.
	User string
	// Scopes are the scopes requested.
	Scopes []string
	// AtServer is true when the mail server, not the token endpoint,
	// refused (see DelegatedUser.Diagnose).
	AtServer bool
	// Err is the underlying error.
	Err error
}

// Error says who could not act for whom, what to grant and where, and
// the underlying error.
func (e *DelegationError) Error() string {
	var b strings.Builder
	b.WriteString("providers: service account ")
	b.WriteString(e.ClientEmail)
	b.WriteString(" cannot act for ")
	b.WriteString(e.User)
	id := e.ClientID
	if id == "" {
		id = "(see client_id in the key file)"
	}
	scopes := strings.Join(e.Scopes, ",")
	if e.AtServer {
		b.WriteString(": the mail server refused the delegated token; check that the user exists and has Gmail (IMAP enabled), and that domain-wide delegation for client ID " +
			id + " covers scope " + scopes)
	} else {
		b.WriteString(": domain-wide delegation is not granted for client ID " + id + " and scope " + scopes +
			"; a Workspace administrator must add them in the Google Admin console (Security > Access and data control > API controls > Domain-wide delegation)")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrDelegationDenied and Err.
func (e *DelegationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrDelegationDenied}
	}
	return []error{ErrDelegationDenied, e.Err}
}

// userLRU keeps one Cache per user, at most max of them, dropping the least
// recently used. One mutex guards it: a lookup is a map access and a list
// move, far below the cost of anything done with the token.
type userLRU struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *userEntry, most recently used first
	byKey map[string]*list.Element
}

type userEntry struct {
	key   string
	cache *Cache
}

func newUserLRU(max int) *userLRU {
	return &userLRU{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

// get returns key's cache, creating it with mk, and marks it most recently
// used.
func (l *userLRU) get(key string, mk func() *Cache) *Cache {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		l.order.MoveToFront(el)
		return el.Value.(*userEntry).cache
	}
	c := mk()
	l.byKey[key] = l.order.PushFront(&userEntry{key: key, cache: c})
	for l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.byKey, last.Value.(*userEntry).key)
	}
	return c
}

// peek returns key's cache without creating it or changing the order.
func (l *userLRU) peek(key string) *Cache {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		return el.Value.(*userEntry).cache
	}
	return nil
}

func (l *userLRU) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		l.order.Remove(el)
		delete(l.byKey, key)
	}
}

func (l *userLRU) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
