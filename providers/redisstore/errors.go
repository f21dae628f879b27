package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/saslkit/saslkit/providers"
)

// Errors callers branch on with errors.Is.
var (
	// ErrUnavailable means Redis could not be reached or cannot serve
	// right now (a network error, a timeout, a server still loading its
	// data, a cluster that is down). Errors matching it are
	// *UnavailableError values and also match the providers package's
	// transient errors, so a providers.Cache retries them.
	ErrUnavailable = errors.New("redisstore: redis unavailable")

	// ErrLeaseLost means a refresh lease expired while its holder was
	// still working and another worker took it: the holder's write was
	// refused, so that the newer token is kept.
	ErrLeaseLost = errors.New("redisstore: refresh lease lost to another worker")
)

// UnavailableError reports a Redis operation that failed because Redis
// was unreachable or not serving. It matches ErrUnavailable.
type UnavailableError struct {
	// Op is what the store was doing: "load", "save", "delete", "lock"…
	Op string
	// Err is the client's error. Redis client errors name the server
	// address, never a key's value.
	Err error
}

func (e *UnavailableError) Error() string {
	return "redisstore: redis unavailable during " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns ErrUnavailable and the client's error.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// redisError turns a client error into the package's vocabulary: context
// errors unchanged, server replies as plain errors, everything else (the
// server could not be reached or is not serving) as a transient
// *UnavailableError.
func redisError(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var re redis.Error
	if errors.As(err, &re) && !redis.IsLoadingError(err) && !redis.IsClusterDownError(err) &&
		!redis.IsTryAgainError(err) && !redis.IsMasterDownError(err) && !redis.IsReadOnlyError(err) &&
		!redis.IsMaxClientsError(err) {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return providers.Transient(&UnavailableError{Op: op, Err: err})
}
