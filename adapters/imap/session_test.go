package imap_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

func TestSessionReconnects(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		for _, mode := range adaptertest.Modes {
			t.Run(p.String()+"/"+mode.String(), func(t *testing.T) {
				t.Parallel()
				ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p})
				creds, f := adaptertest.TokenCreds(ms, 0)
				now := adaptertest.NewClock(time.Now())
				s := imapadapter.NewSession(ms.Addr(sasltest.ProtocolIMAP, mode), &imapadapter.SessionOptions{
					Options:  clientOpts(ms, creds),
					StartTLS: mode == sasltest.StartTLS,
					Margin:   time.Minute,
					Now:      now.Now,
				})
				defer s.Close()
				ctx := context.Background()

				c1, err := s.Client(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if again, err := s.Client(ctx); err != nil || again != c1 {
					t.Fatalf("a live client was replaced: %v", err)
				}
				if _, err := s.Select(ctx, "INBOX", nil); err != nil {
					t.Fatal(err)
				}
				deadline, ok := s.Deadline()
				if !ok {
					t.Fatal("no deadline")
				}

				// The server ends the session (* BYE).
				if ms.EndSessions(sasltest.ProtocolIMAP, alice) != 1 {
					t.Fatal("no session ended")
				}
				<-c1.Closed()
				c2, err := s.Client(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c2 == c1 {
					t.Fatal("closed client handed out")
				}
				checkSelected(t, c2)

				// The token's deadline comes: replaced before the server
				// ends it, with a fresh token.
				now.Set(deadline.Add(time.Second))
				c3, err := s.Client(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c3 == c2 {
					t.Fatal("client kept past its deadline")
				}
				<-c2.Closed()
				checkSelected(t, c3)
				if got := f.Fetches.Load(); got != 3 {
					t.Fatalf("fetches %d, want a fresh token per connection (3)", got)
				}
				if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Succeeded != 3 || st.Rejected != 0 {
					t.Fatalf("stats %+v", st)
				}

				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Client(ctx); !errors.Is(err, imapadapter.ErrSessionClosed) {
					t.Fatalf("err = %v", err)
				}
			})
		}
	}
}

func checkSelected(t *testing.T, c *imapclient.Client) {
	t.Helper()
	if mb := c.Mailbox(); mb == nil || mb.Name != "INBOX" {
		t.Fatalf("mailbox %+v, want INBOX selected again", mb)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

// Tokens expire one after another; the server ends each session (as Gmail
// does), and the Session carries on with a fresh token each time, the
// mailbox selected again, no message missed.
func TestSessionAcrossExpiries(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			clock := adaptertest.NewClock(time.Now())
			ms := adaptertest.NewServer(t, &sasltest.MailOptions{Profile: p, Clock: clock.Now})
			creds, f := adaptertest.TokenCreds(ms, 0)
			s := imapadapter.NewSession(ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.SessionOptions{
				Options: clientOpts(ms, creds),
				Now:     clock.Now,
			})
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Select(ctx, "INBOX", nil); err != nil {
				t.Fatal(err)
			}
			const expiries = 3
			for i := 0; i < expiries; i++ {
				c, err := s.Client(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Mailbox().NumMessages; got != uint32(i) {
					t.Fatalf("round %d: %d messages, want %d", i, got, i)
				}
				if _, err := ms.Store().Deliver(alice, []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))); err != nil {
					t.Fatal(err)
				}
				clock.Advance(61 * time.Minute) // past the token's hour
				if ms.CheckSessions() != 1 {
					t.Fatalf("round %d: the server ended no session", i)
				}
				<-c.Closed()
			}
			c, err := s.Client(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Mailbox().NumMessages; got != expiries {
				t.Fatalf("%d messages, want %d", got, expiries)
			}
			if got := f.Fetches.Load(); got != expiries+1 {
				t.Fatalf("fetches %d, want a fresh token per connection (%d)", got, expiries+1)
			}
			if st := ms.AuthStats(sasltest.ProtocolIMAP, ""); st.Succeeded != expiries+1 || st.Rejected != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
