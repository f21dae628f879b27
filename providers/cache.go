package providers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// Default CacheOptions values.
const (
	// DefaultRefreshMargin is how long before expiry a Cache starts
	// refreshing a token in the background.
	DefaultRefreshMargin = 5 * time.Minute
	// DefaultRefreshJitter is the largest random amount added to the
	// refresh margin, so that a fleet sharing a token does not refresh in
	// step.
	DefaultRefreshJitter = time.Minute
	// DefaultMinValidity is the least remaining lifetime a handed-out
	// token has.
	DefaultMinValidity = 30 * time.Second
	// DefaultRefreshTimeout bounds one refresh, retries included.
	DefaultRefreshTimeout = 2 * time.Minute
)

// CacheOptions configure a Cache. The zero value (or nil) gives the
// defaults.
type CacheOptions struct {
	// RefreshMargin: once a token has less than RefreshMargin (plus a
	// random jitter) left, the next Token call starts a refresh in the
	// background and still returns the current token. Zero means
	// DefaultRefreshMargin. For tokens shorter-lived than twice the margin,
	// the refresh starts at half the token's lifetime instead.
	RefreshMargin time.Duration
	// RefreshJitter is the upper bound of a random extra margin drawn once
	// per token. Zero means DefaultRefreshJitter; negative disables jitter.
	RefreshJitter time.Duration
	// MinValidity: a token with less than MinValidity left is never handed
	// out; callers wait for the refresh instead. Zero means
	// DefaultMinValidity. For short-lived tokens it is capped at a quarter
	// of the token's lifetime.
	MinValidity time.Duration
	// RefreshTimeout bounds one refresh, retries included. The refresh
	// runs on a context detached from the caller that started it, so that
	// it completes for every other waiter. Zero means
	// DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// Retry is the retry policy for transient failures. Nil means the
	// RetryPolicy defaults.
	Retry *RetryPolicy
	// Now returns the current time. Nil means time.Now. Tests inject a fake
	// clock here.
	Now func() time.Time
	// Sleep waits between retries; it returns early with ctx.Err(). Nil
	// means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// RandN returns a uniformly random value in [0, n) for jitter. Nil
	// means math/rand/v2's Int64N.
	RandN func(n int64) int64
	// Logger receives refresh events: never a token, only the account name,
	// timings and sanitised errors. Nil discards them.
	Logger *slog.Logger
	// Name labels log records and errors, typically the account.
	Name string
	// OnError, if set, is called with every refresh failure, including
	// background refreshes whose callers never see the error and
	// ErrPersistFailed, which a Cache does not return from Token because
	// the token is usable. It must not block.
	OnError func(error)
}

// entry is an immutable cached token with its precomputed deadlines, so that
// the hot path is one atomic load and two time comparisons.
type entry struct {
	tok     *oauth2.Token
	forever bool  // zero Expiry: valid until invalidated
	softAt  int64 // Unix ns; from here on, refresh in the background
	hardAt  int64 // Unix ns; from here on, never hand the token out
}

// flight is one refresh in progress. done is closed once tok/err are set.
type flight struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// Cache puts a Fetcher behind a cache that serves tokens to many goroutines.
// It implements sasl.TokenSource and sasl.TokenInvalidator.
//
//   - A valid cached token is returned with atomic loads only: no lock, no
//     allocation. A cache read more than 64 times a second stops reading
//     the wall clock on every call and uses a reading refreshed every
//     100 ms by a goroutine that exits once reads stop; it is trusted only
//     more than a second away from the refresh deadline.
//   - When the token enters its refresh margin, one caller starts a refresh
//     in the background and every caller keeps getting the current token.
//   - A token with less than MinValidity left (or past its expiry) is never
//     handed out: callers wait for the refresh. At most one refresh is in
//     flight; every waiter gets its result. A waiter whose ctx ends returns
//     ctx.Err() at once, while the refresh, running on a context detached
//     from any caller and bounded by RefreshTimeout, completes for the
//     others.
//   - Transient failures are retried per RetryPolicy; invalid_grant and
//     invalid_client are not (ErrReauthRequired).
//   - A token whose Expiry is zero is treated as valid until Invalidate
//     drops it: an OAuth server that omits expires_in issues tokens without
//     a stated lifetime.
//
// No context is stored: each refresh uses the context of the call that
// started it, without its cancellation.
type Cache struct {
	f   Fetcher
	cur atomic.Pointer[entry]
	now func() time.Time
	// realClock: now is time.Now; the hot path may then use coarse.
	realClock bool
	coarse    coarseClock
	opts      CacheOptions
	pol       RetryPolicy
	log       *slog.Logger

	flying atomic.Bool // a refresh is in flight (fast check for the soft window)

	// notBefore (Unix nanoseconds): no background refresh before this
	// time, after a background refresh failed.
	notBefore atomic.Int64

	mu sync.Mutex // guards fl
	fl *flight
}

var (
	_ sasl.TokenSource      = (*Cache)(nil)
	_ sasl.TokenInvalidator = (*Cache)(nil)
)

