package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reexecEnv makes the test binary run the program instead of the tests, so
// that the tests run saslkit as a subprocess without building it.
const reexecEnv = "SASLKIT_TEST_RUN_PROGRAM"

func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "1" {
		os.Exit(realMain())
	}
	os.Exit(m.Run())
}

// programCmd returns a command running saslkit with args. ctx kills it
// if a test hangs.
func programCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), reexecEnv+"=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runInProcess runs the program with args in this process and returns its
// exit code and output.
func runInProcess(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, &stdio{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		stdout   string // a substring of standard output
		stderr   string // a substring of standard error
		noStderr bool
	}{
		{args: nil, code: exitUsage, stderr: "Usage:"},
		{args: []string{"help"}, code: exitOK, stdout: "sandbox", noStderr: true},
		{args: []string{"-h"}, code: exitOK, stdout: "Exit codes: 0 success, 1 failure, 2 usage error.", noStderr: true},
		{args: []string{"--help"}, code: exitOK, stdout: "Commands:", noStderr: true},
		{args: []string{"frobnicate"}, code: exitUsage, stderr: "saslkit: unknown command \"frobnicate\"\nRun 'saslkit help' for usage.\n"},
		{args: []string{"help", "frobnicate"}, code: exitUsage, stderr: "saslkit: unknown command \"frobnicate\""},
		{args: []string{"help", "sandbox"}, code: exitOK, stdout: "Usage: saslkit sandbox [flags]", noStderr: true},
		{args: []string{"sandbox", "-h"}, code: exitOK, stdout: "-port-base B", noStderr: true},
		{args: []string{"sandbox", "--help"}, code: exitOK, stdout: "B+993 (TLS)", noStderr: true},
		{args: []string{"sandbox", "--nope"}, code: exitUsage, stderr: "saslkit: sandbox: flag provided but not defined: -nope\nRun 'saslkit sandbox -h' for usage.\n"},
		{args: []string{"sandbox", "--profile", "yahoo"}, code: exitUsage, stderr: "saslkit: sandbox: --profile: unknown profile \"yahoo\""},
		{args: []string{"sandbox", "--token-lifetime", "500ms"}, code: exitUsage, stderr: "--token-lifetime: 500ms is too short"},
		{args: []string{"sandbox", "--token-lifetime", "soon"}, code: exitUsage, stderr: "invalid value \"soon\" for flag -token-lifetime"},
		{args: []string{"sandbox", "--port-base", "-1"}, code: exitUsage, stderr: "--port-base: -1 is out of range (0 to 64540)"},
		{args: []string{"sandbox", "--port-base", "64541"}, code: exitUsage, stderr: "--port-base: 64541 is out of range"},
		{args: []string{"sandbox", "--user", "alice"}, code: exitUsage, stderr: "--user: \"alice\" is not a plain mail address"},
		{args: []string{"sandbox", "--user", "Alice <alice@example.test>"}, code: exitUsage, stderr: "is not a plain mail address"},
		{args: []string{"sandbox", "--user", "a@example.test,,b@example.test"}, code: exitUsage, stderr: "invalid value"},
		{args: []string{"sandbox", "extra"}, code: exitUsage, stderr: "saslkit: sandbox: unexpected argument \"extra\""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runInProcess(t.Context(), tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.stderr)
			}
			if tc.noStderr && stderr != "" {
				t.Errorf("stderr %q, want none", stderr)
			}
			if tc.code == exitUsage && !strings.HasPrefix(stderr, "saslkit: ") && !strings.Contains(stderr, "Usage:") {
				t.Errorf("stderr %q lacks the saslkit: prefix", stderr)
			}
		})
	}
}

