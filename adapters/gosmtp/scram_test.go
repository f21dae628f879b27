package gosmtp_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
)

// A SCRAM server that reports success without proving itself: 235
// without a signature (the client closes), or a wrong signature (the client
// cancels with "*").
func TestSCRAMServerNotProven(t *testing.T) {
	for _, tc := range []struct{ name, final string }{
		{"no signature", ""},
		{"wrong signature", "v=" + base64.StdEncoding.EncodeToString(make([]byte, 32))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
				_, _ = c.Write([]byte("220 hi\r\n"))
				adaptertest.ReadLine(r)
				_, _ = c.Write([]byte("250-hi\r\n250 AUTH SCRAM-SHA-256\r\n"))
				f := strings.Fields(adaptertest.ReadLine(r))
				cf, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
				_, _ = c.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte(adaptertest.ServerFirst(cf))) + "\r\n"))
				adaptertest.ReadLine(r)
				if tc.final != "" {
					_, _ = c.Write([]byte("334 " + base64.StdEncoding.EncodeToString([]byte(tc.final)) + "\r\n"))
					got(adaptertest.ReadLine(r))
					_, _ = c.Write([]byte("501 5.0.0 cancelled\r\n"))
				} else {
					_, _ = c.Write([]byte("235 2.7.0 ok\r\n"))
				}
				got(adaptertest.ReadLine(r)) // "" at EOF
			})
			c, cs := connect(t, addr)
			_, err := gosmtp.Authenticate(adaptertest.Bounded(t), c, &gosmtp.Options{
				Credentials: &sasl.Credentials{Username: alice, Password: password},
				ConnState:   cs,
			})
			if !errors.Is(err, adapters.ErrCancelled) || !errors.Is(err, sasl.ErrServerAuth) {
				t.Fatalf("err = %v", err)
			}
			lines := <-done
			if tc.final != "" && lines[0] != "*" {
				t.Fatalf("answer to the wrong signature %q", lines[0])
			}
			if lines[len(lines)-1] != "" {
				t.Fatalf("client went on: %q", lines)
			}
		})
	}
}
