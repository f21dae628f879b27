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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// demoHang bounds one run of the demo in the tests: a hang guard, far
// above the few seconds a run takes.
const demoHang = 2 * time.Minute

// demoRun is the outcome of saslkit demo run as a subprocess.
type demoRun struct {
	code           int
	stdout, stderr string
	wall           time.Duration
}

// runDemoProcess runs saslkit demo with args as a subprocess, with env
// added to its environment.
func runDemoProcess(t *testing.T, env []string, args ...string) demoRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), demoHang)
	defer cancel()
	cmd := programCmd(ctx, append([]string{"demo"}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := demoRun{stdout: out.String(), stderr: errb.String(), wall: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running the demo: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the demo did not finish within %s; stdout:\n%s\nstderr:\n%s", demoHang, r.stdout, r.stderr)
	}
	return r
}

// tokenShaped matches what the test OAuth server's secrets look like
// (access tokens "ya29.", refresh tokens "1//", authorization codes "4/",
// then base64url) when more of one is shown than the demo's shortened
// form: the prefix and four characters. (A path like /tmp/x-1234/tokens
// is not one: a digit comes before its "4/".)
var tokenShaped = regexp.MustCompile(`(?:^|[^A-Za-z0-9_/.-])(?:ya29\.|1//|4/)[A-Za-z0-9_-]{5,}`)

// stepLine and summaryRow match a step's header and its row in the
// summary table.
func stepLine(i int, name string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?m)^\[%d/%d\] %s: `, i, len(demoSteps), regexp.QuoteMeta(name)))
}

func summaryRow(i int, name, status string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?m)^  %d +%s +%s `, i, regexp.QuoteMeta(name), status))
}

