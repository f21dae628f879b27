package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
)

var authorizeCommand = &command{
	name:    "authorize",
	summary: "sign in to an account's provider and store its refresh token",
	run:     runAuthorize,
}

// noBrowserEnv, when set to anything but "" or "0", keeps authorize from
// opening a browser, like --no-browser.
const noBrowserEnv = "SASLKIT_NO_BROWSER"

const authorizeAbout = `
Obtain a refresh token for ACCOUNT (provider google, microsoft or oauth2)
and store it in the token directory, where saslkit token and saslkit check
find it.

By default this is the authorization code grant with PKCE and a loopback
redirect: saslkit listens on 127.0.0.1, prints the sign-in URL and opens it
in a browser when there is one (a desktop session, or macOS). Sign in and
consent; the browser is sent back to saslkit, which exchanges the code.
--no-browser (or ` + noBrowserEnv + `=1) only prints the URL, to open
it by hand, on this machine.

With --device, the device authorization grant instead: saslkit prints a
URL and a code to enter there, from any device, and waits for approval.
Use it over SSH or on a machine without a browser.

Instructions go to standard error; the final line to standard output.

` + exitCodesHelp

func runAuthorize(ctx context.Context, st *stdio, args []string) error {
	fs := newFlagSet(st, "authorize", "ACCOUNT", authorizeAbout)
	path := configFlag(fs)
	device := fs.Bool("device", false, "use the device authorization grant: enter a code on another device")
	noBrowser := fs.Bool("no-browser", false, "print the sign-in URL without opening a browser")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this `duration`")
	pos, err := fs.parseMixed(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usage("want one ACCOUNT, got %d arguments", len(pos))
	}
	cfg, a, err := loadAccount(fs, *path, pos[0])
	if err != nil {
		return err
	}
	if !a.provider.interactive() {
		return fs.usage("account %s has provider %q, which needs no authorization: saslkit token %s works as it is", a.name, a.provider, a.name)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	oc, err := a.oauthConfig(ctx, st.stderr)
	if err != nil {
		return configFailure(fmt.Errorf("authorize: %w", err))
	}
	hc, err := a.httpClient()
	if err != nil {
		return configFailure(fmt.Errorf("authorize: %w", err))
	}
	var tok *oauth2.Token
	if *device {
		if oc.Endpoint.DeviceAuthURL == "" {
			return configFailure(fmt.Errorf("authorize: account %s has no device_auth_url", a.name))
		}
		tok, err = deviceAuthorize(ctx, st, a, oc, hc)
	} else {
		if oc.Endpoint.AuthURL == "" {
			return configFailure(fmt.Errorf("authorize: account %s has no auth_url (try --device)", a.name))
		}
		open := !*noBrowser && !envSet(noBrowserEnv)
		tok, err = codeAuthorize(ctx, st, a, oc, hc, open)
	}
	if err != nil {
		return tokenFailure(a, fmt.Errorf("authorize: account %s: %w", a.name, err))
	}
	if tok.RefreshToken == "" {
		return withCode(exitAuth, fmt.Errorf("authorize: account %s: the server issued no refresh token%s", a.name, noRefreshAdvice(a)))
	}
	store := cfg.tokenStore()
	if err := store.Save(ctx, a.name, nil, tok); err != nil {
		return fmt.Errorf("authorize: account %s: storing the token: %w", a.name, err)
	}
	fmt.Fprintf(st.stdout, "Authorized %s (%s); the refresh token is stored in %s\n", a.name, a.user, store.Path(a.name))
	return nil
}

// noRefreshAdvice says why a server may have issued no refresh token.
func noRefreshAdvice(a *account) string {
	switch a.provider {
	case kindMicrosoft:
		return ` (the scopes must include "offline_access")`
	case kindGoogle:
		return " (Google issues one with access_type=offline, which saslkit asks for; revoke the app's access in the Google account and authorize again)"
	}
	return ""
}

func envSet(name string) bool {
	v := os.Getenv(name)
	return v != "" && v != "0"
}

// authURLOptions are the authorization request's extra parameters.
func authURLOptions(a *account) []oauth2.AuthCodeOption {
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("login_hint", a.user)}
	switch a.provider {
	case kindGoogle:
		// Google issues a refresh token only with access_type=offline, and
		// again for an account that consented before only with consent.
		opts = append(opts, oauth2.AccessTypeOffline, oauth2.ApprovalForce)
	case kindOAuth2:
		// Servers modelled on Google's want access_type=offline for a
		// refresh token; others ignore the parameter (RFC 6749 §3.1).
		opts = append(opts, oauth2.AccessTypeOffline)
	}
	return opts
}

