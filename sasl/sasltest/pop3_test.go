package sasltest_test

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	popMsg1 = "From: carol@example.test\r\nSubject: one\r\n\r\nfirst line\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n"
	popMsg2 = "Subject: two\r\n\r\nbody of two\r\n"
)

// Every POP3 command, in the order a session meets them.
func TestPOP3EveryCommand(t *testing.T) {
	ms := startMail(t, nil)
	for _, m := range []string{popMsg1, popMsg2} {
		if _, err := ms.Store().Deliver(alice, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	c := dialPOP3Plain(t, ms, sasltest.StartTLS)

	// AUTHORIZATION, before TLS.
	c.expectErr("STAT")
	c.expectErr("NOOP")
	c.send("CAPA")
	c.line()
	if capa := c.multi(); !slices.Contains(capa, "STLS") || !slices.Contains(capa, "TOP") || !slices.Contains(capa, "UIDL") || !slices.Contains(capa, "RESP-CODES") || !slices.Contains(capa, "AUTH-RESP-CODE") {
		t.Errorf("CAPA: %v", capa)
	}
	c.expectOK("STLS")
	c.upgrade(ms.ClientTLSConfig())
	c.expectErr("STLS") // TLS already active
	c.send("CAPA")
	c.line()
	capa := c.multi()
	if slices.Contains(capa, "STLS") || !slices.Contains(capa, "USER") || !slices.Contains(capa, "SASL PLAIN XOAUTH2 OAUTHBEARER") {
		t.Errorf("CAPA after STLS: %v", capa)
	}
	// AUTH without arguments lists the mechanisms (RFC 1734 style).
	c.send("AUTH")
	c.line()
	if l := c.multi(); !slices.Equal(l, []string{"PLAIN", "XOAUTH2", "OAUTHBEARER"}) {
		t.Errorf("AUTH list: %v", l)
	}
	c.expectErr("PASS " + alicePass) // no USER yet
	c.expectOK("USER " + alice)
	if r := c.expectErr("PASS wrong-password"); r != "-ERR [AUTH] Username and password not accepted." {
		t.Errorf("wrong PASS: %q", r)
	}
	c.expectErr("AUTH SCRAM-SHA-1") // not offered by the gmail profile
	c.expectOK("USER " + alice)
	c.expectOK("PASS " + alicePass)

	// TRANSACTION.
	c.expectErr("USER " + alice)
	size1, size2 := len(popMsg1), len(popMsg2)
	if r := c.expectOK("STAT"); r != "+OK 2 "+itoa(size1+size2) {
		t.Errorf("STAT: %q", r)
	}
	c.send("LIST")
	c.line()
	if l := c.multi(); !slices.Equal(l, []string{"1 " + itoa(size1), "2 " + itoa(size2)}) {
		t.Errorf("LIST: %v", l)
	}
	if r := c.expectOK("LIST 2"); r != "+OK 2 "+itoa(size2) {
		t.Errorf("LIST 2: %q", r)
	}
	c.expectErr("LIST 3")
	c.expectErr("LIST 0")
	c.expectErr("LIST -1")
	c.expectErr("LIST x")
	c.send("UIDL")
	c.line()
	uidl := c.multi()
	if len(uidl) != 2 || uidl[0] == uidl[1] {
		t.Errorf("UIDL: %v", uidl)
	}
	if r := c.expectOK("UIDL 1"); r != "+OK "+uidl[0] {
		t.Errorf("UIDL 1: %q vs %q", r, uidl[0])
	}
	// RETR: dot-stuffed on the wire, exact after unstuffing.
	c.send("RETR 1")
	c.line()
	raw := rawMulti(t, c)
	if !slices.Contains(raw, "..starts with a dot") || !slices.Contains(raw, "...two dots") || !slices.Contains(raw, "..") {
		t.Errorf("RETR not dot-stuffed: %q", raw)
	}
	if got := unstuff(raw); got != popMsg1 {
		t.Errorf("RETR body %q, want %q", got, popMsg1)
	}
	// TOP: header, blank line, n body lines.
	c.send("TOP 1 2")
	c.line()
	if got := unstuff(rawMulti(t, c)); got != "From: carol@example.test\r\nSubject: one\r\n\r\nfirst line\r\n.starts with a dot\r\n" {
		t.Errorf("TOP 1 2: %q", got)
	}
	c.send("TOP 2 0")
	c.line()
	if got := unstuff(rawMulti(t, c)); got != "Subject: two\r\n\r\n" {
		t.Errorf("TOP 2 0: %q", got)
	}
	c.expectErr("TOP 1")
	c.expectErr("TOP 1 -1")
	c.expectOK("NOOP")
	c.expectOK("DELE 1")
	c.expectErr("DELE 1") // already deleted
	c.expectErr("RETR 1")
	if r := c.expectOK("STAT"); r != "+OK 1 "+itoa(size2) {
		t.Errorf("STAT after DELE: %q", r)
	}
	c.expectOK("RSET")
	if r := c.expectOK("STAT"); r != "+OK 2 "+itoa(size1+size2) {
		t.Errorf("STAT after RSET: %q", r)
	}
	c.expectOK("DELE 2")
	c.expectErr("APOP x y")
	c.expectErr("XYZZY")
	// QUIT enters UPDATE: message 2 is removed, in POP3 and in IMAP.
	if r := c.expectOK("QUIT"); !strings.Contains(r, "1 messages left") {
		t.Errorf("QUIT: %q", r)
	}
	msgs, err := ms.Store().Messages(alice, "INBOX")
	if err != nil || len(msgs) != 1 || string(msgs[0].Raw) != popMsg1 {
		t.Errorf("after QUIT the store holds %d messages (%v)", len(msgs), err)
	}
	// A session that ends without QUIT removes nothing.
	c2 := dialPOP3(t, ms, sasltest.ImplicitTLS)
	c2.expectOK("USER " + alice)
	c2.expectOK("PASS " + alicePass)
	c2.expectOK("DELE 1")
	c2.tp.Close()
	waitTranscript(t, ms, c2.local)
	if msgs, _ := ms.Store().Messages(alice, "INBOX"); len(msgs) != 1 {
		t.Errorf("deletion without QUIT was applied: %d messages", len(msgs))
	}
	// QUIT in the AUTHORIZATION state.
	c3 := dialPOP3(t, ms, sasltest.ImplicitTLS)
	c3.expectOK("QUIT")
}

// AUTH with and without initial response, and the 255-octet rule: an
// AUTH line longer than 255 octets is refused, the same response sent as
// a continuation is accepted.
func TestPOP3AuthInitialResponse(t *testing.T) {
	ms := startMail(t, nil)
	tok, _ := ms.IssueToken(alice)
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + alicePass))

	c := dialPOP3(t, ms, sasltest.ImplicitTLS)
	if l := c.auth(saslClient(t, "PLAIN", passCreds(alice, alicePass), c.cs()), true); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("AUTH PLAIN with IR: %q", l)
	}
	c.expectOK("QUIT")

	c = dialPOP3(t, ms, sasltest.ImplicitTLS)
	if r := c.cmd("AUTH PLAIN"); r != "+ " {
		t.Fatalf("AUTH PLAIN: %q", r)
	}
	c.expectOK(plain)
	c.expectOK("QUIT")

	c = dialPOP3(t, ms, sasltest.ImplicitTLS)
	if l := c.auth(saslClient(t, "OAUTHBEARER", tokenCreds(alice, tok), c.cs()), false); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("AUTH OAUTHBEARER without IR: %q", l)
	}
	c.expectOK("QUIT")

	// The 255-octet rule, counted with CRLF.
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + strings.Repeat("p", 200)))
	line := "AUTH PLAIN " + ir
	if len(line)+2 <= 255 {
		t.Fatalf("test line too short: %d", len(line))
	}
	c = dialPOP3(t, ms, sasltest.ImplicitTLS)
	if r := c.expectErr(line); !strings.Contains(r, "255") {
		t.Errorf("long AUTH line: %q", r)
	}
	// Exactly 255 octets is allowed: the token is refused, not the line.
	fit := "AUTH XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("user="+alice+"\x01auth=Bearer "+strings.Repeat("t", 180-len(alice)-20)+"\x01\x01"))
	if len(fit)+2 != 255 {
		t.Fatalf("fit line is %d octets", len(fit)+2)
	}
	if r := c.cmd(fit); !strings.HasPrefix(r, "+ ey") {
		t.Fatalf("255-octet AUTH line: %q", r)
	}
	if r := c.expectErr(""); !strings.Contains(r, "[AUTH]") {
		t.Errorf("after the error challenge: %q", r)
	}
	// The same long response as a continuation is fine.
	if r := c.cmd("AUTH PLAIN"); r != "+ " {
		t.Fatalf("AUTH PLAIN: %q", r)
	}
	if r := c.expectErr(ir); !strings.Contains(r, "[AUTH]") {
		t.Errorf("long continuation: %q", r)
	}
	if r := c.cmd("AUTH PLAIN"); r != "+ " {
		t.Fatalf("AUTH PLAIN: %q", r)
	}
	c.expectErr("*") // cancel
	c.expectOK("AUTH PLAIN " + plain)
}

