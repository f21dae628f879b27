package gosmtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// DialTLS connects to addr ("host:port", usually port 465) with implicit
// TLS, says EHLO and authenticates. ctx bounds the dial, the TLS handshake
// and authentication, not the returned client's later use. On error nothing
// is left open.
func DialTLS(ctx context.Context, addr string, opts *Options) (*smtp.Client, *sasl.Negotiated, error) {
	return dial(ctx, addr, opts, false)
}

// DialStartTLS connects to addr ("host:port", usually port 587), upgrades
// the connection with STARTTLS, says EHLO again and authenticates with the
// mechanisms advertised over TLS (those advertised before are discarded,
// RFC 4954 §4). ctx bounds the whole.
func DialStartTLS(ctx context.Context, addr string, opts *Options) (*smtp.Client, *sasl.Negotiated, error) {
	return dial(ctx, addr, opts, true)
}

func dial(ctx context.Context, addr string, opts *Options, startTLS bool) (*smtp.Client, *sasl.Negotiated, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("gosmtp: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, nil, fmt.Errorf("gosmtp: address %q: invalid port", addr)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	cfg := &tls.Config{}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("gosmtp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	fail := func(c *smtp.Client, what string, err error) (*smtp.Client, *sasl.Negotiated, error) {
		if c != nil {
			_ = c.Close()
		}
		_ = raw.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, fmt.Errorf("gosmtp: %s: %w (%w)", what, ctxErr, err)
		}
		return nil, nil, fmt.Errorf("gosmtp: %s: %w", what, err)
	}

	var c *smtp.Client
	if startTLS {
		// go-smtp greets, says EHLO, checks STARTTLS is offered and
		// upgrades; the EHLO below is the first over TLS.
		c, err = smtp.NewClientStartTLS(raw, cfg)
		if err != nil {
			return fail(nil, "STARTTLS", err)
		}
		setDebug(c, o.DebugWriter)
	} else {
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(nil, "TLS handshake", err)
		}
		c = smtp.NewClient(tc)
		setDebug(c, o.DebugWriter)
	}
	name := o.LocalName
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		return fail(c, "EHLO", err)
	}
	st, ok := c.TLSConnectionState()
	if !ok {
		return fail(c, "TLS", fmt.Errorf("connection is not encrypted"))
	}
	cs := &sasl.ConnState{Host: host, Port: port, TLS: &st, RemoteAddr: raw.RemoteAddr()}
	n, err := authenticate(ctx, c, opts, cs)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	if !stop() {
		_ = c.Close()
		return nil, nil, fmt.Errorf("gosmtp: %w", ctx.Err())
	}
	return c, n, nil
}

func setDebug(c *smtp.Client, w io.Writer) {
	if w != nil {
		c.DebugWriter = adapters.RedactWriter(w)
	}
}