// codeAuthorize runs the authorization code grant with PKCE.
func codeAuthorize(ctx context.Context, st *stdio, a *account, oc *oauth2.Config, hc *http.Client, open bool) (*oauth2.Token, error) {
	opts := &providers.AuthCodeOptions{AuthURLOptions: authURLOptions(a), RedirectHost: a.redirectHost, HTTPClient: hc}
	return providers.AuthCodeFlow(ctx, oc, func(authURL string) {
		fmt.Fprintf(st.stderr, "To authorize %s (%s), open this URL in a browser and sign in:\n\n    %s\n\n", a.name, a.user, authURL)
		if open {
			if err := openBrowser(authURL); err != nil {
				fmt.Fprintf(st.stderr, "(no browser opened: %v)\n", err)
			}
		}
		fmt.Fprintln(st.stderr, "Waiting for the browser to come back to saslkit ...")
	}, opts)
}

// errNoBrowser: nothing to open a browser with.
var errNoBrowser = errors.New("no graphical session")

// openBrowser opens url with the desktop's opener, when there is a
// desktop: macOS, or a Unix X11 or Wayland session. The opener runs
// detached; its exit is collected in the background.
func openBrowser(url string) error {
	var name string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return errNoBrowser
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errNoBrowser
		}
		name = "xdg-open"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(p, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// deviceAuthorize runs the device authorization grant, showing progress
// on a terminal.
func deviceAuthorize(ctx context.Context, st *stdio, a *account, oc *oauth2.Config, hc *http.Client) (*oauth2.Token, error) {
	p := newProgress(st.stderr)
	opts := &providers.DeviceFlowOptions{Progress: p.poll, HTTPClient: hc}
	tok, err := providers.DeviceFlow(ctx, oc, func(dc providers.DeviceCode) {
		fmt.Fprintf(st.stderr, "To authorize %s (%s), go to\n\n    %s\n\nand enter the code\n\n    %s\n\n", a.name, a.user, dc.VerificationURI, dc.UserCode)
		if dc.VerificationURIComplete != "" {
			fmt.Fprintf(st.stderr, "(or open %s)\n", dc.VerificationURIComplete)
		}
		if !dc.Expiry.IsZero() {
			fmt.Fprintf(st.stderr, "The code expires at %s.\n", dc.Expiry.Local().Format("15:04:05"))
		}
		p.start()
	}, opts)
	p.stop(err == nil)
	return tok, err
}

// progress shows that the device flow is waiting: a spinner redrawn at
// each poll on a terminal, a single line otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	polls int
	shown bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

var spinner = []string{"|", "/", "-", `\`}

func (p *progress) start() {
	if p.tty {
		fmt.Fprint(p.w, "Waiting for approval ")
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, "Waiting for approval ...")
}

func (p *progress) poll(dp providers.DeviceProgress) {
	p.polls++
	if !p.tty {
		return
	}
	msg := "Waiting for approval " + spinner[p.polls%len(spinner)]
	if dp.Status == "slow_down" {
		msg += fmt.Sprintf(" (server asked to slow down: polling every %s)", dp.Interval)
	}
	fmt.Fprint(p.w, "\r\x1b[K"+msg)
}

func (p *progress) stop(approved bool) {
	if !p.tty || !p.shown {
		return
	}
	if approved {
		fmt.Fprintln(p.w, "\r\x1b[KWaiting for approval: approved")
	} else {
		fmt.Fprintln(p.w, "\r\x1b[KWaiting for approval: stopped")
	}
}
