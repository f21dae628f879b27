//go:build unix

package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readPIDs reads the PIDs the helper recorded, or nil if it did not get
// that far.
func readPIDs(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file: %q", b)
		}
		pids = append(pids, pid)
	}
	return pids
}

// processGone reports whether pid no longer runs: it does not exist or is
// a zombie waiting for a parent that is not us.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// waitGone waits until every pid is gone. The bound only keeps a broken
// build from hanging; the processes are killed, not expected to exit soon.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d survived", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	// The helper starts a child in its process group, records both PIDs
	// and hangs. The timeout must kill both. The timeout grows until the
	// helper had time to record its PIDs, so a slow machine cannot make
	// the test pass vacuously.
	for timeout := time.Second; ; timeout *= 2 {
		pidfile := filepath.Join(t.TempDir(), "pids")
		cfg := helperConfig("hang", pidfile)
		cfg.Timeout = timeout
		_, err := mustExec(t, cfg).Fetch(context.Background())
		var ee *ExecError
		if !errors.As(err, &ee) || !ee.TimedOut || !errors.Is(err, ErrExecTimeout) || !errors.Is(err, ErrExecFailed) {
			t.Fatalf("got %v, want a timeout *ExecError", err)
		}
		if !classifyRetry(err) {
			t.Fatalf("a timeout should be retryable: %v", err)
		}
		pids := readPIDs(t, pidfile)
		if len(pids) != 2 {
			if timeout > time.Minute {
				t.Fatal("the helper never recorded its PIDs")
			}
			continue
		}
		waitGone(t, pids)
		return
	}
}

func TestExecLeftoverChildKilled(t *testing.T) {
	t.Parallel()
	// The helper prints a token and exits, leaving a child that holds its
	// standard output open. The fetch succeeds and the child is killed.
	pidfile := filepath.Join(t.TempDir(), "pids")
	cfg := helperConfig("background", pidfile)
	cfg.Timeout = 5 * time.Minute
	tok, err := mustExec(t, cfg).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "bg-token-123" {
		t.Fatalf("token %q", tok.AccessToken)
	}
	pids := readPIDs(t, pidfile)
	if len(pids) != 2 {
		t.Fatalf("pids %v", pids)
	}
	waitGone(t, pids)
}

func TestExecFloodKilled(t *testing.T) {
	t.Parallel()
	// Endless output is cut at MaxOutput and the command killed, long
	// before the timeout.
	cfg := helperConfig("flood")
	cfg.MaxOutput = 4096
	cfg.Timeout = 10 * time.Minute
	_, err := mustExec(t, cfg).Fetch(context.Background())
	if !errors.Is(err, ErrExecOutput) {
		t.Fatalf("got %v", err)
	}
}
