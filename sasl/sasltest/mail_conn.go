package sasltest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/saslkit/saslkit/internal/redact"
	"github.com/saslkit/saslkit/sasl"
)

// A mailConn is one client connection. The client talks to the recorder,
// which relays every line to the protocol server over an in-memory link and
// every answer back:
//
//	client ⇄ [TLS] ⇄ recorder ⇄ [TLS] ⇄ net.Pipe ⇄ imapserver / go-smtp / POP3
//
// The recorder sees both directions in clear text whatever TLS is in use,
// so it can keep a redacted transcript per connection, check SASL base64
// strictly before the protocol library decodes it (encoding/base64 skips
// embedded CR), end a session whose token expired at a command boundary,
// and inject faults. The internal link uses TLS when the client's does, so
// the protocol libraries apply their own TLS rules unchanged; everything
// that depends on the client's TLS (channel binding, EXTERNAL) reads the
// client-facing state from the recorder.
type mailConn struct {
	ms    *MailServer
	proto Protocol
	mode  TLSMode
	id    int
	port  int
	raw   net.Conn // the client's TCP connection
	tr    *transcriptLog
	ctx   context.Context
	stop  context.CancelFunc
	done  chan struct{}

	wmu    sync.Mutex // serialises writes to the client
	client net.Conn   // raw, or the TLS connection over it

	innerRaw net.Conn // recorder's end of the internal pipe
	inner    net.Conn // innerRaw, or the TLS client over it

	// malformed is set when the recorder replaced a SASL response that was
	// not strict base64: the next authentication step must fail as
	// malformed.
	malformed atomic.Bool
	// pendingTemp is set by an injected temporary fault: the next
	// exchange's verifiers fail as unavailable.
	pendingTemp atomic.Bool

	// await is a reply the client pump waits for (STARTTLS, SMTP DATA).
	await  atomic.Pointer[awaitReply]
	resume chan net.Conn // client pump → server pump after STARTTLS

	mu       sync.Mutex
	tlsState *tls.ConnectionState
	authMech string // AUTH exchange in progress, "" when none
	authTag  string // its IMAP tag
	user     string // authenticated user
	mech     string
	token    tokenKey
	hasToken bool
	timer    *time.Timer
	ending   bool
	closed   bool
}

// awaitReply is a server reply the client pump waits for.
type awaitReply struct {
	kind string // "starttls", "data"
	tag  string // IMAP tag
	ch   chan serverReply
}

type serverReply struct {
	ok bool
}

// maxFrontLine is the longest line the recorder reads at once; a longer
// line is relayed in pieces (and answered by the protocol server's own
// limit).
const maxFrontLine = 64 << 10

func (m *MailServer) newMailConn(p Protocol, mode TLSMode, c net.Conn) *mailConn {
	_, portStr, _ := net.SplitHostPort(c.LocalAddr().String())
	port, _ := strconv.Atoi(portStr)
	ctx, stop := context.WithCancel(context.Background())
	mc := &mailConn{
		ms: m, proto: p, mode: mode, port: port, raw: c, client: c,
		ctx: ctx, stop: stop, done: make(chan struct{}), resume: make(chan net.Conn, 1),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.done:
		stop()
		return nil
	default:
	}
	m.nextID++
	mc.id = m.nextID
	mc.tr = newTranscriptLog(mc.id, p, mode, c.RemoteAddr().String())
	m.conns[mc.id] = mc
	if len(m.logs) >= maxTranscripts {
		if i := slices.IndexFunc(m.logs, func(l *transcriptLog) bool { return l.isClosed() }); i >= 0 {
			m.logs = slices.Delete(m.logs, i, i+1)
		}
	}
	m.logs = append(m.logs, mc.tr)
	return mc
}

// pipeEnd is the protocol server's end of the internal link. Closing it
// (which only the protocol server does) tells the MailServer that the
// server is done with the connection.
type pipeEnd struct {
	net.Conn
	mc   *mailConn
	once sync.Once
}

