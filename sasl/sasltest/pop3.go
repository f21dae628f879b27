package sasltest

// The POP3 server is written here rather than taken from a library: no
// POP3 server (or client) module can be fetched by this module's build, so
// the package carries its own. It implements RFC 1939 (USER, PASS, STAT,
// LIST, RETR, DELE, NOOP, RSET, QUIT with the UPDATE state, TOP, UIDL),
// RFC 2449 (CAPA, RESP-CODES, PIPELINING, the 255-octet command limit),
// RFC 2595 (STLS), RFC 3206 ([AUTH], [SYS/TEMP], [SYS/PERM], [IN-USE]) and
// RFC 5034 (AUTH with and without initial response, AUTH-RESP-CODE),
// strictly: bad input gets -ERR, never a panic or a hang.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/saslkit/saslkit/sasl"
)

const (
	// pop3MaxCommand is the longest command line, CRLF included (RFC 2449
	// §4; RFC 5034 §4 for AUTH with an initial response).
	pop3MaxCommand = 255
	// pop3MaxResponse is the longest SASL continuation response line; a
	// Microsoft access token is a JWT of a few kilobytes.
	pop3MaxResponse = 64 << 10
	// pop3MaxErrors is how many consecutive -ERR answers to bad input a
	// connection gets before the server closes it.
	pop3MaxErrors = 20
)

// pop3Error is a POP3 negative answer: the text after "-ERR ".
type pop3Error struct{ text string }

func (e *pop3Error) Error() string { return "sasltest: POP3 -ERR " + e.text }

func popErr(text string) *pop3Error { return &pop3Error{text: text} }

// pop3Message is a message of a maildrop.
type pop3Message struct {
	uid  string
	body []byte // CRLF line endings
}

// maildrop is a locked POP3 maildrop.
type maildrop interface {
	// messages returns the messages, numbered from 1 in order.
	messages() []pop3Message
	// commit removes the messages at indexes (0-based) in the UPDATE
	// state.
	commit(deleted []int) error
	// release unlocks the maildrop.
	release()
}

// pop3Backend is what the POP3 server asks of its environment.
type pop3Backend interface {
	// greeting is the text after "+OK " in the greeting.
	greeting(c *pop3Conn) string
	// canAuth reports whether authentication may run on c (TLS, or
	// clear text allowed).
	canAuth(c *pop3Conn) bool
	// mechanisms lists the SASL mechanisms offered on c.
	mechanisms(c *pop3Conn) []string
	// newAuth starts an exchange; its errors and the conversation's are
	// *pop3Error. onSuccess opens the maildrop of the user.
	newAuth(c *pop3Conn, mech string, onSuccess func(user string) error) (sasl.Server, error)
	// userPass reports whether USER/PASS is offered on c.
	userPass(c *pop3Conn) bool
	// checkPass checks USER/PASS and returns the user.
	checkPass(c *pop3Conn, user, pass string) (string, error)
	// openMaildrop locks the maildrop of user.
	openMaildrop(user string) (maildrop, error)
	// authenticated is told who authenticated and how.
	authenticated(c *pop3Conn, user, mech string)
}

// pop3Server serves POP3 connections.
type pop3Server struct {
	backend   pop3Backend
	tlsConfig *tls.Config // for STLS; nil disables it
	idle      time.Duration
	wg        sync.WaitGroup
}

// serve accepts connections from ln until it is closed, then waits for
// their sessions to end.
func (s *pop3Server) serve(ln net.Listener) {
	defer s.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(context.Background(), c)
		}()
	}
}

// pop3State is the RFC 1939 session state.
type pop3State int

const (
	pop3Authorization pop3State = iota
	pop3Transaction
)

// pop3Conn is one POP3 session.
type pop3Conn struct {
	srv   *pop3Server
	ctx   context.Context
	conn  net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	state pop3State
	// user is the name given by USER, waiting for PASS.
	user    string
	drop    maildrop
	msgs    []pop3Message
	deleted []bool
	errors  int
	quit    bool
}

// isTLS reports whether the session runs over TLS.
func (c *pop3Conn) isTLS() bool {
	_, ok := c.conn.(*tls.Conn)
	return ok
}

