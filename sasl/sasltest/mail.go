package sasltest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/mechanisms/scram"
	"github.com/saslkit/saslkit/sasl"
)

// MailClientID is the OAuth client a MailServer registers on its OAuth
// server for IssueToken: a public client (no secret) that accepts loopback
// redirect URIs, as an installed mail program is registered.
const MailClientID = "sasltest-mail"

// DefaultIdleTimeout is how long a mail server waits for a client's next
// command (or SASL response) before it drops the connection.
const DefaultIdleTimeout = 5 * time.Minute

// smtpMaxLineLength is the SMTP server's line limit: RFC 4954 §4 lets an
// AUTH command line with its initial response reach 12288 octets, which a
// Microsoft access token (a JWT of several kilobytes) needs.
const smtpMaxLineLength = 12288

// smtpMaxMessageBytes caps a submitted message.
const smtpMaxMessageBytes = 32 << 20

// MailUser is an account a MailServer creates at start.
type MailUser struct {
	// Address is the user name and mail address.
	Address string
	// Password opens the account with PLAIN, LOGIN, CRAM-MD5, SCRAM, IMAP
	// LOGIN and POP3 USER/PASS; "" leaves only token and certificate
	// mechanisms.
	Password string
}

// Format prints the user without the password.
func (u MailUser) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.MailUser{Address:%q Password:%s}", u.Address, redact.Secret(u.Password)))
}

// MailOptions configure a MailServer. The zero value (and nil) start the
// gmail profile on 127.0.0.1 with free ports and a new OAuth server.
type MailOptions struct {
	// Profile selects the provider imitated; the default is ProfileGmail.
	Profile MailProfile
	// OAuth is the OAuth server whose tokens the mail servers accept. Nil
	// starts one (Google's profile, or Microsoft's for ProfileMicrosoft)
	// from OAuthOptions, which Close stops; a given server is left running.
	OAuth *OAuthServer
	// OAuthOptions configure the OAuth server started when OAuth is nil.
	// Its Profile is replaced by the mail profile's, and its Clock, when
	// nil, by Clock.
	OAuthOptions *OAuthOptions
	// Users are created at start, in the mail store and on the OAuth
	// server. More can be added with Store().AddUser; an address that
	// authenticates with a valid token or receives mail gets an account
	// on the fly.
	Users []MailUser
	// Hostname is the name the servers answer to; their certificate also
	// names localhost, 127.0.0.1 and ::1. The default is "localhost".
	Hostname string
	// ListenHost is the address to listen on; the default is 127.0.0.1.
	ListenHost string
	// PortBase, when not zero, listens on PortBase plus each standard
	// port (143, 993, 587, 465, 110, 995): with 10000, IMAPS is on 10993.
	// Zero takes free ports.
	PortBase int
	// Clock dates delivered messages and, with a fake OAuth clock, decides
	// session expiry as the OAuth server does. Nil means the OAuth
	// server's clock (time.Now for a server started here without one).
	Clock func() time.Time
	// Registry holds the server mechanisms. Nil means saslkit's built-in
	// mechanisms, with SCRAM's tls-server-end-point binding tied to the
	// server certificate.
	Registry *sasl.Registry
	// Mechanisms, when not nil, replaces the profile's list of offered
	// mechanisms on every protocol (a test of mechanism negotiation may
	// offer only SCRAM-SHA-256, say). Names the registry cannot serve are
	// dropped. A list without any -PLUS mechanism also turns channel
	// binding off in the default registry's SCRAM servers, so they accept
	// the "y" flag of a client that could have bound.
	Mechanisms []string
	// Scopes, when not nil, replaces the profile's scopes: a token must
	// carry one of them. An empty non-nil slice accepts any scope.
	Scopes []string
	// AllowInsecureAuth offers and accepts authentication before TLS on
	// the STARTTLS listeners. By default, as at Gmail and Exchange Online,
	// nothing authenticates in clear text: IMAP advertises LOGINDISABLED,
	// SMTP omits AUTH from EHLO and answers 538, POP3 answers -ERR.
	AllowInsecureAuth bool
	// DisablePasswordLogin turns off IMAP LOGIN and POP3 USER/PASS even
	// where the profile allows them (Microsoft's never does).
	DisablePasswordLogin bool
	// KeepSessionsPastExpiry lets a session authenticated with a token
	// outlive the token. By default the session ends when the token
	// expires, as Gmail's do: IMAP sends "* BYE", SMTP "421", POP3 "-ERR",
	// then the server closes the connection. The check runs at every
	// command and on a timer.
	KeepSessionsPastExpiry bool
	// IdleTimeout bounds the wait for an SMTP or POP3 client's next line
	// and for a TLS handshake; 0 means DefaultIdleTimeout. The IMAP
	// server applies go-imap's own limits: 30 s before authentication,
	// 35 min after (enough for IDLE).
	IdleTimeout time.Duration
	// MinTLSVersion and MaxTLSVersion bound the TLS versions the
	// listeners accept (crypto/tls constants); zero means TLS 1.2 and
	// TLS 1.3.
	MinTLSVersion, MaxTLSVersion uint16
}

