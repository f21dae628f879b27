package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

var demoCommand = &command{
	name:    "demo",
	summary: "run the whole system once on loopback: OAuth, SMTP, IMAP, POP3, refresh, expiry, plugin",
	run:     runDemo,
}

const demoAbout = `
Show the whole system at work on this machine, in a few seconds, with no
network and no account. The demo starts Gmail-like IMAP, SMTP and POP3
servers and their OAuth 2.0 server on 127.0.0.1, then acts as a mail client:

  1 authorize  the authorization code flow with PKCE: the demo plays the
               browser, the redirect reaches a loopback listener, and the
               refresh token goes into a token file (mode 0600)
  2 smtp       send a message over SMTP with STARTTLS
  3 imap       read it back over IMAP with implicit TLS
  4 pop3       read it back over POP3 with STLS
  5 refresh    the server rejects a revoked access token; the client
               refreshes it once and authenticates again
  6 expiry     a token that lives 2 seconds expires under an IMAP IDLE
               session; the server says BYE, the watcher reconnects with a
               fresh token and a new message still arrives
  7 plugin     log in with a token from a plugin process: this program,
               started again, checked by its SHA-256, holding the refresh
               token and the client secret the host never sees

Each step prints what was negotiated and why, the round trips and the time
it took; a summary table ends the run (one JSON object with --json). Tokens
are only ever shown shortened. The temporary directory is removed at the end.

Exit codes: 0 every step passed, 1 a step failed (the summary says which and
why) or the demo was interrupted, 2 usage.`

// demoFailEnv names steps to break on purpose (a comma-separated list),
// each with a fault injected in the servers the step talks to, so that the
// tests can check how a failed step is reported and that the others still
// run. It is not part of the documented interface.
const demoFailEnv = "SASLKIT_DEMO_FAIL"

// demoUser is the account the demo signs in as.
const demoUser = "alice@example.test"

// demoClientID is the OAuth client (an installed application) the demo
// registers on the OAuth server.
const demoClientID = "saslkit-demo"

// demoStepTimeout bounds one step, so that a step that hangs is reported
// as failed and the others still run.
const demoStepTimeout = 30 * time.Second

// Step outcomes.
const (
	statusOK      = "ok"
	statusFailed  = "failed"
	statusSkipped = "skipped"
)

// demoConfig is the parsed command line of saslkit demo, plus what the
// tests set.
type demoConfig struct {
	json bool
	// fail names the steps to break.
	fail []string
	// secret, when not nil, is told every secret the demo handles
	// (tokens, the client secret), so that a test can check that none of
	// them was printed.
	secret func(string)
}

func parseDemoFlags(st *stdio, args []string) (*demoConfig, error) {
	fs := newFlagSet(st, "demo", "", demoAbout)
	jsonOut := fs.Bool("json", false, "print one JSON object with the summary instead of text")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if err := fs.noArgs(); err != nil {
		return nil, err
	}
	cfg := &demoConfig{json: *jsonOut}
	if v := os.Getenv(demoFailEnv); v != "" {
		for _, name := range strings.Split(v, ",") {
			if stepNamed(name) == nil {
				return nil, fs.usage("%s: unknown step %q", demoFailEnv, name)
			}
			cfg.fail = append(cfg.fail, name)
		}
	}
	return cfg, nil
}

func runDemo(ctx context.Context, st *stdio, args []string) error {
	if len(args) > 0 && args[0] == demoPluginArg {
		return runDemoPlugin(st, args[1:])
	}
	cfg, err := parseDemoFlags(st, args)
	if err != nil {
		return err
	}
	return demoMain(ctx, st, cfg)
}

// demoStep is one step of the demo.
type demoStep struct {
	name  string
	title string
	run   func(d *demo, ctx context.Context, r *stepResult) error
	// breakIt injects a fault that makes the step fail, for the tests
	// (demoFailEnv); the faults are cleared after the step.
	breakIt func(d *demo)
}

// demoSteps are the steps in the order they run.
var demoSteps = []*demoStep{
	{name: "authorize", title: "authorization code flow with PKCE, refresh token kept in a file", run: (*demo).authorize,
		breakIt: func(d *demo) {
			d.oauth.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultInvalidGrant, Grant: sasltest.GrantAuthorizationCode, Times: -1})
		}},
	{name: "smtp", title: "send a message over SMTP with STARTTLS", run: (*demo).smtp,
		breakIt: func(d *demo) {
			d.ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolSMTP, Times: -1})
		}},
	{name: "imap", title: "read it back over IMAP with implicit TLS", run: (*demo).imap,
		breakIt: func(d *demo) {
			d.ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolIMAP, Times: -1})
		}},
	{name: "pop3", title: "read it back over POP3 with STLS", run: (*demo).pop3,
		breakIt: func(d *demo) {
			d.ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultDrop, Protocol: sasltest.ProtocolPOP3, Times: -1})
		}},
	{name: "refresh", title: "a rejected token is refreshed once and the login retried", run: (*demo).refresh,
		breakIt: func(d *demo) {
			d.oauth.InjectFault(sasltest.OAuthFault{Kind: sasltest.FaultInvalidGrant, Grant: sasltest.GrantRefreshToken, Times: -1})
		}},
	{name: "expiry", title: "a 2-second token expires under IMAP IDLE; the watcher reconnects", run: (*demo).expiry,
		breakIt: func(d *demo) { d.breakExpiry = true }},
	{name: "plugin", title: "a token from a plugin process, checked by its SHA-256", run: (*demo).plugin,
		breakIt: func(d *demo) { d.breakPlugin = true }},
}

