//go:build linux

package providers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// The tests in this file run copies of the test binary as separate OS
// processes sharing a token directory. A child runs
// TestStoreHelperProcess with SASLKIT_STORE_HELPER set to its mode.

const helperEnv = "SASLKIT_STORE_HELPER"

type helperResult struct {
	Access        string `json:"access"`
	Refresh       string `json:"refresh"`
	Err           string `json:"err"`
	PersistFailed bool   `json:"persist_failed"`
	Reauth        bool   `json:"reauth"`
	Rounds        int    `json:"rounds"`
	Reported      int    `json:"reported"`
}

func TestStoreHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	res, err := runStoreHelper(mode)
	if err != nil {
		res.Err = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

func runStoreHelper(mode string) (helperResult, error) {
	var res helperResult
	ctx := context.Background()
	if os.Getenv("DROP_PRIV") == "1" {
		if err := syscall.Setgid(65534); err != nil {
			return res, err
		}
		if err := syscall.Setuid(65534); err != nil {
			return res, err
		}
	}
	dir, account := os.Getenv("DIR"), os.Getenv("ACCOUNT")
	cfg := &oauth2.Config{
		ClientID: os.Getenv("CLIENT_ID"), ClientSecret: os.Getenv("CLIENT_SECRET"),
		Scopes:   MicrosoftMailScopes(),
		Endpoint: oauth2.Endpoint{TokenURL: os.Getenv("TOKEN_URL"), AuthStyle: oauth2.AuthStyleInParams},
	}
	store := NewFileStore(dir, nil)
	newFetcher := func(opts *RefreshOptions) (*RefreshFetcher, error) {
		return NewRefreshFetcher(cfg, store, account, opts)
	}
	if os.Getenv("WAIT_GO") == "1" {
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return res, err
		}
	}
	switch mode {
	case "fetch":
		f, err := newFetcher(nil)
		if err != nil {
			return res, err
		}
		tok, err := NewCache(f, nil).Token(ctx)
		if err != nil {
			return res, err
		}
		res.Access = tok.AccessToken
		st, err := store.Load(ctx, account)
		if err != nil {
			return res, err
		}
		res.Refresh = st.RefreshToken
	case "rounds":
		n, _ := strconv.Atoi(os.Getenv("ROUNDS"))
		rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
		for i := range n {
			opts := &RefreshOptions{}
			if rng.IntN(2) == 0 {
				opts.AdoptMargin = 2 * time.Hour // always spend the refresh token
			}
			f, err := newFetcher(opts)
			if err != nil {
				return res, err
			}
			if _, err := f.Fetch(ctx); err != nil {
				return res, fmt.Errorf("round %d: %w", i, err)
			}
			res.Rounds++
			time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		}
	case "crash":
		at := os.Getenv("CRASH_AT")
		kill := func(point string) {
			if point == at {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // never returns
			}
		}
		store.hook = kill
		f, err := newFetcher(nil)
		if err != nil {
			return res, err
		}
		f.hook = kill
		_, err = f.Fetch(ctx)
		return res, fmt.Errorf("survived crash point %q: %v", at, err)
	case "readonly":
		f, err := newFetcher(nil)
		if err != nil {
			return res, err
		}
		tok, err := f.Fetch(ctx)
		res.PersistFailed = errors.Is(err, ErrPersistFailed)
		res.Reauth = errors.Is(err, ErrReauthRequired)
		if tok == nil {
			return res, fmt.Errorf("no token with the persist failure: %v", err)
		}
		res.Access = tok.AccessToken
		// The process keeps working with the unsaved pair.
		c := NewCache(f, &CacheOptions{OnError: func(error) { res.Reported++ }})
		tok2, err := c.Token(ctx)
		if err != nil {
			return res, err
		}
		if tok2.AccessToken == tok.AccessToken {
			return res, errors.New("second fetch did not refresh")
		}
		res.Refresh = tok2.RefreshToken
	default:
		return res, fmt.Errorf("unknown helper mode %q", mode)
	}
	return res, nil
}

type helperProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHelper(t *testing.T, a *authServer, dir, mode string, env ...string) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "DIR="+dir, "ACCOUNT="+testAccount,
		"CLIENT_ID="+a.clientID, "CLIENT_SECRET="+a.secret, "TOKEN_URL="+a.srv.URL+"/token")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return &helperProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

// wait reads the child's whole output, then waits for it to exit.
func (h *helperProc) wait() (string, error) {
	b, _ := io.ReadAll(h.out)
	_ = h.stdin.Close()
	return string(b), h.cmd.Wait()
}

// result waits for the child and decodes its report.
func (h *helperProc) result(t *testing.T) helperResult {
	t.Helper()
	out, err := h.wait()
	if err != nil {
		t.Fatalf("helper: %v; output %s", err, out)
	}
	var res helperResult
	last := strings.TrimSpace(out)
	if i := strings.LastIndex(last, "\n"); i >= 0 {
		last = last[i+1:]
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if res.Err != "" {
		t.Fatalf("helper: %s", res.Err)
	}
	return res
}

func seedFile(t *testing.T, a *authServer, dir string) (*FileStore, string) {
	t.Helper()
	store := NewFileStore(dir, nil)
	return store, seedExpired(t, a, store, time.Now())
}

func TestTwoProcessesRefreshOnce(t *testing.T) {
	a := newAuthServer(t, true)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, oldRT := seedFile(t, a, dir)
	// Hold the winner at the server for a moment, so that the loser is
	// waiting on the lock rather than arriving afterwards.
	a.beforeReply = func() { time.Sleep(50 * time.Millisecond) }

	p1 := startHelper(t, a, dir, "fetch", "WAIT_GO=1")
	p2 := startHelper(t, a, dir, "fetch", "WAIT_GO=1")
	for _, p := range []*helperProc{p1, p2} {
		if line, err := p.out.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("helper not ready: %q %v", line, err)
		}
	}
	for _, p := range []*helperProc{p1, p2} {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	r1, r2 := p1.result(t), p2.result(t)
	if got := a.requests.Load(); got != 1 {
		t.Fatalf("%d refresh requests from two processes, want exactly 1", got)
	}
	if r1.Access != r2.Access || r1.Refresh != r2.Refresh || r1.Refresh == oldRT {
		t.Fatal("processes hold different tokens")
	}
	st, err := store.Load(context.Background(), testAccount)
	if err != nil || st.RefreshToken != r1.Refresh || !a.liveRefresh(st.RefreshToken) {
		t.Fatalf("file does not hold the live refresh token: %v", err)
	}
}

func TestTwoProcessesRandomRounds(t *testing.T) {
	rounds := 500
	if testing.Short() {
		rounds = 50
	}
	a := newAuthServer(t, true)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, _ := seedFile(t, a, dir)
	env := "ROUNDS=" + strconv.Itoa(rounds)
	p1 := startHelper(t, a, dir, "rounds", env)
	p2 := startHelper(t, a, dir, "rounds", env)
	// Read the file while the processes rewrite it: every read must parse.
	stop := make(chan struct{})
	reads := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				reads <- nil
				return
			default:
			}
			b, err := os.ReadFile(store.Path(testAccount))
			if err != nil {
				reads <- err
				return
			}
			if _, err := decodeTokenFile(b, testAccount); err != nil {
				reads <- fmt.Errorf("read %d: %w", n, err)
				return
			}
			n++
		}
	}()
	r1, r2 := p1.result(t), p2.result(t)
	close(stop)
	if err := <-reads; err != nil {
		t.Fatalf("concurrent read saw a bad file: %v", err)
	}
	if r1.Rounds+r2.Rounds != 2*rounds {
		t.Fatalf("rounds %d+%d", r1.Rounds, r2.Rounds)
	}
	if a.reuse.Load() != 0 || a.invalidGrant.Load() != 0 {
		t.Fatalf("%v", a)
	}
	st, err := store.Load(context.Background(), testAccount)
	if err != nil || !a.liveRefresh(st.RefreshToken) {
		t.Fatalf("final file: %v", err)
	}
	if fi, err := os.Stat(store.Path(testAccount)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", fi.Mode(), err)
	}
	t.Logf("%v", a)
}

