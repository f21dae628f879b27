package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// TestMsmtpPasswordeval sends mail with msmtp, a real mail client, whose
// passwordeval runs "saslkit token": the first send refreshes the expired
// stored token, the second reuses the new one. OAUTHBEARER over implicit
// TLS, then XOAUTH2 over STARTTLS.
func TestMsmtpPasswordeval(t *testing.T) {
	msmtp := requireTool(t, "msmtp")
	e := newCLIEnv(t, nil)
	e.seed("test", testUser, true)
	saslkit := os.Args[0] // this test binary runs the program when reexecEnv is set

	for i, tc := range []struct {
		mech, mode string
		addr       string
	}{
		{"oauthbearer", "implicit", e.ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS)},
		{"xoauth2", "starttls", e.ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS)},
	} {
		t.Run(tc.mech+"/"+tc.mode, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(tc.addr)
			starttls := "off"
			if tc.mode == "starttls" {
				starttls = "on"
			}
			rc := filepath.Join(e.dir, "msmtprc-"+tc.mech)
			conf := fmt.Sprintf(`account test
host %s
port %s
tls on
tls_starttls %s
tls_trust_file %s
auth %s
user %s
from %s
passwordeval "'%s' token test"
`, host, port, starttls, e.caFile, tc.mech, testUser, testUser, saslkit)
			if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			subject := fmt.Sprintf("msmtp %d", i)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, msmtp, "-C", rc, "-a", "test", "bob@example.test")
			cmd.Env = append(os.Environ(), reexecEnv+"=1", configEnv+"="+e.config, secretEnv+"="+e.secret, "NO_COLOR=1")
			cmd.Stdin = strings.NewReader("From: " + testUser + "\r\nTo: bob@example.test\r\nSubject: " + subject + "\r\n\r\nSent by msmtp.\r\n")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("msmtp: %v\n%s", err, out.String())
			}
			e.stored("test")
			e.noSecrets("msmtp's output", out.String())
			msgs, err := e.ms.Store().Messages("bob@example.test", "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, m := range msgs {
				found = found || bytes.Contains(m.Raw, []byte("Subject: "+subject))
			}
			if !found {
				t.Errorf("the message %q did not arrive (%d messages)", subject, len(msgs))
			}
			if st := e.ms.AuthStats(sasltest.ProtocolSMTP, tc.mech); st.Succeeded != 1 {
				t.Errorf("%s: server counted %+v", tc.mech, st)
			}
		})
	}
	if n := e.oauth.Requests("refresh_token"); n != 1 {
		t.Errorf("%d refreshes for two sends with an expired stored token, want 1", n)
	}
}
