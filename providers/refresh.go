package providers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Default RefreshOptions values.
const (
	// DefaultFallbackLifetime is the lifetime assumed for an access token
	// whose response had no usable expires_in.
	DefaultFallbackLifetime = 10 * time.Minute
	// DefaultAdoptMargin is the least remaining lifetime of a stored access
	// token that a RefreshFetcher adopts instead of refreshing.
	DefaultAdoptMargin = 10 * time.Minute
	// persistTimeout bounds the save that follows a successful refresh. It
	// runs even when the caller's context has ended: the server has
	// already rotated the refresh token.
	persistTimeout = 30 * time.Second
)

// RefreshOptions configure a RefreshFetcher. The zero value (or nil) gives
// the defaults.
type RefreshOptions struct {
	// HTTPClient sends the token requests. Nil means the *http.Client in
	// the request context under oauth2.HTTPClient, if any, else
	// http.DefaultClient.
	HTTPClient *http.Client
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// FallbackLifetime is the lifetime given to an access token whose
	// response had a missing, malformed or non-positive expires_in. The
	// tokens are kept and persisted all the same. Zero means
	// DefaultFallbackLifetime.
	FallbackLifetime time.Duration
	// AdoptMargin: a stored access token that this fetcher did not hand
	// out last, and that has at least AdoptMargin left, is returned
	// instead of refreshing (another process refreshed it). Keep it above
	// the Cache's RefreshMargin plus jitter. Zero means DefaultAdoptMargin.
	AdoptMargin time.Duration
	// Logger receives refresh events, never a token. Nil discards them.
	Logger *slog.Logger
}

// RefreshFetcher obtains access tokens with the refresh_token grant (RFC
// 6749 section 6) of an oauth2.Config, keeping the refresh token in a
// TokenStore under an account key. Put it behind a Cache (NewCache).
//
// Each Fetch, under the store's Lock for the account:
//
//  1. loads the stored token; if another process already refreshed it
//     (a stored access token this fetcher has not handed out, with at
//     least AdoptMargin left), returns that without a request;
//  2. otherwise sends one refresh request with the stored refresh token;
//  3. keeps the old refresh token if the response carries none;
//  4. saves the new pair with a compare-and-swap on the refresh token it
//     used, and only then returns the access token. If the save fails it
//     returns the token together with a *PersistError (ErrPersistFailed)
//     and keeps the pair in memory, to refresh from and to save again
//     next time.
//
// With no token stored for the account (never authorized, or deleted),
// Fetch fails with an error matching both ErrReauthRequired and the store's
// ErrNotFound, so a caller can tell "authorize" from "authorize again".
//
// invalid_grant and invalid_client come back as an *OAuthError matching
// ErrReauthRequired. On invalid_grant the stored token is deleted, but only
// if it still holds the refresh token that was rejected: a token written
// meanwhile (by an authorization flow, say) is never deleted.
//
// Client credentials are sent in the request body unless the endpoint's
// AuthStyle is oauth2.AuthStyleInHeader; AuthStyleAutoDetect is treated as
// in the body, so no request is ever sent twice to probe the style.
type RefreshFetcher struct {
	cfg     oauth2.Config
	store   TokenStore
	account string
	opts    RefreshOptions
	log     *slog.Logger

	mu       sync.Mutex
	last     *oauth2.Token // what this fetcher last returned
	pending  *oauth2.Token // a pair obtained but not yet persisted
	rejected string        // access token a server rejected (Invalidate)

	// hook, when set by a test, is called with "response" once a
	// successful token response has been parsed, before it is saved.
	hook func(point string)
}

var (
	_ Fetcher               = (*RefreshFetcher)(nil)
	_ sasl.TokenInvalidator = (*RefreshFetcher)(nil)
)

// NewRefreshFetcher returns a RefreshFetcher for account in store, using
// cfg's client ID, secret, token URL and scopes (sent as the scope
// parameter when not empty, as the Microsoft identity platform expects).
// cfg is copied. opts may be nil.
//
// The first refresh token comes from an authorization flow and is saved
// with store.Save(ctx, account, nil, tok).
func NewRefreshFetcher(cfg *oauth2.Config, store TokenStore, account string, opts *RefreshOptions) (*RefreshFetcher, error) {
	switch {
	case cfg == nil:
		return nil, fmt.Errorf("%w: nil oauth2.Config", ErrInvalidConfig)
	case store == nil:
		return nil, fmt.Errorf("%w: nil TokenStore", ErrInvalidConfig)
	case account == "":
		return nil, fmt.Errorf("%w: empty account key", ErrInvalidConfig)
	}
	u, err := url.Parse(cfg.Endpoint.TokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: token URL must be an absolute http(s) URL", ErrInvalidConfig)
	}
	f := &RefreshFetcher{cfg: *cfg, store: store, account: account}
	f.cfg.Scopes = append([]string(nil), cfg.Scopes...)
	if opts != nil {
		f.opts = *opts
	}
	if f.opts.Now == nil {
		f.opts.Now = time.Now
	}
	if f.opts.FallbackLifetime <= 0 {
		f.opts.FallbackLifetime = DefaultFallbackLifetime
	}
	if f.opts.AdoptMargin <= 0 {
		f.opts.AdoptMargin = DefaultAdoptMargin
	}
	f.log = f.opts.Logger
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With(slog.String("account", account))
	return f, nil
}

