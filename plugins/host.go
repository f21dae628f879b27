package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/saslkit/saslkit/internal/redact"
	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/providers"
)

// Defaults of Options.
const (
	// DefaultCallTimeout bounds every call to a plugin.
	DefaultCallTimeout = 5 * time.Second
	// DefaultStartTimeout bounds a plugin's start: process start,
	// handshake and first Info call.
	DefaultStartTimeout = 10 * time.Second
	// DefaultRestartDelay is the wait before restarting a plugin that
	// crashed soon after it started; it doubles with each such crash.
	DefaultRestartDelay = 500 * time.Millisecond
	// DefaultMaxRestartDelay caps the restart delay. A plugin that ran
	// for longer than this before it crashed is restarted at once.
	DefaultMaxRestartDelay = 30 * time.Second
)

// envAllowed are the host environment variables a plugin inherits; the
// rest of the host's environment (which may hold secrets) is withheld.
var envAllowed = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT"}

// Options configure a plugin. A nil *Options means the defaults, which
// refuse to run a plugin without a checksum.
type Options struct {
	// Checksum is the SHA-256 of the plugin file, in hex (as sha256sum
	// prints it). The file is hashed before every start, and a plugin
	// whose file differs is not run.
	Checksum string
	// InsecureSkipChecksum runs the plugin without checking its file.
	// Without it, Open refuses a plugin whose Checksum is empty.
	InsecureSkipChecksum bool
	// Args are the plugin's command-line arguments, after its path.
	Args []string
	// Env holds "KEY=value" entries for the plugin's environment. Of the
	// host's own environment the plugin sees only PATH, HOME, TMPDIR,
	// LANG, LC_ALL, LC_CTYPE and TZ.
	Env []string
	// Name labels the plugin in logs and errors; the default is the
	// file's base name.
	Name string
	// Logger receives the plugin's log output (its standard error and
	// hclog JSON lines, at their level) and the host's messages about
	// the plugin, redacted. Nil discards them.
	Logger *slog.Logger
	// CallTimeout bounds every call to the plugin; zero means
	// DefaultCallTimeout. A plugin that does not answer in time is killed
	// and started again on next use.
	CallTimeout time.Duration
	// StartTimeout bounds a start; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// RestartDelay and MaxRestartDelay shape the backoff between restarts
	// of a crashing plugin; zero means the defaults.
	RestartDelay, MaxRestartDelay time.Duration
	// Cache configures the token caches of TokenSource. Nil means the
	// providers defaults.
	Cache *providers.CacheOptions
}

// Plugin is a running plugin process and the supervisor that restarts it.
// Create one with Open; Close it when done. Its methods are safe for
// concurrent use.
type Plugin struct {
	name    string
	path    string
	sum     []byte // expected SHA-256; nil with InsecureSkipChecksum
	opts    Options
	log     *slog.Logger
	secrets *secretSet
	info    *pb.InfoResponse
	mechs   []*pb.MechanismInfo

	sem chan struct{} // held while starting or swapping the instance

	mu       sync.Mutex
	cur      *instance
	closed   bool
	crashes  int       // consecutive early crashes
	notUntil time.Time // no start before
	tokens   map[string]*cachedTokens
	done     atomic.Bool // set by Close; read without the lock by token sources
	kills    sync.WaitGroup
}

// instance is one run of the plugin process.
type instance struct {
	client  *plugin.Client
	conn    *grpc.ClientConn
	pid     int
	started time.Time
	stop    chan struct{} // closed when killed: ends the spawning thread
	once    sync.Once
	gone    chan struct{} // closed once the process is gone
	logs    []*logWriter  // flushed once the process is gone
}

