package pop3_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

type tlsDialer struct{ cfg *tls.Config }

func (d *tlsDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	return (&tls.Dialer{Config: d.cfg}).DialContext(ctx, "tcp", addr)
}

func newText(c net.Conn) *textproto.Conn { return textproto.NewConn(c) }

var testMessages = []string{
	"From: bob@example.test\r\nSubject: one\r\n\r\nHello.\r\n",
	"From: bob@example.test\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n. space\r\nlast\r\n",
	"From: carol@example.test\r\nSubject: three\r\n\r\nline 1\r\nline 2\r\nline 3\r\n",
}

func loggedIn(t *testing.T, ms *sasltest.MailServer) *pop3.Client {
	t.Helper()
	c := connect(t, ms, sasltest.ImplicitTLS, nil)
	if _, err := c.Authenticate(context.Background(), passwordAuth()); err != nil {
		t.Fatal(err)
	}
	return c
}

func readAll(t *testing.T, r io.ReadCloser) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommands(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ms := newMail(t, sasltest.ProfileGmail, nil)
			for _, m := range testMessages {
				if _, err := ms.Store().Deliver(alice, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			c := connect(t, ms, mode, nil)
			if err := c.Noop(ctx); !errors.Is(err, pop3.ErrState) {
				t.Fatalf("NOOP before auth: %v", err)
			}
			if _, err := c.Authenticate(ctx, passwordAuth()); err != nil {
				t.Fatal(err)
			}
			n, size, err := c.Stat(ctx)
			total := 0
			for _, m := range testMessages {
				total += len(m)
			}
			if err != nil || n != 3 || size != int64(total) {
				t.Fatalf("STAT %d %d %v", n, size, err)
			}
			list, err := c.List(ctx)
			if err != nil || len(list) != 3 {
				t.Fatalf("LIST %v %v", list, err)
			}
			for i, m := range list {
				if m.Number != i+1 || m.Size != int64(len(testMessages[i])) {
					t.Fatalf("LIST entry %+v", m)
				}
			}
			one, err := c.ListOne(ctx, 2)
			if err != nil || one != list[1] {
				t.Fatalf("LIST 2: %+v %v", one, err)
			}
			uids, err := c.UIDL(ctx)
			if err != nil || len(uids) != 3 {
				t.Fatalf("UIDL %v %v", uids, err)
			}
			u2, err := c.UIDLOne(ctx, 2)
			if err != nil || u2 != uids[1] {
				t.Fatalf("UIDL 2: %+v %v", u2, err)
			}
			for i, want := range testMessages {
				r, err := c.Retr(ctx, i+1)
				if err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, r); got != want {
					t.Fatalf("RETR %d:\n%q\nwant\n%q", i+1, got, want)
				}
			}
			r, err := c.Top(ctx, 2, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := readAll(t, r), "From: bob@example.test\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n"; got != want {
				t.Fatalf("TOP: %q", got)
			}
			if _, err := c.ListOne(ctx, 9); err == nil {
				t.Fatal("LIST 9 succeeded")
			} else if pe := (*pop3.Error)(nil); !errors.As(err, &pe) {
				t.Fatalf("LIST 9: %v", err)
			}

			// RSET restores, DELE + QUIT removes.
			if err := c.Dele(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := c.Stat(ctx); n != 2 {
				t.Fatalf("after DELE: %d", n)
			}
			if err := c.Rset(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := c.Stat(ctx); n != 3 {
				t.Fatalf("after RSET: %d", n)
			}
			if err := c.Dele(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Noop(ctx); !errors.Is(err, pop3.ErrClosed) {
				t.Fatalf("after QUIT: %v", err)
			}

			c2 := loggedIn(t, ms)
			uids2, err := c2.UIDL(ctx)
			if err != nil || len(uids2) != 2 {
				t.Fatalf("UIDL after QUIT: %v %v", uids2, err)
			}
			// UIDs are stable across sessions; numbers are renumbered.
			if uids2[0].UID != uids[1].UID || uids2[1].UID != uids[2].UID {
				t.Fatalf("UIDs changed: %v then %v", uids, uids2)
			}
			c2.Quit(ctx)
		})
	}
}

func TestReaderMustBeClosed(t *testing.T) {
	ms := newMail(t, sasltest.ProfileGmail, nil)
	big := "Subject: big\r\n\r\n" + strings.Repeat(".dotted line of text\r\n", 5000)
	if _, err := ms.Store().Deliver(alice, []byte(big)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := loggedIn(t, ms)
	r, err := c.Retr(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(ctx); !errors.Is(err, pop3.ErrBusy) {
		t.Fatalf("NOOP with reader open: %v", err)
	}
	if _, err := c.Retr(ctx, 1); !errors.Is(err, pop3.ErrBusy) {
		t.Fatalf("RETR with reader open: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(buf); !errors.Is(err, pop3.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
	// Read to the end without Close also frees the client.
	r, err = c.Retr(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := io.Copy(&got, r); err != nil {
		t.Fatal(err)
	}
	if got.String() != big {
		t.Fatal("big message differs")
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatal(err)
	}
}