func (p *pipeEnd) Close() error {
	err := p.Conn.Close()
	p.once.Do(p.mc.ms.serverWG.Done)
	return err
}

// RemoteAddr reports the client's address, for the protocol libraries.
func (p *pipeEnd) RemoteAddr() net.Addr { return p.mc.raw.RemoteAddr() }

// LocalAddr reports the listener's address.
func (p *pipeEnd) LocalAddr() net.Addr { return p.mc.raw.LocalAddr() }

// frontOf returns the recorder of a connection a protocol server holds.
func frontOf(c net.Conn) *mailConn {
	for c != nil {
		switch v := c.(type) {
		case *pipeEnd:
			return v.mc
		case *tls.Conn:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// run serves the connection until either side ends it.
func (mc *mailConn) run() {
	defer mc.close()
	if mc.mode == ImplicitTLS {
		mc.tr.add(Event, "TLS handshake")
		tc, err := mc.handshakeClient()
		if err != nil {
			mc.tr.add(Event, "TLS handshake failed")
			return
		}
		mc.wmu.Lock()
		mc.client = tc
		mc.wmu.Unlock()
	}
	a, b := net.Pipe()
	end := &pipeEnd{Conn: a, mc: mc}
	var serverSide net.Conn = end
	mc.innerRaw, mc.inner = b, b
	if mc.mode == ImplicitTLS {
		serverSide = tls.Server(end, mc.ms.innerServerTLS)
		mc.inner = tls.Client(b, mc.ms.innerClientTLS)
	}
	mc.ms.serverWG.Add(1)
	if !mc.ms.protocolListener(mc.proto).offer(serverSide) {
		end.Close()
		b.Close()
		return
	}
	if tc, ok := mc.inner.(*tls.Conn); ok {
		if err := mc.handshakeInner(tc); err != nil {
			return
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer mc.close()
		mc.serverPump()
	}()
	mc.clientPump()
	mc.close()
	wg.Wait()
}

func (mc *mailConn) handshakeClient() (*tls.Conn, error) {
	tc := tls.Server(mc.raw, mc.ms.frontTLS)
	ctx, cancel := context.WithTimeout(mc.ctx, mc.ms.idle)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	st := tc.ConnectionState()
	mc.mu.Lock()
	mc.tlsState = &st
	mc.mu.Unlock()
	mc.tr.add(Event, "TLS established: "+tls.VersionName(st.Version)+" "+tls.CipherSuiteName(st.CipherSuite))
	return tc, nil
}

func (mc *mailConn) handshakeInner(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(mc.ctx, mc.ms.idle)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// close ends the connection on both sides. It is idempotent.
func (mc *mailConn) close() {
	mc.mu.Lock()
	if mc.closed {
		mc.mu.Unlock()
		return
	}
	mc.closed = true
	if mc.timer != nil {
		mc.timer.Stop()
	}
	mc.mu.Unlock()
	mc.stop()
	mc.raw.Close()
	if mc.innerRaw != nil {
		mc.innerRaw.Close()
	}
	mc.tr.close()
	mc.ms.mu.Lock()
	delete(mc.ms.conns, mc.id)
	mc.ms.mu.Unlock()
	close(mc.done)
}

// connState describes the client-facing connection for the mechanisms:
// TLS state for channel binding and EXTERNAL, the listener's port for
// OAUTHBEARER's port check. Host is left empty: clients dial any of the
// certificate's names, and the token verifier checks host= against them.
func (mc *mailConn) connState() *sasl.ConnState {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return &sasl.ConnState{Port: mc.port, TLS: mc.tlsState, RemoteAddr: mc.raw.RemoteAddr()}
}

// encrypted reports whether the client's connection uses TLS.
func (mc *mailConn) encrypted() bool {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.tlsState != nil
}

// canAuth reports whether authentication may run on the connection.
func (mc *mailConn) canAuth() bool { return mc.encrypted() || mc.ms.opts.AllowInsecureAuth }

// authenticated records a successful authentication; key is the access
// token's key when a token authenticated the session.
func (mc *mailConn) authenticated(user, mech string, key *tokenKey) {
	mc.mu.Lock()
	mc.user, mc.mech = user, mech
	if key != nil {
		mc.token, mc.hasToken = *key, true
	}
	mc.mu.Unlock()
	mc.tr.setIdentity(user, mech)
	mc.tr.add(Event, "authenticated as "+printable(user)+" with "+mech)
	if key != nil && !mc.ms.opts.KeepSessionsPastExpiry {
		mc.armTimer()
	}
}

func (mc *mailConn) authenticatedUser() (string, bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.user, mc.user != ""
}

// expired reports whether the session's token has expired.
func (mc *mailConn) expired() bool {
	mc.mu.Lock()
	has, key := mc.hasToken, mc.token
	mc.mu.Unlock()
	if !has || mc.ms.opts.KeepSessionsPastExpiry {
		return false
	}
	exp, ok := mc.ms.oauth.tokenExpiry(key)
	return !ok || !mc.ms.oauth.now().Before(exp)
}

// armTimer ends the session when its token expires. The delay is computed
// from the OAuth server's clock; when the timer fires early (a fake clock
// that did not move as far) it re-arms.
func (mc *mailConn) armTimer() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.closed || !mc.hasToken {
		return
	}
	exp, ok := mc.ms.oauth.tokenExpiry(mc.token)
	d := time.Duration(0)
	if ok {
		d = exp.Sub(mc.ms.oauth.now())
	}
	if d < 0 {
		d = 0
	}
	if mc.timer != nil {
		mc.timer.Stop()
	}
	mc.timer = time.AfterFunc(d, func() {
		if mc.expired() {
			mc.endSession()
			return
		}
		mc.armTimer()
	})
}

// endSession says goodbye in the protocol's way and closes the
// connection: IMAP "* BYE", SMTP "421", POP3 "-ERR". It reports whether it
// did (false when the connection was already ending).
func (mc *mailConn) endSession() bool {
	mc.mu.Lock()
	if mc.ending || mc.closed {
		mc.mu.Unlock()
		return false
	}
	mc.ending = true
	mc.mu.Unlock()
	var line string
	switch mc.proto {
	case ProtocolIMAP:
		line = "* BYE " + mc.ms.spec.imapExpired
	case ProtocolSMTP:
		e := mc.ms.spec.smtpExpired
		line = fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
	default:
		line = "-ERR " + mc.ms.spec.popExpired
	}
	mc.tr.add(Event, "session expired")
	mc.writeClient(line)
	mc.close()
	return true
}

// writeClient writes one line of the recorder's own to the client.
func (mc *mailConn) writeClient(line string) {
	mc.wmu.Lock()
	defer mc.wmu.Unlock()
	mc.tr.add(FromServer, line)
	_ = mc.client.SetWriteDeadline(time.Now().Add(mc.ms.idle))
	_, _ = io.WriteString(mc.client, line+"\r\n")
}

// lineReader reads CRLF-terminated lines (and raw runs of bytes) for the
// pumps.
type lineReader struct {
	br *bufio.Reader
}

func newLineReader(c net.Conn) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(c, maxFrontLine)}
}

// line returns the next line with its ending, or a piece of a line that
// does not fit the buffer (long is then true).
func (r *lineReader) line() (b []byte, long bool, err error) {
	b, err = r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return b, true, nil
	}
	return b, false, err
}

// clientPump relays the client's lines to the protocol server.
func (mc *mailConn) clientPump() {
	r := newLineReader(mc.client)
	st := &clientState{}
	// No read deadline here: each protocol server applies its own (go-imap
	// 30 s before authentication and 35 min after, go-smtp and POP3
	// IdleTimeout) and closes the link, which ends this pump.
	for {
		if st.raw > 0 {
			n := min(st.raw, int64(maxFrontLine))
			buf := make([]byte, n)
			if _, err := io.ReadFull(r.br, buf); err != nil {
				return
			}
			st.raw -= n
			if !mc.forward(buf) {
				return
			}
			continue
		}
		line, long, err := r.line()
		if err != nil {
			if len(line) > 0 {
				mc.forward(line)
			}
			return
		}
		if long {
			// Relay the oversized line in pieces; the protocol server
			// answers it by its own limit.
			mc.tr.add(FromClient, "[line longer than "+strconv.Itoa(maxFrontLine)+" octets]")
			if !mc.forward(line) {
				return
			}
			for long {
				line, long, err = r.line()
				if err != nil || !mc.forward(line) {
					return
				}
			}
			continue
		}
		next, ok := mc.clientLine(st, line)
		if !ok {
			return
		}
		if next != nil {
			r = next
		}
	}
}

// clientState is the client pump's view of the protocol.
type clientState struct {
	raw            int64 // octets of literal or BDAT data still to relay as is
	smtpData       bool  // inside SMTP DATA
	dataLen        int
	secretLiterals bool // the literals of this command are secrets (IMAP LOGIN)
}

// forward relays b to the protocol server.
func (mc *mailConn) forward(b []byte) bool {
	_, err := mc.inner.Write(b)
	return err == nil
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// clientLine handles one complete line from the client. It returns a new
// reader after a TLS upgrade, and false to end the connection.
func (mc *mailConn) clientLine(st *clientState, line []byte) (*lineReader, bool) {
	text := trimEOL(line)
	if st.smtpData {
		if string(text) == "." {
			st.smtpData = false
			mc.tr.add(FromClient, fmt.Sprintf("[message, %d octets]", st.dataLen))
			mc.tr.add(FromClient, ".")
			st.dataLen = 0
		} else {
			st.dataLen += len(line)
		}
		return nil, mc.forward(line)
	}
	if mech := mc.exchange(); mech != "" {
		return nil, mc.saslResponse(text)
	}
	if u, ok := mc.authenticatedUser(); ok && u != "" && mc.expired() {
		mc.endSession()
		return nil, false
	}
	switch mc.proto {
	case ProtocolIMAP:
		return mc.imapCommand(st, line, text)
	case ProtocolSMTP:
		return mc.smtpCommand(st, line, text)
	}
	return mc.pop3Command(line, text)
}

// exchange returns the mechanism of the AUTH exchange in progress.
func (mc *mailConn) exchange() string {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.authMech
}

func (mc *mailConn) startExchange(mech, tag string) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.authMech, mc.authTag = mech, tag
}

func (mc *mailConn) endExchange() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.authMech, mc.authTag = "", ""
}