// stepNamed returns the step called name, or nil.
func stepNamed(name string) *demoStep {
	for _, s := range demoSteps {
		if s.name == name {
			return s
		}
	}
	return nil
}

// stepResult is the outcome of one step; with --json, an element of
// "steps".
type stepResult struct {
	// Name is the step's short name (authorize, smtp, ...).
	Name string `json:"name"`
	// Title says what the step shows.
	Title string `json:"title"`
	// Status is ok, failed or skipped.
	Status string `json:"status"`
	// Error says why the step failed or was skipped.
	Error string `json:"error,omitempty"`
	// Mechanism is the SASL mechanism the step's main login negotiated.
	Mechanism string `json:"mechanism,omitempty"`
	// Reason is the negotiation's explanation of the choice.
	Reason string `json:"reason,omitempty"`
	// RoundTrips counts the client's lines in the authentication
	// exchange, each answered by the server.
	RoundTrips int `json:"round_trips,omitempty"`
	// Seconds is the step's wall time.
	Seconds float64 `json:"seconds"`
	// Outcome is the step's result in a few words.
	Outcome string `json:"outcome,omitempty"`

	dur time.Duration
}

// demoSummary is the --json output.
type demoSummary struct {
	// OK is true when every step passed.
	OK bool `json:"ok"`
	// Seconds is the wall time of the whole demo, servers included.
	Seconds float64 `json:"seconds"`
	// Steps are the steps in order.
	Steps []*stepResult `json:"steps"`
}

// demo is one run: the servers, the client's state and the output.
type demo struct {
	cfg *demoConfig
	out *demoOut

	tmp          string
	ms           *sasltest.MailServer
	oauth        *sasltest.OAuthServer
	clientSecret string
	conf         *oauth2.Config
	http         *http.Client // talks to the OAuth server (and plays the browser)
	store        *providers.FileStore
	// tokens is the client's token source for demoUser, set by the
	// authorize step (or, when it failed, from a refresh token issued
	// directly by the test server, so that the later steps still run).
	tokens *providers.Cache
	creds  *sasl.Credentials

	// The message sent by the smtp step and read back by imap and pop3.
	msgID   string
	message []byte
	sent    bool // delivered, by SMTP or directly into the store

	// Faults for the tests (demoFailEnv) in steps that start their own
	// processes or servers.
	breakExpiry, breakPlugin bool
}

// demoMain runs the demo and prints its progress and summary.
func demoMain(ctx context.Context, st *stdio, cfg *demoConfig) error {
	start := time.Now()
	out := &demoOut{st: st, w: st.stdout}
	if cfg.json {
		out.w = io.Discard
	}
	d, err := startDemo(cfg, out)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer d.close()
	d.printSetup()

	var results []*stepResult
	for i, s := range demoSteps {
		r := &stepResult{Name: s.name, Title: s.title}
		results = append(results, r)
		out.stepHeader(i+1, len(demoSteps), s)
		if err := ctx.Err(); err != nil {
			r.Status, r.Error = statusSkipped, "interrupted"
			out.stepResult(r)
			continue
		}
		if slices.Contains(cfg.fail, s.name) && s.breakIt != nil {
			out.detail("note", "%s=%s: a fault is injected to make this step fail", demoFailEnv, s.name)
			s.breakIt(d)
		}
		sctx, cancel := context.WithTimeout(ctx, demoStepTimeout)
		t0 := time.Now()
		err := s.run(d, sctx, r)
		r.dur = time.Since(t0)
		cancel()
		d.ms.ClearFaults()
		d.oauth.ClearFaults()
		r.Seconds = r.dur.Seconds()
		switch {
		case err == nil:
			r.Status = statusOK
		case ctx.Err() != nil:
			r.Status, r.Error = statusFailed, "interrupted: "+err.Error()
		case errors.Is(err, context.DeadlineExceeded) && sctx.Err() != nil:
			r.Status, r.Error = statusFailed, fmt.Sprintf("no result within %s: %v", demoStepTimeout, err)
		default:
			r.Status, r.Error = statusFailed, err.Error()
		}
		out.stepResult(r)
	}
	d.close()

	sum := &demoSummary{OK: true, Seconds: time.Since(start).Seconds(), Steps: results}
	var failed []string
	for _, r := range results {
		if r.Status != statusOK {
			sum.OK = false
			failed = append(failed, r.Name)
		}
	}
	if cfg.json {
		enc := json.NewEncoder(st.stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(sum); err != nil {
			return fmt.Errorf("demo: writing the output: %w", err)
		}
	} else {
		out.summary(sum)
	}
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitFailure, err: errors.New("demo: interrupted")}
	case !sum.OK:
		return &exitError{code: exitFailure, err: fmt.Errorf("demo: %d of %d steps did not pass: %s", len(failed), len(results), strings.Join(failed, ", "))}
	}
	return nil
}
