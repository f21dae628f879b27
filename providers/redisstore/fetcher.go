package redisstore

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// Default FetcherOptions values.
const (
	// DefaultMaxPoll caps the wait between two reads of the store while
	// another worker holds the refresh lease.
	DefaultMaxPoll = 200 * time.Millisecond
	// writeBackTimeout bounds one attempt to store a token refreshed
	// while Redis was unreachable.
	writeBackTimeout = 5 * time.Second
	// maxWriteBackDelay caps the wait between two such attempts.
	maxWriteBackDelay = 5 * time.Second
	// neverAdopt is an adopt margin no token reaches: the local fallback
	// decides about adoption itself.
	neverAdopt = 100 * 365 * 24 * time.Hour
)

// Unavailable says what a Fetcher does when Redis cannot be reached.
type Unavailable int

const (
	// FailClosed returns an error matching ErrUnavailable (and transient,
	// so a providers.Cache retries it). No refresh token is spent without
	// the lease. A Cache keeps handing out its token until it expires.
	FailClosed Unavailable = iota
	// FallbackLocal refreshes without the lease, one refresh at a time in
	// this process, with the newest refresh token this process knows, and
	// writes the result back to Redis as soon as it answers (unless
	// another worker stored a token meanwhile, which then wins). Every
	// process that loses Redis does the same, so with a provider that
	// issues one-time refresh tokens two processes may spend the same
	// one: the second gets invalid_grant, and a provider with reuse
	// detection then revokes the whole grant. Use it with providers that
	// keep refresh tokens valid across refreshes (Google; Microsoft's
	// rotation does not revoke the old token on use).
	FallbackLocal
)

// String returns "fail-closed" or "fallback-local".
func (u Unavailable) String() string {
	switch u {
	case FailClosed:
		return "fail-closed"
	case FallbackLocal:
		return "fallback-local"
	}
	return "Unavailable(" + strconv.Itoa(int(u)) + ")"
}

// FetcherOptions configure a Fetcher. The zero value (or nil) gives the
// defaults.
type FetcherOptions struct {
	// Refresh configures the refresh_token grant (HTTP client, clock,
	// logger) and AdoptMargin: a token another worker stored is adopted
	// when it has at least AdoptMargin left (or appeared while this
	// worker waited for it). Keep AdoptMargin above the Cache's
	// RefreshMargin plus jitter. Nil means the providers defaults.
	Refresh *providers.RefreshOptions
	// OnUnavailable chooses what happens when Redis cannot be reached:
	// FailClosed (the default) or FallbackLocal.
	OnUnavailable Unavailable
	// MaxPoll caps the wait between two reads of the store while another
	// worker holds the refresh lease. Zero means DefaultMaxPoll.
	MaxPoll time.Duration
}

// Fetcher is a providers.Fetcher for one account of a Store, for a
// refresh-token grant. Each Fetch:
//
//  1. reads the stored token and the lease in one round trip, and adopts
//     the token if another worker refreshed it;
//  2. while another worker holds the lease, polls the store with backoff
//     (bounded by ctx and the lease's remaining time) until its token
//     appears, rather than refreshing;
//  3. otherwise refreshes through a providers.RefreshFetcher under the
//     lease: the refresh token used is the one in the store once the lease
//     is held, and the new pair (rotated refresh token included) is stored
//     before the access token is returned.
//
// When Redis is unreachable it fails or falls back as
// FetcherOptions.OnUnavailable says. Put it behind a providers.Cache
// (Store.TokenSource does), which calls Fetch only when its own token nears
// expiry. Use one Fetcher per account per process.
type Fetcher struct {
	s       *Store
	account string
	cfg     oauth2.Config
	ropts   providers.RefreshOptions
	rf      *providers.RefreshFetcher
	mode    Unavailable
	maxPoll time.Duration
	adopt   time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu        sync.Mutex
	last      *oauth2.Token // last handed out
	rejected  string        // access token a server rejected
	known     *oauth2.Token // newest pair seen in or written to Redis
	dirty     *oauth2.Token // refreshed while Redis was unreachable, not yet stored
	dirtyBase *oauth2.Token // the pair dirty was refreshed from
	writing   bool          // a write-back goroutine runs

	fallbackMu  sync.Mutex // one local fallback refresh at a time
	writeBackMu sync.Mutex // one write-back at a time
}

