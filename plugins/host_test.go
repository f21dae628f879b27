package plugins

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

func bounded(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestTokenThroughPlugin(t *testing.T) {
	p := openTest(t, nil)
	ctx := bounded(t)
	src := p.TokenSource("alice@example.com", "https://mail.google.com/")
	if again := p.TokenSource("alice@example.com", "https://mail.google.com/"); again != src {
		t.Error("TokenSource returned a second source for the same account")
	}
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.a0") || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token %q type %q expiry %v", tok.AccessToken, tok.TokenType, tok.Expiry)
	}
	cached, err := src.Token(ctx)
	if err != nil || cached.AccessToken != tok.AccessToken {
		t.Fatalf("second Token: %v, same token %v", err, err == nil && cached.AccessToken == tok.AccessToken)
	}
	src.(sasl.TokenInvalidator).Invalidate(tok)
	fresh, err := src.Token(ctx)
	if err != nil || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("Token after Invalidate: %v, same token %v", err, err == nil && fresh.AccessToken == tok.AccessToken)
	}
	other, err := p.TokenSource("bob@example.com").Token(ctx)
	if err != nil || other.AccessToken == fresh.AccessToken {
		t.Fatalf("bob: %v", err)
	}
}

func TestTokenErrorsKeepTheirType(t *testing.T) {
	p := openTest(t, nil)
	ctx := bounded(t)
	_, err := p.TokenSource("reauth").Token(ctx)
	var oe *providers.OAuthError
	if !errors.Is(err, providers.ErrReauthRequired) || !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.StatusCode != 400 {
		t.Fatalf("reauth: %v (%T)", err, err)
	}
	_, err = p.TokenSource("unknown").Token(ctx)
	if !errors.Is(err, providers.ErrReauthRequired) {
		t.Fatalf("unknown account: %v", err)
	}
}

func TestChecksum(t *testing.T) {
	dir := t.TempDir()
	sentinel := filepath.Join(dir, "ran")
	env := []string{envSentinel + "=" + sentinel}
	ctx := bounded(t)

	_, err := Open(ctx, bins.test, &Options{Env: env, Checksum: strings.Repeat("ab", 32)})
	var ce *ChecksumError
	if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) || ce.Got != sum(t, bins.test) {
		t.Fatalf("wrong checksum: %v", err)
	}
	_, err = Open(ctx, bins.test, &Options{Env: env})
	if !errors.Is(err, ErrNoChecksum) {
		t.Fatalf("no checksum: %v", err)
	}
	_, err = Open(ctx, bins.test, &Options{Env: env, Checksum: "not hex"})
	if err == nil {
		t.Fatal("malformed checksum accepted")
	}
	if _, err := os.Stat(sentinel); !os.IsNotExist(err) {
		t.Fatalf("the plugin ran despite a refused checksum (%v)", err)
	}

	// The right checksum runs it; a file changed afterwards is refused
	// at the next start.
	copyPath := filepath.Join(dir, "plugin")
	data, err := os.ReadFile(bins.test)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := Open(ctx, copyPath, &Options{Env: append(env, envPanicOnce+"="+filepath.Join(dir, "once")), Checksum: sum(t, copyPath)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pid := sentinelPID(t, sentinel)
	os.Remove(sentinel)
	// Replace the file (a running executable cannot be written to).
	if err := os.WriteFile(copyPath+".new", append(data, 0), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyPath+".new", copyPath); err != nil {
		t.Fatal(err)
	}
	_, err = p.TokenSource("exit").Token(ctx) // crashes it; the restarts are refused
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("restart of a modified plugin: %v", err)
	}
	waitGone(t, pid, testTimeout)
	if _, err := os.Stat(sentinel); !os.IsNotExist(err) {
		t.Fatal("the modified plugin ran")
	}
}

