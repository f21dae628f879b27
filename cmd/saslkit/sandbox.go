package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

var sandboxCommand = &command{
	name:    "sandbox",
	summary: "run mail and OAuth 2.0 test servers on loopback for any client",
	run:     runSandbox,
}

const sandboxAbout = `
Start Gmail-like (or Microsoft 365-like) IMAP, SMTP submission and POP3
servers, each with implicit TLS and with STARTTLS, and the OAuth 2.0 server
whose tokens they accept, on 127.0.0.1, for testing a real mail client by
hand. Print the addresses, the CA file to trust, the users with their
passwords, an access token and a refresh token for each, and the OAuth client
that refreshes them (one JSON object with --json). These are test
credentials, printed on purpose; they open nothing but the sandbox. Run until
interrupted (SIGINT, SIGTERM or SIGHUP), then stop cleanly and exit 0.

With --port-base B the ports are fixed: IMAP B+993 (TLS) and B+143
(STARTTLS), SMTP B+465 (TLS) and B+587 (STARTTLS), POP3 B+995 (TLS) and B+110
(STLS), OAuth 2.0 over HTTP B+80. Without it every listener takes a free port.

Exit codes: 0 stopped by a signal, 1 failure (a port in use, say), 2 usage.`

// sandboxClientID is the confidential OAuth client the sandbox registers
// and issues its tokens to; its secret is generated at start.
const sandboxClientID = "saslkit-sandbox"

// defaultSandboxUser is the user created when --user is not given.
const defaultSandboxUser = "alice@example.test"

// oauthPortOffset is the OAuth server's port relative to --port-base.
const oauthPortOffset = 80

// maxPortOffset is the largest standard port --port-base is added to.
const maxPortOffset = 995

// sandboxConfig is the parsed command line of saslkit sandbox.
type sandboxConfig struct {
	profile  sasltest.MailProfile
	lifetime time.Duration
	portBase int
	users    []string
	caFile   string
	json     bool
}

func parseSandboxFlags(st *stdio, args []string) (*sandboxConfig, error) {
	fs := newFlagSet(st, "sandbox", "", sandboxAbout)
	profile := fs.String("profile", "gmail", "`name` of the provider to imitate: gmail, microsoft or all")
	lifetime := fs.Duration("token-lifetime", time.Hour, "lifetime of every access token (at least 1s); sessions end with their token")
	portBase := fs.Int("port-base", 0, "listen on fixed ports `B`+993, +143, +465, +587, +995, +110 and +80 (OAuth); 0 takes free ports")
	users := &listFlag{values: []string{defaultSandboxUser}}
	fs.Var(users, "user", "`address` of a user to create (repeatable, or a comma-separated list)")
	caFile := fs.String("ca-file", "", "write the CA certificate (PEM) to this `file`; default: ca.pem in a new temporary directory, removed at exit")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if err := fs.noArgs(); err != nil {
		return nil, err
	}
	cfg := &sandboxConfig{lifetime: *lifetime, portBase: *portBase, caFile: *caFile, json: *jsonOut}
	p, err := sasltest.ParseMailProfile(*profile)
	if err != nil {
		return nil, fs.usage("--profile: unknown profile %q (want gmail, microsoft or all)", *profile)
	}
	cfg.profile = p
	if cfg.lifetime < time.Second {
		return nil, fs.usage("--token-lifetime: %s is too short (at least 1s)", cfg.lifetime)
	}
	if cfg.portBase < 0 || cfg.portBase > 65535-maxPortOffset {
		return nil, fs.usage("--port-base: %d is out of range (0 to %d)", cfg.portBase, 65535-maxPortOffset)
	}
	for _, u := range users.values {
		a, err := mail.ParseAddress(u)
		if err != nil || a.Address != u || a.Name != "" {
			return nil, fs.usage("--user: %q is not a plain mail address", u)
		}
		if !slices.ContainsFunc(cfg.users, func(v string) bool { return strings.EqualFold(u, v) }) {
			cfg.users = append(cfg.users, u)
		}
	}
	return cfg, nil
}

