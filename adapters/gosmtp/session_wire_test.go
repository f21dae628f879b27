package gosmtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// tlsScripted serves every connection over TLS (a certificate from ms's CA)
// with script(i, …) for the i-th connection, and counts connections.
func tlsScripted(t *testing.T, ms *sasltest.MailServer, script func(i int, c net.Conn, r *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	cert, err := ms.CA().IssueServer("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(n.Add(1))
			script(i, c, bufio.NewReader(c))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String(), &n
}

// untilDot reads a message body up to the terminating dot.
func untilDot(r *bufio.Reader) {
	for {
		l, err := r.ReadString('\n')
		if err != nil || l == ".\r\n" {
			return
		}
	}
}

// login greets, answers EHLO and accepts AUTH PLAIN.
func login(c net.Conn, r *bufio.Reader) {
	_, _ = c.Write([]byte("220 hi\r\n"))
	adaptertest.ReadLine(r)
	_, _ = c.Write([]byte("250-hi\r\n250 AUTH PLAIN\r\n"))
	adaptertest.ReadLine(r)
	_, _ = c.Write([]byte("235 2.7.0 ok\r\n"))
}

func sessionFor(ms *sasltest.MailServer, addr string) *gosmtp.Session {
	return gosmtp.NewSession(addr, &gosmtp.SessionOptions{Options: &gosmtp.Options{
		Credentials: &sasl.Credentials{Username: alice, Password: password},
		TLSConfig:   ms.ClientTLSConfig(),
	}})
}

// The connection dies after the body went out, before the server's
// answer: the message may have been accepted, so it is not sent again.
func TestSessionNeverResends(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	addr, conns := tlsScripted(t, ms, func(i int, c net.Conn, r *bufio.Reader) {
		login(c, r)
		adaptertest.ReadLine(r)
		_, _ = c.Write([]byte("250 ok\r\n")) // MAIL
		adaptertest.ReadLine(r)
		_, _ = c.Write([]byte("250 ok\r\n")) // RCPT
		adaptertest.ReadLine(r)
		_, _ = c.Write([]byte("354 go ahead\r\n"))
		untilDot(r) // then close without an answer
	})
	s := sessionFor(ms, addr)
	defer s.Close()
	err := s.SendMail(adaptertest.Bounded(t), alice, []string{"bob@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "gosmtp: ") {
		t.Fatalf("err = %v", err)
	}
	if conns.Load() != 1 {
		t.Fatalf("%d connections: the message was sent again", conns.Load())
	}
}

// 421 before the body: reconnect once and send.
func TestSessionRetriesBeforeBody(t *testing.T) {
	ms := adaptertest.NewServer(t, nil)
	var bodies atomic.Int32
	addr, conns := tlsScripted(t, ms, func(i int, c net.Conn, r *bufio.Reader) {
		login(c, r)
		adaptertest.ReadLine(r) // MAIL
		if i == 1 {
			_, _ = c.Write([]byte("421 4.7.0 session expired\r\n"))
			return
		}
		_, _ = c.Write([]byte("250 ok\r\n"))
		adaptertest.ReadLine(r)
		_, _ = c.Write([]byte("250 ok\r\n"))
		adaptertest.ReadLine(r)
		_, _ = c.Write([]byte("354 go ahead\r\n"))
		untilDot(r)
		bodies.Add(1)
		_, _ = c.Write([]byte("250 queued\r\n"))
		adaptertest.ReadLine(r)
	})
	s := sessionFor(ms, addr)
	defer s.Close()
	if err := s.SendMail(context.Background(), alice, []string{"bob@example.test"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if conns.Load() != 2 || bodies.Load() != 1 {
		t.Fatalf("connections %d, bodies %d", conns.Load(), bodies.Load())
	}
}
