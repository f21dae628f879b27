package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// expiryLifetime is the lifetime of the tokens in the expiry step: short
// enough to watch one expire, in whole seconds so that the client (which
// learns it as expires_in) and the server agree on it.
const expiryLifetime = 2 * time.Second

// expiryClockLag holds the watcher's session clock behind the real one in
// the expiry step. A Session normally replaces its connection a margin
// before the token expires, so the server never has to end it; with its
// clock behind, the client still thinks the token valid when the server
// ends the session, which shows the other path: BYE, then a reconnection
// with a fresh token.
const expiryClockLag = 1500 * time.Millisecond

// expiryWait bounds each wait of the expiry step.
const expiryWait = 10 * time.Second

// expiry watches INBOX with an imap.Watcher on a server whose tokens live
// two seconds: the token expires under the IDLE session, the server ends
// the session with BYE, the watcher reconnects with a fresh token, and a
// message delivered after the reconnection arrives over IDLE.
func (d *demo) expiry(ctx context.Context, r *stepResult) error {
	// A second Gmail-like server: its tokens are short-lived, the first
	// server's live an hour.
	ms, err := sasltest.NewMailServer(&sasltest.MailOptions{
		Profile:      sasltest.ProfileGmail,
		ListenHost:   "127.0.0.1",
		OAuthOptions: &sasltest.OAuthOptions{TokenLifetime: expiryLifetime},
		Users:        []sasltest.MailUser{{Address: demoUser}},
	})
	if err != nil {
		return fmt.Errorf("starting a second mail server: %w", err)
	}
	defer ms.Close()
	oauth := ms.OAuth()
	if err := oauth.AddClient(sasltest.OAuthClient{ID: demoClientID, Secret: d.clientSecret, LoopbackRedirect: true}); err != nil {
		return err
	}
	conf := *d.conf
	conf.Endpoint = oauth.Endpoint()
	// The user consented earlier: the server issues the refresh token.
	rt, err := oauth.SeedRefreshToken(demoClientID, demoUser, sasltest.GmailScope)
	if err != nil {
		return err
	}
	d.secret(rt)
	store := providers.NewMemoryStore()
	if err := store.Save(ctx, demoUser, nil, &oauth2.Token{RefreshToken: rt}); err != nil {
		return err
	}
	tokens, err := d.newTokenSource(&conf, store, demoUser)
	if err != nil {
		return err
	}
	addr := ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS)
	d.out.detail("server", "IMAP %s, OAuth %s: access tokens live %s", addr, oauth.URL, expiryLifetime)
	if d.breakExpiry {
		ms.InjectFault(sasltest.MailFault{Kind: sasltest.MailFaultTemporary, Protocol: sasltest.ProtocolIMAP, Times: -1})
	}

	first, err := ms.Store().Deliver(demoUser, []byte("Subject: before\r\n\r\nDelivered before the watcher started.\r\n"))
	if err != nil {
		return err
	}
	w := imapadapter.NewWatcher(addr, "INBOX", &imapadapter.WatcherOptions{
		Session: imapadapter.SessionOptions{
			Options: &imapadapter.Options{
				Credentials: &sasl.Credentials{Username: demoUser, TokenSource: tokens},
				Client:      &imapclient.Options{TLSConfig: ms.ClientTLSConfig()},
			},
			Margin: time.Millisecond,
			Now:    func() time.Time { return time.Now().Add(-expiryClockLag) },
		},
		// Each IDLE is followed by a search: a bound on the delay of any
		// announcement the server holds back.
		IdleInterval: time.Second,
	})
	defer w.Close()

	reported := make(chan imap.UID, 4)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var runErr error
	runDone := make(chan struct{}) // closed when Run has returned runErr
	start := time.Now()
	go func() {
		defer close(runDone)
		runErr = w.Run(runCtx, func(ctx context.Context, uid imap.UID) error {
			select {
			case reported <- uid:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	// stop ends Run and waits for it, so that no goroutine outlives the
	// step.
	stop := func() error {
		stopRun()
		<-runDone
		if errors.Is(runErr, context.Canceled) && ctx.Err() == nil {
			return nil
		}
		return runErr
	}
	defer stop()
	stoppedEarly := func() error { return fmt.Errorf("the watcher stopped: %w", runErr) }

	waitUID := func(want imap.UID) error {
		select {
		case uid := <-reported:
			if uid != want {
				return fmt.Errorf("the watcher reported UID %d, want %d", uid, want)
			}
			return nil
		case <-runDone:
			return stoppedEarly()
		case <-time.After(expiryWait):
			return fmt.Errorf("UID %d was not reported within %s", want, expiryWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := waitUID(first); err != nil {
		return err
	}
	d.out.detail("watching", "INBOX over IDLE; UID %d (delivered before) reported after %s", first, roundDuration(time.Since(start)))
	tok1, err := tokens.Token(ctx)
	if err != nil {
		return err
	}
	d.out.detail("token", "%s, expires in %s", shortToken(tok1.AccessToken), roundDuration(time.Until(tok1.Expiry)))

	// The first session ends when its token does: the server says BYE.
	sessions := transcriptsAfter(ms, 0, sasltest.ProtocolIMAP)
	if len(sessions) == 0 {
		return errors.New("the IMAP server recorded no connection")
	}
	select {
	case <-sessions[0].Done:
	case <-runDone:
		return stoppedEarly()
	case <-time.After(expiryWait):
		return fmt.Errorf("the server did not end the session within %s", expiryWait)
	case <-ctx.Done():
		return ctx.Err()
	}
	ended, err := endedTranscript(ctx, ms, 0, sasltest.ProtocolIMAP)
	if err != nil {
		return err
	}
	bye := ""
	for _, l := range ended.Lines {
		if l.Dir == sasltest.FromServer && strings.HasPrefix(l.Text, "* BYE") {
			bye = l.String()
		}
	}
	if bye == "" {
		return fmt.Errorf("the first session ended without BYE: %s", lastLines(ended, 3))
	}
	d.out.wire("expired", bye)
	d.out.detail("", "after %s, when the token expired", roundDuration(time.Since(start)))

	// The watcher reconnects with a fresh token and waits in IDLE again.
	idling, err := waitIdle(ctx, ms, ended.ID, runDone)
	if errors.Is(err, errWatcherStopped) {
		return stoppedEarly()
	}
	if err != nil {
		return err
	}
	tok2, err := tokens.Token(ctx)
	if err != nil {
		return err
	}
	if tok2.AccessToken == tok1.AccessToken {
		return errors.New("the watcher reconnected with the expired token")
	}
	_, _, r.RoundTrips = authExchange(idling)
	d.out.detail("reconnected", "connection #%d, %s with a fresh token %s in %d round trip(s), in IDLE again",
		idling.ID, idling.Mechanism, shortToken(tok2.AccessToken), r.RoundTrips)
	delivered := time.Now()
	second, err := ms.Store().Deliver(demoUser, []byte("Subject: after\r\n\r\nDelivered after the reconnection.\r\n"))
	if err != nil {
		return err
	}
	if err := waitUID(second); err != nil {
		return err
	}
	d.out.detail("arrived", "UID %d, delivered after the reconnection, reported %s later", second, roundDuration(time.Since(delivered)))
	if err := stop(); err != nil {
		return fmt.Errorf("the watcher: %w", err)
	}
	refreshes := oauth.Requests(sasltest.GrantRefreshToken)
	stats := ms.AuthStats(sasltest.ProtocolIMAP, "")
	d.out.detail("tokens", "%d refreshes (one per session), %d logins, %d rejected", refreshes, stats.Succeeded, stats.Rejected)
	if refreshes < 2 || stats.Succeeded < 2 {
		return fmt.Errorf("%d refreshes and %d logins, want at least 2 of each", refreshes, stats.Succeeded)
	}
	r.Mechanism = ended.Mechanism
	r.Outcome = "BYE at expiry, reconnected with a fresh token, new mail arrived"
	return nil
}

// waitIdle waits until a connection after mark is authenticated and in
// IDLE (the server has answered "+ idling"), and returns its transcript.
// The transcripts are polled: the server offers no notification.
func waitIdle(ctx context.Context, ms *sasltest.MailServer, mark int, runDone <-chan struct{}) (sasltest.Transcript, error) {
	deadline := time.After(expiryWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, t := range transcriptsAfter(ms, mark, sasltest.ProtocolIMAP) {
			if t.User != "" && !t.Closed && len(t.Lines) > 0 {
				if l := t.Lines[len(t.Lines)-1]; l.Dir == sasltest.FromServer && strings.HasPrefix(l.Text, "+ idling") {
					return t, nil
				}
			}
		}
		select {
		case <-tick.C:
		case <-runDone:
			return sasltest.Transcript{}, errWatcherStopped
		case <-deadline:
			return sasltest.Transcript{}, fmt.Errorf("the watcher was not in IDLE on a new connection within %s", expiryWait)
		case <-ctx.Done():
			return sasltest.Transcript{}, ctx.Err()
		}
	}
}

// errWatcherStopped is waitIdle's error when the watcher's Run returned.
var errWatcherStopped = errors.New("the watcher stopped")

// lastLines returns the last n lines of a transcript, for an error.
func lastLines(t sasltest.Transcript, n int) string {
	lines := t.Lines[max(0, len(t.Lines)-n):]
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = l.String()
	}
	return strings.Join(s, " | ")
}