// MailServer is an IMAP, SMTP submission and POP3 server on loopback, with
// one shared MailStore, that authenticates through saslkit's server
// mechanisms and behaves, where a mail client can tell, like Gmail or
// Exchange Online (see MailProfile). Each protocol listens twice: with
// implicit TLS and in clear text with STARTTLS (STLS for POP3). The
// certificate comes from a CA generated at start; clients trust it with
// ClientTLSConfig or CA().
//
// Every connection passes through a recorder that keeps a redacted wire
// Transcript, enforces strict base64 on SASL responses, ends token
// sessions when the token expires, and carries the faults a test injects.
// The IMAP server is go-imap's imapserver (mailboxes from imapmemserver),
// the SMTP server go-smtp's, and the POP3 server this package's own.
//
// Methods are safe for concurrent use. Close stops everything and waits
// for every goroutine the server started.
type MailServer struct {
	opts      MailOptions
	spec      *profileSpec
	ca        *CA
	cert      tls.Certificate
	hostnames []string
	oauth     *OAuthServer
	ownOAuth  bool
	store     *MailStore
	registry  *sasl.Registry
	clock     func() time.Time
	idle      time.Duration

	clientTLS      *tls.Config // handed to clients
	frontTLS       *tls.Config // the listeners' TLS
	innerServerTLS *tls.Config // protocol servers' side of the internal link
	innerClientTLS *tls.Config // recorder's side of the internal link

	listeners map[Protocol][2]net.Listener // by TLSMode
	imapLn    *chanListener
	smtpLn    *chanListener
	pop3Ln    *chanListener
	imapSrv   *imapserver.Server
	smtpSrv   *smtp.Server
	pop3Srv   *pop3Server

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // goroutines of this package
	serverWG  sync.WaitGroup // connections held by a protocol server

	mu     sync.Mutex
	conns  map[int]*mailConn
	logs   []*transcriptLog
	nextID int
	stats  map[statKey]*AuthStats
	faults []*queuedMailFault
}

// standardPorts are the ports PortBase offsets, by protocol and mode.
var standardPorts = map[Protocol][2]int{
	ProtocolIMAP: {993, 143},
	ProtocolSMTP: {465, 587},
	ProtocolPOP3: {995, 110},
}

// protocols lists the protocols in a stable order.
var protocols = []Protocol{ProtocolIMAP, ProtocolSMTP, ProtocolPOP3}

