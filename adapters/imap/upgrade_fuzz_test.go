package imap

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// scriptConn is a connection whose peer says script and ignores what it is
// told.
type scriptConn struct {
	net.Conn
	r io.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return len(p), nil }

// FuzzUpgrade feeds the STARTTLS preamble whatever a server may send: no
// panic, and success only after an OK greeting and a tagged OK with nothing
// after it.
func FuzzUpgrade(f *testing.F) {
	f.Add([]byte("* OK ready\r\nS1 OK begin\r\n"))
	f.Add([]byte("* PREAUTH\r\n"))
	f.Add([]byte("* OK\r\n* CAPABILITY IMAP4rev1\r\nS1 OK\r\nextra"))
	f.Add([]byte("* OK\r\nS1 NO\r\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		err := upgrade(&scriptConn{r: bytes.NewReader(script)})
		if err == nil {
			if !bytes.HasPrefix(script, []byte("* OK")) || !bytes.Contains(script, []byte("\nS1 ")) {
				t.Fatalf("accepted %q", script)
			}
			// Only data already buffered can be seen (as in any client).
			if i := bytes.LastIndex(script, []byte("\n")); i != len(script)-1 && len(script) <= maxLine {
				t.Fatalf("accepted data after the answer: %q", script)
			}
		}
	})
}