// saslResponse relays a SASL continuation response, redacted in the
// transcript. A response that is not strict base64 is replaced by an empty
// one and the next authentication step fails as malformed; POP3's own
// server checks strictly, so it gets the line as sent.
func (mc *mailConn) saslResponse(text []byte) bool {
	switch {
	case string(text) == "*":
		mc.tr.add(FromClient, "*")
	case len(text) == 0:
		mc.tr.add(FromClient, "")
	default:
		mc.tr.add(FromClient, redact.Placeholder)
	}
	if string(text) != "*" && mc.proto != ProtocolPOP3 {
		if _, ok := decodeSASLResponse(text); !ok {
			mc.malformed.Store(true)
			return mc.forward([]byte("=\r\n"))
		}
	}
	return mc.forward(append(append([]byte(nil), text...), '\r', '\n'))
}

// authCommand handles an AUTH or AUTHENTICATE command: counts it, applies
// a drop fault, and checks the initial response. It returns the line to
// relay, or nil when the connection must close.
func (mc *mailConn) authCommand(mech string, ir []byte, hasIR bool, tag, prefix string) []byte {
	mech = strings.ToUpper(mech)
	mc.ms.count(mc.proto, mech, func(s *AuthStats) { s.Attempts++ })
	rec := prefix + mech
	if hasIR {
		rec += " " + redact.Placeholder
	}
	mc.tr.add(FromClient, rec)
	if kind, ok := mc.ms.takeFault(mc.proto, mech); ok {
		switch kind {
		case MailFaultDrop:
			mc.tr.add(Event, "fault: connection dropped mid-exchange")
			return nil
		case MailFaultTemporary:
			mc.pendingTemp.Store(true)
		}
	}
	mc.startExchange(mech, tag)
	line := prefix + mech
	if hasIR {
		if _, ok := decodeSASLResponse(ir); !ok && mc.proto != ProtocolPOP3 {
			// Drop the initial response; the protocol server then asks
			// the session for the mechanism, which fails as malformed.
			mc.malformed.Store(true)
			return []byte(line + "\r\n")
		}
		line += " " + string(ir)
	}
	return []byte(line + "\r\n")
}

