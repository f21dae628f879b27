package providers

import (
	"context"
	"sync/atomic"
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

// Coarse clock tuning. See coarseClock.
const (
	coarseTick      = 100 * time.Millisecond
	coarseHotCalls  = 64 // clock reads per second that make a cache hot
	coarseIdleTicks = 10 // ticks without a read before the ticker stops
	// coarseSlack: a coarse reading is trusted only this far from a
	// deadline; closer, the real clock decides.
	coarseSlack = time.Second
)

// coarseClock spares busy caches a clock read per Token call. Reading the
// wall clock costs tens to hundreds of nanoseconds (more on virtual
// machines), which on the cached path would cost more than everything else
// together; no library offers a cheaper wall clock, hence this type.
//
// A cache starts with no ticker and reads time.Now. Once it is read more
// than coarseHotCalls times within a second, a goroutine stores the wall
// time every coarseTick, and reads use that value. The goroutine exits
// after coarseIdleTicks ticks without a read, so an idle or abandoned cache
// holds no goroutine. The reading lags the real clock by at most a tick
// plus scheduling delay; callers trust it only more than coarseSlack away
// from a deadline.
type coarseClock struct {
	now     atomic.Int64 // Unix ns at the last tick; 0 when no ticker runs
	used    atomic.Bool  // read since the last tick
	running atomic.Bool
	window  atomic.Int64 // start of the current counting second (Unix ns)
	count   atomic.Int64 // precise reads in the current second
}

// read returns the current time in Unix nanoseconds and whether it is the
// coarse reading.
func (k *coarseClock) read() (int64, bool) {
	if n := k.now.Load(); n != 0 {
		if !k.used.Load() {
			k.used.Store(true)
		}
		return n, true
	}
	n := time.Now().UnixNano()
	w := k.window.Load()
	if n-w >= int64(time.Second) || n < w {
		if k.window.CompareAndSwap(w, n) {
			k.count.Store(0)
		}
		return n, false
	}
	if k.count.Add(1) == coarseHotCalls && k.running.CompareAndSwap(false, true) {
		k.now.Store(n)
		go k.run()
	}
	return n, false
}

func (k *coarseClock) run() {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	idle := 0
	for range t.C {
		k.now.Store(time.Now().UnixNano())
		if k.used.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < coarseIdleTicks {
			continue
		}
		k.now.Store(0)
		k.count.Store(0)
		k.running.Store(false)
		return
	}
}