func TestReportError(t *testing.T) {
	var errb bytes.Buffer
	st := &stdio{stdout: io.Discard, stderr: &errb}
	if code := reportError(st, &exitError{code: 5, err: errors.New("sandbox: x")}); code != 5 {
		t.Errorf("exitError: code %d, want 5", code)
	}
	if code := reportError(st, errors.New("sandbox: listen failed")); code != exitFailure {
		t.Errorf("plain error: code %d, want %d", code, exitFailure)
	}
	if want := "saslkit: sandbox: x\nsaslkit: sandbox: listen failed\n"; errb.String() != want {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
}

func TestListFlag(t *testing.T) {
	l := &listFlag{values: []string{"default@example.test"}}
	for _, s := range []string{"a@example.test", " b@example.test , c@example.test"} {
		if err := l.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := l.String(), "a@example.test,b@example.test,c@example.test"; got != want {
		t.Errorf("values %q, want %q (the default is replaced)", got, want)
	}
	if err := l.Set("x@example.test,"); err == nil {
		t.Error("an empty element was accepted")
	}
}

func TestColor(t *testing.T) {
	st := &stdio{color: true}
	if got := st.style(styleBold, "x"); got != "\x1b[1mx\x1b[0m" {
		t.Errorf("style with colour: %q", got)
	}
	st.color = false
	if got := st.style(styleBold, "x"); got != "x" {
		t.Errorf("style without colour: %q", got)
	}
	if colorTerminal(&bytes.Buffer{}) {
		t.Error("a buffer counted as a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv("TERM", "xterm")
	if colorTerminal(f) {
		t.Error("a regular file counted as a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !colorTerminal(tty) {
			t.Error("/dev/tty with TERM=xterm: no colour")
		}
		t.Setenv("NO_COLOR", "")
		if colorTerminal(tty) {
			t.Error("NO_COLOR set, yet colour")
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sandboxProc is a saslkit sandbox running as a subprocess.
type sandboxProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	cancel context.CancelFunc
	// raw is the first line of standard output: the JSON object with
	// --json, the first text line otherwise.
	raw    []byte
	info   sandboxInfo
	rest   *syncBuffer // standard output after the first JSON line
	stderr *syncBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
}

// launchSandbox runs saslkit sandbox --json with args and waits for its
// JSON. The sandbox is stopped with SIGTERM when the test ends, and must
// then exit 0.
func launchSandbox(t testing.TB, args ...string) *sandboxProc {
	t.Helper()
	p, err := tryLaunchSandbox(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if code := p.stop(); code != 0 {
			t.Errorf("sandbox exited with %d after SIGTERM; stderr:\n%s", code, p.stderr)
		}
	})
	return p
}

// tryLaunchSandbox starts the sandbox and returns an error (with its exit
// code and standard error) if it exits instead of printing its JSON.
func tryLaunchSandbox(t testing.TB, args ...string) (*sandboxProc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	p := &sandboxProc{t: t, cancel: cancel, rest: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = programCmd(ctx, append([]string{"sandbox", "--json"}, args...)...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	lines := make(chan []byte, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadBytes('\n')
		lines <- line
		_, _ = io.Copy(p.rest, r)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case p.raw = <-lines:
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, errors.New("the sandbox printed nothing in 60 s; stderr:\n" + p.stderr.String())
	}
	if len(p.raw) == 0 {
		<-p.done
		cancel()
		return nil, &startError{code: p.cmd.ProcessState.ExitCode(), stderr: p.stderr.String()}
	}
	if err := json.Unmarshal(p.raw, &p.info); err != nil {
		p.stop()
		return nil, errors.New("the sandbox's output is not its JSON object: " + err.Error())
	}
	return p, nil
}

// startError is a sandbox that exited before printing its JSON.
type startError struct {
	code   int
	stderr string
}

func (e *startError) Error() string {
	return fmt.Sprintf("the sandbox exited with code %d before printing its JSON; stderr:\n%s", e.code, e.stderr)
}

// stop sends SIGTERM (once) and returns the exit code; -1 if the process
// had to be killed.
func (p *sandboxProc) stop() int { return p.stopWith(syscall.SIGTERM) }

// stopWith is stop with another signal.
func (p *sandboxProc) stopWith(sig os.Signal) int {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.t.Errorf("the sandbox did not stop within 30 s of %v", sig)
			p.cancel()
			<-p.done
			return -1
		}
	}
	p.cancel()
	return p.cmd.ProcessState.ExitCode()
}
