package plain

import (
	"context"
	"errors"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

func startSMTP(t *testing.T, v sasl.PasswordVerifier) *mechtest.SMTP {
	return mechtest.StartSMTP(t, mechtest.SMTPOptions{
		Mechanism: Name,
		NewServer: func(ctx context.Context, _ *sasl.ConnState) sasl.ServerConversation { return NewServer(ctx, v) },
	})
}

func TestSMTPLoopback(t *testing.T) {
	st := startSMTP(t, testUsers())

	if err := st.Authenticate(t, NewClient("", "tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if !strings.Contains(st.Log.String(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n") {
		t.Fatalf("wire lacks the RFC 4616 message:\n%s", st.Log.String())
	}

	// go-sasl's client reaches our server the same way (RFC 4954's example).
	if err := st.Authenticate(t, gosasl.NewPlainClient("test", "test", "1234")); err != nil {
		t.Fatalf("go-sasl client: %v", err)
	}
	if !strings.Contains(st.Log.String(), "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=\r\n") {
		t.Fatal("wire lacks the RFC 4954 message")
	}

	err := st.Authenticate(t, NewClient("", "tim", "wrong"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("wrong password: %v, want 535", err)
	}
	err = st.Authenticate(t, NewClient("", "nobody", "x"))
	if !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("unknown user: %v, want 535", err)
	}

	want := []sasl.Identity{
		{Mechanism: Name, Username: "tim"},
		{Mechanism: Name, Username: "test", Authzid: "test"},
	}
	if got := st.Identities(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("identities = %+v", got)
	}
}

// TestSMTPRawWire speaks SMTP by hand to show the no-initial-response path
// (RFC 4954 §4.1: "334 " then the message) and the replies to a malformed
// message and to admin\0\0pw.
func TestSMTPRawWire(t *testing.T) {
	st := startSMTP(t, testUsers())
	c := st.DialText(t)
	mechtest.ExpectReply(t, c, "AUTH PLAIN", 334, "")
	mechtest.ExpectReply(t, c, "dGVzdAB0ZXN0ADEyMzQ=", 235, "")

	c = st.DialText(t)
	mechtest.ExpectReply(t, c, "AUTH PLAIN YWRtaW4AAHB3", 501, "") // admin\0\0pw

	c = st.DialText(t)
	mechtest.ExpectReply(t, c, "AUTH PLAIN", 334, "")
	mechtest.ExpectReply(t, c, "dGltAHRhbnN0YWFm", 501, "") // one NUL

	if got := st.Identities(); len(got) != 1 || got[0].AuthorizedAs() != "test" {
		t.Fatalf("identities = %+v", got)
	}
}