func runSandbox(ctx context.Context, st *stdio, args []string) error {
	cfg, err := parseSandboxFlags(st, args)
	if err != nil {
		return err
	}
	sb, err := startSandbox(cfg)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer sb.close()
	info := sb.info()
	if cfg.json {
		enc := json.NewEncoder(st.stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(info); err != nil {
			return fmt.Errorf("sandbox: writing the output: %w", err)
		}
	} else {
		printSandboxText(st, info)
	}
	<-ctx.Done()
	sb.close()
	if !cfg.json {
		fmt.Fprintln(st.stdout, "\nStopped.")
	}
	return nil
}

// sandbox is a running set of servers with its credentials.
type sandbox struct {
	cfg          *sandboxConfig
	ms           *sasltest.MailServer
	caFile       string
	tempDir      string // created here and removed by close; "" if none
	clientSecret string
	scopes       []string
	users        []sandboxUser
	closed       bool
}

// sandboxUser is a user with the credentials printed for it.
type sandboxUser struct {
	address, password string
	token             *oauth2.Token
}

// sandboxScopes are the scopes of the tokens the sandbox issues: what a
// mail client of the provider asks for.
func sandboxScopes(p sasltest.MailProfile) []string {
	if p == sasltest.ProfileMicrosoft {
		return []string{sasltest.OutlookIMAPScope, sasltest.OutlookPOPScope, sasltest.OutlookSMTPScope, "offline_access"}
	}
	return []string{sasltest.GmailScope}
}

// startSandbox starts the servers, writes the CA file and issues the
// credentials.
func startSandbox(cfg *sandboxConfig) (sb *sandbox, err error) {
	sb = &sandbox{cfg: cfg, scopes: sandboxScopes(cfg.profile)}
	defer func() {
		if err != nil {
			sb.close()
			sb = nil
		}
	}()
	oo := &sasltest.OAuthOptions{TokenLifetime: cfg.lifetime}
	if cfg.portBase != 0 {
		oo.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.portBase+oauthPortOffset))
	}
	opts := &sasltest.MailOptions{
		Profile:      cfg.profile,
		OAuthOptions: oo,
		PortBase:     cfg.portBase,
		ListenHost:   "127.0.0.1",
	}
	for _, u := range cfg.users {
		su := sandboxUser{address: u, password: rand.Text()}
		sb.users = append(sb.users, su)
		opts.Users = append(opts.Users, sasltest.MailUser{Address: su.address, Password: su.password})
	}
	sb.ms, err = sasltest.NewMailServer(opts)
	if err != nil {
		return sb, err
	}
	if err := sb.writeCA(); err != nil {
		return sb, err
	}
	sb.clientSecret = rand.Text()
	oauth := sb.ms.OAuth()
	if err := oauth.AddClient(sasltest.OAuthClient{ID: sandboxClientID, Secret: sb.clientSecret, LoopbackRedirect: true}); err != nil {
		return sb, err
	}
	for i := range sb.users {
		tok, err := oauth.IssueToken(sandboxClientID, sb.users[i].address, sb.scopes...)
		if err != nil {
			return sb, err
		}
		sb.users[i].token = tok
	}
	return sb, nil
}

// writeCA writes the CA certificate to --ca-file or a temporary directory.
func (sb *sandbox) writeCA() error {
	path := sb.cfg.caFile
	if path == "" {
		dir, err := os.MkdirTemp("", "saslkit-sandbox-")
		if err != nil {
			return fmt.Errorf("creating a directory for the CA file: %w", err)
		}
		sb.tempDir = dir
		path = filepath.Join(dir, "ca.pem")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	// A CA certificate is public: readable by all, as in /etc/ssl.
	if err := os.WriteFile(abs, sb.ms.CA().PEM(), 0o644); err != nil {
		return fmt.Errorf("writing the CA file: %w", err)
	}
	sb.caFile = abs
	return nil
}

// close stops the servers and removes the temporary directory. It may be
// called more than once.
func (sb *sandbox) close() {
	if sb.closed {
		return
	}
	sb.closed = true
	if sb.ms != nil {
		sb.ms.Close()
	}
	if sb.tempDir != "" {
		os.RemoveAll(sb.tempDir)
	}
}

// sandboxInfo is what the sandbox prints; with --json, this object.
type sandboxInfo struct {
	// PID is the sandbox's process id, to stop it with a signal.
	PID int `json:"pid"`
	// Profile is gmail, microsoft or all.
	Profile string `json:"profile"`
	// Hostname is the name the servers answer to; their certificate names
	// it, localhost, 127.0.0.1 and ::1.
	Hostname string `json:"hostname"`
	// CAFile is the absolute path of the CA certificate (PEM).
	CAFile string `json:"ca_file"`
	// IMAP, SMTP and POP3 are the mail listeners.
	IMAP sandboxProtocol `json:"imap"`
	SMTP sandboxProtocol `json:"smtp"`
	POP3 sandboxProtocol `json:"pop3"`
	// OAuth is the OAuth 2.0 server and the client the tokens belong to.
	OAuth sandboxOAuth `json:"oauth"`
	// Users are the accounts with their credentials.
	Users []sandboxUserInfo `json:"users"`
}

// sandboxProtocol is one protocol's two listeners.
type sandboxProtocol struct {
	// ImplicitTLS speaks TLS from the first byte (IMAPS, SMTPS, POP3S).
	ImplicitTLS sandboxListener `json:"implicit_tls"`
	// StartTLS starts in clear text and upgrades with STARTTLS (STLS).
	StartTLS sandboxListener `json:"starttls"`
}

// sandboxListener is one listener.
type sandboxListener struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	// URL is the listener in the scheme curl takes: imaps://, imap://,
	// smtps://, smtp://, pop3s://, pop3://.
	URL string `json:"url"`
}

