package plugins

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bins holds the plugin programs the tests run, built once by TestMain.
var bins struct {
	dir       string
	test      string // plugins/internal/testplugin
	tokenfile string // plugins/examples/tokenfile
	userdb    string // plugins/examples/userdb
}

// Environment of the test binary when it plays a host that a test kills.
const (
	envHostHelper = "PLUGINS_TEST_HOST"      // plugin path to open
	envHostRaw    = "PLUGINS_TEST_HOST_RAW"  // "1": start it without Open
	envHostSum    = "PLUGINS_TEST_HOST_SUM"  // checksum
	envSentinel   = "TESTPLUGIN_SENTINEL"    // file the test plugin writes its pid to
	envMode       = "TESTPLUGIN_MODE"        // test plugin behaviour
	envUsers      = "TESTPLUGIN_USERS"       // test plugin users
	envPanicOnce  = "TESTPLUGIN_PANIC_ONCE"  // test plugin crashes once
	testTimeout   = 20 * time.Second         // bound of any wait in these tests
	hostHelperPID = "plugin pid "            // line the host helper prints
	buildTimeout  = 5 * time.Minute          // bound of building the plugins
	soakCycles    = 1000                     // crash/restart cycles of the soak test
	shortSoak     = 25                       // the same with -short
	raceSoak      = 60                       // the same under the race detector
	userPassword  = "correct horse battery1" // password of the test users
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envHostHelper); path != "" {
		hostHelper(path)
		return
	}
	dir, err := os.MkdirTemp("", "plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if !needPlugins() {
		code = m.Run()
	} else if err := buildPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// needPlugins reports whether this run executes tests: fuzz workers and
// listings do not, and need no plugin built.
func needPlugins() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzzworker") || strings.HasPrefix(a, "-test.list") {
			return false
		}
	}
	return true
}

// buildPlugins builds the test plugin and the examples into dir.
func buildPlugins(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+string(filepath.Separator),
		"github.com/saslkit/saslkit/plugins/internal/testplugin",
		"github.com/saslkit/saslkit/plugins/examples/tokenfile",
		"github.com/saslkit/saslkit/plugins/examples/userdb")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building plugins: %v\n%s", err, out)
	}
	bins.dir = dir
	bins.test = filepath.Join(dir, "testplugin")
	bins.tokenfile = filepath.Join(dir, "tokenfile")
	bins.userdb = filepath.Join(dir, "userdb")
	return nil
}

// hostHelper is a host that opens a plugin, prints its pid and waits to be
// killed.
func hostHelper(path string) {
	if os.Getenv(envHostRaw) == "1" {
		// Start the plugin as go-plugin would, without Open's
		// parent-death signal: only the plugin's own watch ends it.
		cmd := exec.Command(path)
		cmd.Env = append(os.Environ(), MagicCookieKey+"="+MagicCookieValue,
			"PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		line, _ := bufio.NewReader(out).ReadString('\n') // the handshake: it is serving
		_ = line
		fmt.Printf("%s%d\n", hostHelperPID, cmd.Process.Pid)
	} else {
		p, err := Open(context.Background(), path, &Options{Checksum: os.Getenv(envHostSum)})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("%s%d\n", hostHelperPID, p.cur.pid)
	}
	time.Sleep(time.Hour)
}

// sum returns the SHA-256 of a file in hex.
func sum(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// openTest opens the test plugin with opts (nil for defaults) and closes it
// when the test ends.
func openTest(t testing.TB, opts *Options) *Plugin {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Checksum = sum(t, bins.test)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p, err := Open(ctx, bins.test, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// alive reports whether process pid exists (and is not a zombie).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// A zombie still answers kill(0): check its state.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// waitGone fails the test unless process pid is gone within d.
func waitGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still running after %s", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sentinelPID reads the pid the test plugin wrote to path.
func sentinelPID(t testing.TB, path string) int {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin never wrote %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *Plugin) pidForTest() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}
