package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

var checkCommand = &command{
	name:    "check",
	summary: "connect to a mail server, show its TLS and mechanisms, and sign in with an account",
	run:     runCheck,
}

const checkAbout = `
Connect to a mail server, show the TLS version, cipher suite and
certificate (subject, issuer, expiry, whether it verified), the SASL
mechanisms the server advertises, the one saslkit chooses and why, then
authenticate with an account of the accounts file, exactly as the saslkit
adapters do, and explain a failure in plain words.

TARGET is a server URL or an account name. URLs:

    imaps://[user@]host[:993]    IMAP over TLS
    imap://[user@]host[:143]     IMAP with STARTTLS
    smtps://[user@]host[:465]    SMTP submission over TLS
    smtp://[user@]host[:587]     SMTP submission with STARTTLS
    pop3s://[user@]host[:995]    POP3 over TLS
    pop3://[user@]host[:110]     POP3 with STLS

The account is --account, else the one whose user (the URL's user) and
server host match, else the only account with that user or host. An
account name as TARGET checks every server the account lists.

Nothing secret is printed: -v shows the wire transcript with the
authentication exchange replaced by [REDACTED].

` + exitCodesHelp

func runCheck(ctx context.Context, st *stdio, args []string) error {
	fs := newFlagSet(st, "check", "TARGET", checkAbout)
	path := configFlag(fs)
	acctName := fs.String("account", "", "authenticate as this `account` of the accounts file")
	verbose := fs.Bool("v", false, "show the wire transcript (authentication redacted)")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	timeout := fs.Duration("timeout", time.Minute, "give up on each server after this `duration`")
	pos, err := fs.parseMixed(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usage("want one TARGET (a server URL or an account name), got %d arguments", len(pos))
	}
	if *timeout <= 0 {
		return fs.usage("--timeout must be positive")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return configFailure(err)
	}
	targets, err := checkTargets(fs, cfg, pos[0], *acctName)
	if err != nil {
		return err
	}
	// The registry: the built-in mechanisms and those of the plugins the
	// accounts file names (a built-in mechanism wins a name clash).
	reg := mechanisms.Builtin()
	if len(cfg.plugins) > 0 || cfg.pluginDir != "" {
		opened, err := openAllPlugins(ctx, cfg)
		if err != nil {
			return configFailure(fmt.Errorf("check: %w", err))
		}
		defer opened.close()
		registerPlugins(reg, opened)
	}
	var results []*checkResult
	worst := exitOK
	for _, t := range targets {
		r := checkOne(ctx, st, cfg, reg, t, *timeout, *verbose)
		results = append(results, r)
		if worst == exitOK || r.ExitCode != exitOK && worst == exitFailure {
			worst = r.ExitCode
		}
		if !*jsonOut {
			printCheck(st, r, *verbose)
		}
	}
	if *jsonOut {
		if err := writeCheckJSON(st, results); err != nil {
			return err
		}
	}
	if worst != exitOK {
		return &exitError{code: worst}
	}
	return nil
}

// checkTarget is one server to check with one account.
type checkTarget struct {
	url     *serverURL
	account *account
}

// checkTargets resolves TARGET and --account into servers and accounts.
func checkTargets(fs *flagSet, cfg *config, target, acctName string) ([]checkTarget, error) {
	if !strings.Contains(target, "://") {
		a := cfg.lookup(target)
		if a == nil {
			return nil, fs.usage("%q is neither a server URL nor an account of %s", target, cfg.path)
		}
		var ts []checkTarget
		for _, u := range []*serverURL{a.imap, a.pop3, a.smtp} {
			if u != nil {
				ts = append(ts, checkTarget{url: u, account: a})
			}
		}
		if len(ts) == 0 {
			return nil, configFailure(fmt.Errorf("check: account %s lists no server (imap, pop3, smtp) in %s", a.name, cfg.path))
		}
		return ts, nil
	}
	u, err := parseServerURL(target)
	if err != nil {
		return nil, fs.usage("%v", err)
	}
	if acctName != "" {
		a := cfg.lookup(acctName)
		if a == nil {
			return nil, fs.usage("no account %q in %s", acctName, cfg.path)
		}
		if u.user != "" && !strings.EqualFold(u.user, a.user) {
			return nil, fs.usage("the URL names user %q but account %s is %q", u.user, a.name, a.user)
		}
		return []checkTarget{{u, a}}, nil
	}
	a, err := pickAccount(cfg, u)
	if err != nil {
		return nil, fs.usage("%v", err)
	}
	return []checkTarget{{u, a}}, nil
}