// sandboxOAuth describes the OAuth 2.0 server.
type sandboxOAuth struct {
	// URL is the server's base URL; the other URLs are its endpoints.
	URL              string `json:"url"`
	TokenURL         string `json:"token_url"`
	AuthURL          string `json:"auth_url"`
	DeviceAuthURL    string `json:"device_auth_url"`
	IntrospectionURL string `json:"introspection_url"`
	RevocationURL    string `json:"revocation_url"`
	// ClientID and ClientSecret are the confidential client the tokens
	// were issued to, which refreshes them.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Scopes are the tokens' scopes.
	Scopes []string `json:"scopes"`
	// TokenLifetime is the access tokens' lifetime in seconds.
	TokenLifetime float64 `json:"token_lifetime_seconds"`
}

// sandboxUserInfo is one user's credentials.
type sandboxUserInfo struct {
	Address      string `json:"address"`
	Password     string `json:"password"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// TokenExpiry is when AccessToken expires (RFC 3339).
	TokenExpiry time.Time `json:"token_expiry"`
	// XOAUTH2 is the base64 XOAUTH2 initial response with AccessToken,
	// for a hand-typed AUTHENTICATE or AUTH command.
	XOAUTH2 string `json:"xoauth2"`
}

// info collects what the sandbox prints.
func (sb *sandbox) info() *sandboxInfo {
	oauth := sb.ms.OAuth()
	info := &sandboxInfo{
		PID:      os.Getpid(),
		Profile:  sb.cfg.profile.String(),
		Hostname: sb.ms.Hostname(),
		CAFile:   sb.caFile,
		IMAP:     sb.protocol(sasltest.ProtocolIMAP, "imaps", "imap"),
		SMTP:     sb.protocol(sasltest.ProtocolSMTP, "smtps", "smtp"),
		POP3:     sb.protocol(sasltest.ProtocolPOP3, "pop3s", "pop3"),
		OAuth: sandboxOAuth{
			URL:              oauth.URL,
			TokenURL:         oauth.TokenURL(),
			AuthURL:          oauth.AuthURL(),
			DeviceAuthURL:    oauth.DeviceAuthURL(),
			IntrospectionURL: oauth.IntrospectionURL(),
			RevocationURL:    oauth.RevocationURL(),
			ClientID:         sandboxClientID,
			ClientSecret:     sb.clientSecret,
			Scopes:           slices.Clone(sb.scopes),
			TokenLifetime:    sb.cfg.lifetime.Seconds(),
		},
	}
	for _, u := range sb.users {
		info.Users = append(info.Users, sandboxUserInfo{
			Address:      u.address,
			Password:     u.password,
			AccessToken:  u.token.AccessToken,
			RefreshToken: u.token.RefreshToken,
			TokenExpiry:  u.token.Expiry.UTC().Truncate(time.Second),
			XOAUTH2:      xoauth2Response(u.address, u.token.AccessToken),
		})
	}
	return info
}

func (sb *sandbox) protocol(p sasltest.Protocol, tlsScheme, plainScheme string) sandboxProtocol {
	return sandboxProtocol{
		ImplicitTLS: listenerInfo(sb.ms.Addr(p, sasltest.ImplicitTLS), tlsScheme),
		StartTLS:    listenerInfo(sb.ms.Addr(p, sasltest.StartTLS), plainScheme),
	}
}

func listenerInfo(addr, scheme string) sandboxListener {
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return sandboxListener{Host: host, Port: n, URL: scheme + "://" + addr}
}

// xoauth2Response is the XOAUTH2 initial client response in base64.
func xoauth2Response(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
}