// Account returns the store key.
func (f *RefreshFetcher) Account() string { return f.account }

// Invalidate records that a server rejected tok, so that it is never
// adopted from the store again.
func (f *RefreshFetcher) Invalidate(tok *oauth2.Token) {
	if tok == nil || tok.AccessToken == "" {
		return
	}
	f.mu.Lock()
	f.rejected = tok.AccessToken
	f.mu.Unlock()
}

// Fetch returns a fresh access token; see RefreshFetcher for the steps.
func (f *RefreshFetcher) Fetch(ctx context.Context) (*oauth2.Token, error) {
	unlock, err := f.store.Lock(ctx, f.account)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("providers: locking account %q: %w", f.account, err)
	}
	defer unlock()

	stored, err := f.store.Load(ctx, f.account)
	var notFound error // the store's not-found error
	if errors.Is(err, ErrNotFound) {
		stored, err, notFound = nil, nil, err
	}

	f.mu.Lock()
	pending, last, rejected := f.pending, f.last, f.rejected
	f.mu.Unlock()

	if err != nil && pending == nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("providers: loading token of account %q: %w", f.account, err)
	}

	base := stored
	if pending != nil {
		// The newest pair this process knows was never saved; its refresh
		// token is the live one.
		base = pending
	} else if f.adoptable(stored, last, rejected) {
		f.log.Debug("providers: adopted token refreshed by another process")
		f.mu.Lock()
		f.last = stored
		f.mu.Unlock()
		return copyToken(stored), nil
	}
	if base == nil || base.RefreshToken == "" {
		if notFound != nil {
			return nil, &noStoredTokenError{account: f.account, err: notFound}
		}
		return nil, fmt.Errorf("%w: no refresh token stored for account %q", ErrReauthRequired, f.account)
	}

	j, _ := f.store.(refreshJournal)
	var interruptedAt time.Time
	interrupted := false
	if j != nil {
		interruptedAt, interrupted = j.interruptedRefresh(f.account, base.RefreshToken)
		j.beginRefresh(f.account, base.RefreshToken, f.opts.Now())
	}
	resp, err := f.request(ctx, base.RefreshToken)
	if err != nil {
		if j != nil {
			j.endRefresh(f.account)
		}
		if errors.Is(err, ErrReauthRequired) {
			if interrupted {
				f.log.Error("providers: persist lost: a refresh with this refresh token started earlier and its result was never saved "+
					"(the process stopped between the token response and the save); the rotated refresh token is gone",
					slog.Time("started", interruptedAt))
				err = fmt.Errorf("%w (persist lost: a refresh started at %s was interrupted before its result was saved)",
					err, interruptedAt.Format(time.RFC3339))
			}
			f.onRejected(ctx, base, pending != nil, err)
		}
		return nil, err
	}
	if f.hook != nil {
		f.hook("response")
	}
	tok := resp.tok
	if resp.guessedExpiry {
		f.log.Warn("providers: token response had no usable expires_in; assuming a short lifetime",
			slog.Duration("lifetime", f.opts.FallbackLifetime))
	}
	rotated := tok.RefreshToken != "" && tok.RefreshToken != base.RefreshToken
	if tok.RefreshToken == "" {
		tok.RefreshToken = base.RefreshToken
	}

	// Persist before anyone sees the access token, even if the caller has
	// gone: the server may already have revoked the old refresh token.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
	defer cancel()
	prev := stored
	if prev == nil {
		prev = &oauth2.Token{} // precondition: nothing stored
	}
	if serr := f.store.Save(sctx, f.account, prev, tok); serr != nil {
		f.mu.Lock()
		f.pending, f.last = tok, tok
		f.mu.Unlock()
		f.log.Error("providers: refreshed token not persisted; keeping it in memory",
			slog.Bool("rotated", rotated), slog.String("error", serr.Error()))
		return copyToken(tok), &PersistError{Account: f.account, Err: serr}
	}
	if j != nil {
		j.endRefresh(f.account)
	}
	f.mu.Lock()
	f.pending, f.last = nil, tok
	f.mu.Unlock()
	f.log.Debug("providers: token refreshed", slog.Bool("rotated", rotated))
	return copyToken(tok), nil
}

