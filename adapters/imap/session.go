package imap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

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

// Session keeps an authenticated connection for long-running work (an IDLE
// watcher, a poller): a session authenticated by a token ends about when
// the token does (Gmail: an hour), and the server may end it earlier
// (* BYE). Client hands out a live connection, replacing it with a new one,
// authenticated with a fresh token, when the old one is closed or its
// token's deadline is near, and selects again the mailbox that was
// selected. A Session is safe for concurrent use; it holds no context.
type Session struct {
	addr string
	opts SessionOptions

	mu       sync.Mutex
	c        *imapclient.Client
	n        *sasl.Negotiated
	deadline time.Time // zero: none
	mailbox  string    // selected on the last connection
	closed   bool
}

// NewSession returns a Session for the server at addr. It connects on the
// first call to Client.
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

// ErrSessionClosed is returned by Client after Close.
var ErrSessionClosed = errors.New("imap: session closed")

// Client returns an authenticated client. It reuses the current one while
// it is open and its deadline is more than Margin away; otherwise it logs
// out of the old one (when still open), invalidates its token so the token
// source fetches a fresh one, dials again, and selects again the mailbox
// the old client had selected. ctx bounds the reconnection. The caller must
// not Close the returned client (use Session.Close), and should call Client
// again after an error on it.
func (s *Session) Client(ctx context.Context) (*imapclient.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSessionClosed
	}
	if s.c != nil {
		if mb := s.c.Mailbox(); mb != nil {
			s.mailbox = mb.Name
		}
		if s.live() {
			return s.c, nil
		}
		s.drop(ctx)
	}
	dial := DialTLS
	if s.opts.StartTLS {
		dial = DialStartTLS
	}
	c, n, err := dial(ctx, s.addr, s.opts.Options)
	if err != nil {
		return nil, err
	}
	if s.mailbox != "" {
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		_, err := c.Select(s.mailbox, nil).Wait()
		stop()
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("imap: selecting %q again after reconnecting: %w", adapters.Sanitize(s.mailbox), err)
		}
		settle(c, func() bool { return c.Mailbox() != nil })
	}
	s.c, s.n = c, n
	s.deadline, _ = adapters.Deadline(n, s.opts.Margin)
	return c, nil
}

// live reports whether the current client is open and short of its
// deadline.
func (s *Session) live() bool {
	select {
	case <-s.c.Closed():
		return false
	default:
	}
	return s.deadline.IsZero() || s.opts.Now().Before(s.deadline)
}

// drop ends the current connection (LOGOUT, bounded by ctx) and
// invalidates its token, so the next one is authenticated with a fresh
// token.
func (s *Session) drop(ctx context.Context) {
	select {
	case <-s.c.Closed():
	default:
		c := s.c
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		_ = c.Logout().Wait()
		stop()
	}
	_ = s.c.Close()
	if s.n != nil {
		s.n.InvalidateToken()
	}
	s.c, s.n, s.deadline = nil, nil, time.Time{}
}

// Select selects mailbox on the session's client, connecting first if
// needed, and records it so that a reconnection selects it again. (A
// mailbox selected directly on the client is restored only if Client sees
// it selected before the connection ends: imapclient forgets it on BYE.)
func (s *Session) Select(ctx context.Context, mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	c, err := s.Client(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	data, err := c.Select(mailbox, options).Wait()
	if err != nil {
		return nil, fmt.Errorf("imap: SELECT: %w", err)
	}
	settle(c, func() bool { return c.Mailbox() != nil })
	s.mu.Lock()
	s.mailbox = mailbox
	s.mu.Unlock()
	return data, nil
}

// Deadline returns when the current connection will be replaced, and
// false when there is no connection or it has no deadline (a password
// session).
func (s *Session) Deadline() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline, s.c != nil && !s.deadline.IsZero()
}

// Close closes the current connection (without LOGOUT, which could wait
// on the server). Client fails after Close.
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
