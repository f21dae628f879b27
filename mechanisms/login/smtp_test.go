package login

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

	// Our client: no initial response, then the username and the password
	// in answer to the server's two challenges.
	if err := st.Authenticate(t, NewClient("tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	for _, line := range []string{"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n", "dGlt\r\n", "334 UGFzc3dvcmQ6\r\n", "dGFuc3RhYWZ0YW5zdGFhZg==\r\n"} {
		if !strings.Contains(st.Log.String(), line) {
			t.Fatalf("wire lacks %q:\n%s", line, st.Log.String())
		}
	}

	// go-sasl's client sends the username as an initial response.
	if err := st.Authenticate(t, gosasl.NewLoginClient("tim", "tanstaaftanstaaf")); err != nil {
		t.Fatalf("go-sasl client: %v", err)
	}
	if !strings.Contains(st.Log.String(), "AUTH LOGIN dGlt\r\n") {
		t.Fatal("wire lacks the initial-response form")
	}

	var se *smtp.SMTPError
	for _, c := range []sasl.Client{NewClient("tim", "wrong"), NewClient("nobody", "x")} {
		err := st.Authenticate(t, c)
		if !errors.As(err, &se) || se.Code != 535 {
			t.Fatalf("bad credentials: %v, want 535", err)
		}
	}

	want := sasl.Identity{Mechanism: Name, Username: "tim"}
	if got := st.Identities(); len(got) != 2 || got[0] != want || got[1] != want {
		t.Fatalf("identities = %+v", got)
	}
}

// TestSMTPRawWire replays the draft's §2.3 client lines over SMTP by hand,
// and shows the reply to a malformed username.
func TestSMTPRawWire(t *testing.T) {
	st := startSMTP(t, testUsers())
	c := st.DialText(t)
	mechtest.ExpectReply(t, c, "AUTH LOGIN", 334, "VXNlcm5hbWU6")
	mechtest.ExpectReply(t, c, "dGlt", 334, "UGFzc3dvcmQ6")
	mechtest.ExpectReply(t, c, "dGFuc3RhYWZ0YW5zdGFhZg==", 235, "")

	c = st.DialText(t)
	mechtest.ExpectReply(t, c, "AUTH LOGIN", 334, "VXNlcm5hbWU6")
	mechtest.ExpectReply(t, c, "dABpbQ==", 501, "") // "t\x00im"

	if got := st.Identities(); len(got) != 1 || got[0].Username != "tim" {
		t.Fatalf("identities = %+v", got)
	}
}
