package netsmtp_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	alice    = "alice@example.test"
	password = "app-password-42"
)

var profiles = []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft, sasltest.ProfileAll}

var modes = []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS}

func newServer(t *testing.T, opts *sasltest.MailOptions) *sasltest.MailServer {
	t.Helper()
	if opts == nil {
		opts = &sasltest.MailOptions{}
	}
	if opts.Users == nil {
		opts.Users = []sasltest.MailUser{{Address: alice, Password: password}}
	}
	ms, err := sasltest.NewMailServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	return ms
}

// issuer fetches tokens from the mail server's OAuth server; the first
// revoke tokens it issues are revoked before they are handed out, as if the
// user had revoked the grant's access tokens.
type issuer struct {
	ms      *sasltest.MailServer
	revoke  int32
	fetches atomic.Int32
	issued  []string
}

func (f *issuer) Fetch(ctx context.Context) (*oauth2.Token, error) {
	tok, err := f.ms.IssueToken(alice)
	if err != nil {
		return nil, err
	}
	if f.fetches.Add(1) <= f.revoke {
		f.ms.OAuth().Revoke(tok.AccessToken)
	}
	f.issued = append(f.issued, tok.AccessToken)
	return tok, nil
}

func tokenCreds(ms *sasltest.MailServer, revoke int32) (*sasl.Credentials, *issuer) {
	f := &issuer{ms: ms, revoke: revoke}
	return &sasl.Credentials{Username: alice, TokenSource: providers.NewCache(f, nil)}, f
}

// lastTranscript returns the transcript of the newest connection of proto.
func lastTranscript(t *testing.T, ms *sasltest.MailServer, proto sasltest.Protocol) sasltest.Transcript {
	t.Helper()
	ts := ms.Transcripts()
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Protocol == proto {
			return ts[i]
		}
	}
	t.Fatal("no transcript")
	return sasltest.Transcript{}
}

// clientLinesPerAuth counts, for each AUTH in tr, the lines the client
// sent until the server's final reply: 1 is one round trip.
func clientLinesPerAuth(tr sasltest.Transcript) []int {
	var out []int
	in := false
	for _, l := range tr.Lines {
		switch {
		case !in && l.Dir == sasltest.FromClient && strings.HasPrefix(strings.ToUpper(l.Text), "AUTH "):
			in = true
			out = append(out, 1)
		case in && l.Dir == sasltest.FromClient && isResponse(l.Text):
			out[len(out)-1]++
		case in && l.Dir == sasltest.FromClient:
			in = false // the next command: the exchange is over
		case in && l.Dir == sasltest.FromServer && !strings.HasPrefix(l.Text, "334"):
			in = false
		}
	}
	return out
}

type staticToken struct{ tok *oauth2.Token }

func (s staticToken) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }

// isResponse reports whether a client line of the transcript is a SASL
// response (redacted, empty, or the cancel).
func isResponse(text string) bool {
	return text == "[REDACTED]" || text == "" || text == "*"
}
