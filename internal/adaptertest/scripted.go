package adaptertest

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/sasl"
)

// Scripted serves one connection on the loopback interface with script and
// returns the address. The lines the script passes to got are sent on done
// when it ends (nil if no client connected before the test ended).
func Scripted(t testing.TB, script func(c net.Conn, r *bufio.Reader, got func(string))) (addr string, done <-chan []string) {
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

// ReadLine reads a line and returns it without its CRLF; it returns what
// it read before an error ("" at EOF).
func ReadLine(r *bufio.Reader) string {
	l, _ := r.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

// Bounded returns a context that ends after ten seconds or with the test,
// so that a regression fails instead of hanging; no test asserts on time.
func Bounded(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type staticSource struct{}

func (staticSource) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "ya29.static-token"}, nil
}

// StaticCreds are Alice's credentials with a token source that always
// returns the access token "ya29.static-token".
var StaticCreds = &sasl.Credentials{Username: Alice, TokenSource: staticSource{}}

// ServerFirst answers a SCRAM client-first message with a well-formed
// server-first message: the client's nonce extended, a fixed salt, and
// 4096 iterations.
func ServerFirst(clientFirst []byte) string {
	var nonce string
	for _, f := range strings.Split(string(clientFirst), ",") {
		if v, ok := strings.CutPrefix(f, "r="); ok {
			nonce = v
		}
	}
	salt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	return "r=" + nonce + "server-nonce,s=" + salt + ",i=4096"
}