// adoptable reports whether the stored token was refreshed by someone else
// and is fresh enough to use as is.
func (f *RefreshFetcher) adoptable(stored, last *oauth2.Token, rejected string) bool {
	if stored == nil || stored.AccessToken == "" || stored.Expiry.IsZero() {
		return false
	}
	if stored.Expiry.Sub(f.opts.Now()) < f.opts.AdoptMargin {
		return false
	}
	if last != nil && subtle.ConstantTimeCompare([]byte(last.AccessToken), []byte(stored.AccessToken)) == 1 {
		return false
	}
	if rejected != "" && subtle.ConstantTimeCompare([]byte(rejected), []byte(stored.AccessToken)) == 1 {
		return false
	}
	return true
}

// onRejected handles invalid_grant/invalid_client for the refresh token of
// base.
func (f *RefreshFetcher) onRejected(ctx context.Context, base *oauth2.Token, wasPending bool, err error) {
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" {
		// invalid_client: the client registration is wrong, not the
		// refresh token; keep it.
		f.log.Error("providers: token endpoint rejected the client", slog.String("error", err.Error()))
		return
	}
	f.log.Error("providers: refresh token rejected; the user must authorize again "+
		"(if a refresh was interrupted after the server rotated the token and before it was saved, the rotation was lost)",
		slog.String("error", err.Error()))
	if wasPending {
		f.mu.Lock()
		f.pending = nil
		f.mu.Unlock()
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
	defer cancel()
	switch derr := f.store.Delete(dctx, f.account, base); {
	case derr == nil:
	case errors.Is(derr, ErrConflict):
		f.log.Info("providers: a newer token was stored meanwhile; not deleting it")
	default:
		f.log.Warn("providers: could not delete the rejected token", slog.String("error", derr.Error()))
	}
}

// request sends one refresh_token grant request.
func (f *RefreshFetcher) request(ctx context.Context, refreshToken string) (*tokenResponse, error) {
	secrets := []string{refreshToken, f.cfg.ClientSecret}
	v := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}
	if len(f.cfg.Scopes) > 0 {
		v.Set("scope", strings.Join(f.cfg.Scopes, " "))
	}
	inHeader := f.cfg.Endpoint.AuthStyle == oauth2.AuthStyleInHeader
	if !inHeader {
		v.Set("client_id", f.cfg.ClientID)
		if f.cfg.ClientSecret != "" {
			v.Set("client_secret", f.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.Endpoint.TokenURL, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: token request: %v", ErrInvalidConfig, redactSecrets(err.Error(), secrets))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if inHeader {
		// RFC 6749 section 2.3.1: form-encode both before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	}
	resp, err := f.client(ctx).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, TokenEndpointError(err, secrets...)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, Transient(fmt.Errorf("providers: reading token response (HTTP %d): %w", resp.StatusCode, scrubError(err, secrets)))
	}
	return parseTokenResponse(resp.StatusCode, resp.Header, body, f.opts.Now(), f.opts.FallbackLifetime, secrets)
}

func (f *RefreshFetcher) client(ctx context.Context) *http.Client {
	if f.opts.HTTPClient != nil {
		return f.opts.HTTPClient
	}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	return http.DefaultClient
}

// Format prints the fetcher without its client secret or tokens.
func (f *RefreshFetcher) Format(fs fmt.State, verb rune) {
	redact.Format(fs, verb, "providers.RefreshFetcher{account="+strconv.Quote(f.account)+
		" client_id="+strconv.Quote(f.cfg.ClientID)+" client_secret="+redact.Secret(f.cfg.ClientSecret)+
		" token_url="+strconv.Quote(f.cfg.Endpoint.TokenURL)+"}")
}

// String describes the fetcher without secrets.
func (f *RefreshFetcher) String() string { return fmt.Sprint(f) }

// noStoredTokenError is a Fetch with no token stored for the account. It
// matches ErrReauthRequired (authorization is needed) and, through the
// store's own error, ErrNotFound (it was never given, or was deleted).
type noStoredTokenError struct {
	account string
	err     error // the store's error, matching ErrNotFound
}

func (e *noStoredTokenError) Error() string {
	return fmt.Sprintf("providers: authorization required: no token stored for account %q", e.account)
}

// Unwrap returns ErrReauthRequired and the store's error.
func (e *noStoredTokenError) Unwrap() []error { return []error{ErrReauthRequired, e.err} }
