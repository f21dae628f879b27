//go:build unix

package providers_test

import (
	"context"
	"fmt"
	"time"

	"github.com/saslkit/saslkit/providers"
)

// Running a helper that prints a token, the way msmtp's passwordeval or
// isync's PassCmd do: "oauth2ms", "gcloud auth print-access-token", a
// password manager. The command is argv, never a shell line, and receives
// no secret. Here sh prints a JSON answer with an expiry.
func ExampleNewExec() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p, err := providers.NewExec(providers.ExecConfig{
		Command: []string{"sh", "-c", `printf '{"access_token":"ya29.example","expires_in":3599}\n'`},
		Timeout: 10 * time.Second,
		Now:     func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := p.Fetch(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), tok.Expiry.Sub(now))

	// A failing helper: the error carries the exit status and a sanitised
	// excerpt of its standard error.
	bad, _ := providers.NewExec(providers.ExecConfig{Command: []string{"sh", "-c", "echo 'no account configured' >&2; exit 2"}})
	_, err = bad.Fetch(context.Background())
	fmt.Println(err)
	// Output:
	// Bearer 59m59s
	// providers: exec sh: exit status 2: stderr: no account configured
}