// TestDemo runs saslkit demo as a subprocess, as a newcomer would: it must
// exit 0, report every step as it happens and in the summary, show tokens
// only shortened, and leave no temporary directory behind.
func TestDemo(t *testing.T) {
	t.Parallel()
	r := runDemoProcess(t, nil)
	t.Logf("wall time of the demo subprocess: %s", r.wall)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	for i, s := range demoSteps {
		if !stepLine(i+1, s.name).MatchString(r.stdout) {
			t.Errorf("no line for step %d (%s)", i+1, s.name)
		}
		if !summaryRow(i+1, s.name, statusOK).MatchString(r.stdout) {
			t.Errorf("no summary row for step %d (%s) with %q", i+1, s.name, statusOK)
		}
	}
	for _, want := range []string{
		"code_challenge_method=S256",
		"mode 0600 (-rw-------)",
		"C: AUTH OAUTHBEARER [REDACTED]",
		"T1 NO [AUTHENTICATIONFAILED]",
		"refreshes    0 → 1 at the token endpoint",
		"S: * BYE Session expired, please login again.",
		"byte for byte",
		fmt.Sprintf("All %d steps passed in ", len(demoSteps)),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if m := tokenShaped.FindString(r.stdout); m != "" {
		t.Errorf("the output shows a token: %q", m)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("colour codes in output that is not a terminal")
	}
	// The token store was in the temporary directory, which is gone.
	m := regexp.MustCompile(`(?m)^ +token store +(\S+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatal("the output does not name the token store")
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the token store %s is still there (%v)", m[1], err)
	}
}

// TestDemoJSON checks the --json summary: one object, every step ok, with
// the mechanism and the round trips each step's login took.
func TestDemoJSON(t *testing.T) {
	t.Parallel()
	r := runDemoProcess(t, nil, "--json")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var sum demoSummary
	if err := dec.Decode(&sum); err != nil {
		t.Fatalf("the output is not one JSON summary: %v\n%s", err, r.stdout)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" {
		t.Errorf("output after the JSON object: %q", rest)
	}
	if !sum.OK || sum.Seconds <= 0 {
		t.Errorf("ok %t, seconds %v", sum.OK, sum.Seconds)
	}
	want := map[string]struct {
		mech   string
		rounds int
	}{
		"authorize": {"", 0},
		"smtp":      {"OAUTHBEARER", 1},
		"imap":      {"OAUTHBEARER", 1},
		"pop3":      {"OAUTHBEARER", 1},
		// Rejected (AUTHENTICATE, error challenge, %x01 answer), then
		// accepted with the fresh token: three client lines.
		"refresh": {"OAUTHBEARER", 3},
		"expiry":  {"OAUTHBEARER", 1},
		"plugin":  {"OAUTHBEARER", 1},
	}
	var names []string
	for _, s := range sum.Steps {
		names = append(names, s.Name)
		if s.Status != statusOK || s.Error != "" || s.Title == "" || s.Outcome == "" || s.Seconds <= 0 {
			t.Errorf("step %+v", s)
		}
		w, ok := want[s.Name]
		if !ok {
			continue
		}
		if s.Mechanism != w.mech || s.RoundTrips != w.rounds {
			t.Errorf("%s: mechanism %q, %d round trips; want %q, %d", s.Name, s.Mechanism, s.RoundTrips, w.mech, w.rounds)
		}
		// The watcher negotiates out of sight: the expiry step reads its
		// mechanism from the server's record, and has no reason to show.
		if w.mech != "" && s.Name != "expiry" && !strings.HasPrefix(s.Reason, w.mech+" chosen") {
			t.Errorf("%s: reason %q", s.Name, s.Reason)
		}
	}
	var wantNames []string
	for _, s := range demoSteps {
		wantNames = append(wantNames, s.name)
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("steps %q, want %q", names, wantNames)
	}
}

// TestDemoStepFails breaks one step (with the hidden test variable, which
// injects a fault in the servers the step talks to): the demo exits 1, the
// summary names the failed step and why, and every other step still
// passes.
func TestDemoStepFails(t *testing.T) {
	t.Parallel()
	i := slices.IndexFunc(demoSteps, func(s *demoStep) bool { return s.name == "pop3" })
	r := runDemoProcess(t, []string{demoFailEnv + "=pop3"})
	if r.code != exitFailure {
		t.Fatalf("exit %d, want %d; stdout:\n%s", r.code, exitFailure, r.stdout)
	}
	if want := fmt.Sprintf("saslkit: demo: 1 of %d steps did not pass: pop3\n", len(demoSteps)); r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if !summaryRow(i+1, "pop3", statusFailed).MatchString(r.stdout) {
		t.Errorf("no summary row pop3 failed; stdout:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^      FAILED: pop3: AUTH: `).MatchString(r.stdout) {
		t.Errorf("the step does not say why it failed; stdout:\n%s", r.stdout)
	}
	for j, other := range demoSteps {
		if j != i && !summaryRow(j+1, other.name, statusOK).MatchString(r.stdout) {
			t.Errorf("step %s did not pass; stdout:\n%s", other.name, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("%d of %d steps passed", len(demoSteps)-1, len(demoSteps))) {
		t.Error("the last line does not count the steps that passed")
	}
}

// TestDemoStepsFail breaks every step but pop3 in one run: each broken
// step fails with its own error, and pop3 still reads the message, with
// a refresh token the server issued when authorize failed and a message
// put into the mailbox when smtp failed.
func TestDemoStepsFail(t *testing.T) {
	t.Parallel()
	var broken []string
	for _, s := range demoSteps {
		if s.name != "pop3" {
			broken = append(broken, s.name)
		}
	}
	r := runDemoProcess(t, []string{demoFailEnv + "=" + strings.Join(broken, ",")})
	if r.code != exitFailure {
		t.Fatalf("exit %d, want %d; stdout:\n%s", r.code, exitFailure, r.stdout)
	}
	if want := fmt.Sprintf("saslkit: demo: %d of %d steps did not pass: %s\n", len(broken), len(demoSteps), strings.Join(broken, ", ")); r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	// What each fault makes the step say.
	why := map[string]string{
		"authorize": "invalid_grant",
		"smtp":      "temporary authentication failure [454]",
		"imap":      "temporary authentication failure [UNAVAILABLE]",
		"refresh":   "invalid_grant",
		"expiry":    "temporary authentication failure [UNAVAILABLE]",
		"plugin":    "plugins: checksum mismatch",
	}
	for i, s := range demoSteps {
		status := statusFailed
		if s.name == "pop3" {
			status = statusOK
		}
		if !summaryRow(i+1, s.name, status).MatchString(r.stdout) {
			t.Errorf("step %s is not %s", s.name, status)
		}
		if w := why[s.name]; w != "" && !regexp.MustCompile(`(?m)^  `+strconv.Itoa(i+1)+` +`+s.name+` +failed .*`+regexp.QuoteMeta(w)).MatchString(r.stdout) {
			t.Errorf("step %s does not fail with %q", s.name, w)
		}
	}
	for _, note := range []string{"using a refresh token issued by the test server instead", "it was put into the mailbox directly"} {
		if !strings.Contains(r.stdout, note) {
			t.Errorf("the output lacks the note %q", note)
		}
	}
	if m := tokenShaped.FindString(r.stdout + r.stderr); m != "" {
		t.Errorf("the output shows a token: %q", m)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", r.stdout)
	}
}

// TestDemoInterrupt stops the demo with SIGINT while the expiry step
// waits: it exits 1, says it was interrupted, and removes its temporary
// directory.
func TestDemoInterrupt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), demoHang)
	defer cancel()
	cmd := programCmd(ctx, "demo")
	var errb syncBuffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if !signalled && strings.Contains(line, "watching     INBOX over IDLE") {
			signalled = true
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if !signalled {
		t.Fatalf("the expiry step never started watching (%v); stdout:\n%s", err, out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if got := errb.String(); got != "saslkit: demo: interrupted\n" {
		t.Errorf("stderr %q", got)
	}
	// The running step failed as interrupted, the ones after it never ran.
	i := slices.IndexFunc(demoSteps, func(s *demoStep) bool { return s.name == "expiry" })
	if !summaryRow(i+1, "expiry", statusFailed).MatchString(out.String()) || !strings.Contains(out.String(), "interrupted") {
		t.Errorf("the summary does not show the interrupted step:\n%s", out.String())
	}
	for j, s := range demoSteps[i+1:] {
		if !summaryRow(i+j+2, s.name, statusSkipped).MatchString(out.String()) {
			t.Errorf("step %s after the interruption is not skipped:\n%s", s.name, out.String())
		}
	}
	m := regexp.MustCompile(`(?m)^ +token store +(\S+)$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("the output does not name the token store")
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the token store %s is still there (%v)", m[1], err)
	}
}

// TestDemoInProcess runs the demo in this process with a hook that
// collects every secret it handles (tokens, the authorization code, the
// client secret): none may appear in the output. Afterwards no goroutine
// of the demo is left.
func TestDemoInProcess(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// The plugin step starts this test binary as the plugin: it must run
	// the program, not the tests.
	t.Setenv(reexecEnv, "1")
	var secrets []string
	cfg := &demoConfig{secret: func(s string) { secrets = append(secrets, s) }}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), demoHang)
	defer cancel()
	err := demoMain(ctx, &stdio{stdout: &out, stderr: &errb}, cfg)
	if err != nil {
		t.Fatalf("%v; stdout:\n%s", err, out.String())
	}
	// The authorization code, the client secret, two access tokens and a
	// refresh token from the first server, a refresh token and two access
	// tokens from the second, the plugin's refresh token and the access
	// token it handed over, at least.
	if len(secrets) < 10 {
		t.Errorf("the hook saw %d secrets", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(out.String(), s) || strings.Contains(errb.String(), s) {
			t.Errorf("the output shows the secret %s", shortToken(s))
		}
		if len(s) > 12 && strings.Contains(out.String(), s[:12]) {
			t.Errorf("the output shows more of a secret than its short form: %s", shortToken(s))
		}
	}
}

func TestDemoUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"help"}, code: exitOK, stdout: "demo "},
		{args: []string{"demo", "-h"}, code: exitOK, stdout: "Usage: saslkit demo [flags]"},
		{args: []string{"help", "demo"}, code: exitOK, stdout: "-json"},
		{args: []string{"demo", "extra"}, code: exitUsage, stderr: "saslkit: demo: unexpected argument \"extra\"\nRun 'saslkit demo -h' for usage.\n"},
		{args: []string{"demo", "--port", "1"}, code: exitUsage, stderr: "saslkit: demo: flag provided but not defined: -port"},
		{args: []string{"demo", demoPluginArg}, code: exitUsage, stderr: "--token-url, --client-id and --store are required"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runInProcess(t.Context(), tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if strings.Contains(stdout, demoPluginArg) {
				t.Errorf("the help shows the hidden %s: %q", demoPluginArg, stdout)
			}
		})
	}
}

// TestDemoPluginByHand: the plugin side, started by a person rather than
// by a host, says so and fails; without its client secret it fails first.
func TestDemoPluginByHand(t *testing.T) {
	t.Parallel()
	args := []string{"demo", demoPluginArg, "--token-url", "http://127.0.0.1:9/token", "--client-id", "c", "--store", t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), demoHang)
	defer cancel()
	cmd := programCmd(ctx, args...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), demoPluginSecretEnv+" is not set") {
		t.Errorf("without the secret: %v, %q", err, out)
	}
	cmd = programCmd(ctx, args...)
	cmd.Env = append(cmd.Env, demoPluginSecretEnv+"=s")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || len(out) == 0 {
		t.Errorf("started by hand: %v, %q", err, out)
	}
}

// TestDemoFailEnvUnknown: a misspelt step name is a usage error, not a
// demo that passes without breaking anything.
func TestDemoFailEnvUnknown(t *testing.T) {
	t.Setenv(demoFailEnv, "nonesuch")
	code, _, stderr := runInProcess(t.Context(), "demo")
	if code != exitUsage || !strings.Contains(stderr, `unknown step "nonesuch"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestShortToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ya29.a0AfB_byC-longtokenvalue0123456789", "ya29.a0Af…"},
		{"1//0gLongRefreshTokenValue", "1//0gLo…"},
		{"4/0AY0e-g7code", "4/0AY0…"},
		{"opaque-token-value", "opaq…"},
		{"short", "…"},
		{"", "(none)"},
	} {
		if got := shortToken(tc.in); got != tc.want {
			t.Errorf("shortToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// demoTranscript is a transcript as the sasltest servers record one.
func demoTranscript(p sasltest.Protocol, lines ...string) sasltest.Transcript {
	tr := sasltest.Transcript{Protocol: p}
	for _, l := range lines {
		tr.Lines = append(tr.Lines, sasltest.TranscriptLine{Dir: sasltest.Direction(l[0]), Text: l[3:]})
	}
	return tr
}

func TestAuthExchange(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tr         sasltest.Transcript
		advertised string
		exchange   []string
		rounds     int
	}{
		{
			name: "imap retry",
			tr: demoTranscript(sasltest.ProtocolIMAP,
				"*: TLS established: TLS 1.3",
				"S: * OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=PLAIN] ready",
				"C: T1 AUTHENTICATE XOAUTH2 [REDACTED]",
				"S: + [REDACTED]",
				"C: [REDACTED]",
				"S: T1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
				"C: T2 AUTHENTICATE XOAUTH2 [REDACTED]",
				"*: authenticated as alice@example.test with XOAUTH2",
				"S: T2 OK done",
				"C: T3 LOGOUT",
				"S: * BYE",
			),
			advertised: "XOAUTH2 PLAIN",
			exchange: []string{"C: T1 AUTHENTICATE XOAUTH2 [REDACTED]", "S: + [REDACTED]", "C: [REDACTED]",
				"S: T1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)", "C: T2 AUTHENTICATE XOAUTH2 [REDACTED]", "S: T2 OK done"},
			rounds: 3,
		},
		{
			name: "smtp after starttls",
			tr: demoTranscript(sasltest.ProtocolSMTP,
				"S: 220 ready",
				"C: EHLO localhost",
				"S: 250-localhost",
				"S: 250 STARTTLS",
				"C: STARTTLS",
				"*: TLS established: TLS 1.3",
				"C: EHLO localhost",
				"S: 250-localhost",
				"S: 250-AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER",
				"S: 250 8BITMIME",
				"C: AUTH OAUTHBEARER [REDACTED]",
				"S: 235 2.7.0 Accepted",
				"C: MAIL FROM:<alice@example.test>",
			),
			advertised: "LOGIN PLAIN XOAUTH2 OAUTHBEARER",
			exchange:   []string{"C: AUTH OAUTHBEARER [REDACTED]", "S: 235 2.7.0 Accepted"},
			rounds:     1,
		},
		{
			name: "pop3 cut off",
			tr: demoTranscript(sasltest.ProtocolPOP3,
				"S: +OK ready",
				"C: CAPA",
				"S: +OK",
				"S: SASL PLAIN XOAUTH2",
				"S: .",
				"C: AUTH XOAUTH2 [REDACTED]",
				"*: fault: connection dropped mid-exchange",
				"*: connection closed",
			),
			advertised: "PLAIN XOAUTH2",
			exchange:   []string{"C: AUTH XOAUTH2 [REDACTED]"},
			rounds:     1,
		},
		{
			name:     "no authentication",
			tr:       demoTranscript(sasltest.ProtocolIMAP, "S: * OK ready", "C: T1 LOGOUT", "S: * BYE"),
			exchange: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			advertised, lines, rounds := authExchange(tc.tr)
			var got []string
			for _, l := range lines {
				got = append(got, l.String())
			}
			if strings.Join(advertised, " ") != tc.advertised || !slices.Equal(got, tc.exchange) || rounds != tc.rounds {
				t.Errorf("got %q, %q, %d rounds; want %q, %q, %d", advertised, got, rounds, tc.advertised, tc.exchange, tc.rounds)
			}
		})
	}
}

// FuzzAuthExchange feeds arbitrary transcripts to the parser that picks
// the authentication out of them: it must not panic, and what it returns
// must come from the transcript.
func FuzzAuthExchange(f *testing.F) {
	f.Add("imap", "S: * OK [CAPABILITY AUTH=XOAUTH2]\nC: T1 AUTHENTICATE XOAUTH2 [REDACTED]\nS: + [REDACTED]\nC: [REDACTED]\nS: T1 NO x\nC: T2 AUTHENTICATE XOAUTH2 x\nS: T2 OK")
	f.Add("smtp", "S: 250-AUTH PLAIN\nS: 250 AUTH X\nC: AUTH PLAIN x\nS: 334 \nC: x\nS: 235 ok")
	f.Add("pop3", "S: SASL\nC: AUTH\nS: +OK\nC: AUTH x\n*: y")
	f.Fuzz(func(t *testing.T, proto, text string) {
		tr := sasltest.Transcript{Protocol: sasltest.Protocol(proto)}
		for _, l := range strings.Split(text, "\n") {
			if len(l) >= 3 {
				tr.Lines = append(tr.Lines, sasltest.TranscriptLine{Dir: sasltest.Direction(l[0]), Text: l[3:]})
			}
		}
		_, lines, rounds := authExchange(tr)
		if rounds > len(lines) || len(lines) > len(tr.Lines) {
			t.Fatalf("%d rounds in %d lines of %d", rounds, len(lines), len(tr.Lines))
		}
		for _, l := range lines {
			if l.Dir == sasltest.Event || !slices.Contains(tr.Lines, l) {
				t.Fatalf("line %v is not a client or server line of the transcript", l)
			}
		}
	})
}

// TestTokenShaped checks the pattern the output tests look for tokens
// with: it finds a whole token, and not a shortened one.
func TestTokenShaped(t *testing.T) {
	for _, s := range []string{"access ya29.a0AfB_byC-longtokenvalue", "refresh 1//0gLongRefresh", "code=4/0AY0e-g7code", "ya29.abcdef"} {
		if !tokenShaped.MatchString(s) {
			t.Errorf("%q is not found", s)
		}
		if f := strings.Fields(s); tokenShaped.MatchString(shortToken(f[len(f)-1])) {
			t.Errorf("the short form of %q is found", s)
		}
	}
	for _, s := range []string{"/tmp/saslkit-demo-1234/tokens", "[4/6] pop3:", "ya29.ab…"} {
		if tokenShaped.MatchString(s) {
			t.Errorf("%q is taken for a token", s)
		}
	}
}

// BenchmarkDemo measures one whole run of the demo in this process:
// servers started and stopped, every step. The expiry step waits, on
// purpose, for a 2-second token to expire; the metric steps-ms/op is the
// time of the other steps, plugin-ms/op that of the plugin step (start,
// checksum, login, stop).
func BenchmarkDemo(b *testing.B) {
	b.Setenv(reexecEnv, "1") // for the plugin step: see TestDemoInProcess
	var other, plugin time.Duration
	for b.Loop() {
		var out bytes.Buffer
		cfg := &demoConfig{json: true}
		if err := demoMain(b.Context(), &stdio{stdout: &out, stderr: io.Discard}, cfg); err != nil {
			b.Fatal(err)
		}
		var sum demoSummary
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
			b.Fatal(err)
		}
		for _, s := range sum.Steps {
			d := time.Duration(s.Seconds * float64(time.Second))
			if s.Name != "expiry" {
				other += d
			}
			if s.Name == "plugin" {
				plugin += d
			}
		}
	}
	b.ReportMetric(float64(other.Milliseconds())/float64(b.N), "steps-ms/op")
	b.ReportMetric(float64(plugin.Milliseconds())/float64(b.N), "plugin-ms/op")
}

// TestDemoSummaryColor: on a terminal the summary is coloured, and
// without the escape codes it is the same table as without colour.
func TestDemoSummaryColor(t *testing.T) {
	sum := &demoSummary{Seconds: 2.5, Steps: []*stepResult{
		{Name: "smtp", Status: statusOK, Mechanism: "OAUTHBEARER", RoundTrips: 1, Outcome: "sent", dur: 4 * time.Millisecond},
		{Name: "pop3", Status: statusFailed, Error: "pop3: AUTH: connection closed", dur: 3 * time.Millisecond},
	}}
	var plain, colored bytes.Buffer
	(&demoOut{st: &stdio{}, w: &plain}).summary(sum)
	(&demoOut{st: &stdio{color: true}, w: &colored}).summary(sum)
	for _, want := range []string{styleGreen + "ok", demoStyleFailed + "failed", demoStyleFailed + "1 of 2 steps passed"} {
		if !strings.Contains(colored.String(), want) {
			t.Errorf("coloured summary lacks %q:\n%q", want, colored.String())
		}
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("escape codes without colour: %q", plain.String())
	}
	stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(colored.String(), "")
	if stripped != plain.String() {
		t.Errorf("coloured summary, stripped:\n%s\nplain:\n%s", stripped, plain.String())
	}
	if !summaryRow(2, "pop3", statusFailed).MatchString(plain.String()) || !strings.Contains(plain.String(), "pop3: AUTH: connection closed") {
		t.Errorf("summary:\n%s", plain.String())
	}
}
