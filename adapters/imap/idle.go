package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/sasl"
)

// DefaultIdleInterval is how long a Watcher keeps one IDLE command running
// before it ends it and issues a new one. RFC 2177 asks clients to re-issue
// IDLE at least every 29 minutes; servers may log out a client idle for
// 30.
const DefaultIdleInterval = 25 * time.Minute

// maxLosses is how many times in a row a Watcher reconnects after losing
// its connection (or failing to connect) without getting as far as a
// mailbox search; past it, Run returns the error.
const maxLosses = 3

// ErrUIDValidityChanged is returned by Watcher.Run when the mailbox's
// UIDVALIDITY is not the one the Watcher saw before: the UIDs it has
// reported no longer name the same messages, so it cannot tell new
// messages from old ones.
var ErrUIDValidityChanged = errors.New("imap: mailbox UIDVALIDITY changed")

// WatcherOptions configure a Watcher. A nil *WatcherOptions means the
// defaults.
type WatcherOptions struct {
	// Session configures the Watcher's Session (credentials, TLS mode,
	// deadline margin, clock). Its Options.Client.UnilateralDataHandler,
	// if any, is still called: the Watcher chains its own after it.
	Session SessionOptions
	// IdleInterval caps one IDLE command; zero means DefaultIdleInterval.
	// An IDLE also ends at the session's deadline, so that the connection
	// is replaced before the server ends it. Each IDLE is followed by a
	// search, so IdleInterval also bounds the delay of a message whose
	// EXISTS a server holds back (go-imap's imapserver does not send, at
	// the start of IDLE, an update queued just before it).
	IdleInterval time.Duration
	// After is the last UID already handled: Run reports the messages
	// with a greater UID, those already in the mailbox included. Zero
	// reports every message in the mailbox, unless OnlyNew is set.
	After imap.UID
	// OnlyNew ignores After and reports only the messages that arrive
	// after the first SELECT (those at or above its UIDNEXT).
	OnlyNew bool
	// UIDValidity, when not zero, is the mailbox's UIDVALIDITY that After
	// belongs to (from an earlier run); a mailbox with another one makes
	// Run return ErrUIDValidityChanged.
	UIDValidity uint32
}

// Watcher reports the messages that arrive in a mailbox, for hours, over a
// Session: it selects the mailbox, reports the messages above the last UID
// it has seen, waits in IDLE for the server to announce new ones (EXISTS),
// and does so again. When the session's token nears its deadline, or the
// server ends the session (* BYE) or the connection drops, the Session
// reconnects with a fresh token and the Watcher catches up with a UID
// SEARCH above the last UID it reported, so that no message is missed or
// reported twice, and each is reported in UID order.
//
// Only arrivals are reported: expunged messages are not, and a message
// expunged before the Watcher sees it is never reported.
type Watcher struct {
	s        *Session
	mailbox  string
	interval time.Duration
	onlyNew  bool
	wake     chan struct{} // an EXISTS arrived

	mu       sync.Mutex
	last     imap.UID
	validity uint32
	running  bool
}

// NewWatcher returns a Watcher for mailbox on the server at addr. It
// connects on the first call to Run.
func NewWatcher(addr, mailbox string, opts *WatcherOptions) *Watcher {
	var o WatcherOptions
	if opts != nil {
		o = *opts
	}
	w := &Watcher{
		mailbox:  mailbox,
		interval: o.IdleInterval,
		onlyNew:  o.OnlyNew,
		last:     o.After,
		validity: o.UIDValidity,
		wake:     make(chan struct{}, 1),
	}
	if w.interval <= 0 {
		w.interval = DefaultIdleInterval
	}
	if o.OnlyNew {
		w.last = 0
	}
	so := o.Session
	var co Options
	if so.Options != nil {
		co = *so.Options
	}
	var cl imapclient.Options
	if co.Client != nil {
		cl = *co.Client
	}
	var h imapclient.UnilateralDataHandler
	if cl.UnilateralDataHandler != nil {
		h = *cl.UnilateralDataHandler
	}
	next := h.Mailbox
	h.Mailbox = func(data *imapclient.UnilateralDataMailbox) {
		if next != nil {
			next(data)
		}
		if data.NumMessages != nil {
			w.signal()
		}
	}
	cl.UnilateralDataHandler = &h
	co.Client = &cl
	so.Options = &co
	w.s = NewSession(addr, &so)
	return w
}

