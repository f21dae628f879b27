package imap_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// watchOpts returns WatcherOptions for Alice on ms over implicit TLS.
// The short IDLE interval bounds the delay of a message delivered just
// before an IDLE starts: the test server announces it only at its next
// update.
func watchOpts(ms *sasltest.MailServer, creds *sasl.Credentials) *imapadapter.WatcherOptions {
	return &imapadapter.WatcherOptions{
		Session: imapadapter.SessionOptions{
			Options: &imapadapter.Options{Credentials: creds, Client: &imapclient.Options{TLSConfig: ms.ClientTLSConfig()}},
		},
		IdleInterval: 300 * time.Millisecond,
	}
}

// uidLog collects the UIDs a Watcher reports.
type uidLog struct {
	mu   sync.Mutex
	uids []imap.UID
	more chan struct{}
}

func newUIDLog() *uidLog { return &uidLog{more: make(chan struct{}, 1)} }

func (l *uidLog) add(_ context.Context, uid imap.UID) error {
	l.mu.Lock()
	l.uids = append(l.uids, uid)
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
	return nil
}

func (l *uidLog) get() []imap.UID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.uids)
}

// waitFor waits until the log holds n UIDs, or fails the test after d or
// when Run returns (on done).
func (l *uidLog) waitFor(t *testing.T, n int, d time.Duration, done <-chan error) {
	t.Helper()
	timeout := time.After(d)
	for len(l.get()) < n {
		select {
		case <-l.more:
		case err := <-done:
			t.Fatalf("Run returned %v after reporting %v, want %d messages", err, l.get(), n)
		case <-timeout:
			t.Fatalf("reported %v, want %d messages", l.get(), n)
		}
	}
}

func watchDeliver(t *testing.T, ms *sasltest.MailServer, i int) imap.UID {
	uid, err := ms.Store().Deliver(adaptertest.Alice, []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)))
	if err != nil {
		t.Error(err)
	}
	return uid
}

// Tokens live 2 seconds, and the server ends a session when its token
// expires: the Watcher replaces its connection before each deadline (and
// once after the server ends the session early), each time with a fresh
// token, while messages arrive at random times, some right at the
// reconnections. Every message is reported once, in UID order.
func TestWatcherAcrossExpiries(t *testing.T) {
	const lifetime = 2 * time.Second
	ms := adaptertest.NewServer(t, &sasltest.MailOptions{OAuthOptions: &sasltest.OAuthOptions{TokenLifetime: lifetime}})
	creds, f := adaptertest.TokenCreds(ms, 0)
	opts := watchOpts(ms, creds)
	opts.Session.Margin = 400 * time.Millisecond
	opts.IdleInterval = 700 * time.Millisecond
	w := imapadapter.NewWatcher(ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), "INBOX", opts)
	defer w.Close()

	// Already there before the Watcher starts: reported too (After 0).
	want := []imap.UID{watchDeliver(t, ms, 0), watchDeliver(t, ms, 1)}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := newUIDLog()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, log.add) }()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	start := time.Now()
	ended := false
	for i := 2; time.Since(start) < 4*lifetime; i++ {
		switch {
		case !ended && time.Since(start) > 3*lifetime/2:
			// The server ends the session early (* BYE), with a
			// message right behind it.
			ended = true
			ms.EndSessions(sasltest.ProtocolIMAP, adaptertest.Alice)
			want = append(want, watchDeliver(t, ms, i))
			continue
		case i%3 == 0:
			// Right around the next proactive reconnection.
			if dl, ok := w.Session().Deadline(); ok {
				jitter := time.Duration(rng.IntN(60)-30) * time.Millisecond
				if d := time.Until(dl.Add(jitter)); d > 0 && d < lifetime {
					time.Sleep(d)
				}
			}
		default:
			time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		}
		want = append(want, watchDeliver(t, ms, i))
	}
	log.waitFor(t, len(want), 5*time.Second, done)
	time.Sleep(100 * time.Millisecond) // nothing more comes
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("reported %v, want each of %v once, in order", got, want)
	}
	last, validity := w.Last()
	if last != want[len(want)-1] || validity == 0 {
		t.Fatalf("Last() = %d, %d", last, validity)
	}

	st := ms.AuthStats(sasltest.ProtocolIMAP, "")
	if st.Succeeded < 5 || st.Rejected != 0 {
		t.Fatalf("stats %+v: want a connection per token across at least 3 expiries and one BYE", st)
	}
	// Every connection after an expiry needs a new token; the one after
	// the early BYE may present the token it already had, which is still
	// valid (the server rejected none: Rejected is 0 above).
	if got := f.Fetches.Load(); got < int32(st.Succeeded)-1 {
		t.Fatalf("%d tokens fetched for %d connections: a token outlived its expiry", got, st.Succeeded)
	}
	t.Logf("%d messages, %d connections, %d tokens", len(want), st.Succeeded, f.Fetches.Load())
}

