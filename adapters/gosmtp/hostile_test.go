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
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/sasl"
)

type staticSource struct{}

func (staticSource) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "ya29.static-token"}, nil
}

var staticCreds = &sasl.Credentials{Username: alice, TokenSource: staticSource{}}

func scripted(t *testing.T, script func(c net.Conn, r *bufio.Reader, got func(string))) (string, <-chan []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		defer c.Close()
		var lines []string
		script(c, bufio.NewReader(c), func(s string) { lines = append(lines, s) })
		ch <- lines
	}()
	return ln.Addr().String(), ch
}

func readLine(r *bufio.Reader) string {
	l, _ := r.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

// hello greets and answers EHLO offering XOAUTH2.
func hello(c net.Conn, r *bufio.Reader) {
	_, _ = c.Write([]byte("220 mail.example.test ESMTP\r\n"))
	readLine(r)
	_, _ = c.Write([]byte("250-mail.example.test\r\n250 AUTH XOAUTH2\r\n"))
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
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
	addr, done := scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
		hello(c, r)
		got(readLine(r)) // AUTH
		_, _ = c.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte("not json")) + "\r\n"))
		got(readLine(r)) // *
		_, _ = c.Write([]byte("501 5.0.0 Negotiation cancelled\r\n"))
		got(readLine(r)) // NOOP
		_, _ = c.Write([]byte("250 2.0.0 OK\r\n"))
		readLine(r)
	})
	c, cs := connect(t, addr)
	_, err := gosmtp.Authenticate(bounded(t), c, &gosmtp.Options{Credentials: staticCreds, ConnState: cs})
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
			readLine(r)
			_, _ = c.Write([]byte("250-x\r\n250 AUTH \x00\x01\xff\r\n"))
			readLine(r)
		}, sasl.ErrNoMechanism},
		{"EHLO refused", func(c net.Conn, r *bufio.Reader, got func(string)) {
			_, _ = c.Write([]byte("220 hi\r\n"))
			readLine(r)
			_, _ = c.Write([]byte("554 5.7.1 go away\r\n"))
			readLine(r)
		}, nil},
		{"closed before EHLO", func(c net.Conn, r *bufio.Reader, got func(string)) {}, nil},
		{"non-base64 challenge", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			readLine(r)
			_, _ = c.Write([]byte("334 !!!***\r\n"))
			readLine(r)
			_, _ = c.Write([]byte("501 cancelled\r\n"))
			readLine(r)
		}, nil},
		{"oversized line", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			readLine(r)
			_, _ = c.Write([]byte("334 " + strings.Repeat("A", 1<<20) + "\r\n"))
			readLine(r)
		}, nil},
		{"closed mid-exchange", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			readLine(r)
		}, nil},
		{"silent", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			readLine(r)
			readLine(r)
		}, context.DeadlineExceeded},
		{"garbage reply", func(c net.Conn, r *bufio.Reader, got func(string)) {
			hello(c, r)
			readLine(r)
			_, _ = c.Write([]byte("what\x00 is this\r\n"))
			readLine(r)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, done := scripted(t, tc.script)
			c, cs := connect(t, addr)
			ctx := bounded(t)
			if tc.want == context.DeadlineExceeded {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			_, err := gosmtp.Authenticate(ctx, c, &gosmtp.Options{Credentials: staticCreds, ConnState: cs})
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