// pickAccount finds the account for u: by user and server host, else the
// only one matching the user, else the only one matching the host.
func pickAccount(cfg *config, u *serverURL) (*account, error) {
	hostOf := func(a *account) bool {
		for _, s := range []*serverURL{a.imap, a.pop3, a.smtp} {
			if s != nil && strings.EqualFold(s.host, u.host) {
				return true
			}
		}
		return false
	}
	var byBoth, byUser, byHost []*account
	for _, a := range cfg.accounts {
		userOK := u.user != "" && strings.EqualFold(a.user, u.user)
		if userOK && hostOf(a) {
			byBoth = append(byBoth, a)
		}
		if userOK {
			byUser = append(byUser, a)
		}
		if hostOf(a) {
			byHost = append(byHost, a)
		}
	}
	for _, set := range [][]*account{byBoth, byUser} {
		if len(set) == 1 {
			return set[0], nil
		}
		if len(set) > 1 {
			return nil, fmt.Errorf("several accounts match %s: %s; choose one with --account", u, joinNames(accountNames(set)))
		}
	}
	if u.user == "" && len(byHost) == 1 {
		return byHost[0], nil
	}
	if u.user == "" && len(byHost) > 1 {
		return nil, fmt.Errorf("several accounts use %s: %s; put the user in the URL (%s://USER@%s) or use --account", u.host, joinNames(accountNames(byHost)), u.scheme, u.host)
	}
	return nil, fmt.Errorf("no account of %s matches %s; use --account", cfg.path, u)
}

func accountNames(as []*account) []string {
	var n []string
	for _, a := range as {
		n = append(n, a.name)
	}
	return n
}

