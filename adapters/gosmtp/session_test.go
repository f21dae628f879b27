package gosmtp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/saslkit/saslkit/adapters/gosmtp"
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
				s := gosmtp.NewSession(ms.Addr(sasltest.ProtocolSMTP, mode), &gosmtp.SessionOptions{
					Options:  clientOpts(ms, creds),
					StartTLS: mode == sasltest.StartTLS,
					Margin:   time.Minute,
					Now:      now.Now,
				})
				defer s.Close()
				ctx := context.Background()
				send := func(subject string) {
					t.Helper()
					msg := "Subject: " + subject + "\r\n\r\nhello\r\n"
					if err := s.SendMail(ctx, alice, []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
						t.Fatalf("%s: %v", subject, err)
					}
				}
				send("one")
				deadline, ok := s.Deadline()
				if !ok {
					t.Fatal("no deadline")
				}
				// The server ends the session (421): the next message
				// goes out on a new connection.
				if ms.EndSessions(sasltest.ProtocolSMTP, alice) != 1 {
					t.Fatal("no session ended")
				}
				send("two")
				// The deadline comes: a new connection with a fresh token.
				now.Set(deadline.Add(time.Second))
				send("three")

				msgs, err := ms.Store().Messages("bob@example.test", "INBOX")
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) != 3 {
					t.Fatalf("%d messages delivered, want 3 (none twice)", len(msgs))
				}
				if got := f.Fetches.Load(); got != 3 {
					t.Fatalf("fetches %d, want 3", got)
				}
				if st := ms.AuthStats(sasltest.ProtocolSMTP, ""); st.Succeeded != 3 || st.Rejected != 0 {
					t.Fatalf("stats %+v", st)
				}
				_ = s.Close()
				if err := s.SendMail(ctx, alice, []string{"bob@example.test"}, strings.NewReader("x")); !errors.Is(err, gosmtp.ErrSessionClosed) {
					t.Fatalf("err = %v", err)
				}
			})
		}
	}
}
