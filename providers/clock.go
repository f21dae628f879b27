package providers

import (
	"context"
	"time"
)

// sleepCtx waits for d or until ctx is done, whichever comes first. It is
// the default CacheOptions.Sleep.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