// Format prints the options with the values of Env left out: a plugin's
// environment often carries its secrets.
func (o Options) Format(f fmt.State, verb rune) {
	keys := make([]string, len(o.Env))
	for i, kv := range o.Env {
		k, _, _ := strings.Cut(kv, "=")
		keys[i] = k + "=" + redact.Placeholder
	}
	redact.Format(f, verb, fmt.Sprintf("plugins.Options{Name:%q Checksum:%q InsecureSkipChecksum:%t Args:%q Env:%v CallTimeout:%s StartTimeout:%s}",
		o.Name, o.Checksum, o.InsecureSkipChecksum, o.Args, keys, o.CallTimeout, o.StartTimeout))
}

func (o *Options) withDefaults(path string) Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Name == "" {
		r.Name = filepath.Base(path)
	}
	if r.CallTimeout <= 0 {
		r.CallTimeout = DefaultCallTimeout
	}
	if r.StartTimeout <= 0 {
		r.StartTimeout = DefaultStartTimeout
	}
	if r.RestartDelay <= 0 {
		r.RestartDelay = DefaultRestartDelay
	}
	if r.MaxRestartDelay <= 0 {
		r.MaxRestartDelay = DefaultMaxRestartDelay
	}
	return r
}

// Open starts the plugin at path, checks its protocol version and reads
// what it serves. The plugin is restarted on demand if it later exits. The
// start is bounded by Options.StartTimeout and by ctx's deadline.
//
// The file's SHA-256 must equal opts.Checksum (or opts.InsecureSkipChecksum
// be set): otherwise Open fails with ErrNoChecksum or a *ChecksumError and
// nothing is run. A start that fails, times out, or meets a program that is
// not a saslkit plugin fails with an error wrapping ErrStart and leaves no
// process behind.
func Open(ctx context.Context, path string, opts *Options) (*Plugin, error) {
	o := opts.withDefaults(path)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	p := &Plugin{name: o.Name, path: abs, opts: o, log: o.Logger, secrets: &secretSet{},
		sem: make(chan struct{}, 1), tokens: map[string]*cachedTokens{}}
	if p.log == nil {
		p.log = discardLogger()
	}
	p.log = p.log.With("plugin", p.name)
	switch {
	case o.Checksum != "":
		sum, err := hex.DecodeString(strings.TrimSpace(o.Checksum))
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugins: checksum for %s is not a hex SHA-256", p.name)
		}
		p.sum = sum
	case !o.InsecureSkipChecksum:
		return nil, fmt.Errorf("%w: %s", ErrNoChecksum, p.name)
	}
	inst, info, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.info = info
	cctx, cancel := context.WithTimeout(ctx, o.CallTimeout)
	defer cancel()
	if p.info.GetMechanism() {
		resp, err := pb.NewMechanismClient(inst.conn).List(cctx, &pb.ListRequest{})
		if err != nil {
			p.kill(inst)
			p.kills.Wait()
			return nil, fmt.Errorf("%w: %s: listing mechanisms: %w", ErrStart, p.name, callError(ctx, p.name, err))
		}
		p.mechs = resp.GetMechanisms()
	}
	p.mu.Lock()
	p.cur = inst
	p.mu.Unlock()
	return p, nil
}

// Name returns the plugin's name (Options.Name or the file's base name).
func (p *Plugin) Name() string { return p.name }

// Close ends the plugin process and waits for it to exit. The plugin's
// token sources and mechanisms fail with ErrClosed afterwards.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.done.Store(true)
	p.mu.Unlock()
	// Wait for a start in progress: it sees closed and kills its process.
	p.sem <- struct{}{}
	<-p.sem
	p.mu.Lock()
	inst := p.cur
	p.cur = nil
	p.mu.Unlock()
	if inst != nil {
		p.kill(inst)
	}
	p.kills.Wait()
	return nil
}

// Format prints the plugin's name and path.
func (p *Plugin) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("plugins.Plugin{Name:%q Path:%q}", p.name, p.path))
}

