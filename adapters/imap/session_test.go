package imap_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

func TestSessionReconnects(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		for _, mode := range modes {
			t.Run(p.String()+"/"+mode.String(), func(t *testing.T) {
				t.Parallel()
				ms := newServer(t, &sasltest.MailOptions{Profile: p})
				creds, f := tokenCreds(ms, 0)
				now := &fakeNow{t: time.Now()}
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
				if got := f.fetches.Load(); got != 3 {
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
