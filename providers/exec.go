package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
)

// Defaults of ExecConfig.
const (
	// DefaultExecTimeout bounds one run of the command when
	// ExecConfig.Timeout is zero. Raise it for commands that may wait for
	// the user (a pinentry dialog, a hardware key touch).
	DefaultExecTimeout = 30 * time.Second
	// DefaultExecMaxOutput is the most standard output read from the command
	// when ExecConfig.MaxOutput is zero. A command that writes more is killed
	// and its output rejected.
	DefaultExecMaxOutput = 64 << 10
)

// Internal limits of Exec.
const (
	// execStderrKeep is how much standard error is kept for the excerpt;
	// the rest is read and discarded so the command never blocks on it.
	execStderrKeep = 4 << 10
	// execStderrExcerpt is the longest excerpt an ExecError carries.
	execStderrExcerpt = 256
	// execDrainGrace bounds the wait for the command's output pipes to
	// close once the command and its process group are gone. It matters
	// only when a process that left the group still holds a pipe open.
	execDrainGrace = 2 * time.Second
)

var (
	// ErrExecFailed matches every *ExecError: the command could not be
	// started, exited with a non-zero status, was killed, or timed out.
	ErrExecFailed = errors.New("providers: exec: command failed")
	// ErrExecTimeout matches an *ExecError for a command that ran past
	// ExecConfig.Timeout and was killed with its process group.
	ErrExecTimeout = errors.New("providers: exec: command timed out")
	// ErrExecOutput matches every *ExecOutputError: the command succeeded
	// but its output holds no usable token.
	ErrExecOutput = errors.New("providers: exec: unusable output")
)

// ExecConfig configures an Exec provider.
//
// The command receives no secret from saslkit: not on its command line, not
// on its standard input (which is empty). It gets its own secrets from where
// it keeps them (a password store, a keyring, its own token file).
type ExecConfig struct {
	// Command is the program and its arguments, argv style. Command[0] is
	// looked up in PATH when it has no slash. No shell is involved, so
	// there is no quoting, globbing or expansion; to run a pipeline, name
	// the shell yourself: []string{"sh", "-c", "pass show mail | head -1"}.
	// Never put a secret here: command lines are visible to every user of
	// the machine.
	Command []string
	// Dir is the working directory; "" means the current one.
	Dir string
	// Timeout bounds one run of the command; zero means
	// DefaultExecTimeout. The caller's context bounds it too. On either,
	// the command's whole process group is killed (Unix).
	Timeout time.Duration
	// PassEnv selects the environment the command inherits. nil passes the
	// whole environment of this process (what mutt, msmtp and aerc do); a
	// non-nil list passes only the named variables that are set, so an
	// empty non-nil list passes none.
	PassEnv []string
	// Env adds NAME=value entries to the command's environment; they win
	// over inherited ones.
	Env []string
	// MaxOutput caps the standard output read, in bytes; zero means
	// DefaultExecMaxOutput.
	MaxOutput int
	// HideStderr drops the standard error excerpt from errors entirely.
	// By default an *ExecError carries a sanitised excerpt (see ExecError).
	HideStderr bool
	// Lifetime is how long a token is assumed to be valid when the output
	// does not say (a plain line, or JSON without an expiry). Zero means
	// unknown: the token carries no expiry and is reused until a server
	// rejects it and the cache is invalidated.
	Lifetime time.Duration
	// Now is the clock used to turn a relative expiry into an absolute one;
	// nil means time.Now.
	Now func() time.Time
}

// Format prints the configuration without the values of Env, which may hold
// secrets.
func (c ExecConfig) Format(f fmt.State, verb rune) { redact.Format(f, verb, c.describe()) }