// The catch-up after a (re)connection: messages above After only, a
// callback error leaves its message unreported so that a later Run
// reports it, OnlyNew skips what is already there, and a different
// UIDVALIDITY stops Run.
func TestWatcherCatchUp(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	creds, _ := adaptertest.TokenCreds(ms, 0)
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	var uids []imap.UID
	for i := range 4 {
		uids = append(uids, watchDeliver(t, ms, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// After the first: the others, then a failing callback.
	opts := watchOpts(ms, creds)
	opts.After = uids[0]
	w := imapadapter.NewWatcher(addr, "INBOX", opts)
	defer w.Close()
	var got []imap.UID
	boom := errors.New("boom")
	err := w.Run(ctx, func(_ context.Context, uid imap.UID) error {
		if uid == uids[3] {
			return boom
		}
		got = append(got, uid)
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the callback's error", err)
	}
	if !slices.Equal(got, uids[1:3]) {
		t.Fatalf("reported %v, want %v", got, uids[1:3])
	}
	last, validity := w.Last()
	if last != uids[2] || validity == 0 {
		t.Fatalf("Last() = %d, %d, want %d", last, validity, uids[2])
	}

	// Run again, across a BYE: resumes after Last.
	log := newUIDLog()
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx, log.add) }()
	log.waitFor(t, 1, 5*time.Second, done)
	ms.EndSessions(sasltest.ProtocolIMAP, adaptertest.Alice)
	uids = append(uids, watchDeliver(t, ms, 4))
	log.waitFor(t, 2, 5*time.Second, done)
	rcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if got := log.get(); !slices.Equal(got, uids[3:]) {
		t.Fatalf("reported %v, want %v", got, uids[3:])
	}

	// OnlyNew: nothing already there.
	opts = watchOpts(ms, creds)
	opts.OnlyNew = true
	opts.After = uids[0] // ignored
	nw := imapadapter.NewWatcher(addr, "INBOX", opts)
	defer nw.Close()
	log = newUIDLog()
	rctx, rcancel = context.WithCancel(ctx)
	go func() { done <- nw.Run(rctx, log.add) }()
	for {
		if _, v := nw.Last(); v != 0 {
			break // selected
		}
		time.Sleep(10 * time.Millisecond)
	}
	fresh := watchDeliver(t, ms, 5)
	log.waitFor(t, 1, 5*time.Second, done)
	rcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if got := log.get(); !slices.Equal(got, []imap.UID{fresh}) {
		t.Fatalf("OnlyNew reported %v, want [%d]", got, fresh)
	}

	// Another UIDVALIDITY than the one After belongs to.
	opts = watchOpts(ms, creds)
	opts.After, opts.UIDValidity = uids[0], validity+1
	vw := imapadapter.NewWatcher(addr, "INBOX", opts)
	defer vw.Close()
	err = vw.Run(ctx, func(context.Context, imap.UID) error {
		t.Error("reported a message despite the UIDVALIDITY change")
		return nil
	})
	if !errors.Is(err, imapadapter.ErrUIDValidityChanged) {
		t.Fatalf("Run returned %v, want ErrUIDValidityChanged", err)
	}

	// Closed: Run stops.
	if err := vw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := vw.Run(ctx, log.add); !errors.Is(err, imapadapter.ErrSessionClosed) {
		t.Fatalf("Run after Close returned %v", err)
	}
}
