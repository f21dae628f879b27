package gosmtp_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
)

// hello greets and answers EHLO offering XOAUTH2.
func hello(c net.Conn, r *bufio.Reader) {
	_, _ = c.Write([]byte("220 mail.example.test ESMTP\r\n"))
	adaptertest.ReadLine(r)
	_, _ = c.Write([]byte("250-mail.example.test\r\n250 AUTH XOAUTH2\r\n"))
}

func connect(t *testing.T, addr string) (*smtp.Client, *sasl.ConnState) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { _ = c.Close() })
	return c, sasl.ConnStateOf(conn, "localhost", 587)
}

func TestMalformedChallengeKeepsSync(t *testing.T) {
	addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
		hello(c, r)
		got(adaptertest.ReadLine(r)) // AUTH
		_, _ = c.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte("not json")) + "\r\n"))
		got(adaptertest.ReadLine(r)) // *
		_, _ = c.Write([]byte("501 5.0.0 Negotiation cancelled\r\n"))
		got(adaptertest.ReadLine(r)) // NOOP
		_, _ = c.Write([]byte("250 2.0.0 OK\r\n"))
		adaptertest.ReadLine(r)
	})
	c, cs := connect(t, addr)
	_, err := gosmtp.Authenticate(adaptertest.Bounded(t), c, &gosmtp.Options{Credentials: adaptertest.StaticCreds, ConnState: cs})
	if !errors.Is(err, adapters.ErrCancelled) || !errors.Is(err, sasl.ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("NOOP: %v", err)
	}
	c.Close()
	lines := <-done
	if len(lines) < 3 || lines[1] != "*" || lines[2] != "NOOP" {
		t.Fatalf("server read %q", lines)
	}
}

func TestHostileServers(t *testing.T) {
	cases := []struct {
		name   string
		script func(c net.Conn, r *bufio.Reader, got func(string))
		want   error
	}{
		{"malformed EHLO", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte("220 hi\r\n"))
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("250-x\r\n250 AUTH \x00\x01\xff\r\n"))
			adaptertest.ReadLine(r)
		}, sasl.ErrNoMechanism},
		{"EHLO refused", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte("220 hi\r\n"))
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("554 5.7.1 go away\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
		{"closed before EHLO", func(c net.Conn, r *bufio.Reader, got func(string)) {}, nil},
		{"non-base64 challenge", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("334 !!!***\r\n"))
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("501 cancelled\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
		{"oversized line", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("334 " + strings.Repeat("A", 1<<20) + "\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
		{"closed mid-exchange", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			adaptertest.ReadLine(r)
		}, nil},
		{"silent", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			adaptertest.ReadLine(r)
			adaptertest.ReadLine(r)
		}, context.DeadlineExceeded},
		{"garbage reply", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("what\x00 is this\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, done := adaptertest.Scripted(t, tc.script)
			c, cs := connect(t, addr)
			ctx := adaptertest.Bounded(t)
			if tc.want == context.DeadlineExceeded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			_, err := gosmtp.Authenticate(ctx, c, &gosmtp.Options{Credentials: adaptertest.StaticCreds, ConnState: cs})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "gosmtp: ") && !strings.HasPrefix(err.Error(), "adapters: ") {
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
