package imap_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/adapters"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/internal/adaptertest"
	"github.com/saslkit/saslkit/sasl"
)

// A SCRAM server that answers OK without its signature, or with a wrong
// one, has not proved it knows the password: the adapter reports
// ErrCancelled wrapping sasl.ErrServerAuth and closes the client.
func TestSCRAMServerNotProven(t *testing.T) {
	for _, tc := range []struct{ name, final string }{
		{"no signature", ""},
		{"wrong signature", "v=" + base64.StdEncoding.EncodeToString(make([]byte, 32))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, done := adaptertest.Scripted(t, func(c net.Conn, r *bufio.Reader, got func(string)) {
				_, _ = c.Write([]byte("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256] ready\r\n"))
				f := strings.Fields(adaptertest.ReadLine(r)) // T1 AUTHENTICATE SCRAM-SHA-256 <ir>
				cf, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
				_, _ = c.Write([]byte("+ " + base64.StdEncoding.EncodeToString([]byte(adaptertest.ServerFirst(cf))) + "\r\n"))
				adaptertest.ReadLine(r) // client-final
				if tc.final != "" {
					_, _ = c.Write([]byte("+ " + base64.StdEncoding.EncodeToString([]byte(tc.final)) + "\r\n"))
					got(adaptertest.ReadLine(r))
				}
				_, _ = c.Write([]byte("T1 OK authenticated\r\n"))
				got(adaptertest.ReadLine(r)) // EOF: the client closed
			})
			c, cs := dialPlain(t, addr)
			_, err := imapadapter.Authenticate(adaptertest.Bounded(t), c, &imapadapter.Options{
				Credentials: &sasl.Credentials{Username: alice, Password: password},
				ConnState:   cs,
			})
			if !errors.Is(err, adapters.ErrCancelled) || !errors.Is(err, sasl.ErrServerAuth) {
				t.Fatalf("err = %v", err)
			}
			<-c.Closed()
			lines := <-done
			if tc.final != "" && lines[0] != "=" {
				t.Fatalf("answer to the final challenge %q", lines[0])
			}
			if strings.Contains(err.Error(), password) {
				t.Fatal("password in error")
			}
		})
	}
}
