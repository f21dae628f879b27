package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/keyedlock"
	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/providers"
)

// Default Options values.
const (
	// DefaultPrefix starts every key the store writes.
	DefaultPrefix = "saslkit"
	// DefaultLeaseTTL is how long a refresh lease outlives its holder's
	// last renewal.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultRetain is how long a token record is kept after its last
	// write.
	DefaultRetain = 180 * 24 * time.Hour
	// releaseTimeout bounds the release of a lease, which runs even when
	// the caller's context has ended.
	releaseTimeout = 5 * time.Second
	// maxLockPoll caps the wait between two attempts to take a lease.
	maxLockPoll = 250 * time.Millisecond
)

// Client is the part of a go-redis client a Store uses. *redis.Client,
// *redis.ClusterClient, *redis.Ring and every redis.UniversalClient
// satisfy it; TLS, AUTH, timeouts and retries are set on the client.
type Client interface {
	redis.Scripter
}

// Options configure a Store. The zero value (or nil) gives the defaults.
type Options struct {
	// Prefix starts every key, so that applications can share a server:
	// an account's keys are Prefix + ":{" + account + "}:token" and
	// ":lease". It must not contain '{' or '}'. "" means DefaultPrefix.
	Prefix string
	// LeaseTTL is the lifetime of a refresh lease. Its holder renews it
	// every LeaseTTL/3 while it refreshes, so it expires only when the
	// holder died or lost Redis; the fleet then waits at most LeaseTTL
	// before another worker takes over. Zero means DefaultLeaseTTL; it
	// must be at least 100 ms.
	LeaseTTL time.Duration
	// Retain is how long a token record lives after its last write: an
	// account nobody refreshed for that long vanishes. It applies to the
	// whole record, so a refresh token never vanishes with its access
	// token; keep it above the refresh token's own lifetime (Microsoft:
	// 90 days of inactivity; Google: 6 months unused). Zero means
	// DefaultRetain; negative keeps records forever.
	Retain time.Duration
	// Logger receives lease and fallback events, never a token. Nil
	// discards them.
	Logger *slog.Logger
}

// Store is a providers.TokenStore in Redis, shared by every process that
// uses the same server and prefix. It is safe for concurrent use. See the
// package documentation for the layout and the protocol.
//
// A Store holds no token in memory. Close stops the background work of
// the Fetchers made from it.
type Store struct {
	c        Client
	prefix   string
	leaseTTL time.Duration
	retainMs int64
	log      *slog.Logger
	self     string // owner prefix: host/pid

	local keyedlock.Set // in-process half of Lock

	mu     sync.Mutex
	held   map[string]string // account -> lease owner, while this process holds it
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

var _ providers.TokenStore = (*Store)(nil)

// New returns a Store over c. opts may be nil.
func New(c Client, opts *Options) (*Store, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil redis client", providers.ErrInvalidConfig)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("%w: redisstore prefix must not contain '{' or '}' (they delimit the hash tag)", providers.ErrInvalidConfig)
	}
	switch {
	case o.LeaseTTL == 0:
		o.LeaseTTL = DefaultLeaseTTL
	case o.LeaseTTL < 100*time.Millisecond:
		return nil, fmt.Errorf("%w: redisstore lease TTL %v is below 100ms", providers.ErrInvalidConfig, o.LeaseTTL)
	}
	if o.Retain == 0 {
		o.Retain = DefaultRetain
	}
	s := &Store{
		c:        c,
		prefix:   o.Prefix,
		leaseTTL: o.LeaseTTL,
		log:      o.Logger,
		held:     make(map[string]string),
		done:     make(chan struct{}),
	}
	if o.Retain > 0 {
		s.retainMs = max(o.Retain.Milliseconds(), 1)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	s.self = host + "/" + strconv.Itoa(os.Getpid())
	return s, nil
}

// Keys returns the Redis keys of account: its token hash and its lease.
// Both carry the hash tag {account}, so they live in one cluster slot.
func (s *Store) Keys(account string) (token, lease string) {
	base := s.prefix + ":{" + account + "}:"
	return base + "token", base + "lease"
}

// LeaseHolder returns the owner of account's refresh lease ("host/pid/id"),
// or "" when nobody holds it. It is meant for operators and tests.
func (s *Store) LeaseHolder(ctx context.Context, account string) (string, error) {
	if err := checkAccount(account); err != nil {
		return "", err
	}
	_, lease := s.Keys(account)
	v, err := s.c.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{lease}).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", redisError("lease lookup", err)
	}
	str, _ := v.(string)
	return str, nil
}

func checkAccount(account string) error {
	if account == "" {
		return fmt.Errorf("%w: empty account key", providers.ErrInvalidConfig)
	}
	return nil
}

