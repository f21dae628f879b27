package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// DialTLS connects to addr ("host:port", usually port 993) with implicit
// TLS and authenticates. ctx bounds the dial, the TLS handshake and
// authentication; it does not bound the returned client's later use. On
// error nothing is left open.
func DialTLS(ctx context.Context, addr string, opts *Options) (*imapclient.Client, *sasl.Negotiated, error) {
	return dial(ctx, addr, opts, false)
}

// DialStartTLS connects to addr ("host:port", usually port 143), upgrades
// the connection with STARTTLS and authenticates. Nothing the server says
// before TLS is used: the capabilities are read again over TLS, and a
// server that sends PREAUTH, refuses STARTTLS or sends data after its
// STARTTLS answer is refused. ctx bounds the dial, the upgrade and
// authentication.
func DialStartTLS(ctx context.Context, addr string, opts *Options) (*imapclient.Client, *sasl.Negotiated, error) {
	return dial(ctx, addr, opts, true)
}

func dial(ctx context.Context, addr string, opts *Options, startTLS bool) (*imapclient.Client, *sasl.Negotiated, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("imap: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, nil, fmt.Errorf("imap: address %q: invalid port", addr)
	}
	var copts imapclient.Options
	if opts != nil && opts.Client != nil {
		copts = *opts.Client
	}
	d := copts.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("imap: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}

	cfg := &tls.Config{}
	if copts.TLSConfig != nil {
		cfg = copts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if !startTLS && cfg.NextProtos == nil {
		cfg.NextProtos = []string{"imap"}
	}
	if startTLS {
		if err := upgrade(raw); err != nil {
			_ = raw.Close()
			return nil, nil, fmt.Errorf("imap: STARTTLS: %w", withCtx(ctx, err))
		}
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("imap: TLS handshake: %w", withCtx(ctx, err))
	}
	_ = raw.SetDeadline(time.Time{})
	cs := sasl.ConnStateOf(tc, host, port)

	var conn net.Conn = tc
	if startTLS {
		// The greeting came before TLS; imapclient waits for one, so it
		// gets a local one that carries no capabilities and no state.
		conn = &greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader(localGreeting), tc)}
	}
	copts.TLSConfig = nil
	if copts.DebugWriter != nil {
		copts.DebugWriter = adapters.RedactWriter(copts.DebugWriter)
	}
	sc := &saslConn{Conn: conn}
	c := imapclient.New(sc, &copts)
	sc.authenticating.Store(true)
	n, err := authenticate(ctx, c, opts, cs)
	sc.authenticating.Store(false)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	if !stop() {
		_ = c.Close()
		return nil, nil, fmt.Errorf("imap: %w", ctx.Err())
	}
	return c, n, nil
}

// saslConn corrects the one client line go-imap v2 gets wrong during
// AUTHENTICATE: it writes an empty continuation response as "=", which RFC
// 9051 allows only for the initial response on the command line
// (initial-resp = base64 / "="); a continuation line is plain base64, so an
// empty response is an empty line, and Dovecot answers "=" there with BAD.
// While authenticating is set, a write of exactly "=\r\n" goes out as
// "\r\n". No other client line is a lone "=", and the flag confines the
// rewrite to the exchange.
type saslConn struct {
	net.Conn
	authenticating atomic.Bool
}

func (s *saslConn) Write(p []byte) (int, error) {
	if s.authenticating.Load() && string(p) == "=\r\n" {
		if _, err := s.Conn.Write(p[1:]); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return s.Conn.Write(p)
}

// localGreeting is what imapclient reads in place of the greeting the
// server sent before STARTTLS.
const localGreeting = "* OK saslkit: greeting received before STARTTLS\r\n"

type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }

// maxLine bounds a line read before TLS.
const maxLine = 4096

// upgrade reads the greeting and runs STARTTLS on raw, leaving raw ready for
// the TLS handshake.
func upgrade(raw net.Conn) error {
	br := bufio.NewReaderSize(raw, maxLine)
	line, err := readLine(br)
	if err != nil {
		return fmt.Errorf("reading the greeting: %w", err)
	}
	switch {
	case strings.HasPrefix(line, "* OK"):
	case strings.HasPrefix(line, "* PREAUTH"):
		return errors.New("server sent PREAUTH on an unencrypted connection")
	default:
		return fmt.Errorf("unexpected greeting %q", adapters.Sanitize(line))
	}
	if _, err := io.WriteString(raw, "S1 STARTTLS\r\n"); err != nil {
		return err
	}
	for i := 0; ; i++ {
		if i > 32 {
			return errors.New("too many untagged lines before the STARTTLS answer")
		}
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		rest, ok := strings.CutPrefix(line, "S1 ")
		if !ok {
			return fmt.Errorf("unexpected line %q", adapters.Sanitize(line))
		}
		if !strings.HasPrefix(strings.ToUpper(rest), "OK") {
			return fmt.Errorf("server refused: %q", adapters.Sanitize(rest))
		}
		if br.Buffered() > 0 {
			return errors.New("server sent data after its STARTTLS answer (possible injection)")
		}
		return nil
	}
}

// readLine reads one CRLF-terminated line of at most maxLine bytes.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("line longer than %d bytes", maxLine)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}
