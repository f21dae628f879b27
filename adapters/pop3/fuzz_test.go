package pop3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/internal/wire"
	"github.com/saslkit/saslkit/sasl"
)

// Fuzz targets for every parser that reads from the network. Each checks
// that the parser never panics and that what it accepts is well-formed.

var statusSeeds = []string{
	"+OK", "+OK pop.example.com BlurdyBlurp POP3 server ready", "-ERR", "-ERR [AUTH] Username and password not accepted.",
	"-ERR [SYS/TEMP] Temporary System Error", "-ERR [IN-USE] locked", "-ERR [LOGIN-DELAY] wait", "-ERR [SYS/PERM]",
	"-ERR [] x", "-ERR [A/] x", "-ERR [unterminated", "+OKAY", "-ERRx", "", "+ ", "+", "+OK 2 320",
	"-ERR Authentication failure: unknown user name or bad password.", "-ERR \x00\xff",
}

func FuzzStatusLine(f *testing.F) {
	for _, s := range statusSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		st, err := parseStatus("X", line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if st.ok != strings.HasPrefix(line, "+OK") {
			t.Fatalf("ok=%v for %q", st.ok, line)
		}
		if st.code != "" && (st.ok || strings.ContainsAny(st.code, " []")) {
			t.Fatalf("code %q for %q", st.code, line)
		}
		e := &Error{Command: "X", Code: st.code, Text: sanitize(st.text)}
		if s := e.Error(); strings.ContainsAny(s, "\r\n\x00") || !strings.HasPrefix(s, "pop3: ") {
			t.Fatalf("error text %q", s)
		}
	})
}

func FuzzCapa(f *testing.F) {
	f.Add("SASL PLAIN DIGEST-MD5 GSSAPI ANONYMOUS\nSTLS\nIMPLEMENTATION BlurdyBlurp POP3 server")
	f.Add("TOP\nUIDL\nRESP-CODES\nAUTH-RESP-CODE\nPIPELINING\nUSER\nEXPIRE 31 USER\nLOGIN-DELAY 900\nSASL XOAUTH2 OAUTHBEARER")
	f.Add("EXPIRE NEVER\nLOGIN-DELAY -1\nSASL a b c\nX-UNKNOWN 1 2")
	f.Add("SASL " + strings.Repeat("X", 30) + "\nEXPIRE 99999999999999999999")
	f.Fuzz(func(t *testing.T, text string) {
		c := parseCapa(strings.Split(text, "\n"))
		for _, m := range c.SASL {
			if !validMech(m) {
				t.Fatalf("mechanism %q", m)
			}
		}
		if c.LoginDelay < 0 || c.Expire.Days < 0 {
			t.Fatalf("negative values %+v", c)
		}
	})
}

func FuzzListLine(f *testing.F) {
	for _, s := range []string{"1 120", "2 200 extra", "0 1", "1", "x y", "1 -2", "99999999999999999999 1", "3\t4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if m, err := parseListLine(line); err == nil && (m.Number < 1 || m.Size < 0) {
			t.Fatalf("%q gave %+v", line, m)
		} else if err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatal(err)
		}
		if n, sz, err := parseStat(line); err == nil && (n < 0 || sz < 0) {
			t.Fatalf("STAT %q gave %d %d", line, n, sz)
		}
	})
}

func FuzzUIDLLine(f *testing.F) {
	for _, s := range []string{"1 whqtswO00WBw418f9t5JxYwZ", "2 QhdPYR:00WBw1Ph7x7", "1 has\x01ctl", "1", "1 a b", "0 x", "1 " + strings.Repeat("u", 71)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		u, err := parseUIDLLine(line)
		if err != nil {
			return
		}
		if u.Number < 1 || u.UID == "" || len(u.UID) > 70 || strings.ContainsFunc(u.UID, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			t.Fatalf("%q gave %+v", line, u)
		}
	})
}

// unstuff is the reference: split on LF, drop the terminator, remove one
// leading dot.
func unstuff(data []byte) ([]byte, bool) {
	var out []byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, false
		}
		line := data[:i+1]
		data = data[i+1:]
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return out, true
		}
		out = append(out, bytes.TrimPrefix(line, []byte("."))...)
	}
	return nil, false
}

func FuzzDotReader(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n..leading\r\n.\r\n"), 64)
	f.Add([]byte(".\r\n"), 64)
	f.Add([]byte("no end\r\n"), 64)
	f.Add([]byte(".\rx\r\n.\n"), 4)
	f.Add([]byte(strings.Repeat("a", 100)+"\r\n.\r\n"), 16)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max = max&0xfff + 1
		r := &dotReader{br: bufio.NewReaderSize(bytes.NewReader(data), 16), maxLine: max, cmd: "RETR"}
		got, err := io.ReadAll(r)
		want, ok := unstuff(data)
		switch {
		case err == nil && !ok:
			t.Fatalf("accepted unterminated data %q", data)
		case err == nil && !bytes.Equal(got, want):
			t.Fatalf("got %q want %q", got, want)
		case err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrLineTooLong):
			t.Fatalf("error %v", err)
		case errors.Is(err, io.ErrUnexpectedEOF) && ok:
			t.Fatalf("terminated data %q reported EOF", data)
		}
	})
}

