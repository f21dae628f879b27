package providers

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The exec tests run this test binary as the command: TestExecHelperProcess
// does what the mode in its arguments says, when SASLKIT_EXEC_HELPER is set.

const execHelperEnv = "SASLKIT_EXEC_HELPER=1"

// helperArgv returns the argv that runs the helper in mode with args.
func helperArgv(mode string, args ...string) []string {
	return append([]string{os.Args[0], "-test.run=^TestExecHelperProcess$", "--", mode}, args...)
}

// helperConfig returns an ExecConfig running the helper.
func helperConfig(mode string, args ...string) ExecConfig {
	return ExecConfig{Command: helperArgv(mode, args...), Env: []string{execHelperEnv}}
}

// outConfig returns a config whose helper writes stdout and stderr exactly
// and exits with code.
func outConfig(stdout, stderr string, code int) ExecConfig {
	cfg := helperConfig("out")
	cfg.Env = append(cfg.Env,
		"SASLKIT_HELPER_STDOUT="+hex.EncodeToString([]byte(stdout)),
		"SASLKIT_HELPER_STDERR="+hex.EncodeToString([]byte(stderr)),
		"SASLKIT_HELPER_EXIT="+strconv.Itoa(code))
	return cfg
}

func TestExecHelperProcess(t *testing.T) {
	if os.Getenv("SASLKIT_EXEC_HELPER") != "1" {
		return
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	if len(args) < 2 {
		os.Exit(90)
	}
	mode, args := args[1], args[2:]
	switch mode {
	case "out":
		out, _ := hex.DecodeString(os.Getenv("SASLKIT_HELPER_STDOUT"))
		errOut, _ := hex.DecodeString(os.Getenv("SASLKIT_HELPER_STDERR"))
		os.Stdout.Write(out)
		os.Stderr.Write(errOut)
		code, _ := strconv.Atoi(os.Getenv("SASLKIT_HELPER_EXIT"))
		os.Exit(code)
	case "flood":
		buf := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := os.Stdout.Write(buf); err != nil {
				os.Exit(91)
			}
		}
	case "sleep":
		time.Sleep(time.Hour)
		os.Exit(0)
	case "hang", "background":
		// Start a child in our process group, record both PIDs, then
		// hang (or print a token and leave the child behind).
		child := exec.Command(os.Args[0], helperArgv("sleep")[1:]...)
		child.Env = os.Environ()
		if mode == "background" {
			child.Stdout = os.Stdout // the child holds our stdout open
		}
		if err := child.Start(); err != nil {
			os.Exit(92)
		}
		pidfile := args[0]
		tmp := pidfile + ".tmp"
		if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d", os.Getpid(), child.Process.Pid), 0o600); err != nil {
			os.Exit(93)
		}
		if err := os.Rename(tmp, pidfile); err != nil {
			os.Exit(94)
		}
		if mode == "background" {
			fmt.Println("bg-token-123")
			os.Exit(0)
		}
		time.Sleep(time.Hour)
		os.Exit(0)
	case "env":
		v, ok := os.LookupEnv(args[0])
		if !ok {
			v = "unset"
		}
		fmt.Println(v)
		os.Exit(0)
	case "args":
		in, _ := io.ReadAll(os.Stdin)
		if len(in) != 0 {
			os.Exit(95)
		}
		fmt.Println(strings.Join(args, ","))
		os.Exit(0)
	}
	os.Exit(96)
}

func mustExec(t *testing.T, cfg ExecConfig) *Exec {
	t.Helper()
	e, err := NewExec(cfg)
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	return e
}

func TestExecPlainLine(t *testing.T) {
	t.Parallel()
	tok, err := mustExec(t, outConfig("ya29.a0AfH6SMB-plain_token\nsecond line ignored\n", "", 0)).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "ya29.a0AfH6SMB-plain_token" || tok.TokenType != "Bearer" || !tok.Expiry.IsZero() {
		t.Fatalf("got %q %q %v", tok.AccessToken, tok.TokenType, tok.Expiry)
	}
}

func TestExecPlainLineLifetime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg := outConfig("tok-abc\r\n", "", 0)
	cfg.Lifetime = 50 * time.Minute
	cfg.Now = func() time.Time { return now }
	tok, err := mustExec(t, cfg).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "tok-abc" || !tok.Expiry.Equal(now.Add(50*time.Minute)) {
		t.Fatalf("got %q expiring %v", tok.AccessToken, tok.Expiry)
	}
}

func TestExecJSONWithExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, out string
		want      time.Time
	}{
		{"expires_in", `{"access_token":"eyJ0eXAi.eyJhdWQi.sig","token_type":"Bearer","expires_in":3599}`, now.Add(3599 * time.Second)},
		{"expires_in string", `{"access_token":"tok1","expires_in":"3600"}`, now.Add(time.Hour)},
		{"expires_at unix", `{"access_token":"tok1","expires_at":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}`, now.Add(time.Hour)},
		{"expiry rfc3339", `{"access_token":"tok1","token_type":"bearer","expiry":"2026-03-01T13:30:00Z","refresh_token":"ignored"}`, now.Add(90 * time.Minute)},
		{"expires_at wins", `{"access_token":"tok1","expires_in":60,"expires_at":"2026-03-01T12:10:00+00:00"}`, now.Add(10 * time.Minute)},
		{"no expiry", "  {\"access_token\":\"tok1\"}\n", time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := outConfig(c.out, "", 0)
			cfg.Now = func() time.Time { return now }
			tok, err := mustExec(t, cfg).Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !tok.Expiry.Equal(c.want) {
				t.Fatalf("expiry %v, want %v", tok.Expiry, c.want)
			}
			if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken != "" {
				t.Fatalf("token %q type %q refresh set=%v", tok.AccessToken, tok.TokenType, tok.RefreshToken != "")
			}
		})
	}
}

func TestExecNonZeroExit(t *testing.T) {
	t.Parallel()
	secret := "ya29.a0ARrdaM9sEcReT0kenValue1234567890"
	stderr := "oauth2ms: refresh failed for user@example.com\n\x1b[31mtoken was " + secret + "\x00\n"
	_, err := mustExec(t, outConfig("", stderr, 3)).Fetch(context.Background())
	var ee *ExecError
	if !errors.As(err, &ee) || !errors.Is(err, ErrExecFailed) {
		t.Fatalf("got %T %v, want *ExecError", err, err)
	}
	if ee.ExitCode != 3 || ee.TimedOut {
		t.Fatalf("exit %d timedOut %v", ee.ExitCode, ee.TimedOut)
	}
	if errors.Is(err, ErrExecTimeout) {
		t.Fatal("a plain failure matched ErrExecTimeout")
	}
	if !strings.Contains(ee.Stderr, "refresh failed for user@example.com") {
		t.Fatalf("stderr excerpt %q lacks the message", ee.Stderr)
	}
	if !strings.HasPrefix(err.Error(), "providers: exec ") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("message %q", err)
	}
	assertNoSecret(t, err, secret)
	if strings.ContainsAny(err.Error(), "\x00\x1b") {
		t.Fatalf("control characters in %q", err)
	}
	if classifyRetry(err) {
		t.Fatal("a non-zero exit must not be retried")
	}
}

func TestExecHideStderr(t *testing.T) {
	t.Parallel()
	cfg := outConfig("", "pw: hunter2\n", 1)
	cfg.HideStderr = true
	_, err := mustExec(t, cfg).Fetch(context.Background())
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Stderr != "" || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("stderr shown: %v", err)
	}
}

func TestExecHostileOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    ExecConfig
		reason string
	}{
		{"empty", outConfig("", "", 0), "empty output"},
		{"blank lines", outConfig("\n \r\n\t\n", "", 0), "empty output"},
		{"binary garbage", outConfig("\xff\xfe\x00\x01\x80garbage", "", 0), "not UTF-8"},
		{"control characters", outConfig("tok\x01en\n", "", 0), "control characters"},
		{"token with space", outConfig("Bearer abc\n", "", 0), "spaces"},
		{"bad JSON", outConfig(`{"access_token": "abc`, "", 0), "invalid JSON"},
		{"JSON without token", outConfig(`{"token":"abc"}`, "", 0), "no access_token"},
		{"JSON wrong type", outConfig(`{"access_token":42}`, "", 0), "wrong type"},
		{"JSON mac token", outConfig(`{"access_token":"abc","token_type":"mac"}`, "", 0), "not Bearer"},
		{"JSON expired", outConfig(`{"access_token":"abc","expires_at":1000}`, "", 0), "already expired"},
		{"JSON negative expires_in", outConfig(`{"access_token":"abc","expires_in":-5}`, "", 0), "not positive"},
		{"JSON absurd expires_in", outConfig(`{"access_token":"abc","expires_in":1e300}`, "", 0), "too large"},
		{"huge output", func() ExecConfig { c := helperConfig("flood"); c.MaxOutput = 1 << 20; return c }(), "more than 1048576 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := mustExec(t, c.cfg).Fetch(context.Background())
			var oe *ExecOutputError
			if !errors.As(err, &oe) || !errors.Is(err, ErrExecOutput) {
				t.Fatalf("got %T %v, want *ExecOutputError", err, err)
			}
			if !strings.Contains(oe.Reason, c.reason) {
				t.Fatalf("reason %q, want %q", oe.Reason, c.reason)
			}
			if strings.Contains(err.Error(), "abc") || strings.Contains(err.Error(), "garbage") {
				t.Fatalf("output quoted in %q", err)
			}
		})
	}
}

