package netsmtp_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/netsmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
)

// scripted serves one connection with script and returns the address; the
// test's cleanup waits for the script to end.
func scripted(t *testing.T, script func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	var done <-chan []string
	t.Cleanup(func() { // after the listener closes
		if done != nil {
			<-done
		}
	})
	addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, _ func(string)) { script(c, r) })
	return addr
}

func hello(c net.Conn, r *bufio.Reader) {
	_, _ = c.Write([]byte("220 hi\r\n"))
	adaptertest.ReadLine(r)
	_, _ = c.Write([]byte("250-hi\r\n250 AUTH XOAUTH2\r\n"))
}

var creds = &sasl.Credentials{Username: alice, TokenSource: staticToken{&oauth2.Token{AccessToken: "ya29.static"}}}

func TestHostileServers(t *testing.T) {
	cases := []struct {
		name   string
		script func(c net.Conn, r *bufio.Reader)
		want   error
	}{
		{"malformed challenge", func(c net.Conn, r *bufio.Reader) {
			hello(c, r)
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte("not json")) + "\r\n"))
			adaptertest.ReadLine(r) // *
			_, _ = c.Write([]byte("501 cancelled\r\n"))
			adaptertest.ReadLine(r)
		}, adapters.ErrCancelled},
		{"non-base64 challenge", func(c net.Conn, r *bufio.Reader) {
			hello(c, r)
			adaptertest.ReadLine(r)
			_, _ = c.Write([]byte("334 !!!\r\n"))
			adaptertest.ReadLine(r)
		}, nil},
		{"closed mid-exchange", func(c net.Conn, r *bufio.Reader) {
			hello(c, r)
			adaptertest.ReadLine(r)
		}, nil},
		{"silent", func(c net.Conn, r *bufio.Reader) {
			hello(c, r)
			adaptertest.ReadLine(r)
			adaptertest.ReadLine(r)
		}, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := scripted(t, tc.script)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c, err := smtp.NewClient(conn, "localhost")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.want == context.DeadlineExceeded {
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			_, err = netsmtp.Authenticate(ctx, c, &netsmtp.Options{Credentials: creds})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "netsmtp: ") && !strings.HasPrefix(err.Error(), "adapters: ") {
				t.Fatalf("no package prefix: %v", err)
			}
			if strings.Contains(err.Error(), "ya29") {
				t.Fatal("token in error")
			}
		})
	}
}