// instanceFor returns the running instance, starting the plugin when it is
// not running, after the restart delay when it crashed recently.
func (p *Plugin) instanceFor(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrClosed, p.name)
	}
	if inst := p.cur; inst != nil && !inst.client.Exited() {
		p.mu.Unlock()
		return inst, nil
	}
	p.mu.Unlock()

	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrClosed, p.name)
	}
	inst := p.cur
	if inst != nil && !inst.client.Exited() {
		p.mu.Unlock()
		return inst, nil
	}
	if inst != nil {
		p.cur = nil
		p.noteCrashLocked(inst)
	}
	wait := time.Until(p.notUntil)
	p.mu.Unlock()
	if inst != nil {
		p.log.Warn("plugin exited; restarting", "restart_in", wait.Round(time.Millisecond))
		p.kill(inst)
	}
	if wait > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("%w: %s: next start in %s", ErrRestarting, p.name, wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	inst, _, err := p.start(ctx)
	if err != nil {
		p.mu.Lock()
		p.noteFailureLocked(time.Time{})
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.kill(inst)
		return nil, fmt.Errorf("%w: %s", ErrClosed, p.name)
	}
	p.cur = inst
	return inst, nil
}

// noteCrashLocked updates the backoff after inst ended unexpectedly.
func (p *Plugin) noteCrashLocked(inst *instance) { p.noteFailureLocked(inst.started) }

func (p *Plugin) noteFailureLocked(started time.Time) {
	if !started.IsZero() && time.Since(started) > p.opts.MaxRestartDelay {
		p.crashes = 0
	}
	p.crashes++
	if p.crashes == 1 {
		// The first crash after a healthy run restarts at once.
		p.notUntil = time.Time{}
		return
	}
	d := p.opts.RestartDelay
	for i := 2; i < p.crashes && d < p.opts.MaxRestartDelay; i++ {
		d *= 2
	}
	p.notUntil = time.Now().Add(min(d, p.opts.MaxRestartDelay))
}

// discard drops inst after a failed call (a crash, a timeout): it is killed
// and the next call starts a new process.
func (p *Plugin) discard(inst *instance, why error) {
	p.mu.Lock()
	if p.cur != inst {
		p.mu.Unlock()
		return
	}
	p.cur = nil
	p.noteCrashLocked(inst)
	p.mu.Unlock()
	p.log.Warn("plugin stopped after a failed call", "error", why.Error())
	p.kill(inst)
}

// kill ends inst in the background; Close waits for every kill.
func (p *Plugin) kill(inst *instance) {
	inst.once.Do(func() {
		p.kills.Add(1)
		go func() {
			defer p.kills.Done()
			done := make(chan struct{})
			go func() {
				inst.client.Kill() // graceful shutdown, then a forced kill after 2 s
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				// The process is gone but a child holds its output open.
				killGroup(inst.pid)
				<-done
			}
			killGroup(inst.pid)
			for _, w := range inst.logs {
				w.Close()
			}
			close(inst.stop)
			close(inst.gone)
		}()
	})
}