var (
	_ providers.Fetcher     = (*Fetcher)(nil)
	_ sasl.TokenInvalidator = (*Fetcher)(nil)
)

// NewFetcher returns a Fetcher for account, refreshing with cfg's client
// and token URL. cfg is copied; opts may be nil. The first refresh token
// comes from an authorization flow and is stored with
// Store.Save(ctx, account, nil, tok).
func (s *Store) NewFetcher(cfg *oauth2.Config, account string, opts *FetcherOptions) (*Fetcher, error) {
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	var o FetcherOptions
	if opts != nil {
		o = *opts
	}
	if o.Refresh != nil {
		o.Refresh = new(*o.Refresh)
	} else {
		o.Refresh = &providers.RefreshOptions{}
	}
	if o.Refresh.Now == nil {
		o.Refresh.Now = time.Now
	}
	if o.Refresh.AdoptMargin <= 0 {
		o.Refresh.AdoptMargin = providers.DefaultAdoptMargin
	}
	if o.MaxPoll <= 0 {
		o.MaxPoll = DefaultMaxPoll
	}
	if o.OnUnavailable != FailClosed && o.OnUnavailable != FallbackLocal {
		return nil, fmt.Errorf("%w: unknown OnUnavailable %v", providers.ErrInvalidConfig, o.OnUnavailable)
	}
	// Fetch calls rf only while it holds the account's lease.
	rf, err := providers.NewRefreshFetcher(cfg, leasedStore{s}, account, o.Refresh)
	if err != nil {
		return nil, err
	}
	f := &Fetcher{
		s: s, account: account, cfg: *cfg, ropts: *o.Refresh, rf: rf,
		mode: o.OnUnavailable, maxPoll: o.MaxPoll, adopt: o.Refresh.AdoptMargin, now: o.Refresh.Now,
	}
	f.cfg.Scopes = append([]string(nil), cfg.Scopes...)
	f.log = o.Refresh.Logger
	if f.log == nil {
		f.log = s.log
	}
	f.log = f.log.With(slog.String("account", account))
	return f, nil
}

// TokenSource returns a providers.Cache in front of a new Fetcher for
// account: a sasl.TokenSource that reads Redis only when its token nears
// expiry. fopts and copts may be nil.
func (s *Store) TokenSource(cfg *oauth2.Config, account string, fopts *FetcherOptions, copts *providers.CacheOptions) (*providers.Cache, error) {
	f, err := s.NewFetcher(cfg, account, fopts)
	if err != nil {
		return nil, err
	}
	o := providers.CacheOptions{}
	if copts != nil {
		o = *copts
	}
	if o.Name == "" {
		o.Name = account
	}
	return providers.NewCache(f, &o), nil
}

// Account returns the account key.
func (f *Fetcher) Account() string { return f.account }

// Fetch returns a fresh access token; see Fetcher for the steps.
func (f *Fetcher) Fetch(ctx context.Context) (*oauth2.Token, error) {
	if f.hasDirty() {
		if err := f.writeBack(ctx); err != nil {
			if errors.Is(err, ErrUnavailable) {
				return f.unavailable(ctx, err)
			}
			if ctx.Err() != nil {
				return nil, err
			}
			f.log.Warn("redisstore: could not store the token refreshed without redis", slog.String("error", err.Error()))
		}
	}
	delay := 2 * time.Millisecond
	var startVersion int64 = -1
	for {
		pr, err := f.s.peek(ctx, f.account)
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				return f.unavailable(ctx, err)
			}
			return nil, err
		}
		f.remember(pr)
		changed := startVersion >= 0 && pr.version > startVersion
		if startVersion < 0 {
			startVersion = pr.version
		}
		if f.adoptable(pr.tok, changed) {
			return f.handOut(pr.tok), nil
		}
		if !pr.leaseAny {
			unlock, pttl, err := f.s.tryLock(ctx, f.account)
			if err != nil {
				if errors.Is(err, ErrUnavailable) {
					return f.unavailable(ctx, err)
				}
				return nil, err
			}
			if unlock != nil {
				return f.refresh(ctx, unlock, pr.tok)
			}
			pr.leaseTTL = pttl // taken meanwhile
		}
		// Another worker is refreshing: wait for its token.
		wait := jitter(delay)
		if pr.leaseTTL > 0 {
			wait = min(wait, pr.leaseTTL+time.Millisecond)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		delay = min(delay*2, f.maxPoll)
	}
}

