package providers

import (
	"context"
	"errors"
	"net"
	"time"
)

// RetryPolicy bounds how a Cache repeats a fetch that failed with a
// transient error: a network error, HTTP 5xx, 429 or 408, an answer
// without an OAuth error code (a proxy's HTML page), an OAuth
// temporarily_unavailable or server_error, or an error marked with
// Transient. invalid_grant, invalid_client and every other OAuth error are
// never retried.
//
// The delay before retry n (n = 1, 2, …) is drawn uniformly from
// [0, min(MaxDelay, BaseDelay·2ⁿ⁻¹)) ("full jitter"). A Retry-After the
// server sent replaces it when longer; a Retry-After longer than
// MaxRetryAfter ends the retries.
type RetryPolicy struct {
	// MaxAttempts is the total number of fetches, the first included.
	// Zero means 5; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the backoff base. Zero means 200 ms.
	BaseDelay time.Duration
	// MaxDelay caps the backoff delay. Zero means 10 s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After honoured. Zero means 60 s.
	MaxRetryAfter time.Duration
}

func (p *RetryPolicy) withDefaults() RetryPolicy {
	var r RetryPolicy
	if p != nil {
		r = *p
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 5
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = 200 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 10 * time.Second
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 60 * time.Second
	}
	return r
}

// backoff returns the full-jitter delay before retry n (n ≥ 1). randN
// returns a value in [0, n).
func (p RetryPolicy) backoff(n int, randN func(int64) int64) time.Duration {
	ceil := p.BaseDelay
	for i := 1; i < n && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.MaxDelay)
	if ceil <= 0 {
		return 0
	}
	return time.Duration(randN(int64(ceil)))
}

// classify reports whether err is worth retrying and the delay the server
// asked for, if any.
func classify(err error) (retry bool, after time.Duration) {
	if err == nil || errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrPersistFailed) {
		return false, 0
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	var te *TransientError
	if errors.As(err, &te) {
		return true, te.RetryAfter
	}
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.transient(), oe.RetryAfter
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true, 0
	}
	return false, 0
}