// start hashes the plugin file, runs it, and completes the handshake and
// the Info call. On any failure the process is gone when it returns.
func (p *Plugin) start(ctx context.Context) (*instance, *pb.InfoResponse, error) {
	f, elf, err := p.openVerified()
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()

	cmd := &exec.Cmd{Path: p.path, Args: append([]string{p.path}, p.opts.Args...), Env: p.env()}
	execOpened(cmd, f, elf)
	isolate(cmd)

	startTimeout := p.opts.StartTimeout
	if dl, ok := ctx.Deadline(); ok {
		startTimeout = max(min(startTimeout, time.Until(dl)), time.Millisecond)
	}
	stderr := &logWriter{log: p.log, secrets: p.secrets, stream: "stderr", level: slog.LevelInfo}
	syncOut := &logWriter{log: p.log, secrets: p.secrets, stream: "stdout", level: slog.LevelInfo}
	syncErr := &logWriter{log: p.log, secrets: p.secrets, stream: "stderr", level: slog.LevelInfo}
	var run *procRunner
	client := plugin.NewClient(&plugin.ClientConfig{
		RunnerFunc:       runnerFunc(cmd, p.name, &run),
		HandshakeConfig:  handshake(),
		Plugins:          plugin.PluginSet{pluginName: &grpcPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     startTimeout,
		Logger:           &hclogAdapter{log: p.log, secrets: p.secrets},
		Stderr:           stderr,
		SyncStdout:       syncOut,
		SyncStderr:       syncErr,
	})
	inst := &instance{client: client, started: time.Now(), stop: make(chan struct{}), gone: make(chan struct{}),
		logs: []*logWriter{stderr, syncOut, syncErr}}

	// Start from a goroutine locked to its OS thread, which lives until
	// the plugin is killed: the parent-death signal is tied to the thread
	// that forked (see parentDeathSignal).
	type result struct {
		conn *grpc.ClientConn
		err  error
	}
	res := make(chan result, 1)
	go func() {
		if pinnedThread {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		}
		rpc, err := client.Client()
		if err != nil {
			res <- result{err: err}
		} else if raw, derr := rpc.Dispense(pluginName); derr != nil {
			res <- result{err: derr}
		} else {
			res <- result{conn: raw.(*grpc.ClientConn)}
		}
		<-inst.stop
	}()
	r := <-res
	if run != nil {
		inst.pid = int(run.pid.Load())
	}
	if r.err != nil {
		p.kill(inst)
		<-inst.gone
		return nil, nil, fmt.Errorf("%w: %s: %s", ErrStart, p.name, p.secrets.redact(r.err.Error()))
	}
	inst.conn = r.conn

	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	info, err := pb.NewPluginClient(inst.conn).Info(cctx, &pb.InfoRequest{})
	if err == nil && info.GetProtocolVersion() != ProtocolVersion {
		err = fmt.Errorf("protocol version %d, host speaks %d", info.GetProtocolVersion(), ProtocolVersion)
	}
	if err != nil {
		p.kill(inst)
		<-inst.gone
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrStart, p.name, callError(ctx, p.name, err))
	}
	p.log.Debug("plugin started", "pid", inst.pid, "name", info.GetName(), "version", info.GetVersion())
	return inst, info, nil
}

// openVerified opens the plugin file and checks its SHA-256. The returned
// file is the one that will be executed (see execOpened).
func (p *Plugin) openVerified() (f *os.File, elf bool, err error) {
	f, err = os.Open(p.path)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrStart, p.name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrStart, p.name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, false, fmt.Errorf("%w: %s: not a regular file", ErrStart, p.name)
	}
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	elf = n == 4 && bytes.Equal(magic[:], []byte("\x7fELF"))
	if p.sum == nil {
		return f, elf, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrStart, p.name, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, p.sum) {
		return nil, false, &ChecksumError{Path: p.path, Want: hex.EncodeToString(p.sum), Got: hex.EncodeToString(got)}
	}
	return f, elf, nil
}

func (p *Plugin) env() []string {
	env := make([]string, 0, len(envAllowed)+len(p.opts.Env))
	for _, k := range envAllowed {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, p.opts.Env...)
}

// call runs f against the running instance with the call deadline. A
// crash or a missed deadline discards the instance.
func (p *Plugin) call(ctx context.Context, f func(ctx context.Context, inst *instance) error) error {
	inst, err := p.instanceFor(ctx)
	if err != nil {
		return err
	}
	return p.callOn(ctx, inst, f)
}

// callOn runs f against inst, which a conversation is bound to.
func (p *Plugin) callOn(ctx context.Context, inst *instance, f func(ctx context.Context, inst *instance) error) error {
	select {
	case <-inst.gone:
		return fmt.Errorf("%w: %s", ErrExited, p.name)
	default:
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	err := f(cctx, inst)
	if err == nil {
		return nil
	}
	err = callError(ctx, p.name, err)
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrExited) || inst.client.Exited() {
		p.discard(inst, err)
		if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrExited) {
			err = fmt.Errorf("%w: %s: %w", ErrExited, p.name, err)
		}
	}
	return err
}
