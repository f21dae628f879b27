package gosmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// DefaultSessionMargin is how long before a token's expiry a Session
// replaces its connection.
const DefaultSessionMargin = 2 * time.Minute

// SessionOptions configure a Session. A nil *SessionOptions means the
// defaults.
type SessionOptions struct {
	// Options configure each connection (credentials, policy, TLS).
	Options *Options
	// StartTLS dials with DialStartTLS instead of DialTLS.
	StartTLS bool
	// Margin is how long before the token's expiry the connection is
	// replaced; zero means DefaultSessionMargin.
	Margin time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Session is a long-lived sender: it keeps an authenticated submission
// connection, replaces it (with a fresh token) when its token's deadline
// is near, and reconnects once when the server has ended the session (421,
// a closed connection) before a message was handed over. It never sends a
// message again once its body has started to go out, since the server may
// have accepted it. A Session is safe for concurrent use (messages go one at
// a time) and holds no context.
type Session struct {
	addr string
	opts SessionOptions

	mu       sync.Mutex
	c        *smtp.Client
	n        *sasl.Negotiated
	deadline time.Time
	closed   bool
}

// ErrSessionClosed is returned after Close.
var ErrSessionClosed = errors.New("gosmtp: session closed")

// NewSession returns a Session for the server at addr. It connects on first
// use.
func NewSession(addr string, opts *SessionOptions) *Session {
	s := &Session{addr: addr}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Margin <= 0 {
		s.opts.Margin = DefaultSessionMargin
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	return s
}

// client returns the connection, replacing it when its deadline is near.
// s.mu is held.
func (s *Session) client(ctx context.Context) (*smtp.Client, error) {
	if s.closed {
		return nil, ErrSessionClosed
	}
	if s.c != nil && (s.deadline.IsZero() || s.opts.Now().Before(s.deadline)) {
		return s.c, nil
	}
	if s.c != nil {
		s.drop(ctx, true, true)
	}
	dial := DialTLS
	if s.opts.StartTLS {
		dial = DialStartTLS
	}
	c, n, err := dial(ctx, s.addr, s.opts.Options)
	if err != nil {
		return nil, err
	}
	s.c, s.n = c, n
	s.deadline, _ = adapters.Deadline(n, s.opts.Margin)
	return c, nil
}

// drop ends the connection (QUIT when polite, bounded by ctx) and, when
// invalidate is set, invalidates its token so the next connection gets a
// fresh one.
func (s *Session) drop(ctx context.Context, polite, invalidate bool) {
	c := s.c
	if polite {
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		_ = c.Quit()
		stop()
	}
	_ = c.Close()
	if invalidate && s.n != nil {
		s.n.InvalidateToken()
	}
	s.c, s.n, s.deadline = nil, nil, time.Time{}
}

// SendMail sends the message read from r from from to to. ctx bounds
// connecting and sending. When the server has ended the session before the
// body started to go out, it reconnects and tries once more; after that
// point an error is returned as it is, and the message is never sent twice.
func (s *Session) SendMail(ctx context.Context, from string, to []string, r io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		c, err := s.client(ctx)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		sent, err := send(c, from, to, r)
		stop()
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			s.drop(ctx, false, false)
			return fmt.Errorf("gosmtp: sending: %w (%w)", ctxErr, err)
		}
		if !sessionEnded(err) {
			if !sent {
				_ = c.Reset()
			} else {
				s.drop(ctx, false, false)
			}
			return fmt.Errorf("gosmtp: sending: %w", err)
		}
		s.drop(ctx, false, true)
		if sent || attempt > 0 {
			return fmt.Errorf("gosmtp: sending: session ended: %w", err)
		}
	}
}

// send runs one mail transaction. sent reports whether the body started to
// go out.
func send(c *smtp.Client, from string, to []string, r io.Reader) (sent bool, err error) {
	if err := c.Mail(from, nil); err != nil {
		return false, err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return false, err
		}
	}
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return true, err
	}
	return true, w.Close()
}

// sessionEnded reports whether err means the server ended the session:
// 421, or a connection that is gone.
func sessionEnded(err error) bool {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// Deadline returns when the current connection will be replaced, and false
// when there is none or it has no deadline.
func (s *Session) Deadline() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline, s.c != nil && !s.deadline.IsZero()
}

// Close closes the current connection without QUIT (which could wait on
// the server). SendMail fails after Close.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.c == nil {
		return nil
	}
	c := s.c
	s.c, s.n = nil, nil
	return c.Close()
}
