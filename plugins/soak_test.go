package plugins

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestCrashRestartSoak crashes the plugin and starts it again soakCycles
// times, each cycle a real process start, and checks that goroutines, open
// files and heap return to their baseline. A cycle costs about 50 ms of
// two CPU cores (hashing the plugin, generating and checking the one-time
// certificates), so the race detector's run and -short do raceSoak and
// shortSoak cycles.
func TestCrashRestartSoak(t *testing.T) {
	cycles := soakCycles
	switch {
	case testing.Short():
		cycles = shortSoak
	case raceEnabled:
		cycles = raceSoak
	}
	p := openTest(t, &Options{RestartDelay: time.Nanosecond, MaxRestartDelay: time.Nanosecond})
	ctx := bounded(t)
	crash := &remoteTokens{p: p, account: "exit"}
	good := &remoteTokens{p: p, account: "alice"}
	cycle := func() {
		t.Helper()
		if _, err := crash.Fetch(ctx); !errors.Is(err, ErrExited) {
			t.Fatalf("crash: %v", err)
		}
	}
	// Warm up (lazily created pools, TLS, the runtime), then take the
	// baseline with no plugin process running.
	if _, err := good.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		cycle()
	}
	p.kills.Wait()
	ignore := goleak.IgnoreCurrent()
	fds, heap := openFDs(t), liveHeap()

	start := time.Now()
	// One long-lived parent, as a server's context would be, and a child
	// per cycle cancelled at its end: anything the host left registered on
	// the caller's context would pile up on the parent and show below
	// (bounded(t) per cycle would instead keep every cycle's context, and
	// what it references, until the test ends).
	parent, stop := context.WithCancel(context.Background())
	defer stop()
	for i := 0; i < cycles; i++ {
		ctx, cancel := context.WithTimeout(parent, testTimeout)
		_, err := crash.Fetch(ctx)
		cancel()
		if !errors.Is(err, ErrExited) {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	took := time.Since(start)
	t.Logf("%d crash/restart cycles in %s (%s each)", cycles, took.Round(time.Millisecond), (took / time.Duration(cycles)).Round(time.Microsecond))
	p.kills.Wait()

	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
	if n := openFDs(t); n > fds {
		t.Errorf("open files: %d after, %d before", n, fds)
	}
	if h := liveHeap(); h > heap+heap/20+1<<20 {
		t.Errorf("live heap: %d bytes after, %d before", h, heap)
	}
	if _, err := good.Fetch(bounded(t)); err != nil {
		t.Fatal("after the soak:", err)
	}
}