func TestHandshakeFailures(t *testing.T) {
	for _, mode := range []string{"stdout", "nostart"} {
		t.Run(mode, func(t *testing.T) {
			sentinel := filepath.Join(t.TempDir(), "ran")
			start := time.Now()
			_, err := Open(bounded(t), bins.test, &Options{Checksum: sum(t, bins.test), StartTimeout: 2 * time.Second,
				Env: []string{envMode + "=" + mode, envSentinel + "=" + sentinel}})
			if !errors.Is(err, ErrStart) {
				t.Fatalf("Open: %v", err)
			}
			if mode == "stdout" && !strings.Contains(err.Error(), "Unrecognized remote plugin message") {
				t.Errorf("error does not say what went wrong: %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %s", d)
			}
			waitGone(t, sentinelPID(t, sentinel), testTimeout)
		})
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	p := openTest(t, nil)
	// A source that holds a valid token before Close must not serve it
	// after.
	held := p.TokenSource("a")
	if _, err := held.Token(bounded(t)); err != nil {
		t.Fatal(err)
	}
	pid := p.pidForTest()
	if !alive(pid) {
		t.Fatalf("plugin pid %d not running", pid)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("plugin %d still running after Close", pid)
	}
	if _, err := p.TokenSource("a").Token(bounded(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Token after Close: %v", err)
	}
	if _, err := held.Token(bounded(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Token from a source with a cached token, after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsChildren(t *testing.T) {
	childFile := filepath.Join(t.TempDir(), "child")
	p := openTest(t, &Options{Env: []string{"TESTPLUGIN_CHILD=" + childFile}})
	child := sentinelPID(t, childFile)
	if !alive(child) {
		t.Fatalf("child %d not running", child)
	}
	p.Close()
	waitGone(t, child, 5*time.Second)
}

// stepClient runs the test plugin's TEST-STEP client as user.
func stepClient(t *testing.T, p *Plugin, user string) (sasl.Client, []byte) {
	t.Helper()
	reg := sasl.NewRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	n, err := reg.NewClient(bounded(t), "TEST-STEP", &sasl.Credentials{Username: user, Password: "x"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	mech, ir, err := n.Client.Start()
	if err != nil || mech != "TEST-STEP" || string(ir) != user {
		t.Fatalf("Start: %q %q %v", mech, ir, err)
	}
	return n.Client, ir
}

func TestCrashMidConversation(t *testing.T) {
	once := filepath.Join(t.TempDir(), "crashed")
	p := openTest(t, &Options{Env: []string{envPanicOnce + "=" + once}})
	pid := p.pidForTest()

	c, _ := stepClient(t, p, "panic")
	start := time.Now()
	resp, err := c.Next([]byte("go on"))
	if !errors.Is(err, ErrExited) || resp != nil {
		t.Fatalf("Next in a crashing plugin: %q, %v", resp, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("crash reported after %s", d)
	}
	waitGone(t, pid, testTimeout)
	if _, err := c.Next([]byte("go on")); err == nil {
		t.Fatal("a conversation of a dead plugin went on")
	}

	// The next conversation restarts the plugin and succeeds.
	c, _ = stepClient(t, p, "panic") // crashes no more: the file exists
	resp, err = c.Next([]byte("go on"))
	if err != nil || string(resp) != "ok" {
		t.Fatalf("after restart: %q, %v", resp, err)
	}
	if p.pidForTest() == pid {
		t.Fatal("plugin not restarted")
	}
}

func TestServerCrashFailsAuthentication(t *testing.T) {
	once := filepath.Join(t.TempDir(), "crashed")
	p := openTest(t, &Options{Env: []string{envPanicOnce + "=" + once}})
	reg := sasl.NewRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	// First round: the plugin crashes in the middle of the exchange.
	s, err := reg.NewServer(bounded(t), "TEST-STEP", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, done, err := s.Next([]byte("panic"))
	if !errors.Is(err, ErrExited) || !done || ch != nil {
		t.Fatalf("crash: challenge %q done %v err %v", ch, done, err)
	}
	if _, ok := s.Identity(); ok {
		t.Fatal("identity after a crash")
	}
	if _, _, err := s.Next([]byte("ok")); err == nil {
		t.Fatal("the conversation went on after the crash")
	}

	// Second round: restarted, the same exchange succeeds.
	s, err = reg.NewServer(bounded(t), "TEST-STEP", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch, done, err = s.Next([]byte("panic")); err != nil || done || string(ch) != "go on" {
		t.Fatalf("Next: %q %v %v", ch, done, err)
	}
	if _, done, err = s.Next([]byte("ok")); err != nil || !done {
		t.Fatalf("final Next: %v %v", done, err)
	}
	if id, ok := s.Identity(); !ok || id.Username != "panic" || id.Mechanism != "TEST-STEP" {
		t.Fatalf("identity %+v %v", id, ok)
	}
}

func TestHangKillsPlugin(t *testing.T) {
	p := openTest(t, &Options{CallTimeout: 500 * time.Millisecond})
	pid := p.pidForTest()
	c, _ := stepClient(t, p, "hang")
	start := time.Now()
	_, err := c.Next([]byte("go on"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next in a hanging plugin: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("deadline fired after %s", d)
	}
	waitGone(t, pid, 10*time.Second)
	c, _ = stepClient(t, p, "alice")
	if resp, err := c.Next([]byte("go on")); err != nil || string(resp) != "ok" {
		t.Fatalf("after the kill: %q %v", resp, err)
	}
}

func TestCallerDeadlineDoesNotKill(t *testing.T) {
	p := openTest(t, nil)
	pid := p.pidForTest()
	f := &remoteTokens{p: p, account: "hang"}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := f.Fetch(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch: %v", err)
	}
	if !alive(pid) || p.pidForTest() != pid {
		t.Fatal("the plugin was killed for the caller's own deadline")
	}
}

// TestHostCrash kills a host with SIGKILL: its plugin exits too, through
// the parent-death signal Open sets and, for a plugin started otherwise,
// through Serve's watch of its parent.
func TestHostCrash(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run("raw="+strconv.FormatBool(raw), func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), envHostHelper+"="+bins.test, envHostSum+"="+sum(t, bins.test))
			if raw {
				cmd.Env = append(cmd.Env, envHostRaw+"=1")
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cmd.Process.Kill()
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, hostHelperPID) {
				t.Fatalf("host helper said %q, %v", line, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, hostHelperPID)))
			if err != nil || !alive(pid) {
				t.Fatalf("plugin pid %d: %v", pid, err)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitGone(t, pid, 5*time.Second)
		})
	}
}

func TestRunByHand(t *testing.T) {
	cmd := exec.Command(bins.test)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "This binary is a plugin") {
		t.Fatalf("run by hand: %v\n%s", err, out)
	}
}

func TestEnvironmentIsolated(t *testing.T) {
	t.Setenv("PLUGINS_TEST_HOST_SECRET", "must-not-leak")
	sentinel := filepath.Join(t.TempDir(), "ran")
	p := openTest(t, &Options{Env: []string{envSentinel + "=" + sentinel}})
	pid := sentinelPID(t, sentinel)
	if pid != p.pidForTest() {
		t.Fatalf("sentinel pid %d, plugin pid %d", pid, p.pidForTest())
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Skip("cannot read the plugin's environment:", err)
	}
	if strings.Contains(string(env), "must-not-leak") {
		t.Fatal("the host's environment reached the plugin")
	}
	if !strings.Contains(string(env), MagicCookieKey+"=") || !strings.Contains(string(env), envSentinel+"=") {
		t.Fatal("the plugin lacks the handshake or Options.Env")
	}
	// Nor does the host's standard input.
	if in, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/0"); err != nil || in != os.DevNull {
		t.Fatalf("plugin's standard input is %q (%v)", in, err)
	}
}

func TestServesOnlyWhatItAnnounces(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(file, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := Open(bounded(t), bins.tokenfile, &Options{Checksum: sum(t, bins.tokenfile), Args: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	if m := tokens.Mechanisms(); len(m) != 0 {
		t.Fatalf("a token plugin lists mechanisms %v", m)
	}
	if _, err := openUserDB(t).TokenSource("alice").Token(bounded(t)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("tokens from a mechanism plugin: %v", err)
	}
	if _, err := Open(bounded(t), filepath.Join(t.TempDir(), "missing"), &Options{InsecureSkipChecksum: true}); !errors.Is(err, ErrStart) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing plugin: %v", err)
	}
}

func TestRestartBackoff(t *testing.T) {
	p := &Plugin{opts: Options{RestartDelay: time.Second, MaxRestartDelay: 8 * time.Second}}
	var got []time.Duration
	for range 6 {
		p.noteFailureLocked(time.Now())
		got = append(got, time.Until(p.notUntil).Round(time.Second))
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if max(got[i], 0) != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	// A plugin that ran longer than the cap before crashing restarts at once.
	p.noteFailureLocked(time.Now().Add(-time.Minute))
	if !p.notUntil.IsZero() {
		t.Fatalf("after a long run: next start at %v", p.notUntil)
	}
}

func TestRestarting(t *testing.T) {
	p := openTest(t, &Options{RestartDelay: time.Minute})
	crash := &remoteTokens{p: p, account: "exit"}
	for i := range 2 { // the first crash restarts at once, the second waits
		if _, err := crash.Fetch(bounded(t)); !errors.Is(err, ErrExited) {
			t.Fatalf("crash %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// It fails at once: waiting would have ended with ctx's deadline.
	_, err := (&remoteTokens{p: p, account: "alice"}).Fetch(ctx)
	if !errors.Is(err, ErrRestarting) {
		t.Fatalf("Fetch during the backoff: %v", err)
	}
}
