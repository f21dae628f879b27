package sasltest_test

import (
	"github.com/emersion/go-smtp"
	"github.com/saslkit/saslkit/sasl"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

func TestSmokeIMAP(t *testing.T) {
	ms := startMail(t, nil)
	tok, err := ms.IssueToken(alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS} {
		c, cs, local := dialIMAP(t, ms, mode)
		t.Log(c.Caps())
		if err := c.Authenticate(saslClient(t, "XOAUTH2", tokenCreds(alice, tok), cs)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		c.Logout().Wait()
		tr, _ := ms.TranscriptOf(local)
		<-tr.Done
		tr, _ = ms.TranscriptOf(local)
		t.Log(tr.String())
	}
}

func TestSmokeSMTP(t *testing.T) {
	ms := startMail(t, nil)
	tok, _ := ms.IssueToken(alice)
	for _, mode := range []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS} {
		addr := ms.Addr(sasltest.ProtocolSMTP, mode)
		var c *smtp.Client
		var err error
		if mode == sasltest.ImplicitTLS {
			c, err = smtp.DialTLS(addr, ms.ClientTLSConfig())
		} else {
			c, err = smtp.DialStartTLS(addr, ms.ClientTLSConfig())
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		st, _ := c.TLSConnectionState()
		cs := &sasl.ConnState{TLS: &st}
		if err := c.Auth(saslClient(t, "XOAUTH2", tokenCreds(alice, tok), cs)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail(alice, []string{bob}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n.dot\r\n")); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		for _, tr := range ms.Transcripts() {
			<-tr.Done
		}
	}
	for _, tr := range ms.Transcripts() {
		t.Log(tr.String())
	}
	msgs, err := ms.Store().Messages(bob, "INBOX")
	t.Log(len(msgs), err)
	for _, m := range msgs {
		t.Logf("%d %q", m.UID, m.Raw)
	}
}

func TestSmokePOP3(t *testing.T) {
	ms := startMail(t, nil)
	tok, _ := ms.IssueToken(alice)
	ms.Store().Deliver(alice, []byte("Subject: x\r\n\r\n.hidden\r\nbody\r\n"))
	for _, mode := range []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS} {
		c := dialPOP3(t, ms, mode)
		c.send("CAPA")
		t.Log(c.line(), c.multi())
		t.Log(c.auth(saslClient(t, "XOAUTH2", tokenCreds(alice, tok), c.cs()), mode == sasltest.ImplicitTLS))
		t.Log(c.cmd("STAT"))
		c.send("RETR 1")
		t.Log(c.line(), c.multi())
		t.Log(c.cmd("QUIT"))
	}
	for _, tr := range ms.Transcripts() {
		<-tr.Done
		t.Log(tr.String())
	}
}