// NewMailServer starts the mail servers (and an OAuth server unless
// opts.OAuth is set). opts may be nil. Close it when done.
func NewMailServer(opts *MailOptions) (*MailServer, error) {
	var o MailOptions
	if opts != nil {
		o = *opts
	}
	m := &MailServer{
		opts:      o,
		spec:      o.Profile.spec(),
		done:      make(chan struct{}),
		listeners: map[Protocol][2]net.Listener{},
		conns:     map[int]*mailConn{},
		stats:     map[statKey]*AuthStats{},
		idle:      o.IdleTimeout,
	}
	if m.idle <= 0 {
		m.idle = DefaultIdleTimeout
	}
	if m.opts.Hostname == "" {
		m.opts.Hostname = "localhost"
	}
	if m.opts.ListenHost == "" {
		m.opts.ListenHost = "127.0.0.1"
	}
	if err := m.startOAuth(); err != nil {
		return nil, err
	}
	m.clock = o.Clock
	if m.clock == nil {
		m.clock = m.oauth.now
	}
	m.store = newMailStore(m.clock)
	if err := m.setupTLS(); err != nil {
		m.stopOAuth()
		return nil, err
	}
	m.registry = o.Registry
	if m.registry == nil {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
		leaf := m.cert.Leaf
		m.registry = mechanisms.New(&mechanisms.Options{SCRAM: &scram.Options{
			FakeSaltKey:       key,
			ServerCertificate: func(*tls.ConnectionState) *x509.Certificate { return leaf },
			// A list without the -PLUS forms means the servers do not
			// offer channel binding, so a client's "y" is honest, not
			// a downgrade (RFC 5802 §6).
			NoChannelBinding: o.Mechanisms != nil && !offersPlus(o.Mechanisms),
		}})
	}
	for _, u := range o.Users {
		if err := m.store.AddUser(u.Address, u.Password); err != nil {
			m.stopOAuth()
			return nil, err
		}
		m.oauth.AddUser(u.Address)
	}
	if err := m.oauth.AddClient(OAuthClient{ID: MailClientID, LoopbackRedirect: true, Mailboxes: nil}); err != nil {
		m.stopOAuth()
		return nil, err
	}
	if err := m.listen(); err != nil {
		m.closeListeners()
		m.stopOAuth()
		return nil, err
	}
	m.startServers()
	return m, nil
}

func (m *MailServer) startOAuth() error {
	if m.opts.OAuth != nil {
		m.oauth = m.opts.OAuth
		return nil
	}
	var oo OAuthOptions
	if m.opts.OAuthOptions != nil {
		oo = *m.opts.OAuthOptions
	}
	oo.Profile = m.spec.oauth
	if oo.Clock == nil {
		oo.Clock = m.opts.Clock
	}
	s, err := StartOAuthServer(&oo)
	if err != nil {
		return err
	}
	m.oauth, m.ownOAuth = s, true
	return nil
}

func (m *MailServer) stopOAuth() {
	if m.ownOAuth {
		m.oauth.Close()
	}
}

// setupTLS generates the CA and the server certificate and derives every
// TLS configuration.
func (m *MailServer) setupTLS() error {
	ca, err := newCA("saslkit sasltest CA", m.clock)
	if err != nil {
		return err
	}
	m.ca = ca
	m.hostnames = []string{m.opts.Hostname}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", m.opts.ListenHost} {
		if !slices.Contains(m.hostnames, h) {
			m.hostnames = append(m.hostnames, h)
		}
	}
	m.cert, err = ca.IssueServer(m.hostnames...)
	if err != nil {
		return err
	}
	minV, maxV := m.opts.MinTLSVersion, m.opts.MaxTLSVersion
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	m.frontTLS = &tls.Config{
		Certificates: []tls.Certificate{m.cert},
		MinVersion:   minV,
		MaxVersion:   maxV,
		// EXTERNAL: a client may present a certificate from the CA.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  ca.Pool(),
	}
	m.clientTLS = &tls.Config{RootCAs: ca.Pool(), ServerName: m.opts.ListenHost, MinVersion: tls.VersionTLS12}
	// The internal link between the recorder and a protocol server is a
	// TLS connection too, so that go-imap and go-smtp see a *tls.Conn and
	// apply their own TLS rules (STARTTLS offered once, LOGINDISABLED).
	m.innerServerTLS = &tls.Config{
		Certificates:           []tls.Certificate{m.cert},
		MinVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
	}
	m.innerClientTLS = &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS13}
	return nil
}