func (c ExecConfig) describe() string {
	var b strings.Builder
	b.WriteString("providers.ExecConfig{Command:")
	b.WriteString(strconv.Quote(execName(c.Command)))
	if len(c.Command) > 1 {
		fmt.Fprintf(&b, " Args:%d", len(c.Command)-1)
	}
	if c.Timeout != 0 {
		b.WriteString(" Timeout:" + c.Timeout.String())
	}
	if c.PassEnv != nil {
		b.WriteString(" PassEnv:" + strconv.Quote(strings.Join(c.PassEnv, ",")))
	}
	if len(c.Env) > 0 {
		names := make([]string, 0, len(c.Env))
		for _, kv := range c.Env {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
		b.WriteString(" Env:" + strconv.Quote(strings.Join(names, ",")) + "=" + redact.Placeholder)
	}
	b.WriteString("}")
	return b.String()
}

// Exec is a Fetcher that runs a command and reads an access token from its
// standard output: the pattern of mutt's, aerc's and msmtp's password
// commands and isync's PassCmd, used with helpers such as oauth2ms,
// mutt_oauth2.py, "gcloud auth print-access-token" or a password manager.
//
// The output is either a plain line (the first line is the token; more
// lines are ignored, as with "pass show"), or a JSON object:
//
//	{"access_token": "…", "token_type": "Bearer", "expires_in": 3599}
//
// where the expiry may instead be given as "expires_at" or "expiry", each
// either Unix seconds or an RFC 3339 time. token_type, when present, must be
// Bearer. A token must be printable ASCII without spaces.
//
// Each Fetch runs the command once; put a Cache in front to reuse the token.
// On Unix the command runs in its own process group, and when it finishes,
// fails or times out, anything still running in that group is killed, so no
// helper outlives the fetch. A daemon that must survive (gpg-agent, for
// instance) detaches into its own session, as such daemons do.
type Exec struct {
	cfg ExecConfig
}

// NewExec checks cfg and returns an Exec provider for it.
func NewExec(cfg ExecConfig) (*Exec, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("providers: exec: no command configured")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("providers: exec: negative timeout")
	}
	if cfg.MaxOutput < 0 {
		return nil, errors.New("providers: exec: negative MaxOutput")
	}
	if cfg.Lifetime < 0 {
		return nil, errors.New("providers: exec: negative Lifetime")
	}
	for _, kv := range cfg.Env {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			// The entry may be a secret pasted in the wrong place: do
			// not quote it.
			return nil, errors.New("providers: exec: Env entry is not NAME=value")
		}
	}
	for _, name := range cfg.PassEnv {
		if name == "" || strings.ContainsRune(name, '=') {
			return nil, fmt.Errorf("providers: exec: PassEnv entry %q is not a variable name", name)
		}
	}
	cfg.Command = append([]string(nil), cfg.Command...)
	cfg.PassEnv = cloneNonNil(cfg.PassEnv)
	cfg.Env = append([]string(nil), cfg.Env...)
	return &Exec{cfg: cfg}, nil
}

func cloneNonNil(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}

// Format prints the provider without secrets.
func (e Exec) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "providers.Exec{"+strings.TrimPrefix(e.cfg.describe(), "providers.ExecConfig{"))
}

// ExecError reports a command that could not be started, exited with a
// non-zero status, was killed, or timed out. It matches ErrExecFailed, and
// ErrExecTimeout for a timeout, with errors.Is. A timeout is returned
// inside a *TransientError, so that a Cache retries it; other failures are
// not retried.
//
// Stderr is an excerpt of what the command wrote to standard error,
// sanitised because a failing helper may print a token there: at most 256
// characters of the start of its output, with control characters and
// invalid UTF-8 replaced, lines joined with " | ", and every word that looks
// like a credential (16 or more characters of the base64/URL alphabet mixing
// letters and digits) replaced by [REDACTED]. This is a heuristic: a helper
// that may print a short secret on error should be run with
// ExecConfig.HideStderr.
type ExecError struct {
	// Command is the base name of the program.
	Command string
	// ExitCode is the exit status, or -1 when the command did not exit
	// normally (not started, killed by a signal, timed out).
	ExitCode int
	// TimedOut is true when the command ran past ExecConfig.Timeout.
	TimedOut bool
	// Stderr is the sanitised standard error excerpt ("" when hidden or
	// empty).
	Stderr string
	// Err is the underlying error: an *exec.ExitError, an *exec.Error
	// (not found), or the caller's context error; nil for a timeout
	// (which is not a context error: the caller's context is still
	// live, and the Cache may retry).
	Err error
}

