package imap_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/saslkit/saslkit/adapters"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
)

func dialPlain(t *testing.T, addr string) (*imapclient.Client, *sasl.ConnState) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { _ = c.Close() })
	return c, sasl.ConnStateOf(conn, "localhost", 143)
}

const greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n"

// A challenge XOAUTH2 cannot parse: the client answers with an empty
// response (imapclient cannot send "*"), the server fails the command, and
// the next command works.
func TestMalformedChallengeKeepsSync(t *testing.T) {
	addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
		_, _ = c.Write([]byte(greeting))
		got(adaptertest.ReadLine(r)) // AUTHENTICATE
		_, _ = c.Write([]byte("+ " + base64.StdEncoding.EncodeToString([]byte("not json")) + "\r\n"))
		got(adaptertest.ReadLine(r)) // the response
		_, _ = c.Write([]byte("T1 BAD invalid response\r\n"))
		got(adaptertest.ReadLine(r)) // NOOP
		_, _ = c.Write([]byte("T2 OK NOOP done\r\n"))
		adaptertest.ReadLine(r)
	})
	c, cs := dialPlain(t, addr)
	_, err := imapadapter.Authenticate(adaptertest.Bounded(t), c, &imapadapter.Options{Credentials: adaptertest.StaticCreds, ConnState: cs})
	if !errors.Is(err, adapters.ErrCancelled) || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
	c.Close()
	lines := <-done
	if len(lines) < 3 || lines[1] != "=" || !strings.HasSuffix(lines[2], " NOOP") {
		t.Fatalf("server read %q", lines)
	}
	if strings.Contains(err.Error(), "ya29") {
		t.Fatal("token in error")
	}
}

func TestHostileServers(t *testing.T) {
	cases := []struct {
		name   string
		script func(c net.Conn, r *bufio.Reader, got func(string))
		want   error // nil: any error
	}{
		{"malformed capability", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte("* OK [CAPABILITY IMAP4rev1 AUTH=\x00\x01 ready\r\n"))
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("* CAPABILITY (((\r\nT1 OK\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
		{"no mechanisms", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte("* OK [CAPABILITY IMAP4rev1] ready\r\n"))
			adaptertest.ReadLine(r)
		}, sasl.ErrNoMechanism},
		{"non-base64 challenge", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte(greeting))
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("+ !!!not-base64***\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
		{"oversized line", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte(greeting))
			adaptertest.ReadLine(r)
			big := strings.Repeat("A", 1<<20)
			_, _ = c.Write([]byte("+ " + big))
			adaptertest.ReadLine(r)
		}, context.DeadlineExceeded}, // imapclient has no line limit: ctx ends it
		{"closed mid-exchange", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte(greeting))
			adaptertest.ReadLine(r)
		}, nil},
		{"silent", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte(greeting))
			adaptertest.ReadLine(r)
			adaptertest.ReadLine(r) // until the client closes
		}, context.DeadlineExceeded},
		{"garbage answer", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte(greeting))
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("T1 WHAT\x00\x01 is this\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, done := adaptertest.Scripted(t, tc.script)
			c, cs := dialPlain(t, addr)
			ctx := adaptertest.Bounded(t)
			if tc.want == context.DeadlineExceeded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			_, err := imapadapter.Authenticate(ctx, c, &imapadapter.Options{Credentials: adaptertest.StaticCreds, ConnState: cs})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "imap: ") && !strings.HasPrefix(err.Error(), "adapters: ") {
				t.Fatalf("error without package prefix: %v", err)
			}
			if strings.Contains(err.Error(), "ya29") {
				t.Fatal("token in error")
			}
			c.Close()
			<-done
		})
	}
}

func TestHostileStartTLS(t *testing.T) {
	cases := map[string]string{
		"preauth":        "* PREAUTH hi\r\n",
		"refused":        "* OK hi\r\n",
		"injection":      "* OK hi\r\n",
		"bad greeting":   "HELLO\r\n",
		"oversized":      "* OK " + strings.Repeat("x", 10000) + "\r\n",
		"closed at once": "",
	}
	for name, greet := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
				_, _ = c.Write([]byte(greet))
				if greet == "" {
					return
				}
				got(adaptertest.ReadLine(r))
				switch name {
				case "refused":
					_, _ = c.Write([]byte("S1 NO no TLS here\r\n"))
				case "injection":
					_, _ = c.Write([]byte("S1 OK begin TLS\r\n* OK [CAPABILITY AUTH=PLAIN] injected\r\n"))
				}
				adaptertest.ReadLine(r)
			})
			_, _, err := imapadapter.DialStartTLS(adaptertest.Bounded(t), addr, &imapadapter.Options{Credentials: adaptertest.StaticCreds})
			if err == nil || !strings.HasPrefix(err.Error(), "imap: ") {
				t.Fatalf("err = %v", err)
			}
			<-done
		})
	}
}

// Without SASL-IR the initial response waits for the server's empty
// continuation; with it, it rides on the command.
func TestInitialResponseOnlyWithSASLIR(t *testing.T) {
	for _, saslIR := range []bool{false, true} {
		t.Run(map[bool]string{false: "without", true: "with"}[saslIR], func(t *testing.T) {
			caps := "IMAP4rev1 AUTH=XOAUTH2"
			if saslIR {
				caps += " SASL-IR"
			}
			addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
				_, _ = c.Write([]byte("* OK [CAPABILITY " + caps + "] ready\r\n"))
				cmd := adaptertest.ReadLine(r)
				got(cmd)
				if len(strings.Fields(cmd)) == 3 {
					_, _ = c.Write([]byte("+ \r\n"))
					got(adaptertest.ReadLine(r))
				}
				_, _ = c.Write([]byte("T1 OK authenticated\r\n"))
				adaptertest.ReadLine(r)
			})
			c, cs := dialPlain(t, addr)
			if _, err := imapadapter.Authenticate(adaptertest.Bounded(t), c, &imapadapter.Options{Credentials: adaptertest.StaticCreds, ConnState: cs}); err != nil {
				t.Fatal(err)
			}
			c.Close()
			lines := <-done
			if want := map[bool]int{false: 2, true: 1}[saslIR]; len(lines) != want {
				t.Fatalf("client lines %q, want %d", lines, want)
			}
			if f := strings.Fields(lines[0]); saslIR != (len(f) == 4) {
				t.Fatalf("command %q", lines[0])
			}
		})
	}
}