func FuzzContinuation(f *testing.F) {
	for _, s := range []string{"+ ", "+", "+ eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==",
		"+ =AAA", "+ AAA=BBB", "+ QUFB\tQUFB", "+ QUFB QUFB", "+ QUFB\rQUFB", "+ Q2cBAQ=", "+OK", "+ =", "+ YQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ch, ok, err := parseContinuation(line)
		if !ok {
			if ch != nil || err != nil {
				t.Fatal("non-continuation with result")
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatal(err)
			}
			return
		}
		b64 := strings.TrimPrefix(strings.TrimPrefix(line, "+"), " ")
		if b64 != "" {
			if again, good := wire.DecodeBase64(b64); !good || !bytes.Equal(again, ch) || strings.ContainsAny(b64, " \t\r\n") {
				t.Fatalf("accepted %q", line)
			}
		}
	})
}

type fuzzTokens struct{}

func (fuzzTokens) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "fuzz-token"}, nil
}

// FuzzAuthExchange feeds arbitrary server answers to a whole AUTH
// exchange (continuations, status lines, cancel) with each token and
// password mechanism.
func FuzzAuthExchange(f *testing.F) {
	f.Add("+OK Logged in.\r\n", uint8(0))
	f.Add("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K\r\n-ERR [AUTH] no\r\n", uint8(1))
	f.Add("+ !!\r\n-ERR cancelled\r\n", uint8(2))
	f.Add("+ \r\n+ \r\n+OK\r\n", uint8(3))
	f.Add("-ERR [SYS/TEMP] later\r\n", uint8(0))
	f.Fuzz(func(t *testing.T, server string, which uint8) {
		// SCRAM is fuzzed in its own package; its key derivation would
		// slow this target down.
		mechs := []string{"XOAUTH2", "OAUTHBEARER", "PLAIN", "LOGIN"}
		mech := mechs[int(which)%len(mechs)]
		var out bytes.Buffer
		rw := bufio.NewReadWriter(bufio.NewReader(strings.NewReader(server)), bufio.NewWriter(&out))
		o := &AuthOptions{Advertised: []string{mech}}
		o.Credentials = &sasl.Credentials{Username: "u", Password: "secret-pw", TokenSource: fuzzTokens{}}
		cs := &sasl.ConnState{Host: "localhost", Port: 110}
		_, err := Authenticate(context.Background(), rw, cs, o)
		if err != nil && strings.Contains(err.Error(), "secret-pw") || err != nil && strings.Contains(err.Error(), "fuzz-token") {
			t.Fatalf("secret in error: %v", err)
		}
	})
}

// scriptConn is a net.Conn whose server side is fixed bytes.
type scriptConn struct{ r *strings.Reader }

func (c *scriptConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzClientSession runs a whole session (greeting, CAPA, USER/PASS, STAT,
// LIST, UIDL, RETR, TOP, QUIT) against arbitrary server bytes.
func FuzzClientSession(f *testing.F) {
	f.Add("+OK hi\r\n+OK\r\nUIDL\r\n.\r\n+OK\r\n+OK\r\n+OK 1 5\r\n+OK\r\n1 5\r\n.\r\n+OK\r\n1 a\r\n.\r\n+OK\r\n..x\r\n.\r\n+OK\r\n.\r\n+OK bye\r\n")
	f.Add("+OK\r\n-ERR\r\n+OK\r\n+OK\r\n+OK x\r\n")
	f.Add("+OK\r\n+OK\r\n" + strings.Repeat("SASL A\r\n", 600))
	f.Fuzz(func(t *testing.T, server string) {
		ctx := context.Background()
		c, err := NewClient(ctx, &scriptConn{r: strings.NewReader(server)}, &Options{MaxLineLength: 256, MaxListLines: 64})
		if err != nil {
			return
		}
		c.Capabilities(ctx)
		if c.Login(ctx, "u", "secret-pw") != nil {
			return
		}
		c.Stat(ctx)
		c.List(ctx)
		c.UIDL(ctx)
		for _, get := range []func() (io.ReadCloser, error){
			func() (io.ReadCloser, error) { return c.Retr(ctx, 1) },
			func() (io.ReadCloser, error) { return c.Top(ctx, 1, 0) },
		} {
			if r, err := get(); err == nil {
				io.Copy(io.Discard, r)
				r.Close()
			}
		}
		if err := c.Quit(ctx); err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Fatal("secret in error")
		}
	})
}