// peekResult is one read of an account's keys.
type peekResult struct {
	tok      *oauth2.Token // nil: none stored
	version  int64
	leaseTTL time.Duration // remaining lease time; <= 0: no lease
	leaseAny bool          // a lease exists (possibly without expiry)
}

// peek reads account's token and lease in one round trip.
func (s *Store) peek(ctx context.Context, account string) (peekResult, error) {
	var pr peekResult
	if err := checkAccount(account); err != nil {
		return pr, err
	}
	if err := ctx.Err(); err != nil {
		return pr, err
	}
	tk, lk := s.Keys(account)
	res, err := peekScript.Run(ctx, s.c, []string{tk, lk}).Slice()
	if err != nil {
		return pr, redisError("load", err)
	}
	if len(res) != 3 {
		return pr, fmt.Errorf("%w: unexpected script reply", providers.ErrCorruptStore)
	}
	if pttl, ok := res[2].(int64); ok && pttl != -2 {
		pr.leaseAny = true
		pr.leaseTTL = time.Duration(pttl) * time.Millisecond
	}
	v, vok := res[0].(string)
	d, dok := res[1].(string)
	switch {
	case res[0] == nil && res[1] == nil:
		return pr, nil
	case !vok || !dok:
		return pr, fmt.Errorf("%w: token hash of account %q lacks a field", providers.ErrCorruptStore, account)
	}
	tok, ver, err := decodeRecord(v, []byte(d))
	if err != nil {
		return pr, fmt.Errorf("%w (account %q)", err, account)
	}
	pr.tok, pr.version = tok, ver
	return pr, nil
}

// Load returns account's token. The token carries the version of the
// record it came from (as an extra field), which Save and Delete compare
// when it is passed back as prev.
func (s *Store) Load(ctx context.Context, account string) (*oauth2.Token, error) {
	pr, err := s.peek(ctx, account)
	if err != nil {
		return nil, err
	}
	if pr.tok == nil {
		return nil, fmt.Errorf("%w: %q", providers.ErrNotFound, account)
	}
	return pr.tok, nil
}

// Save stores tok for account if the precondition prev holds (see
// providers.TokenStore); a prev returned by Load must also still be the
// stored version. While this process holds account's lease, the write is
// also refused (ErrLeaseLost) if another worker has taken the lease over.
func (s *Store) Save(ctx context.Context, account string, prev, tok *oauth2.Token) error {
	_, err := s.save(ctx, account, prev, tok)
	return err
}

// save is Save returning the new version.
func (s *Store) save(ctx context.Context, account string, prev, tok *oauth2.Token) (int64, error) {
	if err := checkAccount(account); err != nil {
		return 0, err
	}
	if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
		return 0, fmt.Errorf("%w: cannot save an empty token", providers.ErrNoToken)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, err := encodeRecord(tok)
	if err != nil {
		return 0, err
	}
	cond, ev, erh := precondition(prev)
	s.mu.Lock()
	owner := s.held[account]
	s.mu.Unlock()
	tk, lk := s.Keys(account)
	res, err := saveScript.Run(ctx, s.c, []string{tk, lk},
		cond, ev, erh, owner, refreshDigest(tok.RefreshToken), d, s.retainMs).Slice()
	if err != nil {
		return 0, redisError("save", err)
	}
	code, n := scriptStatus(res)
	switch code {
	case scriptOK:
		return n, nil
	case scriptConflict:
		return 0, fmt.Errorf("%w: account %q", providers.ErrConflict, account)
	case scriptLeaseErr:
		return 0, fmt.Errorf("%w: account %q", ErrLeaseLost, account)
	}
	return 0, fmt.Errorf("%w: unexpected script reply", providers.ErrCorruptStore)
}

// Delete removes account's token if the precondition prev holds.
func (s *Store) Delete(ctx context.Context, account string, prev *oauth2.Token) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cond, ev, erh := precondition(prev)
	tk, _ := s.Keys(account)
	res, err := deleteScript.Run(ctx, s.c, []string{tk}, cond, ev, erh).Slice()
	if err != nil {
		return redisError("delete", err)
	}
	switch code, _ := scriptStatus(res); code {
	case scriptOK:
		return nil
	case scriptConflict:
		return fmt.Errorf("%w: account %q", providers.ErrConflict, account)
	}
	return fmt.Errorf("%w: unexpected script reply", providers.ErrCorruptStore)
}

// precondition encodes prev for the write scripts.
func precondition(prev *oauth2.Token) (cond, version, digest string) {
	if prev == nil {
		return "0", "", ""
	}
	if v := versionOf(prev); v > 0 {
		version = strconv.FormatInt(v, 10)
	}
	return "1", version, refreshDigest(prev.RefreshToken)
}