// NewCache returns a Cache in front of f. opts may be nil. If f implements
// sasl.TokenInvalidator, Invalidate is passed on to it.
func NewCache(f Fetcher, opts *CacheOptions) *Cache {
	c := &Cache{f: f}
	if opts != nil {
		c.opts = *opts
	}
	o := &c.opts
	if o.RefreshMargin <= 0 {
		o.RefreshMargin = DefaultRefreshMargin
	}
	if o.RefreshJitter == 0 {
		o.RefreshJitter = DefaultRefreshJitter
	} else if o.RefreshJitter < 0 {
		o.RefreshJitter = 0
	}
	if o.MinValidity <= 0 {
		o.MinValidity = DefaultMinValidity
	}
	if o.RefreshTimeout <= 0 {
		o.RefreshTimeout = DefaultRefreshTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
		c.realClock = true
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.RandN == nil {
		o.RandN = rand.Int64N
	}
	c.now = o.Now
	c.pol = o.Retry.withDefaults()
	c.log = o.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if o.Name != "" {
		c.log = c.log.With(slog.String("account", o.Name))
	}
	return c
}

// Token returns a valid access token, fetching one if needed. It is safe
// for concurrent use. The returned token must not be modified.
func (c *Cache) Token(ctx context.Context) (*oauth2.Token, error) {
	if e := c.cur.Load(); e != nil {
		if e.forever {
			return e.tok, nil
		}
		var now int64
		if c.realClock {
			n, coarse := c.coarse.read()
			if coarse {
				if n+int64(coarseSlack) < e.softAt {
					return e.tok, nil
				}
				n = time.Now().UnixNano() // near a deadline: be exact
			}
			now = n
		} else {
			now = c.now().UnixNano()
		}
		if now < e.softAt {
			return e.tok, nil
		}
		if now < e.hardAt {
			if !c.flying.Load() && now >= c.notBefore.Load() {
				c.startBackground(ctx)
			}
			return e.tok, nil
		}
	}
	return c.wait(ctx)
}

// Invalidate drops tok from the cache if the cache still holds it (a token
// with the same access token), so that the next Token call fetches a fresh
// one. A newer token is never dropped. If the Fetcher implements
// sasl.TokenInvalidator, it is told too.
func (c *Cache) Invalidate(tok *oauth2.Token) {
	if tok == nil {
		return
	}
	for {
		e := c.cur.Load()
		if e == nil || !sameToken(e.tok, tok) {
			break
		}
		if c.cur.CompareAndSwap(e, nil) {
			c.log.Info("providers: cached token invalidated")
			break
		}
	}
	if inv, ok := c.f.(sasl.TokenInvalidator); ok {
		inv.Invalidate(tok)
	}
}

// sameToken compares access tokens in constant time.
func sameToken(a, b *oauth2.Token) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a.AccessToken), []byte(b.AccessToken)) == 1
}

// Format prints the cache without its token.
func (c *Cache) Format(f fmt.State, verb rune) {
	desc := "providers.Cache{"
	if c.opts.Name != "" {
		desc += "name=" + strconv.Quote(c.opts.Name) + " "
	}
	if e := c.cur.Load(); e != nil {
		desc += "token=" + redact.Placeholder
		if !e.forever {
			desc += " expiry=" + e.tok.Expiry.UTC().Format(time.RFC3339)
		}
	} else {
		desc += "token=none"
	}
	redact.Format(f, verb, desc+"}")
}

// String describes the cache without its token.
func (c *Cache) String() string { return fmt.Sprint(c) }

// startBackground starts a refresh unless one is running or a recent
// background refresh failed.
func (c *Cache) startBackground(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fl != nil {
		return
	}
	c.startLocked(ctx, true)
}