func (m *MailServer) listen() error {
	for _, p := range protocols {
		var pair [2]net.Listener
		for _, mode := range []TLSMode{ImplicitTLS, StartTLS} {
			port := 0
			if m.opts.PortBase != 0 {
				port = m.opts.PortBase + standardPorts[p][mode]
			}
			addr := net.JoinHostPort(m.opts.ListenHost, strconv.Itoa(port))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				m.listeners[p] = pair
				return fmt.Errorf("sasltest: listen for %s %s on %s: %w", p, mode, addr, err)
			}
			pair[mode] = ln
		}
		m.listeners[p] = pair
	}
	return nil
}

func (m *MailServer) closeListeners() {
	for _, pair := range m.listeners {
		for _, ln := range pair {
			if ln != nil {
				ln.Close()
			}
		}
	}
}

// maxTranscripts is how many transcripts a MailServer keeps; beyond it
// the oldest finished ones are dropped, so a long-running sandbox does not
// grow without bound.
const maxTranscripts = 1000

// discardLogger swallows the protocol libraries' logs, which may quote
// client input.
var discardLogger = log.New(io.Discard, "", 0)

func (m *MailServer) startServers() {
	m.imapLn = newChanListener()
	m.smtpLn = newChanListener()
	m.pop3Ln = newChanListener()
	m.imapSrv = m.newIMAPServer()
	m.smtpSrv = m.newSMTPServer()
	m.pop3Srv = m.newPOP3Server()
	m.goFunc(func() { _ = m.imapSrv.Serve(m.imapLn) })
	m.goFunc(func() { _ = m.smtpSrv.Serve(m.smtpLn) })
	m.goFunc(func() { m.pop3Srv.serve(m.pop3Ln) })
	for _, p := range protocols {
		for mode, ln := range m.listeners[p] {
			m.goFunc(func() { m.acceptLoop(p, TLSMode(mode), ln) })
		}
	}
}

func (m *MailServer) goFunc(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

func (m *MailServer) acceptLoop(p Protocol, mode TLSMode, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		mc := m.newMailConn(p, mode, c)
		if mc == nil {
			c.Close()
			return
		}
		m.goFunc(mc.run)
	}
}

// protocolListener returns the internal listener of protocol p.
func (m *MailServer) protocolListener(p Protocol) *chanListener {
	switch p {
	case ProtocolIMAP:
		return m.imapLn
	case ProtocolSMTP:
		return m.smtpLn
	}
	return m.pop3Ln
}

// Close stops the servers, ends every connection and waits for every
// goroutine the server started. It stops the OAuth server only if it
// started it. Transcripts stay readable after Close.
func (m *MailServer) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		m.closeListeners()
		m.mu.Lock()
		conns := make([]*mailConn, 0, len(m.conns))
		for _, c := range m.conns {
			conns = append(conns, c)
		}
		m.mu.Unlock()
		for _, c := range conns {
			c.close()
		}
		m.imapLn.Close()
		m.smtpLn.Close()
		m.pop3Ln.Close()
		m.wg.Wait()
		// Every connection handed to a protocol server is closed by the
		// server once its recorder side is gone.
		m.serverWG.Wait()
		_ = m.imapSrv.Close()
		_ = m.smtpSrv.Close()
		m.stopOAuth()
	})
	return nil
}

// Format prints the server's profile and addresses.
func (m *MailServer) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.MailServer{Profile:%s IMAPS:%s SMTPS:%s POP3S:%s}",
		m.opts.Profile, m.Addr(ProtocolIMAP, ImplicitTLS), m.Addr(ProtocolSMTP, ImplicitTLS), m.Addr(ProtocolPOP3, ImplicitTLS)))
}

// Addr returns the address ("127.0.0.1:port") of the listener for protocol
// p in mode, or "" for an unknown protocol.
func (m *MailServer) Addr(p Protocol, mode TLSMode) string {
	pair, ok := m.listeners[p]
	if !ok || mode < ImplicitTLS || mode > StartTLS || pair[mode] == nil {
		return ""
	}
	return pair[mode].Addr().String()
}

// Profile reports the profile the server imitates.
func (m *MailServer) Profile() MailProfile { return m.opts.Profile }

// Hostname is the name the servers answer to (MailOptions.Hostname).
func (m *MailServer) Hostname() string { return m.opts.Hostname }

