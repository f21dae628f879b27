package main

// The interop tests drive the sandbox with real clients nobody here wrote:
// curl, and Python's imaplib, smtplib and poplib. CI installs both (see
// .ci/packages); elsewhere a missing one skips its tests, in CI it fails
// them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of an external program, skipping the test
// when it is missing, or failing it when CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := lookTool(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: .ci/run installs it from .ci/packages", name)
	}
	t.Skipf("%s is not installed; skipping (CI installs it from .ci/packages)", name)
	return ""
}

// lookTool finds an external program.
func lookTool(name string) (string, error) { return exec.LookPath(name) }

// listener returns the sandbox listener of proto ("imap", "smtp", "pop3")
// in mode ("implicit" or "starttls").
func (p *sandboxProc) listener(proto, mode string) sandboxListener {
	var sp sandboxProtocol
	switch proto {
	case "imap":
		sp = p.info.IMAP
	case "smtp":
		sp = p.info.SMTP
	case "pop3":
		sp = p.info.POP3
	default:
		p.t.Fatalf("unknown protocol %q", proto)
	}
	if mode == "implicit" {
		return sp.ImplicitTLS
	}
	return sp.StartTLS
}

// user returns the sandbox's credentials for address.
func (p *sandboxProc) user(address string) sandboxUserInfo {
	for _, u := range p.info.Users {
		if u.Address == address {
			return u
		}
	}
	p.t.Fatalf("the sandbox has no user %q", address)
	return sandboxUserInfo{}
}

// curlResult is what a curl run did.
type curlResult struct {
	code   int    // curl's exit code
	stdout string // the transfer
	trace  string // the -v trace; holds credentials, never printed
	msg    string // curl's own error line ("curl: (67) Login denied")
}

// curlLoginDenied is curl's exit code for a login the server refused
// (CURLE_LOGIN_DENIED).
const curlLoginDenied = 67

// runCurl runs curl with args after -sS -v and a time limit.
func runCurl(t *testing.T, args ...string) curlResult {
	t.Helper()
	bin := requireTool(t, "curl")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-sS", "-v", "--max-time", "30"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := curlResult{stdout: out.String(), trace: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running curl: %v", err)
	}
	for _, line := range strings.Split(r.trace, "\n") {
		if strings.HasPrefix(line, "curl: (") {
			r.msg = line
		}
	}
	return r
}

// pythonScript runs testdata/python/<script> with input as JSON on its
// standard input and decodes the JSON it prints into result.
func pythonScript(t *testing.T, script string, input any, result any) {
	t.Helper()
	bin := requireTool(t, "python3")
	if err := runPython(t.Context(), bin, script, input, result); err != nil {
		t.Fatal(err)
	}
}

// runPython is pythonScript for any goroutine: it returns the failure.
func runPython(ctx context.Context, bin, script string, input any, result any) error {
	in, err := json.Marshal(input)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// -E, -s and -B: no PYTHON* variables, no user site directory, no
	// __pycache__ written into testdata.
	cmd := exec.CommandContext(ctx, bin, "-E", "-s", "-B", filepath.Join("testdata", "python", script))
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("python3 %s: %v\n%s", script, err, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), result); err != nil {
		return fmt.Errorf("python3 %s printed %q: %v\n%s", script, out.String(), err, errb.String())
	}
	return nil
}
