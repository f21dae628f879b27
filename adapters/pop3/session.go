package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// DefaultSessionMargin is how long before a token's expiry a Session stops
// using it for a new connection.
const DefaultSessionMargin = 2 * time.Minute

// ErrSessionClosed is returned by Poll after Close.
var ErrSessionClosed = errors.New("pop3: session closed")

// SessionOptions configure a Session. A nil *SessionOptions means the
// defaults.
type SessionOptions struct {
	// Options configure each connection (TLS, dialer, debug).
	Options *Options
	// Auth are the credentials, registry and policy of each connection.
	Auth *AuthOptions
	// StartTLS connects in clear text and upgrades with STLS instead of
	// implicit TLS.
	StartTLS bool
	// Margin is how long before the token's expiry a new connection asks
	// for a fresh token; zero means DefaultSessionMargin.
	Margin time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Session is a long-running POP3 poller. A POP3 server shows a maildrop as
// it was when the session began, and locks it meanwhile, so each Poll is a
// session of its own: connect, authenticate, run the caller's work, QUIT.
// What the Session keeps between polls is the token's deadline: a poll
// that would start with a token about to expire invalidates it first, and
// a poll whose session the server ended (after its token expired, or for
// any reason, with -ERR or by closing the connection) runs once more on a
// new connection with a fresh token. A Session is safe for concurrent use
// (polls run one at a time) and holds no context.
type Session struct {
	addr string
	opts SessionOptions

	mu       sync.Mutex
	n        *sasl.Negotiated // of the last connection
	deadline time.Time
	closed   bool
}

// NewSession returns a Session for the POP3 server at addr.
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

// Poll connects, authenticates and runs f with the client in the
// TRANSACTION state, then ends the session with QUIT, which removes the
// messages f marked deleted. ctx bounds all of it.
//
// When the server ends the session before QUIT completed, nothing f marked
// was removed: Poll invalidates the token and runs f once more on a new
// connection. f may therefore see the same messages twice; key work on
// UIDL. An error f returns while the session is alive is returned as it
// is, after QUIT (so its DELE marks are kept only when f returns nil: on
// an error Poll sends RSET first).
func (s *Session) Poll(ctx context.Context, f func(ctx context.Context, c *Client) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if s.closed {
			return ErrSessionClosed
		}
		if s.n != nil && !s.deadline.IsZero() && !s.opts.Now().Before(s.deadline) {
			s.n.InvalidateToken()
			s.n, s.deadline = nil, time.Time{}
		}
		c, err := s.connect(ctx)
		if err != nil {
			return err
		}
		err = f(ctx, c)
		if err == nil {
			err = c.Quit(ctx)
			if err == nil || !ended(ctx, c, err) {
				return err
			}
		} else if !ended(ctx, c, err) {
			if rerr := c.Rset(ctx); rerr == nil {
				c.Quit(ctx)
			}
			c.Close()
			return err
		}
		c.Close()
		if ctx.Err() != nil {
			return fmt.Errorf("pop3: poll: %w (%w)", context.Cause(ctx), err)
		}
		// The server ended the session: start the next one with a
		// fresh token.
		if s.n != nil {
			s.n.InvalidateToken()
		}
		s.n, s.deadline = nil, time.Time{}
		if attempt > 0 {
			return fmt.Errorf("pop3: poll: session ended twice: %w", err)
		}
	}
}

// connect dials, upgrades and authenticates.
func (s *Session) connect(ctx context.Context) (*Client, error) {
	var c *Client
	var err error
	if s.opts.StartTLS {
		c, err = Dial(ctx, s.addr, s.opts.Options)
		if err == nil {
			if err = c.STLS(ctx); err != nil {
				c.Close()
			}
		}
	} else {
		c, err = DialTLS(ctx, s.addr, s.opts.Options)
	}
	if err != nil {
		return nil, err
	}
	res, err := c.Authenticate(ctx, s.opts.Auth)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.n = res.Negotiated
	s.deadline, _ = adapters.Deadline(res.Negotiated, s.opts.Margin)
	return c, nil
}

// ended reports whether err, from a command on c, means the server ended
// the session: the connection broke, or a -ERR after which it is gone.
func ended(ctx context.Context, c *Client, err error) bool {
	var ne net.Error
	if errors.Is(err, ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne) {
		return true
	}
	if c.tc.broken != nil {
		return true
	}
	var pe *Error
	if errors.As(err, &pe) && c.authed && !c.done {
		// A session the server ends answers -ERR and closes: probe.
		return c.Noop(ctx) != nil && c.tc.broken != nil
	}
	return false
}

// Deadline returns when the token of the last connection stops being used
// for new ones, and false when there is none or it has no expiry.
func (s *Session) Deadline() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline, !s.deadline.IsZero()
}

// Close makes every later Poll fail with ErrSessionClosed. A Poll running
// finishes first.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