// OAuth returns the OAuth server whose tokens the mail servers accept.
func (m *MailServer) OAuth() *OAuthServer { return m.oauth }

// Store returns the mail store.
func (m *MailServer) Store() *MailStore { return m.store }

// Registry returns the registry the servers take mechanisms from.
func (m *MailServer) Registry() *sasl.Registry { return m.registry }

// CA returns the certificate authority that signed the servers'
// certificate.
func (m *MailServer) CA() *CA { return m.ca }

// Certificate returns the servers' certificate.
func (m *MailServer) Certificate() *x509.Certificate { return m.cert.Leaf }

// ClientTLSConfig returns a new TLS configuration for clients that trusts
// the servers' CA, with ServerName set to the listening address (the
// certificate names it, 127.0.0.1, ::1, localhost and the Hostname, so a
// client dialing any of them may set ServerName to what it dialed).
func (m *MailServer) ClientTLSConfig() *tls.Config { return m.clientTLS.Clone() }

// ClientCertificate issues a TLS client certificate for user, signed by
// the server's CA, for EXTERNAL (offered by ProfileAll).
func (m *MailServer) ClientCertificate(user string) (tls.Certificate, error) {
	return m.ca.IssueClient(user)
}

// IssueToken issues an access token (and a refresh token) for user to
// MailClientID with the profile's scopes, or with scopes when given, and
// creates the user's account if needed.
func (m *MailServer) IssueToken(user string, scopes ...string) (*oauth2.Token, error) {
	if len(scopes) == 0 {
		scopes = m.spec.issueScopes
	}
	if _, err := m.store.ensure(user); err != nil {
		return nil, err
	}
	return m.oauth.IssueToken(MailClientID, user, scopes...)
}

// Transcripts returns a snapshot of the transcript of every connection so
// far, in the order they were accepted, closed ones included.
func (m *MailServer) Transcripts() []Transcript {
	m.mu.Lock()
	logs := slices.Clone(m.logs)
	m.mu.Unlock()
	out := make([]Transcript, len(logs))
	for i, l := range logs {
		out[i] = l.snapshot()
	}
	return out
}

// TranscriptOf returns the transcript of the connection whose client side
// has the local address clientAddr (net.Conn.LocalAddr().String() of the
// client's connection).
func (m *MailServer) TranscriptOf(clientAddr string) (Transcript, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.logs) - 1; i >= 0; i-- {
		if m.logs[i].remoteAddr == clientAddr {
			return m.logs[i].snapshot(), true
		}
	}
	return Transcript{}, false
}

// AuthStats counts authentication exchanges.
type AuthStats struct {
	// Attempts counts AUTH / AUTHENTICATE commands (and IMAP LOGIN and
	// POP3 PASS, under the names "LOGIN" and "USER").
	Attempts int
	// Succeeded, Rejected (wrong credentials, token refused, malformed
	// or cancelled exchanges) and Temporary (verifier unavailable, an
	// injected temporary failure) count outcomes; an exchange cut by the
	// client or by an injected drop counts in none.
	Succeeded, Rejected, Temporary int
}

type statKey struct {
	proto Protocol
	mech  string
}

// AuthStats returns the counters for protocol p ("" for all) and mechanism
// mech ("" for all, otherwise case-insensitive).
func (m *MailServer) AuthStats(p Protocol, mech string) AuthStats {
	mech = strings.ToUpper(mech)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out AuthStats
	for k, s := range m.stats {
		if (p == "" || k.proto == p) && (mech == "" || k.mech == mech) {
			out.Attempts += s.Attempts
			out.Succeeded += s.Succeeded
			out.Rejected += s.Rejected
			out.Temporary += s.Temporary
		}
	}
	return out
}

// ResetAuthStats sets every counter to zero.
func (m *MailServer) ResetAuthStats() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats = map[statKey]*AuthStats{}
}

func (m *MailServer) count(p Protocol, mech string, f func(*AuthStats)) {
	k := statKey{p, strings.ToUpper(mech)}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats[k]
	if s == nil {
		s = &AuthStats{}
		m.stats[k] = s
	}
	f(s)
}

