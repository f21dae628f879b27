package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/saslkit/saslkit/sasl"
)

// Options configure a Client. A nil *Options, and every zero field, mean
// the defaults.
type Options struct {
	// TLSConfig is used by DialTLS and STLS. Nil means a default
	// configuration; an empty ServerName is filled in from the address
	// dialled (NewClient has none: set it when you will call STLS).
	TLSConfig *tls.Config
	// Dialer dials the TCP connection for Dial and DialTLS. Nil means a
	// zero net.Dialer. The context given to Dial bounds the dial either
	// way.
	Dialer *net.Dialer
	// DebugWriter, when set, receives a transcript of the session, one
	// line per command or answer, prefixed "C: " or "S: ". AUTH initial
	// responses, SASL challenges and responses and PASS arguments are
	// replaced by "[REDACTED]"; message data is not written.
	DebugWriter io.Writer
	// MaxLineLength bounds every line read from the server, CRLF
	// included; zero means DefaultMaxLineLength.
	MaxLineLength int
	// MaxListLines bounds the lines of a LIST or UIDL answer; zero means
	// 1<<20.
	MaxListLines int
}

// Client is a POP3 client connection (RFC 1939) with CAPA (RFC 2449),
// STLS (RFC 2595) and SASL AUTH (RFC 5034).
//
// Every method that talks to the server takes a context: its deadline
// becomes the connection's deadline for the command, and its end closes
// the connection (a command cut short leaves the session in an unknown
// state, so the client is then unusable). A Client is not safe for
// concurrent use. After any I/O or protocol error it fails every further
// command with an error wrapping ErrClosed.
type Client struct {
	conn     net.Conn
	tc       *textConn
	opts     Options
	host     string
	port     int
	greeting string

	caps   *Capabilities // cached CAPA answer; nil until asked
	authed bool          // in the TRANSACTION state
	done   bool          // QUIT sent or Close called
	reader *messageReader
}

// Dial connects to a POP3 server in clear text (port 110) and reads its
// greeting. Call STLS before authenticating: Authenticate refuses to send
// a secret over clear text to anything but a loopback address.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	o := options(opts)
	conn, err := o.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pop3: dial %s: %w", addr, err)
	}
	c, err := NewClient(ctx, conn, &o)
	if err != nil {
		return nil, err
	}
	c.host, c.port = splitAddr(addr)
	return c, nil
}

// DialTLS connects to a POP3 server with implicit TLS (POP3S, port 995),
// completes the handshake and reads the greeting, all bounded by ctx.
func DialTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	o := options(opts)
	host, port := splitAddr(addr)
	d := &tls.Dialer{NetDialer: o.Dialer, Config: tlsConfig(o.TLSConfig, host)}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pop3: dial %s: %w", addr, err)
	}
	c, err := NewClient(ctx, conn, &o)
	if err != nil {
		return nil, err
	}
	c.host, c.port = host, port
	return c, nil
}