// refresh runs the RefreshFetcher under the lease, which unlock releases.
// base is the record read before the lease was taken.
func (f *Fetcher) refresh(ctx context.Context, unlock func(), base *oauth2.Token) (*oauth2.Token, error) {
	tok, err := f.rf.Fetch(ctx)
	unlock()
	if err != nil && tok == nil {
		if errors.Is(err, ErrUnavailable) {
			return f.unavailable(ctx, err)
		}
		return nil, err
	}
	f.mu.Lock()
	f.last, f.known = tok, tok
	if err != nil && base != nil {
		// Refreshed but not stored (Redis went away after the token
		// endpoint answered, or the lease was lost): the endpoint may
		// already have revoked the stored refresh token, so store the new
		// pair as soon as Redis takes it, before other workers spend the
		// old one.
		f.dirty, f.dirtyBase = tok, base
	}
	f.mu.Unlock()
	if err != nil && base != nil {
		f.startWriteBack()
	}
	return tok, err
}

// leasedStore is the Store as a Fetcher's RefreshFetcher sees it: the
// Fetcher takes the lease before calling it, so its Lock has nothing left
// to do.
type leasedStore struct{ *Store }

// Lock returns at once: the caller holds the lease.
func (leasedStore) Lock(context.Context, string) (func(), error) { return func() {}, nil }

// Invalidate records that a server rejected tok, so that it is not adopted
// from the store again.
func (f *Fetcher) Invalidate(tok *oauth2.Token) {
	if tok == nil || tok.AccessToken == "" {
		return
	}
	f.mu.Lock()
	f.rejected = tok.AccessToken
	f.mu.Unlock()
	f.rf.Invalidate(tok)
}

// remember keeps the newest pair read from Redis, for the local fallback.
func (f *Fetcher) remember(pr peekResult) {
	if pr.tok == nil {
		return
	}
	f.mu.Lock()
	if pr.version >= versionOf(f.known) {
		f.known = pr.tok
	}
	f.mu.Unlock()
}

// adoptable reports whether a stored token can be handed out instead of
// refreshing: another worker's token (not the one this worker last handed
// out, nor one a server rejected) with at least the adopt margin left, or
// any unexpired one that appeared while this worker waited (changed).
func (f *Fetcher) adoptable(tok *oauth2.Token, changed bool) bool {
	if tok == nil || tok.AccessToken == "" || tok.Expiry.IsZero() {
		return false
	}
	left := tok.Expiry.Sub(f.now())
	if left <= 0 || (!changed && left < f.adopt) {
		return false
	}
	f.mu.Lock()
	last, rejected := f.last, f.rejected
	f.mu.Unlock()
	if last != nil && subtle.ConstantTimeCompare([]byte(last.AccessToken), []byte(tok.AccessToken)) == 1 {
		return false
	}
	return rejected == "" || subtle.ConstantTimeCompare([]byte(rejected), []byte(tok.AccessToken)) != 1
}

// handOut records tok as the last token handed out and returns a copy.
func (f *Fetcher) handOut(tok *oauth2.Token) *oauth2.Token {
	f.mu.Lock()
	f.last = tok
	f.mu.Unlock()
	return plainToken(tok)
}

func (f *Fetcher) hasDirty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dirty != nil
}

// unavailable handles a Redis outage per OnUnavailable.
func (f *Fetcher) unavailable(ctx context.Context, cause error) (*oauth2.Token, error) {
	if f.mode != FallbackLocal {
		return nil, cause
	}
	return f.fallback(ctx, cause)
}