// Error describes the failure: the program, the exit status or timeout,
// and the sanitised standard error excerpt.
func (e *ExecError) Error() string {
	var b strings.Builder
	b.WriteString("providers: exec ")
	b.WriteString(e.Command)
	b.WriteString(": ")
	var ee *exec.ExitError
	switch {
	case e.TimedOut:
		b.WriteString("timed out; process group killed")
	case errors.As(e.Err, &ee):
		b.WriteString(ee.Error())
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	if e.Stderr != "" {
		b.WriteString(": stderr: ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// Unwrap returns ErrExecFailed, ErrExecTimeout when the command timed out,
// and Err.
func (e *ExecError) Unwrap() []error {
	errs := []error{ErrExecFailed}
	if e.TimedOut {
		errs = append(errs, ErrExecTimeout)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// ExecOutputError reports a command that succeeded but whose output holds no
// usable token. Reason says what is wrong; it never quotes the output. It
// matches ErrExecOutput with errors.Is.
type ExecOutputError struct {
	// Command is the base name of the program.
	Command string
	// Reason describes the fault.
	Reason string
}

// Error describes the fault without quoting the output.
func (e *ExecOutputError) Error() string {
	return "providers: exec " + e.Command + ": unusable output: " + e.Reason
}

// Unwrap returns ErrExecOutput.
func (e *ExecOutputError) Unwrap() error { return ErrExecOutput }

// errOutputTooLarge is the cancellation cause when stdout overflows.
var errOutputTooLarge = errors.New("output too large")

// errExecTimeout is the cancellation cause of the Timeout.
var errExecTimeout = errors.New("exec timeout")

// Fetch runs the command once and returns the token it printed.
func (e *Exec) Fetch(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("providers: exec %s: %w", execName(e.cfg.Command), err)
	}
	cfg := &e.cfg
	name := execName(cfg.Command)
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultExecTimeout
	}
	maxOut := cfg.MaxOutput
	if maxOut == 0 {
		maxOut = DefaultExecMaxOutput
	}

	runCtx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, errExecTimeout)
	defer cancelTimeout()
	runCtx, cancelRun := context.WithCancelCause(runCtx)
	defer cancelRun(nil)

	cmd := exec.CommandContext(runCtx, cfg.Command[0], cfg.Command[1:]...)
	cmd.Dir = cfg.Dir
	cmd.Env = e.environ()
	cmd.Stdin = nil // the null device: the command gets nothing from us
	configureProcessGroup(cmd)

	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, &ExecError{Command: name, ExitCode: -1, Err: err}
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, &ExecError{Command: name, ExitCode: -1, Err: err}
	}
	cmd.Stdout = stdoutW
	cmd.Stderr = stderrW

	stdout := &cappedBuffer{max: maxOut, overflow: func() { cancelRun(errOutputTooLarge) }}
	stderr := &cappedBuffer{max: execStderrKeep}

	if err := cmd.Start(); err != nil {
		stdoutR.Close()
		stdoutW.Close()
		stderrR.Close()
		stderrW.Close()
		return nil, &ExecError{Command: name, ExitCode: -1, Err: err}
	}
	// The child holds its own copies; ours must go so that EOF arrives
	// when the command's process group is gone.
	stdoutW.Close()
	stderrW.Close()

	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); _, _ = io.Copy(stdout, stdoutR) }()
	go func() { defer readers.Done(); _, _ = io.Copy(stderr, stderrR) }()

	waitErr := cmd.Wait()
	// Whatever the outcome, nothing started by the command outlives it.
	killProcessGroup(cmd)
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	grace := time.NewTimer(execDrainGrace)
	select {
	case <-drained:
	case <-grace.C:
		// A process that left the group holds a pipe: stop reading.
		stdoutR.Close()
		stderrR.Close()
		<-drained
	}
	grace.Stop()
	stdoutR.Close()
	stderrR.Close()

	cause := context.Cause(runCtx)
	switch {
	case errors.Is(cause, errOutputTooLarge):
		return nil, &ExecOutputError{Command: name, Reason: fmt.Sprintf("more than %d bytes", maxOut)}
	case ctx.Err() != nil:
		// The caller gave up (or its deadline passed).
		return nil, &ExecError{Command: name, ExitCode: -1, Err: ctx.Err(), Stderr: e.excerpt(stderr.Bytes())}
	case errors.Is(cause, errExecTimeout):
		// A helper may time out once (a slow network) and succeed next
		// time: let a Cache retry.
		return nil, Transient(&ExecError{Command: name, ExitCode: -1, TimedOut: true, Stderr: e.excerpt(stderr.Bytes())})
	case waitErr != nil:
		code := -1
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			code = ee.ExitCode()
		}
		return nil, &ExecError{Command: name, ExitCode: code, Err: waitErr, Stderr: e.excerpt(stderr.Bytes())}
	}

	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	tok, reason := parseExecOutput(stdout.Bytes(), now())
	if reason != "" {
		return nil, &ExecOutputError{Command: name, Reason: reason}
	}
	if tok.Expiry.IsZero() && cfg.Lifetime > 0 {
		tok.Expiry = now().Add(cfg.Lifetime)
	}
	return tok, nil
}

// environ builds the command's environment.
func (e *Exec) environ() []string {
	var env []string
	if e.cfg.PassEnv == nil {
		env = os.Environ()
	} else {
		env = make([]string, 0, len(e.cfg.PassEnv)+len(e.cfg.Env))
		for _, name := range e.cfg.PassEnv {
			if v, ok := os.LookupEnv(name); ok {
				env = append(env, name+"="+v)
			}
		}
	}
	// os/exec keeps the last of duplicate names, so Env wins.
	return append(env, e.cfg.Env...)
}

func (e *Exec) excerpt(stderr []byte) string {
	if e.cfg.HideStderr {
		return ""
	}
	return sanitizeStderr(stderr, execStderrExcerpt)
}

// execName is the base name of the program, for messages.
func execName(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return filepath.Base(argv[0])
}

// cappedBuffer keeps the first max bytes written to it and discards the
// rest, calling overflow once when the cap is first exceeded. It never
// returns an error, so the command is never blocked on a full pipe.
type cappedBuffer struct {
	mu       sync.Mutex
	buf      []byte
	max      int
	over     bool
	overflow func()
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if len(p) <= room {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	b.buf = append(b.buf, p[:max(room, 0)]...)
	if !b.over {
		b.over = true
		if b.overflow != nil {
			b.overflow()
		}
	}
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}