// wait joins the refresh in flight, starting one if needed, and waits for
// it or for ctx.
func (c *Cache) wait(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	// Re-check: a refresh may have landed since the lock-free read.
	if e := c.cur.Load(); e != nil && (e.forever || c.now().UnixNano() < e.hardAt) {
		c.mu.Unlock()
		return e.tok, nil
	}
	fl := c.fl
	if fl == nil {
		fl = c.startLocked(ctx, false)
	}
	c.mu.Unlock()

	select {
	case <-fl.done:
		return fl.tok, fl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startLocked starts a refresh goroutine. c.mu must be held.
func (c *Cache) startLocked(ctx context.Context, background bool) *flight {
	fl := &flight{done: make(chan struct{})}
	c.fl = fl
	c.flying.Store(true)
	// The refresh keeps the values of the context that started it (a
	// per-request HTTP client, trace data) but not its cancellation: other
	// callers depend on it. RefreshTimeout bounds it instead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RefreshTimeout)
	go func() {
		defer cancel()
		c.run(rctx, fl, background)
	}()
	return fl
}

func (c *Cache) run(ctx context.Context, fl *flight, background bool) {
	start := c.now()
	tok, err := c.fetchRetrying(ctx)
	var report error // reported but not returned
	if err != nil && tok != nil && errors.Is(err, ErrPersistFailed) {
		report, err = err, nil
	}
	if err == nil {
		var e *entry
		e, err = c.newEntry(tok)
		if err == nil {
			c.cur.Store(e)
		}
	}
	if err != nil {
		tok = nil
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("providers: refresh timed out after %v: %w", c.opts.RefreshTimeout, err)
		}
		report = err
	}

	c.mu.Lock()
	c.fl = nil
	c.flying.Store(false)
	if err != nil && background {
		c.notBefore.Store(c.now().Add(c.pol.MaxDelay).UnixNano())
	}
	c.mu.Unlock()

	switch {
	case err != nil:
		c.log.Error("providers: token refresh failed", slog.Bool("background", background), slog.String("error", err.Error()))
	case report != nil:
		c.log.Error("providers: token refreshed but not persisted", slog.String("error", report.Error()))
	default:
		attrs := []any{slog.Bool("background", background), slog.Duration("took", c.now().Sub(start))}
		if !tok.Expiry.IsZero() {
			attrs = append(attrs, slog.Time("expiry", tok.Expiry))
		}
		c.log.Debug("providers: token refreshed", attrs...)
	}
	if report != nil && c.opts.OnError != nil {
		c.opts.OnError(report)
	}
	// Report before waking the waiters, so that what they observe
	// afterwards includes the report.
	fl.tok, fl.err = tok, err
	close(fl.done)
}

// fetchRetrying calls the Fetcher, retrying transient failures.
func (c *Cache) fetchRetrying(ctx context.Context) (*oauth2.Token, error) {
	for attempt := 1; ; attempt++ {
		tok, err := c.fetchOnce(ctx)
		if err == nil || tok != nil {
			return tok, err
		}
		retry, after := classify(err)
		if !retry || attempt >= c.pol.MaxAttempts {
			return nil, err
		}
		if after > c.pol.MaxRetryAfter {
			c.log.Warn("providers: server asked to wait longer than allowed", slog.Duration("retry_after", after))
			return nil, err
		}
		d := max(c.pol.backoff(attempt, c.opts.RandN), after)
		c.log.Warn("providers: token fetch failed, retrying",
			slog.Int("attempt", attempt), slog.Duration("delay", d), slog.String("error", err.Error()))
		if serr := c.opts.Sleep(ctx, d); serr != nil {
			return nil, err
		}
	}
}

// fetchOnce calls the Fetcher once, turning a panic into an error and
// sanitising what it returns.
func (c *Cache) fetchOnce(ctx context.Context) (tok *oauth2.Token, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value may hold a secret: report only its type.
			tok, err = nil, fmt.Errorf("providers: token fetcher panicked (%T)", r)
		}
	}()
	if c.f == nil {
		return nil, fmt.Errorf("%w: nil Fetcher", ErrInvalidConfig)
	}
	tok, err = c.f.Fetch(ctx)
	err = TokenEndpointError(err)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		return nil, fmt.Errorf("%w: fetcher returned an empty token", ErrNoToken)
	}
	if err != nil && tok != nil && (tok.AccessToken == "" || !errors.Is(err, ErrPersistFailed)) {
		tok = nil
	}
	if tok != nil && !tok.Expiry.IsZero() && !c.now().Before(tok.Expiry) {
		// Already expired on arrival (a source handing out a stale token,
		// or a clock that jumped during the fetch): worth another attempt.
		return nil, &TransientError{Err: fmt.Errorf("%w: the fetched token expired at %s", ErrTokenExpired, tok.Expiry.UTC().Format(time.RFC3339))}
	}
	return tok, err
}

// newEntry computes the deadlines of a freshly fetched token. A token that
// is already (nearly) expired is refused rather than handed out.
func (c *Cache) newEntry(tok *oauth2.Token) (*entry, error) {
	e := &entry{tok: tok}
	if tok.Expiry.IsZero() {
		e.forever = true
		return e, nil
	}
	now := c.now()
	life := tok.Expiry.Sub(now)
	if life <= 0 {
		return nil, fmt.Errorf("%w: the fetched token expired at %s", ErrTokenExpired, tok.Expiry.UTC().Format(time.RFC3339))
	}
	hard := min(c.opts.MinValidity, life/4)
	e.hardAt = clampNano(tok.Expiry.Add(-hard))
	margin := c.opts.RefreshMargin
	if c.opts.RefreshJitter > 0 {
		margin += time.Duration(c.opts.RandN(int64(c.opts.RefreshJitter)))
	}
	margin = max(min(margin, life/2), hard)
	e.softAt = clampNano(tok.Expiry.Add(-margin))
	return e, nil
}

// clampNano is t.UnixNano, saturated outside the years int64 nanoseconds
// can represent (a far-future expiry must not wrap around to the past).
func clampNano(t time.Time) int64 {
	switch y := t.Year(); {
	case y >= 2262:
		return math.MaxInt64
	case y <= 1677:
		return math.MinInt64
	}
	return t.UnixNano()
}