// imapCommand handles an IMAP command line.
func (mc *mailConn) imapCommand(st *clientState, line, text []byte) (*lineReader, bool) {
	tag, rest, _ := bytes.Cut(text, []byte(" "))
	cmd, args, _ := bytes.Cut(rest, []byte(" "))
	name := strings.ToUpper(string(cmd))
	lit := literalLen(text)
	switch name {
	case "AUTHENTICATE":
		mech, ir, hasIR := bytes.Cut(args, []byte(" "))
		out := mc.authCommand(string(mech), ir, hasIR, string(tag), string(tag)+" AUTHENTICATE ")
		if out == nil {
			return nil, false
		}
		return nil, mc.forward(out)
	case "LOGIN":
		mc.tr.add(FromClient, printable(string(tag))+" LOGIN "+redact.Placeholder)
		mc.ms.count(ProtocolIMAP, "LOGIN", func(s *AuthStats) { s.Attempts++ })
		st.secretLiterals = true
	case "STARTTLS":
		mc.tr.add(FromClient, printable(string(text)))
		return mc.startTLS(line, "starttls", string(tag))
	default:
		if !st.secretLiterals || lit < 0 {
			mc.tr.add(FromClient, printable(string(text)))
		} else {
			mc.tr.add(FromClient, redact.Placeholder)
		}
	}
	if lit >= 0 {
		st.raw = lit
		if st.secretLiterals {
			mc.tr.add(FromClient, "[literal, redacted]")
		} else {
			mc.tr.add(FromClient, fmt.Sprintf("[literal, %d octets]", lit))
		}
	} else {
		st.secretLiterals = false
	}
	return nil, mc.forward(line)
}

