package python

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// interpreter is the Python the plugin is written for: Debian's, which has
// the python3-grpcio, python3-protobuf and python3-cryptography packages.
// A python3 earlier in PATH (pyenv, a virtualenv) may lack them; the
// script's #! line names this one too.
const interpreter = "/usr/bin/python3"

// script is the plugin under test.
const script = "token_file_plugin.py"

// waitBound bounds every wait for a process; it only catches a hang.
const waitBound = 15 * time.Second

var (
	pythonOnce    sync.Once
	pythonMissing string
)

// requirePython skips the test when Debian's Python or a module the plugin
// imports is missing, or fails it when CI=true: .ci/run installs them from
// .ci/packages.
func requirePython(tb testing.TB) {
	tb.Helper()
	pythonOnce.Do(func() {
		if _, err := os.Stat(interpreter); err != nil {
			pythonMissing = interpreter + " is not installed"
			return
		}
		out, err := exec.Command(interpreter, "-I", "-c", "import grpc, google.protobuf, cryptography").CombinedOutput()
		if err != nil {
			pythonMissing = fmt.Sprintf("%s lacks python3-grpcio, python3-protobuf or python3-cryptography: %v: %s", interpreter, err, bytes.TrimSpace(out))
		}
	})
	if pythonMissing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s, and CI=true: .ci/run installs it from .ci/packages", pythonMissing)
	}
	tb.Skipf("%s; skipping (CI installs it from .ci/packages)", pythonMissing)
}

// scriptPath returns the absolute path of the plugin script.
func scriptPath(tb testing.TB) string {
	tb.Helper()
	p, err := filepath.Abs(script)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// fileSum returns the SHA-256 of the file at path, in hex.
func fileSum(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fileToken is an entry of the token file: x/oauth2's Token JSON, and the
// scopes.
type fileToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"`
	Expiry      time.Time `json:"expiry"`
	Scopes      []string  `json:"scopes,omitempty"`
}

// writeTokens replaces path with tokens the way a refresher should: a
// temporary file renamed over the old one.
func writeTokens(tb testing.TB, path string, tokens map[string]fileToken) {
	tb.Helper()
	b, err := json.Marshal(tokens)
	if err != nil {
		tb.Fatal(err)
	}
	writeRaw(tb, path, b)
}

// writeRaw replaces path with b, mode 0600.
func writeRaw(tb testing.TB, path string, b []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// lockedBuffer collects output written from other goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// procStat returns the fields of /proc/pid/stat after the command name
// (state, ppid, ...), or nil when the process does not exist.
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// pid (comm) STATE PPID ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// pidGone reports whether process pid has exited: it no longer exists, or
// is a zombie waiting for a parent that is not this test.
func pidGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	f := procStat(pid)
	return f == nil || f[0] == "Z"
}

// waitGone waits for pid to exit, and kills it if it does not.
func waitGone(tb testing.TB, pid int, why string) {
	tb.Helper()
	deadline := time.Now().Add(waitBound)
	for !pidGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			tb.Fatalf("plugin process %d still running %s after %s", pid, waitBound, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childrenWithArg returns the live child processes of this test whose
// command line holds arg: the plugins started for one test, told apart by
// their token file.
func childrenWithArg(tb testing.TB, arg string) []int {
	tb.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		f := procStat(pid)
		if len(f) < 2 || f[1] != self || f[0] == "Z" {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(cmdline), "\x00"), arg) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// withoutEnv returns this process's environment less the variables named.
func withoutEnv(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goPeerDir != "" {
		os.RemoveAll(goPeerDir)
	}
	os.Exit(code)
}

// install copies the plugin (the script, goplugin.py and generated/) to a
// new directory, as an installation would, and returns the script's path
// there.
func install(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, name := range pluginFiles(tb, ".") {
		if strings.HasSuffix(name, "/") {
			continue // __pycache__ of a module imported by hand
		}
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		st, err := os.Stat(name)
		if err != nil {
			tb.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			tb.Fatal(err)
		}
	}
	return filepath.Join(dir, script)
}

// pluginFiles lists the files of the plugin under dir: the Python files
// and what generated/ holds, relative to dir.
func pluginFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel != "." && rel != "generated" {
				names = append(names, rel+"/") // a directory the plugin made
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".py") {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return names
}