// MailFaultKind is a fault a test injects into the next authentications.
type MailFaultKind int

const (
	// MailFaultTemporary makes the verifiers of the exchange fail as if
	// their back end were down: IMAP answers NO [UNAVAILABLE], SMTP 454
	// 4.7.0, POP3 -ERR [SYS/TEMP].
	MailFaultTemporary MailFaultKind = iota + 1
	// MailFaultDrop closes the connection as soon as the AUTH command
	// arrives, without an answer: a server that dies mid-exchange.
	MailFaultDrop
)

// String names the fault.
func (k MailFaultKind) String() string {
	switch k {
	case MailFaultTemporary:
		return "temporary"
	case MailFaultDrop:
		return "drop"
	}
	return fmt.Sprintf("MailFaultKind(%d)", int(k))
}

// MailFault describes an injected fault.
type MailFault struct {
	Kind MailFaultKind
	// Protocol limits the fault to one protocol; "" means any.
	Protocol Protocol
	// Mechanism limits the fault to one mechanism; "" means any.
	Mechanism string
	// Times is how many authentications the fault takes; 0 means one,
	// a negative number every one until ClearFaults.
	Times int
}

type queuedMailFault struct {
	MailFault
	left int
}

// InjectFault queues f for the next matching authentications.
func (m *MailServer) InjectFault(f MailFault) {
	left := f.Times
	if left == 0 {
		left = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, &queuedMailFault{MailFault: f, left: left})
}

// ClearFaults removes every queued fault.
func (m *MailServer) ClearFaults() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = nil
}

// takeFault consumes the first fault matching an AUTH of mech over p.
func (m *MailServer) takeFault(p Protocol, mech string) (MailFaultKind, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, f := range m.faults {
		if f.Protocol != "" && f.Protocol != p || f.Mechanism != "" && !strings.EqualFold(f.Mechanism, mech) {
			continue
		}
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				m.faults = slices.Delete(m.faults, i, i+1)
			}
		}
		return f.Kind, true
	}
	return 0, false
}

// EndSessions ends now, as a token expiry would, every authenticated
// session of protocol p ("" for all) of user ("" for all): IMAP sends
// "* BYE", SMTP "421", POP3 "-ERR", then the connection closes. It
// returns how many sessions it ended.
func (m *MailServer) EndSessions(p Protocol, user string) int {
	n := 0
	for _, c := range m.liveConns() {
		if p != "" && c.proto != p {
			continue
		}
		if u, ok := c.authenticatedUser(); ok && (user == "" || strings.EqualFold(u, user)) {
			if c.endSession() {
				n++
			}
		}
	}
	return n
}

// CheckSessions ends every session whose token has expired by the OAuth
// server's clock, and returns how many it ended. Sessions are also checked
// at every command and by a timer; a test with a fake clock calls
// CheckSessions after moving the clock instead of waiting.
func (m *MailServer) CheckSessions() int {
	n := 0
	for _, c := range m.liveConns() {
		if c.expired() && c.endSession() {
			n++
		}
	}
	return n
}

func (m *MailServer) liveConns() []*mailConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*mailConn, 0, len(m.conns))
	for _, c := range m.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *mailConn) int { return a.id - b.id })
	return out
}

// tokenExpiry returns when the token with key expires, by the OAuth
// server's clock, and whether the server knows it.
func (s *OAuthServer) tokenExpiry(key tokenKey) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.st.access[key]
	if !ok {
		return time.Time{}, false
	}
	return a.expiry, true
}

// chanListener is a net.Listener fed by the recorders: it hands the
// protocol servers their side of each internal link.
type chanListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *chanListener) Addr() net.Addr { return pipeAddr{} }

// offer hands c to the protocol server; false when the listener is closed.
func (l *chanListener) offer(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "sasltest-internal" }

// offersPlus reports whether mechs names a channel-binding (-PLUS)
// mechanism.
func offersPlus(mechs []string) bool {
	for _, m := range mechs {
		if strings.HasSuffix(strings.ToUpper(m), "-PLUS") {
			return true
		}
	}
	return false
}