// NewClient reads the greeting from conn, a connection the caller opened
// (a *tls.Conn for implicit TLS), and returns a client in the
// AUTHORIZATION state. ctx bounds the wait for the greeting. On failure
// conn is closed.
func NewClient(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	o := options(opts)
	c := &Client{conn: conn, opts: o}
	c.tc = newTextConn(bufio.NewReader(conn), bufio.NewWriter(conn), o.MaxLineLength, o.DebugWriter)
	if ra := conn.RemoteAddr(); ra != nil {
		c.host, c.port = splitAddr(ra.String())
	}
	err := c.run(ctx, "greeting", func() error {
		if tc, ok := conn.(*tls.Conn); ok {
			if err := tc.HandshakeContext(ctx); err != nil {
				return c.tc.fail(fmt.Errorf("pop3: TLS handshake: %w", err))
			}
		}
		text, err := c.tc.readStatus("greeting")
		c.greeting = text
		return err
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func options(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = DefaultMaxLineLength
	}
	if o.MaxListLines <= 0 {
		o.MaxListLines = 1 << 20
	}
	return o
}

func tlsConfig(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

func splitAddr(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// Greeting returns the text of the server's greeting, after "+OK ".
func (c *Client) Greeting() string { return sanitize(c.greeting) }

// ConnState describes the connection for SASL negotiation: host, port,
// remote address and TLS state.
func (c *Client) ConnState() *sasl.ConnState { return sasl.ConnStateOf(c.conn, c.host, c.port) }

// Authenticated reports whether the session is in the TRANSACTION state.
func (c *Client) Authenticated() bool { return c.authed }

// run runs one command: it refuses when the client is unusable or a
// message reader is open, applies ctx to the connection for the duration
// of f, and closes the connection when f breaks it.
func (c *Client) run(ctx context.Context, cmd string, f func() error) error {
	if err := c.usable(cmd); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pop3: %s: %w", cmd, err)
	}
	stop := c.guard(ctx)
	err := f()
	return c.unguard(ctx, cmd, stop, err)
}

func (c *Client) usable(cmd string) error {
	switch {
	case c.tc.broken != nil:
		return fmt.Errorf("pop3: %s: %w: %w", cmd, ErrClosed, c.tc.broken)
	case c.done:
		return fmt.Errorf("pop3: %s: %w", cmd, ErrClosed)
	case c.reader != nil:
		return fmt.Errorf("pop3: %s: %w", cmd, ErrBusy)
	}
	return nil
}

// guard sets the connection deadline from ctx and closes the connection
// when ctx ends. The returned func undoes it.
func (c *Client) guard(ctx context.Context) func() bool {
	d, _ := ctx.Deadline()
	_ = c.conn.SetDeadline(d)
	conn := c.conn
	return context.AfterFunc(ctx, func() { conn.Close() })
}

// unguard ends a guarded section: when ctx closed the connection the
// client is broken and err becomes the context's error; when err broke the
// connection it is closed.
func (c *Client) unguard(ctx context.Context, cmd string, stop func() bool, err error) error {
	if !stop() {
		cerr := fmt.Errorf("pop3: %s: %w", cmd, context.Cause(ctx))
		c.tc.fail(cerr)
		c.conn.Close()
		return cerr
	}
	if c.tc.broken != nil {
		c.conn.Close()
		return err
	}
	_ = c.conn.SetDeadline(time.Time{})
	return err
}

// Capabilities sends CAPA and returns the parsed answer; it is cached
// until STLS or authentication change it. A server that answers -ERR
// (RFC 1939 only) has empty Capabilities, not an error.
func (c *Client) Capabilities(ctx context.Context) (*Capabilities, error) {
	if c.caps != nil {
		if err := c.usable("CAPA"); err != nil {
			return nil, err
		}
		return c.caps, nil
	}
	err := c.run(ctx, "CAPA", func() error {
		caps, err := capa(c.tc)
		c.caps = caps
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.caps, nil
}

// capa sends CAPA over t and parses the answer.
func capa(t *textConn) (*Capabilities, error) {
	_, err := t.cmd("CAPA", "CAPA")
	var pe *Error
	if errors.As(err, &pe) {
		return &Capabilities{}, nil
	}
	if err != nil {
		return nil, err
	}
	lines, err := t.readMulti("CAPA", maxCapaLines)
	if err != nil {
		return nil, err
	}
	return parseCapa(lines), nil
}

// STLS upgrades the connection to TLS (RFC 2595 §4) with Options.TLSConfig
// and the dialled host name. Capabilities read before are discarded. Data
// the server sent after its +OK and before the handshake (an injection
// attempt) fails the upgrade.
func (c *Client) STLS(ctx context.Context) error {
	if c.authed {
		return fmt.Errorf("pop3: STLS: %w: already authenticated", ErrState)
	}
	if _, ok := c.conn.(*tls.Conn); ok {
		return fmt.Errorf("pop3: STLS: %w: TLS already active", ErrState)
	}
	return c.run(ctx, "STLS", func() error {
		if _, err := c.tc.cmd("STLS", "STLS"); err != nil {
			return err
		}
		if c.tc.br.Buffered() > 0 {
			return c.tc.fail(protoErr("STLS", "data after +OK before the TLS handshake"))
		}
		tconn := tls.Client(c.conn, tlsConfig(c.opts.TLSConfig, c.host))
		if err := tconn.HandshakeContext(ctx); err != nil {
			return c.tc.fail(fmt.Errorf("pop3: STLS: TLS handshake: %w", err))
		}
		c.caps = nil
		c.conn = tconn
		c.tc.br.Reset(tconn)
		c.tc.bw.Reset(tconn)
		return nil
	})
}

// simple runs a one-line command in the TRANSACTION state and returns the
// text of its +OK.
func (c *Client) simple(ctx context.Context, name, line string) (string, error) {
	if !c.authed {
		return "", fmt.Errorf("pop3: %s: %w: not authenticated", name, ErrState)
	}
	var text string
	err := c.run(ctx, name, func() (err error) {
		text, err = c.tc.cmd(name, line)
		return err
	})
	return text, err
}

// MessageInfo is one LIST entry.
type MessageInfo struct {
	// Number is the message number, from 1.
	Number int
	// Size is the size in octets, as the server counts it (CRLF line
	// endings, before dot-stuffing).
	Size int64
}

// UID is one UIDL entry.
type UID struct {
	// Number is the message number, from 1.
	Number int
	// UID is the server's unique-id, stable across sessions.
	UID string
}

// Stat returns the number of messages and their total size (STAT).
func (c *Client) Stat(ctx context.Context) (count int, size int64, err error) {
	text, err := c.simple(ctx, "STAT", "STAT")
	if err != nil {
		return 0, 0, err
	}
	count, size, err = parseStat(text)
	if err != nil {
		c.tc.fail(err)
		c.conn.Close()
	}
	return count, size, err
}

// List returns the size of every message not marked deleted (LIST).
func (c *Client) List(ctx context.Context) ([]MessageInfo, error) {
	var out []MessageInfo
	err := c.listing(ctx, "LIST", func(line string) error {
		m, err := parseListLine(line)
		out = append(out, m)
		return err
	})
	return out, err
}

// ListOne returns the size of message n (LIST n).
func (c *Client) ListOne(ctx context.Context, n int) (MessageInfo, error) {
	text, err := c.simple(ctx, "LIST", "LIST "+strconv.Itoa(n))
	if err != nil {
		return MessageInfo{}, err
	}
	m, err := parseListLine(text)
	if err != nil {
		c.tc.fail(err)
		c.conn.Close()
	}
	return m, err
}

// UIDL returns the unique-id of every message not marked deleted (UIDL).
func (c *Client) UIDL(ctx context.Context) ([]UID, error) {
	var out []UID
	err := c.listing(ctx, "UIDL", func(line string) error {
		u, err := parseUIDLLine(line)
		out = append(out, u)
		return err
	})
	return out, err
}

// UIDLOne returns the unique-id of message n (UIDL n).
func (c *Client) UIDLOne(ctx context.Context, n int) (UID, error) {
	text, err := c.simple(ctx, "UIDL", "UIDL "+strconv.Itoa(n))
	if err != nil {
		return UID{}, err
	}
	u, err := parseUIDLLine(text)
	if err != nil {
		c.tc.fail(err)
		c.conn.Close()
	}
	return u, err
}

// listing runs a multi-line LIST or UIDL and hands each line to parse.
func (c *Client) listing(ctx context.Context, name string, parse func(string) error) error {
	if !c.authed {
		return fmt.Errorf("pop3: %s: %w: not authenticated", name, ErrState)
	}
	return c.run(ctx, name, func() error {
		if _, err := c.tc.cmd(name, name); err != nil {
			return err
		}
		lines, err := c.tc.readMulti(name, c.opts.MaxListLines)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if err := parse(l); err != nil {
				return c.tc.fail(err)
			}
		}
		return nil
	})
}

// Retr retrieves message n (RETR n). The returned reader streams the
// message, dot-unstuffed, with its CRLF line endings, up to the end of
// the data. Until it has been read to the end or closed, every other
// command fails with ErrBusy. ctx keeps bounding the connection while the
// reader is open: when it ends, reading fails and the client is unusable.
func (c *Client) Retr(ctx context.Context, n int) (io.ReadCloser, error) {
	return c.data(ctx, "RETR", "RETR "+strconv.Itoa(n))
}

// Top retrieves the header and the first lines of the body of message n
// (TOP n lines), as Retr does.
func (c *Client) Top(ctx context.Context, n, lines int) (io.ReadCloser, error) {
	if lines < 0 {
		return nil, fmt.Errorf("pop3: TOP: negative line count")
	}
	return c.data(ctx, "TOP", "TOP "+strconv.Itoa(n)+" "+strconv.Itoa(lines))
}

func (c *Client) data(ctx context.Context, name, line string) (io.ReadCloser, error) {
	if !c.authed {
		return nil, fmt.Errorf("pop3: %s: %w: not authenticated", name, ErrState)
	}
	if err := c.usable(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pop3: %s: %w", name, err)
	}
	stop := c.guard(ctx)
	if _, err := c.tc.cmd(name, line); err != nil {
		return nil, c.unguard(ctx, name, stop, err)
	}
	if c.tc.debug != nil {
		c.tc.log("S: ", "(message data)")
	}
	m := &messageReader{dr: &dotReader{br: c.tc.br, maxLine: c.opts.MaxLineLength, cmd: name}}
	m.dr.onDone = func(err error) {
		c.reader = nil
		if err != io.EOF {
			c.tc.fail(err)
		}
		if uerr := c.unguard(ctx, name, stop, nil); uerr != nil && err == io.EOF {
			m.dr.err = uerr
		}
	}
	c.reader = m
	return m, nil
}

// Dele marks message n deleted (DELE n); QUIT removes it, RSET restores it.
func (c *Client) Dele(ctx context.Context, n int) error {
	_, err := c.simple(ctx, "DELE", "DELE "+strconv.Itoa(n))
	return err
}

// Rset unmarks every message marked deleted (RSET).
func (c *Client) Rset(ctx context.Context) error {
	_, err := c.simple(ctx, "RSET", "RSET")
	return err
}

// Noop does nothing but keep the session alive (NOOP).
func (c *Client) Noop(ctx context.Context) error {
	_, err := c.simple(ctx, "NOOP", "NOOP")
	return err
}

// Quit ends the session (QUIT): after authentication the server enters the
// UPDATE state and removes the messages marked deleted. A *Error from Quit
// means the server could not remove them (RFC 1939 §6). The connection is
// closed either way.
func (c *Client) Quit(ctx context.Context) error {
	err := c.run(ctx, "QUIT", func() error {
		_, err := c.tc.cmd("QUIT", "QUIT")
		return err
	})
	c.done = true
	c.conn.Close()
	return err
}

// Close closes the connection without QUIT: messages marked deleted stay.
func (c *Client) Close() error {
	c.done = true
	return c.conn.Close()
}