// serveConn runs one session until QUIT, an error or the end of ctx. It
// closes conn.
func (s *pop3Server) serveConn(ctx context.Context, conn net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := &pop3Conn{srv: s, ctx: ctx, conn: conn}
	c.setIO(conn)
	defer func() {
		if c.drop != nil {
			c.drop.release()
		}
		c.conn.Close()
	}()
	if tc, ok := conn.(*tls.Conn); ok {
		c.deadline()
		if err := tc.HandshakeContext(ctx); err != nil {
			return
		}
	}
	if !c.ok(s.backend.greeting(c)) {
		return
	}
	for !c.quit {
		line, err := c.readLine(pop3MaxCommand)
		if errors.Is(err, errLineTooLong) {
			if !c.bad("Command line too long (at most 255 octets)") {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		if !c.command(line) {
			return
		}
	}
}

func (c *pop3Conn) setIO(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 4096)
	c.bw = bufio.NewWriter(conn)
}

func (c *pop3Conn) deadline() {
	if c.srv.idle > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(c.srv.idle))
	}
}

var errLineTooLong = errors.New("sasltest: line too long")

// readLine reads a line of at most limit octets (CRLF included) and
// returns it without its ending. A longer line is consumed and reported as
// errLineTooLong. A line may end with a bare LF.
func (c *pop3Conn) readLine(limit int) ([]byte, error) {
	c.deadline()
	var line []byte
	tooLong := false
	for {
		chunk, err := c.br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit {
				tooLong = true
				line = nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, errLineTooLong
			}
			line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// write sends lines, each followed by CRLF, and flushes.
func (c *pop3Conn) write(lines ...string) bool {
	for _, l := range lines {
		c.bw.WriteString(l)
		c.bw.WriteString("\r\n")
	}
	return c.bw.Flush() == nil
}

// ok answers +OK.
func (c *pop3Conn) ok(text string) bool {
	c.errors = 0
	if text == "" {
		return c.write("+OK")
	}
	return c.write("+OK " + text)
}

// fail answers -ERR for a refused but well-formed command.
func (c *pop3Conn) fail(text string) bool { return c.write("-ERR " + text) }

// bad answers -ERR for bad input and closes the connection after too many
// in a row.
func (c *pop3Conn) bad(text string) bool {
	c.errors++
	if c.errors >= pop3MaxErrors {
		c.write("-ERR [SYS/PERM] Too many errors, closing connection")
		return false
	}
	return c.write("-ERR " + text)
}

// answer writes err (a *pop3Error or any error) as -ERR.
func (c *pop3Conn) answer(err error) bool {
	var pe *pop3Error
	if errors.As(err, &pe) {
		return c.fail(pe.text)
	}
	return c.fail("[SYS/TEMP] Internal error")
}

// command dispatches one command line; false ends the session.
func (c *pop3Conn) command(line []byte) bool {
	if bytes.ContainsAny(line, "\x00\r") {
		return c.bad("Invalid characters in command")
	}
	name, args, _ := strings.Cut(string(line), " ")
	name = strings.ToUpper(name)
	if len(name) < 3 || len(name) > 4 {
		return c.bad("Unknown command")
	}
	switch name {
	case "CAPA":
		return c.capa(args)
	case "QUIT":
		return c.quitCmd(args)
	case "NOOP":
		if c.state != pop3Transaction {
			return c.bad("NOOP is valid only after authentication")
		}
		if args != "" {
			return c.bad("NOOP takes no argument")
		}
		return c.ok("")
	}
	if c.state == pop3Authorization {
		switch name {
		case "STLS":
			return c.stls(args)
		case "USER":
			return c.userCmd(args)
		case "PASS":
			return c.passCmd(args)
		case "AUTH":
			return c.auth(args)
		case "APOP":
			return c.fail("APOP is not supported")
		case "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL":
			return c.bad("[AUTH] Authenticate first")
		}
		return c.bad("Unknown command")
	}
	switch name {
	case "STAT":
		return c.stat(args)
	case "LIST":
		return c.list(args, false)
	case "UIDL":
		return c.list(args, true)
	case "RETR":
		return c.retr(args)
	case "TOP":
		return c.top(args)
	case "DELE":
		return c.dele(args)
	case "RSET":
		return c.rset(args)
	case "STLS", "USER", "PASS", "AUTH", "APOP":
		return c.bad("Already authenticated")
	}
	return c.bad("Unknown command")
}

// capa answers CAPA (RFC 2449 §5).
func (c *pop3Conn) capa(args string) bool {
	if args != "" {
		return c.bad("CAPA takes no argument")
	}
	lines := []string{"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if c.state == pop3Authorization {
		if c.srv.tlsConfig != nil && !c.isTLS() {
			lines = append(lines, "STLS")
		}
		if c.srv.backend.canAuth(c) {
			if c.srv.backend.userPass(c) {
				lines = append(lines, "USER")
			}
			if mechs := c.srv.backend.mechanisms(c); len(mechs) > 0 {
				lines = append(lines, "SASL "+strings.Join(mechs, " "))
			}
		}
	}
	lines = append(lines, "IMPLEMENTATION saslkit-sasltest", ".")
	c.errors = 0
	return c.write(lines...)
}

// stls answers STLS (RFC 2595 §4) and upgrades the connection. Data the
// client sent after the command in the clear is discarded.
func (c *pop3Conn) stls(args string) bool {
	switch {
	case args != "":
		return c.bad("STLS takes no argument")
	case c.isTLS():
		return c.fail("Command not permitted when TLS active")
	case c.srv.tlsConfig == nil:
		return c.fail("STLS is not available")
	}
	if !c.ok("Begin TLS negotiation now") {
		return false
	}
	tc := tls.Server(c.conn, c.srv.tlsConfig)
	c.deadline()
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return false
	}
	c.setIO(tc)
	c.user = ""
	return true
}

// userCmd answers USER.
func (c *pop3Conn) userCmd(args string) bool {
	switch {
	case !c.srv.backend.canAuth(c):
		return c.fail("[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
	case !c.srv.backend.userPass(c):
		return c.fail("[AUTH] USER/PASS authentication is disabled, use AUTH")
	case args == "" || strings.ContainsAny(args, " \t"):
		return c.bad("USER needs one argument")
	}
	c.user = args
	return c.ok("send PASS")
}

// passCmd answers PASS. The password is the rest of the line and may hold
// spaces (RFC 1939 §7).
func (c *pop3Conn) passCmd(args string) bool {
	if c.user == "" {
		return c.bad("USER first")
	}
	user := c.user
	c.user = ""
	if args == "" {
		return c.bad("PASS needs an argument")
	}
	name, err := c.srv.backend.checkPass(c, user, args)
	if err != nil {
		return c.answer(err)
	}
	if err := c.open(name); err != nil {
		return c.answer(err)
	}
	c.srv.backend.authenticated(c, name, "USER")
	return c.ok("Welcome.")
}

// open locks the maildrop of user and enters the TRANSACTION state.
func (c *pop3Conn) open(user string) error {
	drop, err := c.srv.backend.openMaildrop(user)
	if err != nil {
		return err
	}
	c.drop = drop
	c.msgs = drop.messages()
	c.deleted = make([]bool, len(c.msgs))
	c.state = pop3Transaction
	return nil
}

// auth answers AUTH (RFC 5034).
func (c *pop3Conn) auth(args string) bool {
	if args == "" {
		// RFC 1734's listing, which some clients still probe with.
		if !c.srv.backend.canAuth(c) {
			return c.fail("[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
		}
		lines := []string{"+OK List of SASL mechanisms follows"}
		lines = append(lines, c.srv.backend.mechanisms(c)...)
		return c.write(append(lines, ".")...)
	}
	mech, irText, hasIR := strings.Cut(args, " ")
	if mech == "" || len(mech) > 20 || strings.ContainsAny(irText, " \t") {
		return c.bad("Syntax error in AUTH")
	}
	var ir []byte
	if hasIR {
		var ok bool
		if ir, ok = decodeSASLResponse([]byte(irText)); !ok {
			return c.bad("Invalid base64 in initial response")
		}
	}
	conv, err := c.srv.backend.newAuth(c, strings.ToUpper(mech), c.open)
	if err != nil {
		return c.answer(err)
	}
	resp := ir
	for {
		challenge, done, err := conv.Next(resp)
		if err != nil {
			return c.answer(err)
		}
		if done {
			c.errors = 0
			return c.ok("Logged in.")
		}
		if len(challenge) == 0 {
			if !c.write("+ ") {
				return false
			}
		} else if !c.write("+ " + base64.StdEncoding.EncodeToString(challenge)) {
			return false
		}
		line, err := c.readLine(pop3MaxResponse)
		if errors.Is(err, errLineTooLong) {
			return c.bad("SASL response too long")
		}
		if err != nil {
			return false
		}
		if string(line) == "*" {
			return c.bad("AUTH cancelled")
		}
		var ok bool
		if resp, ok = decodeSASLResponse(line); !ok {
			return c.bad("Invalid base64 in SASL response")
		}
	}
}

// msgArg parses a message number argument: decimal, 1 to the count, not
// deleted.
func (c *pop3Conn) msgArg(s string) (int, string) {
	if s == "" || len(s) > 10 {
		return 0, "Invalid message number"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, "Invalid message number"
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > len(c.msgs) {
		return 0, "No such message"
	}
	if c.deleted[n-1] {
		return 0, "Message " + strconv.Itoa(n) + " already deleted"
	}
	return n, ""
}

func (c *pop3Conn) totals() (count, size int) {
	for i, m := range c.msgs {
		if !c.deleted[i] {
			count++
			size += len(m.body)
		}
	}
	return count, size
}

func (c *pop3Conn) stat(args string) bool {
	if args != "" {
		return c.bad("STAT takes no argument")
	}
	n, size := c.totals()
	return c.ok(fmt.Sprintf("%d %d", n, size))
}

// list answers LIST and UIDL.
func (c *pop3Conn) list(args string, uidl bool) bool {
	value := func(i int) string {
		if uidl {
			return c.msgs[i].uid
		}
		return strconv.Itoa(len(c.msgs[i].body))
	}
	if args != "" {
		n, why := c.msgArg(args)
		if why != "" {
			return c.bad(why)
		}
		return c.ok(fmt.Sprintf("%d %s", n, value(n-1)))
	}
	count, size := c.totals()
	head := fmt.Sprintf("+OK %d messages (%d octets)", count, size)
	if uidl {
		head = "+OK Unique-ID listing follows"
	}
	lines := []string{head}
	for i := range c.msgs {
		if !c.deleted[i] {
			lines = append(lines, fmt.Sprintf("%d %s", i+1, value(i)))
		}
	}
	c.errors = 0
	return c.write(append(lines, ".")...)
}

func (c *pop3Conn) retr(args string) bool {
	n, why := c.msgArg(args)
	if why != "" {
		return c.bad(why)
	}
	body := c.msgs[n-1].body
	if !c.ok(fmt.Sprintf("%d octets", len(body))) {
		return false
	}
	return c.multiline(body)
}

// top answers TOP msg n: the header, the blank line, and the first n
// lines of the body (RFC 1939 §7).
func (c *pop3Conn) top(args string) bool {
	msg, count, ok := strings.Cut(args, " ")
	if !ok {
		return c.bad("TOP needs a message number and a line count")
	}
	n, why := c.msgArg(msg)
	if why != "" {
		return c.bad(why)
	}
	lines, err := strconv.Atoi(count)
	if err != nil || lines < 0 || len(count) > 10 || strings.ContainsAny(count, "+-") {
		return c.bad("Invalid line count")
	}
	body := c.msgs[n-1].body
	head, rest := body, []byte(nil)
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		head, rest = body[:i+4], body[i+4:]
	}
	out := append([]byte(nil), head...)
	for ; lines > 0 && len(rest) > 0; lines-- {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			out = append(out, rest...)
			break
		}
		out = append(out, rest[:i+2]...)
		rest = rest[i+2:]
	}
	if !c.ok("") {
		return false
	}
	return c.multiline(out)
}

// multiline sends body dot-stuffed (RFC 1939 §3) and the terminating line.
func (c *pop3Conn) multiline(body []byte) bool {
	for len(body) > 0 {
		line := body
		if i := bytes.Index(body, []byte("\r\n")); i >= 0 {
			line, body = body[:i], body[i+2:]
		} else {
			body = nil
		}
		if len(line) > 0 && line[0] == '.' {
			c.bw.WriteByte('.')
		}
		c.bw.Write(line)
		c.bw.WriteString("\r\n")
	}
	c.bw.WriteString(".\r\n")
	return c.bw.Flush() == nil
}

func (c *pop3Conn) dele(args string) bool {
	n, why := c.msgArg(args)
	if why != "" {
		return c.bad(why)
	}
	c.deleted[n-1] = true
	return c.ok(fmt.Sprintf("message %d deleted", n))
}

func (c *pop3Conn) rset(args string) bool {
	if args != "" {
		return c.bad("RSET takes no argument")
	}
	for i := range c.deleted {
		c.deleted[i] = false
	}
	n, size := c.totals()
	return c.ok(fmt.Sprintf("maildrop has %d messages (%d octets)", n, size))
}

// quitCmd answers QUIT; in the TRANSACTION state it enters UPDATE and
// removes the deleted messages (RFC 1939 §6).
func (c *pop3Conn) quitCmd(args string) bool {
	if args != "" {
		return c.bad("QUIT takes no argument")
	}
	c.quit = true
	if c.state != pop3Transaction {
		c.ok("Bye")
		return false
	}
	var del []int
	for i, d := range c.deleted {
		if d {
			del = append(del, i)
		}
	}
	if err := c.drop.commit(del); err != nil {
		c.fail("[SYS/TEMP] Some deleted messages were not removed")
		return false
	}
	n, _ := c.totals()
	c.ok(fmt.Sprintf("Bye (%d messages left)", n))
	return false
}

// ---- the MailServer's POP3 back end ----

// mailPOP3 connects the POP3 server to the MailServer: its recorder,
// mechanisms, store and profile.
type mailPOP3 struct{ m *MailServer }

func (m *MailServer) newPOP3Server() *pop3Server {
	return &pop3Server{backend: mailPOP3{m}, tlsConfig: m.innerServerTLS, idle: m.idle}
}

func (b mailPOP3) front(c *pop3Conn) *mailConn { return frontOf(c.conn) }

func (b mailPOP3) greeting(c *pop3Conn) string {
	g := b.m.spec.popGreeting
	if b.m.opts.Profile == ProfileGmail {
		if mc := b.front(c); mc != nil {
			host, _, _ := net.SplitHostPort(mc.raw.RemoteAddr().String())
			g += " from " + host
		}
	}
	return g
}

func (b mailPOP3) canAuth(c *pop3Conn) bool {
	mc := b.front(c)
	return mc != nil && mc.canAuth()
}

func (b mailPOP3) mechanisms(c *pop3Conn) []string {
	mc := b.front(c)
	if mc == nil {
		return nil
	}
	return b.m.mechanismsFor(mc)
}

func (b mailPOP3) errors(o authOutcome) error {
	switch o {
	case outcomeTemporary:
		return popErr(b.m.spec.popTemporary)
	case outcomeMalformed:
		return popErr("Invalid SASL response")
	case outcomeUnsupported:
		return popErr("Unrecognized authentication type")
	case outcomeTLSRequired:
		return popErr("[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
	}
	return popErr(b.m.spec.popRejected)
}

func (b mailPOP3) newAuth(c *pop3Conn, mech string, onSuccess func(string) error) (sasl.Server, error) {
	mc := b.front(c)
	if mc == nil {
		return nil, popErr("[SYS/PERM] No recorder")
	}
	return b.m.newAuth(mc, mech, b.errors, onSuccess)
}

func (b mailPOP3) userPass(c *pop3Conn) bool {
	return b.m.spec.popUser && !b.m.opts.DisablePasswordLogin
}

func (b mailPOP3) checkPass(c *pop3Conn, user, pass string) (string, error) {
	mc := b.front(c)
	if mc == nil {
		return "", popErr("[SYS/PERM] No recorder")
	}
	name, o := b.m.checkPassword(mc, "USER", user, pass)
	if o != 0 {
		return "", b.errors(o)
	}
	return name, nil
}

func (b mailPOP3) openMaildrop(user string) (maildrop, error) {
	u := b.m.store.user(user)
	if u == nil {
		return nil, popErr(b.m.spec.popRejected)
	}
	if !u.lockMaildrop() {
		return nil, popErr("[IN-USE] Unable to lock maildrop: another session is active")
	}
	msgs, err := u.sync(InboxName)
	if err != nil {
		u.unlockMaildrop()
		return nil, popErr("[SYS/TEMP] Unable to open maildrop")
	}
	d := &storeMaildrop{u: u}
	for _, sm := range msgs {
		d.uids = append(d.uids, sm.UID)
		d.msgs = append(d.msgs, pop3Message{uid: fmt.Sprintf("%08x%08x", u.validity(), uint32(sm.UID)), body: sm.Raw})
	}
	return d, nil
}

func (b mailPOP3) authenticated(c *pop3Conn, user, mech string) {
	if mc := b.front(c); mc != nil {
		mc.authenticated(user, mech, nil)
	}
}

// storeMaildrop is a user's INBOX as a POP3 maildrop.
type storeMaildrop struct {
	u    *storeUser
	uids []imap.UID
	msgs []pop3Message
	once sync.Once
}

func (d *storeMaildrop) messages() []pop3Message { return d.msgs }

func (d *storeMaildrop) commit(deleted []int) error {
	uids := make([]imap.UID, 0, len(deleted))
	for _, i := range deleted {
		uids = append(uids, d.uids[i])
	}
	return d.u.expunge(InboxName, uids)
}

func (d *storeMaildrop) release() { d.once.Do(d.u.unlockMaildrop) }