func (w *Watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Session returns the Session the Watcher runs on, to read its Deadline.
// Commands must not be sent on its client while Run is running.
func (w *Watcher) Session() *Session { return w.s }

// Last returns the last UID reported (or After), and the mailbox's
// UIDVALIDITY it belongs to (zero before the first SELECT): what a later
// Watcher needs in WatcherOptions to resume.
func (w *Watcher) Last() (uid imap.UID, uidValidity uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.validity
}

// Close closes the Watcher's connection; Run returns soon after.
func (w *Watcher) Close() error { return w.s.Close() }

// Run selects the mailbox and calls onNew, one call at a time and in UID
// order, for every message that arrives, until ctx ends or an error that a
// reconnection cannot mend. onNew runs while no command is in flight; the
// ctx it gets is Run's. When onNew returns an error, Run returns it, and
// the message it was called for is not counted as reported (Last stays
// below it), so a later Run reports it again.
//
// Run returns ctx.Err() when ctx ends (never nil); ErrSessionClosed after
// Close; an error wrapping ErrUIDValidityChanged when the mailbox's
// UIDVALIDITY changes (the caller must resynchronise, then may start a
// Watcher with OnlyNew); the error of a connection that failed for good
// (an *adapters.AuthError, as when the server rejected a fresh token
// twice; sasl.ErrNoMechanism; sasl.ErrInsecureTransport) or that was lost
// or failed four times in a row before the mailbox could be searched; or
// the server's answer to SELECT, SEARCH or IDLE. Run may be called again
// after it returns: it resumes after Last. Only one Run may be running at
// a time.
func (w *Watcher) Run(ctx context.Context, onNew func(ctx context.Context, uid imap.UID) error) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("imap: Watcher.Run is already running")
	}
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()

	var (
		cur    *imapclient.Client // the client the mailbox was selected on by Run
		losses int
	)
	// fail prefers ctx's error: when ctx ended, the client was closed
	// because of it.
	fail := func(err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	// lost decides whether err, from a command on c (nil: from
	// connecting), is a lost connection to reconnect after.
	lost := func(c *imapclient.Client, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if c == nil {
			// Connecting failed. Credentials, policy and TLS errors
			// will fail again; anything else (the server ended the
			// new session while the mailbox was selected again, a
			// dropped connection) is worth another try.
			var ae *adapters.AuthError
			if errors.As(err, &ae) || errors.Is(err, sasl.ErrNoMechanism) || errors.Is(err, sasl.ErrInsecureTransport) ||
				errors.Is(err, ErrSessionClosed) {
				return false
			}
		} else {
			select {
			case <-c.Closed():
			default:
				// imapclient fails the pending commands before it
				// reports the connection closed. A tagged answer of
				// the server leaves the connection usable; any other
				// error does not.
				var ie *imap.Error
				if errors.As(err, &ie) && ie.Type != imap.StatusResponseTypeBye {
					return false
				}
				_ = c.Close()
			}
		}
		losses++
		return losses <= maxLosses
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := w.s.Client(ctx)
		if err != nil {
			if lost(nil, err) {
				continue
			}
			return fail(err)
		}
		if c != cur {
			cur = nil
			data, err := w.s.Select(ctx, w.mailbox, nil)
			if err != nil {
				if lost(c, err) {
					continue
				}
				return fail(err)
			}
			if again, err := w.s.Client(ctx); err != nil || again != c {
				// Replaced meanwhile: select on the new one, unless
				// every connection is past its deadline at once (a
				// Margin longer than the tokens live).
				if losses++; losses > maxLosses {
					return errors.New("imap: each new connection was past its deadline (SessionOptions.Margin too long for the token's lifetime?)")
				}
				continue
			}
			if err := w.selected(data); err != nil {
				return err
			}
			cur = c
		}

		// Catch up: everything above the last UID reported.
		select {
		case <-w.wake:
		default:
		}
		uids, err := w.search(ctx, c)
		if err != nil {
			if lost(c, err) {
				continue
			}
			return fail(err)
		}
		losses = 0
		for _, uid := range uids {
			if err := onNew(ctx, uid); err != nil {
				return err
			}
			w.mu.Lock()
			w.last = uid
			w.mu.Unlock()
		}
		if len(uids) > 0 {
			continue // more may have come while onNew ran
		}

		if err := w.idle(ctx, c); err != nil {
			if lost(c, err) {
				continue
			}
			return fail(err)
		}
	}
}

// selected checks a SELECT's answer against what the Watcher knows.
func (w *Watcher) selected(data *imap.SelectData) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.validity != 0 && data.UIDValidity != 0 && data.UIDValidity != w.validity {
		return fmt.Errorf("%w: %q was %d, is %d", ErrUIDValidityChanged, adapters.Sanitize(w.mailbox), w.validity, data.UIDValidity)
	}
	if w.onlyNew {
		// Start at the first SELECT's UIDNEXT; a server that does not
		// say (RFC 3501 lets it omit UIDNEXT) starts at 1.
		if data.UIDNext > 0 {
			w.last = data.UIDNext - 1
		}
		w.onlyNew = false
	}
	if data.UIDValidity != 0 {
		w.validity = data.UIDValidity
	}
	return nil
}

// search returns, in order, the UIDs above the last one reported.
func (w *Watcher) search(ctx context.Context, c *imapclient.Client) ([]imap.UID, error) {
	last, _ := w.Last()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	crit := &imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: last + 1, Stop: 0}}}}
	data, err := c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("imap: UID SEARCH: %w", err)
	}
	return newUIDs(data.AllUIDs(), last), nil
}

// newUIDs returns the UIDs of found above last, sorted, without
// duplicates. ("UID n:*" also matches the highest UID when it is below n.)
func newUIDs(found []imap.UID, last imap.UID) []imap.UID {
	out := make([]imap.UID, 0, len(found))
	for _, uid := range found {
		if uid > last {
			out = append(out, uid)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// idle runs one IDLE on c until the server announces a message, the IDLE
// interval or the session's deadline passes, the connection ends, or ctx
// ends.
func (w *Watcher) idle(ctx context.Context, c *imapclient.Client) error {
	d := w.interval
	if deadline, ok := w.s.Deadline(); ok {
		left := deadline.Sub(w.s.opts.Now())
		if left <= 0 {
			return nil // Client replaces the connection
		}
		d = min(d, left)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	cmd, err := c.Idle()
	if err != nil {
		return fmt.Errorf("imap: IDLE: %w", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.wake:
	case <-t.C:
	case <-c.Closed():
	case <-ctx.Done():
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("imap: ending IDLE: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("imap: IDLE: %w", err)
	}
	return nil
}