// checkResult is what check found for one server.
type checkResult struct {
	URL           string        `json:"url"`
	Account       string        `json:"account"`
	User          string        `json:"user"`
	Protocol      string        `json:"protocol"`
	StartTLS      bool          `json:"starttls"`
	Address       string        `json:"address"`
	Connected     bool          `json:"connected"`
	TLS           *tlsInfo      `json:"tls,omitempty"`
	Advertised    []string      `json:"advertised"`
	Mechanism     string        `json:"mechanism,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	PassedOver    []passedOver  `json:"passed_over,omitempty"`
	Authenticated bool          `json:"authenticated"`
	TokenExpiry   string        `json:"token_expiry,omitempty"`
	Failure       *checkFailure `json:"failure,omitempty"`
	ExitCode      int           `json:"exit_code"`
	Transcript    []string      `json:"transcript,omitempty"`
	Elapsed       float64       `json:"elapsed_seconds"`
}

// passedOver is a mechanism the negotiation did not choose, and why.
type passedOver struct {
	Mechanism string `json:"mechanism"`
	Reason    string `json:"reason"`
}

// tlsInfo describes the TLS connection and the server's certificate.
type tlsInfo struct {
	Version     string    `json:"version,omitempty"`
	CipherSuite string    `json:"cipher_suite,omitempty"`
	Verified    bool      `json:"verified"`
	VerifyError string    `json:"verify_error,omitempty"`
	Certificate *certInfo `json:"certificate,omitempty"`
}

// certInfo is the part of a certificate a person checks.
type certInfo struct {
	Subject   string   `json:"subject"`
	Issuer    string   `json:"issuer"`
	NotBefore string   `json:"not_before"`
	NotAfter  string   `json:"not_after"`
	Names     []string `json:"names"`
}

func newCertInfo(c *x509.Certificate) *certInfo {
	ci := &certInfo{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		NotBefore: c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:  c.NotAfter.UTC().Format(time.RFC3339),
		Names:     append([]string{}, c.DNSNames...),
	}
	for _, ip := range c.IPAddresses {
		ci.Names = append(ci.Names, ip.String())
	}
	return ci
}

// checkFailure explains why the check failed.
type checkFailure struct {
	// Stage is where it failed: connect, tls, negotiate, token,
	// authenticate.
	Stage string `json:"stage"`
	// Kind classifies the failure for scripts (see explain).
	Kind string `json:"kind"`
	// Error is the error as saslkit reports it.
	Error string `json:"error"`
	// Explanation says in plain words what it means and what to do.
	Explanation string `json:"explanation"`
	// ServerCode and ServerText are the server's answer, sanitised.
	ServerCode string `json:"server_code,omitempty"`
	ServerText string `json:"server_text,omitempty"`
}

// lockedBuffer collects a transcript written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// checkOne checks one server with one account.
func checkOne(ctx context.Context, st *stdio, cfg *config, reg *sasl.Registry, t checkTarget, timeout time.Duration, verbose bool) *checkResult {
	start := time.Now()
	u, a := t.url, t.account
	r := &checkResult{URL: u.String(), Account: a.name, User: a.user, Protocol: strings.ToUpper(u.protocol), StartTLS: u.startTLS, Address: u.addr(), Advertised: []string{}}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var transcript lockedBuffer
	defer func() {
		r.Elapsed = time.Since(start).Round(time.Millisecond).Seconds()
		if verbose {
			r.Transcript = transcriptLines(transcript.String())
		}
	}()

	roots, err := a.rootCAs()
	if err != nil {
		r.fail(a, "config", err)
		return r
	}
	creds, done, err := a.credentials(ctx, cfg, st.stderr)
	defer done()
	if err != nil {
		r.fail(a, "credentials", err)
		return r
	}
	var mu sync.Mutex
	var seen *tls.ConnectionState
	tc := &tls.Config{
		RootCAs:    roots,
		ServerName: u.host,
		MinVersion: tls.VersionTLS12,
		// Called once the chain verified: keeps what check shows.
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			seen = &cs
			mu.Unlock()
			return nil
		},
	}
	var n *sasl.Negotiated
	switch u.protocol {
	case "imap":
		n, err = checkIMAP(ctx, u, reg, creds, tc, &transcript)
	case "smtp":
		n, err = checkSMTP(ctx, u, reg, creds, tc, &transcript)
	case "pop3":
		var adv []string
		n, adv, err = checkPOP3(ctx, u, reg, creds, tc, &transcript)
		r.Advertised = orEmpty(adv)
	}
	mu.Lock()
	if seen != nil {
		r.Connected = true
		r.TLS = &tlsInfo{Version: tls.VersionName(seen.Version), CipherSuite: tls.CipherSuiteName(seen.CipherSuite), Verified: len(seen.VerifiedChains) > 0}
		if len(seen.PeerCertificates) > 0 {
			r.TLS.Certificate = newCertInfo(seen.PeerCertificates[0])
		}
	}
	mu.Unlock()
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		r.Connected = true
		r.TLS = &tlsInfo{Verified: false, VerifyError: cve.Err.Error()}
		if len(cve.UnverifiedCertificates) > 0 {
			r.TLS.Certificate = newCertInfo(cve.UnverifiedCertificates[0])
		}
	}
	if len(r.Advertised) == 0 {
		r.Advertised = advertisedOf(n, err)
	}
	var ne *sasl.NegotiationError
	errors.As(err, &ne)
	if n != nil {
		r.Mechanism = n.Mechanism.Name
		r.Reason = chosenReason(n)
		for _, rj := range n.Rejected {
			r.PassedOver = append(r.PassedOver, passedOver{rj.Mechanism, strings.TrimPrefix(rj.Err.Error(), "sasl: ")})
		}
		r.Authenticated = true
		if exp := n.TokenExpiry(); !exp.IsZero() {
			r.TokenExpiry = exp.UTC().Format(time.RFC3339)
		}
	}
	if ne != nil {
		for _, rj := range ne.Rejected {
			r.PassedOver = append(r.PassedOver, passedOver{rj.Mechanism, strings.TrimPrefix(rj.Err.Error(), "sasl: ")})
		}
	}
	var ae *adapters.AuthError
	if errors.As(err, &ae) {
		r.Mechanism = ae.Mechanism
		r.Connected = true
	}
	if err != nil {
		r.fail(a, "", err)
	}
	return r
}

// advertisedOf returns the mechanism list the negotiation started from
// (the successful one's, or the one a failed negotiation or a rejected
// exchange records), upper case, in the server's order (alphabetical for
// IMAP, whose capabilities are a set).
func advertisedOf(n *sasl.Negotiated, err error) []string {
	var (
		ne  *sasl.NegotiationError
		ae  *adapters.AuthError
		adv []string
	)
	switch {
	case n != nil:
		adv = n.Advertised()
	case errors.As(err, &ne):
		adv = ne.Advertised
	case errors.As(err, &ae):
		adv = ae.Advertised
	}
	out := make([]string, len(adv))
	for i, m := range adv {
		out[i] = strings.ToUpper(m)
	}
	return out
}

// chosenReason says why n's mechanism was chosen.
func chosenReason(n *sasl.Negotiated) string {
	m := n.Mechanism
	why := fmt.Sprintf("the strongest advertised mechanism usable with this account's credentials (strength %d", m.Strength)
	var props []string
	if m.Properties.Has(sasl.ChannelBinding) {
		props = append(props, "bound to this TLS channel")
	}
	if m.Properties.Has(sasl.MutualAuth) {
		props = append(props, "the server proves it knows the password")
	}
	if m.Properties.Has(sasl.SendsSecret) {
		props = append(props, "sends a bearer secret, so only over verified TLS")
	}
	if len(props) > 0 {
		why += "; " + strings.Join(props, "; ")
	}
	return why + ")"
}

// dialTimeoutErr marks an error as a timeout when the context's deadline
// ended the connection.
func dialTimeoutErr(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

func checkIMAP(ctx context.Context, u *serverURL, reg *sasl.Registry, creds *sasl.Credentials, tc *tls.Config, w *lockedBuffer) (*sasl.Negotiated, error) {
	opts := &imap.Options{Registry: reg, Credentials: creds, Client: &imapclient.Options{TLSConfig: tc, DebugWriter: w, Dialer: &net.Dialer{}}}
	dial := imap.DialTLS
	if u.startTLS {
		dial = imap.DialStartTLS
	}
	c, n, err := dial(ctx, u.addr(), opts)
	if err != nil {
		return nil, dialTimeoutErr(ctx, err)
	}
	_ = c.Logout().Wait()
	_ = c.Close()
	return n, nil
}

func checkSMTP(ctx context.Context, u *serverURL, reg *sasl.Registry, creds *sasl.Credentials, tc *tls.Config, w *lockedBuffer) (*sasl.Negotiated, error) {
	opts := &gosmtp.Options{Registry: reg, Credentials: creds, TLSConfig: tc, DebugWriter: w, Dialer: &net.Dialer{}}
	dial := gosmtp.DialTLS
	if u.startTLS {
		dial = gosmtp.DialStartTLS
	}
	c, n, err := dial(ctx, u.addr(), opts)
	if err != nil {
		return nil, dialTimeoutErr(ctx, err)
	}
	_ = c.Quit()
	return n, nil
}

func checkPOP3(ctx context.Context, u *serverURL, reg *sasl.Registry, creds *sasl.Credentials, tc *tls.Config, w *lockedBuffer) (*sasl.Negotiated, []string, error) {
	opts := &pop3.Options{TLSConfig: tc, DebugWriter: w}
	var c *pop3.Client
	var err error
	if u.startTLS {
		c, err = pop3.Dial(ctx, u.addr(), opts)
		if err == nil {
			if err = c.STLS(ctx); err != nil {
				_ = c.Close()
			}
		}
	} else {
		c, err = pop3.DialTLS(ctx, u.addr(), opts)
	}
	if err != nil {
		return nil, nil, dialTimeoutErr(ctx, err)
	}
	defer c.Close()
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return nil, nil, err
	}
	adv := append([]string{}, caps.SASL...)
	res, err := c.Authenticate(ctx, &pop3.AuthOptions{Options: adapters.Options{Registry: reg, Credentials: creds}})
	if err != nil {
		return nil, adv, err
	}
	_ = c.Quit(ctx)
	return res.Negotiated, adv, nil
}