// fallback refreshes with the newest pair this process knows, without the
// lease, one refresh at a time.
func (f *Fetcher) fallback(ctx context.Context, cause error) (*oauth2.Token, error) {
	f.fallbackMu.Lock()
	defer f.fallbackMu.Unlock()
	f.mu.Lock()
	base, fromRedis := f.dirty, false
	if base == nil {
		base, fromRedis = f.known, true
	}
	f.mu.Unlock()
	if base == nil || base.RefreshToken == "" {
		return nil, fmt.Errorf("%w; no refresh token known to this process to fall back on", cause)
	}
	// A concurrent fallback in this process may just have refreshed.
	if f.adoptable(base, false) {
		return f.handOut(base), nil
	}
	mem := providers.NewMemoryStore()
	if err := mem.Save(ctx, f.account, nil, plainToken(base)); err != nil {
		return nil, err
	}
	ro := f.ropts
	ro.AdoptMargin = neverAdopt
	ro.Logger = f.log
	rf, err := providers.NewRefreshFetcher(&f.cfg, mem, f.account, &ro)
	if err != nil {
		return nil, err
	}
	f.log.Warn("redisstore: redis unreachable; refreshing without the fleet lease", slog.String("error", cause.Error()))
	tok, err := rf.Fetch(ctx)
	if err != nil {
		if errors.Is(err, providers.ErrReauthRequired) {
			f.mu.Lock()
			if f.dirty == base {
				f.dirty, f.dirtyBase = nil, nil
			}
			f.mu.Unlock()
		}
		return nil, err
	}
	f.mu.Lock()
	if fromRedis {
		f.dirtyBase = base
	}
	f.dirty, f.last = tok, tok
	f.mu.Unlock()
	f.startWriteBack()
	return plainToken(tok), nil
}

// writeBack stores the pair refreshed while Redis was unreachable, unless
// another worker stored a newer token meanwhile.
func (f *Fetcher) writeBack(ctx context.Context) error {
	f.writeBackMu.Lock()
	defer f.writeBackMu.Unlock()
	f.mu.Lock()
	dirty, base := f.dirty, f.dirtyBase
	f.mu.Unlock()
	if dirty == nil {
		return nil
	}
	prev := base
	if prev == nil {
		prev = &oauth2.Token{}
	}
	v, err := f.s.save(ctx, f.account, prev, dirty)
	if errors.Is(err, providers.ErrConflict) {
		pr, perr := f.s.peek(ctx, f.account)
		if perr != nil {
			return perr
		}
		if pr.tok != nil {
			f.log.Warn("redisstore: another worker stored a token while this one could not reach redis; keeping the stored token")
			f.mu.Lock()
			if f.dirty == dirty {
				f.dirty, f.dirtyBase = nil, nil
			}
			f.mu.Unlock()
			f.remember(pr)
			return nil
		}
		// The record vanished (deleted after an invalid_grant with the
		// refresh token this process rotated, or lost with the server's
		// data): this pair is the live one.
		v, err = f.s.save(ctx, f.account, &oauth2.Token{}, dirty)
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.dirty == dirty {
		f.dirty, f.dirtyBase = nil, nil
		f.known = dirty.WithExtra(map[string]any{versionKey: v})
	}
	f.mu.Unlock()
	f.log.Info("redisstore: token refreshed without redis is stored")
	return nil
}

// startWriteBack retries writeBack in the background until it succeeds
// or the store is closed.
func (f *Fetcher) startWriteBack() {
	f.mu.Lock()
	if f.writing {
		f.mu.Unlock()
		return
	}
	f.writing = true
	f.mu.Unlock()
	ok := f.s.goBackground(func(done <-chan struct{}) {
		delay := 50 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(context.Background(), writeBackTimeout)
			err := f.writeBack(ctx)
			cancel()
			f.mu.Lock()
			if f.dirty == nil {
				f.writing = false
				f.mu.Unlock()
				return
			}
			f.mu.Unlock()
			if err != nil {
				f.log.Debug("redisstore: write-back failed, retrying", slog.String("error", err.Error()))
			}
			t := time.NewTimer(jitter(delay))
			select {
			case <-done:
				t.Stop()
				f.mu.Lock()
				f.writing = false
				f.mu.Unlock()
				return
			case <-t.C:
			}
			delay = min(delay*2, maxWriteBackDelay)
		}
	})
	if !ok {
		f.mu.Lock()
		f.writing = false
		f.mu.Unlock()
	}
}

// Format prints the fetcher without its client secret or tokens.
func (f *Fetcher) Format(fs fmt.State, verb rune) {
	f.mu.Lock()
	pending := f.dirty != nil
	f.mu.Unlock()
	redact.Format(fs, verb, "redisstore.Fetcher{account="+strconv.Quote(f.account)+
		" client_id="+strconv.Quote(f.cfg.ClientID)+" client_secret="+redact.Secret(f.cfg.ClientSecret)+
		" on_unavailable="+f.mode.String()+" unsaved_token="+strconv.FormatBool(pending)+"}")
}

// String describes the fetcher without secrets.
func (f *Fetcher) String() string { return fmt.Sprint(f) }
