package pop3_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// issuing fetches a new token from the mail server's OAuth server whenever
// its current one was invalidated.
type issuing struct {
	ms      *sasltest.MailServer
	mu      sync.Mutex
	cur     *oauth2.Token
	fetches int
}

func (s *issuing) Token(context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		tok, err := s.ms.IssueToken(alice)
		if err != nil {
			return nil, err
		}
		s.cur = tok
		s.fetches++
	}
	return s.cur, nil
}

func (s *issuing) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == tok {
		s.cur = nil
	}
}

func (s *issuing) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestSessionPolls(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		for _, mode := range modes {
			t.Run(p.String()+"/"+mode.String(), func(t *testing.T) {
				ms := newMail(t, p, nil)
				for _, m := range testMessages {
					ms.Store().Deliver(alice, []byte(m))
				}
				src := &issuing{ms: ms}
				auth := &pop3.AuthOptions{}
				auth.Credentials = &sasl.Credentials{Username: alice, TokenSource: src}
				now := &clock{t: time.Now()}
				s := pop3.NewSession(ms.Addr(sasltest.ProtocolPOP3, mode), &pop3.SessionOptions{
					Options:  &pop3.Options{TLSConfig: ms.ClientTLSConfig()},
					Auth:     auth,
					StartTLS: mode == sasltest.StartTLS,
					Margin:   time.Minute,
					Now:      now.Now,
				})
				defer s.Close()
				ctx := context.Background()
				seen := map[string]int{}

				// Poll 1: read everything, delete the first.
				err := s.Poll(ctx, func(ctx context.Context, c *pop3.Client) error {
					uids, err := c.UIDL(ctx)
					if err != nil {
						return err
					}
					for _, u := range uids {
						seen[u.UID]++
					}
					return c.Dele(ctx, 1)
				})
				if err != nil {
					t.Fatal(err)
				}
				// Poll 2: the server ends the session in the middle;
				// the poll runs again on a new connection with a new
				// token, and the deletion of that run is kept.
				runs := 0
				err = s.Poll(ctx, func(ctx context.Context, c *pop3.Client) error {
					runs++
					if runs == 1 && ms.EndSessions(sasltest.ProtocolPOP3, alice) != 1 {
						t.Error("no session ended")
					}
					n, _, err := c.Stat(ctx)
					if err != nil {
						return err
					}
					if n != 2 {
						t.Errorf("%d messages in poll 2", n)
					}
					return c.Dele(ctx, 1)
				})
				if err != nil || runs != 2 {
					t.Fatalf("poll 2: %v after %d runs", err, runs)
				}
				if src.count() != 2 {
					t.Fatalf("%d tokens after poll 2", src.count())
				}
				// Poll 3: past the deadline, a fresh token first.
				deadline, ok := s.Deadline()
				if !ok {
					t.Fatal("no deadline")
				}
				now.Set(deadline.Add(time.Second))
				var left []pop3.UID
				err = s.Poll(ctx, func(ctx context.Context, c *pop3.Client) (err error) {
					left, err = c.UIDL(ctx)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if src.count() != 3 {
					t.Fatalf("%d tokens after poll 3", src.count())
				}
				if len(left) != 1 || seen[left[0].UID] != 1 {
					t.Fatalf("left %v, seen %v", left, seen)
				}
				if st := ms.AuthStats(sasltest.ProtocolPOP3, ""); st.Rejected != 0 {
					t.Fatalf("stats %+v", st)
				}
				// An error from the work: RSET, nothing deleted.
				boom := errors.New("boom")
				err = s.Poll(ctx, func(ctx context.Context, c *pop3.Client) error {
					c.Dele(ctx, 1)
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatal(err)
				}
				s.Close()
				if err := s.Poll(ctx, func(context.Context, *pop3.Client) error { return nil }); !errors.Is(err, pop3.ErrSessionClosed) {
					t.Fatal(err)
				}
				msgs, _ := ms.Store().Messages(alice, "INBOX")
				if len(msgs) != 1 {
					t.Fatalf("%d messages left", len(msgs))
				}
			})
		}
	}
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Tokens expire one after another in the middle of polls; the server ends
// each session (as Gmail does) and the poll runs again with a fresh token.
// Every message is processed and finally removed; none is lost.
func TestSessionAcrossExpiries(t *testing.T) {
	for _, p := range []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft} {
		t.Run(p.String(), func(t *testing.T) {
			now := &clock{t: time.Now()}
			ms := newMail(t, p, func(o *sasltest.MailOptions) { o.Clock = now.Now })
			src := &issuing{ms: ms}
			auth := &pop3.AuthOptions{}
			auth.Credentials = &sasl.Credentials{Username: alice, TokenSource: src}
			s := pop3.NewSession(ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS), &pop3.SessionOptions{
				Options: &pop3.Options{TLSConfig: ms.ClientTLSConfig()},
				Auth:    auth,
				Now:     now.Now,
			})
			defer s.Close()
			ctx := context.Background()
			processed := map[string]bool{}
			delivered := 0
			const rounds = 3
			for i := 0; i < rounds; i++ {
				if _, err := ms.Store().Deliver(alice, []byte("Subject: round\r\n\r\nbody\r\n")); err != nil {
					t.Fatal(err)
				}
				delivered++
				first := true
				err := s.Poll(ctx, func(ctx context.Context, c *pop3.Client) error {
					uids, err := c.UIDL(ctx)
					if err != nil {
						return err
					}
					if first {
						first = false
						now.Advance(61 * time.Minute) // past the token's hour
						if ms.CheckSessions() != 1 {
							t.Errorf("round %d: the server ended no session", i)
						}
					}
					for _, u := range uids {
						processed[u.UID] = true
						if err := c.Dele(ctx, u.Number); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
			}
			if len(processed) != delivered {
				t.Fatalf("processed %d of %d", len(processed), delivered)
			}
			if msgs, _ := ms.Store().Messages(alice, "INBOX"); len(msgs) != 0 {
				t.Fatalf("%d messages left", len(msgs))
			}
			// One token to start, then a fresh one after each expiry;
			// a token still valid is used for the next poll.
			if got := src.count(); got != rounds+1 {
				t.Fatalf("%d tokens, want %d", got, rounds+1)
			}
			if st := ms.AuthStats(sasltest.ProtocolPOP3, ""); st.Rejected != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