func TestCrashInjection(t *testing.T) {
	for _, point := range []string{"response", "temp-written", "renamed"} {
		t.Run(point, func(t *testing.T) {
			a := newAuthServer(t, true)
			dir := filepath.Join(t.TempDir(), "tokens")
			store, oldRT := seedFile(t, a, dir)
			p := startHelper(t, a, dir, "crash", "CRASH_AT="+point)
			out, err := p.wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed: %v, output %s", err, out)
			}
			if a.requests.Load() != 1 {
				t.Fatalf("%d requests before the crash", a.requests.Load())
			}
			b, err := os.ReadFile(store.Path(testAccount))
			if err != nil {
				t.Fatal(err)
			}
			st, err := decodeTokenFile(b, testAccount)
			if err != nil {
				t.Fatalf("token file torn after crash at %s: %v", point, err)
			}
			newPair := a.liveRefresh(st.RefreshToken)
			switch {
			case point == "renamed" && !newPair:
				t.Fatal("crash after rename: file does not hold the new pair")
			case point != "renamed" && st.RefreshToken != oldRT:
				t.Fatal("crash before rename: file does not hold the old pair")
			}

			// Restart.
			var logs strings.Builder
			f, err := NewRefreshFetcher(a.config(), NewFileStore(dir, nil), testAccount, &RefreshOptions{Logger: captureLogger(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			c := NewCache(f, nil)
			_, err = c.Token(context.Background())
			if newPair {
				if err != nil || a.reuse.Load() != 0 {
					t.Fatalf("after restart: %v, %v", err, a)
				}
				return
			}
			// The rotated pair was lost with the process: the old refresh
			// token is dead, so the user must authorize again. One request,
			// no loop.
			if !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("after restart with the old pair: %v", err)
			}
			if _, err := c.Token(context.Background()); !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("second call: %v", err)
			}
			if a.requests.Load() != 2 {
				t.Fatalf("%d requests, want 2 (one before the crash, one after)", a.requests.Load())
			}
			if !strings.Contains(logs.String(), "persist lost") || !strings.Contains(err.Error(), "persist lost") {
				t.Errorf("no persist-lost diagnostic: error %v, log %s", err, logs.String())
			}
		})
	}
}

// TestReadOnlyTokenDir makes the token directory read-only for the process
// that refreshes (dropping root privileges in the child when the tests run
// as root, since root ignores directory permissions).
func TestReadOnlyTokenDir(t *testing.T) {
	a := newAuthServer(t, true)
	dir := filepath.Join(t.TempDir(), "tokens")
	store, oldRT := seedFile(t, a, dir)
	// Create the lock files now: the child cannot create them later.
	unlock, err := store.Lock(context.Background(), testAccount)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	_ = store.Delete(context.Background(), testAccount, &oauth2.Token{RefreshToken: "not-stored"}) // creates .wlock; conflicts
	var env []string
	if os.Geteuid() == 0 {
		env = append(env, "DROP_PRIV=1")
		for _, p := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir), dir} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if err := os.Chown(filepath.Join(dir, e.Name()), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	res := startHelper(t, a, dir, "readonly", env...).result(t)
	if !res.PersistFailed || res.Reauth {
		t.Fatalf("persist_failed=%v reauth=%v, want ErrPersistFailed only", res.PersistFailed, res.Reauth)
	}
	if res.Reported != 1 {
		t.Fatalf("cache reported %d persist failures, want 1", res.Reported)
	}
	if !a.liveRefresh(res.Refresh) || a.reuse.Load() != 0 || a.invalidGrant.Load() != 0 {
		t.Fatalf("in-memory pair not used for the next refresh: %v", a)
	}
	st, err := store.Load(context.Background(), testAccount)
	if err != nil || st.RefreshToken != oldRT {
		t.Fatalf("read-only file changed: %v", err)
	}
}