// literalLen returns N when line ends with an IMAP literal {N}, {N+} or
// ~{N}, and -1 otherwise.
func literalLen(line []byte) int64 {
	if !bytes.HasSuffix(line, []byte("}")) {
		return -1
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return -1
	}
	num := bytes.TrimSuffix(line[i+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || n < 0 || len(num) == 0 || len(num) > 12 {
		return -1
	}
	return n
}

// smtpCommand handles an SMTP command line.
func (mc *mailConn) smtpCommand(st *clientState, line, text []byte) (*lineReader, bool) {
	cmd, args, _ := bytes.Cut(text, []byte(" "))
	name := strings.ToUpper(string(cmd))
	switch name {
	case "AUTH":
		mech, ir, hasIR := bytes.Cut(bytes.TrimLeft(args, " "), []byte(" "))
		if len(mech) == 0 {
			break
		}
		out := mc.authCommand(string(mech), ir, hasIR, "", "AUTH ")
		if out == nil {
			return nil, false
		}
		return nil, mc.forward(out)
	case "STARTTLS":
		mc.tr.add(FromClient, printable(string(text)))
		return mc.startTLS(line, "starttls", "")
	case "DATA":
		mc.tr.add(FromClient, printable(string(text)))
		ok, alive := mc.relayAndWait(line, "data", "")
		st.smtpData = ok
		return nil, alive
	case "BDAT":
		if f := strings.Fields(string(args)); len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n >= 0 {
				st.raw = n
				mc.tr.add(FromClient, printable(string(text)))
				mc.tr.add(FromClient, fmt.Sprintf("[chunk, %d octets]", n))
				return nil, mc.forward(line)
			}
		}
	}
	mc.tr.add(FromClient, printable(string(text)))
	return nil, mc.forward(line)
}

// pop3Command handles a POP3 command line.
func (mc *mailConn) pop3Command(line, text []byte) (*lineReader, bool) {
	cmd, args, _ := bytes.Cut(text, []byte(" "))
	name := strings.ToUpper(string(cmd))
	switch name {
	case "AUTH":
		mech, ir, hasIR := bytes.Cut(args, []byte(" "))
		if len(mech) == 0 {
			break
		}
		out := mc.authCommand(string(mech), ir, hasIR, "", "AUTH ")
		if out == nil {
			return nil, false
		}
		// POP3 checks the 255-octet limit of the line as sent.
		return nil, mc.forward(line)
	case "PASS":
		mc.tr.add(FromClient, "PASS "+redact.Placeholder)
		mc.ms.count(ProtocolPOP3, "USER", func(s *AuthStats) { s.Attempts++ })
		return nil, mc.forward(line)
	case "STLS":
		mc.tr.add(FromClient, printable(string(text)))
		return mc.startTLS(line, "starttls", "")
	}
	mc.tr.add(FromClient, printable(string(text)))
	return nil, mc.forward(line)
}

// relayAndWait relays line and waits for the server's final reply to it.
// ok reports a positive reply; alive is false when the connection ended.
func (mc *mailConn) relayAndWait(line []byte, kind, tag string) (ok, alive bool) {
	a := &awaitReply{kind: kind, tag: tag, ch: make(chan serverReply, 1)}
	mc.await.Store(a)
	if !mc.forward(line) {
		return false, false
	}
	select {
	case r := <-a.ch:
		return r.ok, true
	case <-mc.done:
		return false, false
	}
}

// startTLS relays a STARTTLS/STLS command and, when the server agrees,
// upgrades both sides. Bytes the client sent after the command in the
// clear are discarded (a command injection defence, RFC 3207 §4.2).
func (mc *mailConn) startTLS(line []byte, kind, tag string) (*lineReader, bool) {
	ok, alive := mc.relayAndWait(line, kind, tag)
	if !alive {
		return nil, false
	}
	if !ok {
		return nil, true
	}
	mc.tr.add(Event, "TLS handshake")
	tc, err := mc.handshakeClient()
	if err != nil {
		mc.tr.add(Event, "TLS handshake failed")
		return nil, false
	}
	inner := tls.Client(mc.innerRaw, mc.ms.innerClientTLS)
	if err := mc.handshakeInner(inner); err != nil {
		return nil, false
	}
	mc.wmu.Lock()
	mc.client = tc
	mc.wmu.Unlock()
	mc.inner = inner
	mc.resume <- inner
	return newLineReader(tc), true
}

// serverPump relays the protocol server's lines to the client.
func (mc *mailConn) serverPump() {
	r := newLineReader(mc.inner)
	var raw int64
	for {
		if raw > 0 {
			n := min(raw, int64(maxFrontLine))
			buf := make([]byte, n)
			if _, err := io.ReadFull(r.br, buf); err != nil {
				return
			}
			raw -= n
			if !mc.toClient(buf, "") {
				return
			}
			continue
		}
		line, long, err := r.line()
		if err != nil {
			if len(line) > 0 {
				mc.toClient(line, printable(string(trimEOL(line))))
			}
			return
		}
		if long {
			if !mc.toClient(line, "[long line]") {
				return
			}
			for long {
				line, long, err = r.line()
				if err != nil || !mc.toClient(line, "") {
					return
				}
			}
			continue
		}
		text := trimEOL(line)
		rec, waiter, ok := mc.serverLine(text)
		if mc.proto == ProtocolIMAP {
			if n := literalLen(text); n >= 0 {
				raw = n
			}
		}
		if !mc.toClient(line, rec) {
			return
		}
		if raw > 0 {
			mc.tr.add(FromServer, fmt.Sprintf("[literal, %d octets]", raw))
		}
		if waiter == nil {
			continue
		}
		// The reply has reached the client; now the client pump may act
		// on it.
		waiter.ch <- serverReply{ok: ok}
		if waiter.kind == "starttls" && ok {
			var inner net.Conn
			select {
			case inner = <-mc.resume:
			case <-mc.done:
			}
			if inner == nil {
				return
			}
			r = newLineReader(inner)
		}
	}
}

// toClient writes b to the client and records rec ("" records nothing).
func (mc *mailConn) toClient(b []byte, rec string) bool {
	mc.wmu.Lock()
	defer mc.wmu.Unlock()
	if rec != "" {
		mc.tr.add(FromServer, rec)
	}
	_ = mc.client.SetWriteDeadline(time.Now().Add(mc.ms.idle))
	_, err := mc.client.Write(b)
	return err == nil
}

// serverLine classifies a line from the protocol server: what to record,
// and, when it is the final reply the client pump waits for, that waiter
// and whether the reply is positive.
func (mc *mailConn) serverLine(text []byte) (rec string, waiter *awaitReply, ok bool) {
	rec = printable(string(text))
	mc.mu.Lock()
	inAuth, authTag := mc.authMech != "", mc.authTag
	mc.mu.Unlock()
	final := false
	positive := false
	tag := ""
	switch mc.proto {
	case ProtocolIMAP:
		t, rest, _ := bytes.Cut(text, []byte(" "))
		if len(t) > 0 && t[0] != '*' && t[0] != '+' {
			final, tag = true, string(t)
			positive = bytes.HasPrefix(bytes.ToUpper(rest), []byte("OK"))
		}
		if inAuth {
			switch {
			case len(text) > 0 && text[0] == '+':
				if len(bytes.TrimSpace(text[1:])) > 0 {
					rec = "+ " + redact.Placeholder
				}
			case final && tag == authTag:
				mc.endExchange()
			}
		}
	case ProtocolSMTP:
		final = len(text) < 4 || text[3] != '-'
		positive = len(text) > 0 && (text[0] == '2' || text[0] == '3')
		if inAuth {
			if bytes.HasPrefix(text, []byte("334")) {
				if len(bytes.TrimSpace(text[3:])) > 0 {
					rec = "334 " + redact.Placeholder
				}
			} else if final {
				mc.endExchange()
			}
		}
	default:
		final = true
		positive = bytes.HasPrefix(text, []byte("+OK"))
		if inAuth {
			switch {
			case bytes.HasPrefix(text, []byte("+OK")), bytes.HasPrefix(text, []byte("-ERR")):
				mc.endExchange()
			case len(text) > 0 && text[0] == '+':
				if len(bytes.TrimSpace(text[1:])) > 0 {
					rec = "+ " + redact.Placeholder
				}
			}
		}
	}
	if !final {
		return rec, nil, false
	}
	a := mc.await.Load()
	if a == nil || mc.proto == ProtocolIMAP && a.tag != tag {
		return rec, nil, false
	}
	mc.await.Store(nil)
	if a.kind == "data" {
		positive = bytes.HasPrefix(text, []byte("354"))
	}
	return rec, a, positive
}

// Format prints the connection's protocol and identity, never the key of
// its token.
func (mc *mailConn) Format(f fmt.State, verb rune) {
	user, _ := mc.authenticatedUser()
	redact.Format(f, verb, fmt.Sprintf("sasltest.mailConn{ID:%d Protocol:%s Mode:%s User:%q}", mc.id, mc.proto, mc.mode, user))
}
