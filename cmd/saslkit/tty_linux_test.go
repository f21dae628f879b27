package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the program writes to tty, the
// test reads from pty.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	pty = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Close(); tty.Close() })
	return pty, tty
}

// TestDeviceProgressOnTerminal: on a terminal, authorize --device redraws
// a spinner at each poll and ends with the outcome; TestAuthorizeDevice
// shows a pipe gets one plain line instead.
func TestDeviceProgressOnTerminal(t *testing.T) {
	e := newCLIEnv(t, nil)
	pty, tty := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := e.cmd(ctx, "authorize", "--device", "test")
	cmd.Stderr = tty
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it now
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil { // EIO once the program exits and closes the terminal
				return
			}
		}
	}()
	read := func() string { mu.Lock(); defer mu.Unlock(); return screen.String() }
	var code string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s := read()
		if i := strings.Index(s, "and enter the code"); i >= 0 && strings.Contains(s[i:], "Waiting for approval") {
			fields := strings.Fields(s[i+len("and enter the code"):])
			if len(fields) > 0 {
				code = fields[0]
			}
			break
		}
	}
	if code == "" {
		t.Fatalf("no user code on the terminal:\n%q", read())
	}
	// Let a few polls draw the spinner, then approve.
	for deadline := time.Now().Add(30 * time.Second); strings.Count(read(), "\r\x1b[K") < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.oauth.ApproveDevice(code, testUser); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("authorize: %v\n%q", err, read())
	}
	s := read()
	if !strings.Contains(s, "\r\x1b[KWaiting for approval |") && !strings.Contains(s, "\r\x1b[KWaiting for approval /") {
		t.Errorf("no spinner redrawn on the terminal:\n%q", s)
	}
	if !strings.Contains(s, "Waiting for approval: approved") || strings.Contains(s, "Waiting for approval ...") {
		t.Errorf("terminal output:\n%q", s)
	}
	if !strings.Contains(out.String(), "Authorized test") {
		t.Errorf("stdout %q", out.String())
	}
}