// scriptStatus reads a write script's {code, number} reply.
func scriptStatus(res []any) (code, n int64) {
	if len(res) == 0 {
		return -99, 0
	}
	code, ok := res[0].(int64)
	if !ok {
		return -99, 0
	}
	if len(res) > 1 {
		switch v := res[1].(type) {
		case int64:
			n = v
		case string:
			n, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return code, n
}

// Lock takes account's refresh lease, waiting (polling with backoff, no
// longer than the holder's remaining lease time) until it is free or ctx
// ends. The goroutines of one process queue in memory first, so only one
// of them asks Redis. While held, the lease is renewed every LeaseTTL/3;
// the returned function stops the renewal and releases the lease if this
// worker still owns it.
func (s *Store) Lock(ctx context.Context, account string) (func(), error) {
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	unlockLocal, err := s.local.Lock(ctx, account)
	if err != nil {
		return nil, err
	}
	owner := s.newOwner()
	delay := 2 * time.Millisecond
	for {
		ok, pttl, err := s.acquire(ctx, account, owner)
		if err != nil {
			unlockLocal()
			return nil, err
		}
		if ok {
			return s.hold(account, owner, unlockLocal), nil
		}
		wait := jitter(delay)
		if pttl > 0 {
			wait = min(wait, pttl+time.Millisecond)
		}
		if err := sleep(ctx, wait); err != nil {
			unlockLocal()
			return nil, err
		}
		delay = min(delay*2, maxLockPoll)
	}
}

// tryLock takes account's lease if it is free. Otherwise it returns a nil
// function and the holder's remaining lease time (0 if unknown).
func (s *Store) tryLock(ctx context.Context, account string) (func(), time.Duration, error) {
	unlockLocal, err := s.local.Lock(ctx, account)
	if err != nil {
		return nil, 0, err
	}
	owner := s.newOwner()
	ok, pttl, err := s.acquire(ctx, account, owner)
	if err != nil || !ok {
		unlockLocal()
		return nil, pttl, err
	}
	return s.hold(account, owner, unlockLocal), 0, nil
}

// hold records that this process owns account's lease, renews it until the
// returned function is called, and then releases it.
func (s *Store) hold(account, owner string, unlockLocal func()) func() {
	s.mu.Lock()
	s.held[account] = owner
	s.mu.Unlock()
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.renew(account, owner, stop)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-renewed
			s.mu.Lock()
			delete(s.held, account)
			s.mu.Unlock()
			s.release(account, owner)
			unlockLocal()
		})
	}
}

// newOwner returns a lease value unique to this acquisition.
func (s *Store) newOwner() string {
	var b [12]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return s.self + "/" + hex.EncodeToString(b[:])
}

// acquire makes one attempt at taking the lease for owner. When the lease
// is taken by someone else, pttl is its remaining time (0 if it has none).
func (s *Store) acquire(ctx context.Context, account, owner string) (ok bool, pttl time.Duration, err error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	_, lk := s.Keys(account)
	res, err := acquireScript.Run(ctx, s.c, []string{lk}, owner, s.leaseTTL.Milliseconds()).Slice()
	if err != nil {
		return false, 0, redisError("lock", err)
	}
	code, ms := scriptStatus(res)
	if code == 1 {
		return true, 0, nil
	}
	return false, time.Duration(max(ms, 0)) * time.Millisecond, nil
}

// renew extends the lease every LeaseTTL/3 until stop is closed.
func (s *Store) renew(account, owner string, stop <-chan struct{}) {
	_, lk := s.Keys(account)
	ttl := strconv.FormatInt(s.leaseTTL.Milliseconds(), 10)
	t := time.NewTicker(s.leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.leaseTTL/3)
		n, err := renewScript.Run(ctx, s.c, []string{lk}, owner, ttl).Int64()
		cancel()
		switch {
		case err != nil:
			s.log.Warn("redisstore: could not renew refresh lease", slog.String("account", account), slog.String("error", err.Error()))
		case n == 0:
			s.log.Error("redisstore: refresh lease lost; another worker may refresh this account", slog.String("account", account))
			return
		}
	}
}

// release deletes the lease if owner still holds it.
func (s *Store) release(account, owner string) {
	_, lk := s.Keys(account)
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := releaseScript.Run(ctx, s.c, []string{lk}, owner).Err(); err != nil {
		s.log.Warn("redisstore: could not release refresh lease; it expires on its own",
			slog.String("account", account), slog.String("error", err.Error()))
	}
}

// Close stops the background write-backs of the Fetchers made from this
// store. It does not close the Redis client, which the caller owns.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// goBackground runs fn on a goroutine Close waits for; it reports false
// after Close.
func (s *Store) goBackground(fn func(done <-chan struct{})) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.done)
	}()
	return true
}

// Format prints the store's prefix and lease TTL; it holds no secret.
func (s *Store) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "redisstore.Store{prefix="+strconv.Quote(s.prefix)+" lease_ttl="+s.leaseTTL.String()+"}")
}

// String describes the store.
func (s *Store) String() string { return fmt.Sprint(s) }

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)))
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