// Hostile input gets -ERR and the connection stays usable; bad base64 in
// every form is refused.
func TestPOP3HostileInput(t *testing.T) {
	ms := startMail(t, nil)
	c := dialPOP3(t, ms, sasltest.ImplicitTLS)
	defer func() {
		if t.Failed() {
			tr, _ := ms.TranscriptOf(c.local)
			t.Log(tr)
		}
	}()
	for i, line := range []string{
		strings.Repeat("A", 300),           // overlong command
		"RETR 1", "DELE 1", "STAT", "LIST", // out of state
		"NOOP", "RSET", "TOP 1 1", "UIDL",
		"", " ", "AUTH", "US", "USERS x",
		"CAPA extra",
		"USER",
		"USER a b",
		"AUTH PLAIN =AAA", "AUTH PLAIN AAA=BBB", "AUTH PLAIN AAAA\tBBBB", "AUTH PLAIN AAAA BBBB",
		"AUTH PLAIN AA!A", "AUTH PLAIN AAAAA", "AUTH PLAIN AB==",
		"AUTH " + strings.Repeat("X", 30),
		"AUTH PLAIN\x00",
	} {
		if i%10 == 9 {
			// A good command now and then: the server closes after 20
			// bad ones in a row.
			c.send("CAPA")
			c.line()
			c.multi()
		}
		if line == "AUTH" {
			c.send("AUTH")
			c.line()
			c.multi()
			continue
		}
		c.expectErr(line)
	}
	c.send("CAPA")
	c.line()
	c.multi()
	for _, bad := range []string{"=AAA", "AAA=BBB", "AAAA\tBBBB", "AAAA BBBB", "AAAA\rBBBB", "AAA", "A===", "%%%%"} {
		if r := c.cmd("AUTH PLAIN"); r != "+ " {
			t.Fatalf("AUTH PLAIN: %q", r)
		}
		if r := c.cmd(bad); !strings.HasPrefix(r, "-ERR") {
			t.Errorf("continuation %q: %q", bad, r)
		}
	}
	// Still usable.
	c.expectOK("USER " + alice)
	c.expectOK("PASS " + alicePass)
	c.expectOK("STAT")
	// Too many errors in a row end the connection.
	for i := 0; i < 25; i++ {
		c.send("BOGUS")
		l, err := c.tp.ReadLine()
		if err != nil {
			return
		}
		if strings.Contains(l, "Too many errors") {
			if _, err := c.tp.ReadLine(); err == nil {
				t.Error("connection open after too many errors")
			}
			return
		}
	}
	t.Error("the server never gave up on a flood of bad commands")
}

// One session per maildrop (RFC 1939 §8): a second gets [IN-USE].
func TestPOP3MaildropLock(t *testing.T) {
	ms := startMail(t, nil)
	c1 := dialPOP3(t, ms, sasltest.ImplicitTLS)
	c1.expectOK("USER " + alice)
	c1.expectOK("PASS " + alicePass)
	c2 := dialPOP3(t, ms, sasltest.ImplicitTLS)
	c2.expectOK("USER " + alice)
	if r := c2.expectErr("PASS " + alicePass); !strings.Contains(r, "[IN-USE]") {
		t.Errorf("second session: %q", r)
	}
	c1.expectOK("QUIT")
	waitTranscript(t, ms, c1.local)
	c2.expectOK("USER " + alice)
	c2.expectOK("PASS " + alicePass)
}

func itoa(n int) string { return strconv.Itoa(n) }

// rawMulti reads a multi-line body without unstuffing.
func rawMulti(t *testing.T, c *popClient) []string {
	t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// unstuff joins lines, removing dot-stuffing.
func unstuff(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
	return b.String()
}