func TestExecNotFound(t *testing.T) {
	t.Parallel()
	_, err := mustExec(t, ExecConfig{Command: []string{"saslkit-no-such-helper-xyz"}}).Fetch(context.Background())
	var ee *ExecError
	if !errors.As(err, &ee) || !errors.Is(err, exec.ErrNotFound) || ee.ExitCode != -1 {
		t.Fatalf("got %v", err)
	}
}

func TestExecCallerCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mustExec(t, helperConfig("sleep")).Fetch(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestExecArgvAndStdin(t *testing.T) {
	t.Parallel()
	// The configured argv arrives unchanged, nothing is added to it, and
	// standard input is empty.
	tok, err := mustExec(t, helperConfig("args", "--account", "work", "a=b")).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "--account,work,a=b" {
		t.Fatalf("argv seen by the command: %q", tok.AccessToken)
	}
}

func TestExecEnvironment(t *testing.T) {
	t.Setenv("SASLKIT_TEST_INHERITED", "inherited-value")
	run := func(cfg ExecConfig) string {
		t.Helper()
		tok, err := mustExec(t, cfg).Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	// nil PassEnv: the whole environment.
	if got := run(helperConfig("env", "SASLKIT_TEST_INHERITED")); got != "inherited-value" {
		t.Fatalf("inherited: %q", got)
	}
	// Empty PassEnv: nothing inherited.
	cfg := helperConfig("env", "SASLKIT_TEST_INHERITED")
	cfg.PassEnv = []string{}
	if got := run(cfg); got != "unset" {
		t.Fatalf("PassEnv empty: %q", got)
	}
	// Listed: passed.
	cfg.PassEnv = []string{"SASLKIT_TEST_INHERITED", "SASLKIT_TEST_NOT_SET"}
	if got := run(cfg); got != "inherited-value" {
		t.Fatalf("PassEnv listed: %q", got)
	}
	// Env wins over the inherited value.
	cfg = helperConfig("env", "SASLKIT_TEST_INHERITED")
	cfg.Env = append(cfg.Env, "SASLKIT_TEST_INHERITED=override")
	if got := run(cfg); got != "override" {
		t.Fatalf("Env override: %q", got)
	}
}

func TestNewExecRejects(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]ExecConfig{
		"no command":       {},
		"empty program":    {Command: []string{""}},
		"negative timeout": {Command: []string{"x"}, Timeout: -1},
		"bad env":          {Command: []string{"x"}, Env: []string{"s3cr3t-without-name"}},
		"bad passenv":      {Command: []string{"x"}, PassEnv: []string{"A=B"}},
		"negative max":     {Command: []string{"x"}, MaxOutput: -1},
	} {
		_, err := NewExec(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "providers: exec") {
			t.Errorf("%s: got %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: Env entry quoted: %v", name, err)
		}
	}
}

func TestExecFormatHidesEnv(t *testing.T) {
	t.Parallel()
	cfg := ExecConfig{Command: []string{"/usr/bin/vault-helper", "read"}, Env: []string{"VAULT_TOKEN=hvs.CAESIJ2secretvalue"}}
	e := mustExec(t, cfg)
	for _, v := range []any{cfg, &cfg, e} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			s := fmt.Sprintf(verb, v)
			if strings.Contains(s, "hvs.") || strings.Contains(s, "secretvalue") {
				t.Fatalf("%s printed the Env value: %s", verb, s)
			}
			if !strings.Contains(s, "vault-helper") {
				t.Fatalf("%s lost the command: %s", verb, s)
			}
		}
	}
}

// classifyRetry reports whether the Cache would retry err.
func classifyRetry(err error) bool {
	retry, _ := classify(err)
	return retry
}

// assertNoSecret fails if err's message or any formatting of it contains
// secret in its raw or common encoded forms.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for _, s := range secrets {
		for _, form := range secretForms(s) {
			for _, text := range texts {
				if strings.Contains(text, form) {
					t.Fatalf("secret (form %q) leaked in %q", form, text)
				}
			}
		}
	}
}

func TestExecStderrExcerptBounded(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("error line with words\n", 10000)
	_, err := mustExec(t, outConfig("", big, 1)).Fetch(context.Background())
	var ee *ExecError
	if !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if n := len([]rune(ee.Stderr)); n > execStderrExcerpt+1 {
		t.Fatalf("excerpt of %d characters", n)
	}
}

// secretForms returns s as it could appear in text: raw, URL-encoded and
// in the base64 alphabets.
func secretForms(s string) []string {
	return []string{
		s,
		url.QueryEscape(s),
		base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.RawURLEncoding.EncodeToString([]byte(s)),
	}
}
