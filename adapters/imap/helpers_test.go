package imap_test

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
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

// clientLinesPerAuth counts, for each AUTHENTICATE in tr, the lines the
// client sent until the server's tagged answer: 1 is one round trip.
func clientLinesPerAuth(tr sasltest.Transcript) []int {
	var out []int
	tag := ""
	for _, l := range tr.Lines {
		switch {
		case tag == "" && l.Dir == sasltest.FromClient && strings.Contains(strings.ToUpper(l.Text), " AUTHENTICATE "):
			tag = strings.Fields(l.Text)[0]
			out = append(out, 1)
		case tag != "" && l.Dir == sasltest.FromClient && isResponse(l.Text):
			out[len(out)-1]++
		case tag != "" && l.Dir == sasltest.FromClient:
			tag = "" // the next command: the exchange is over
		case tag != "" && l.Dir == sasltest.FromServer && strings.HasPrefix(l.Text, tag+" "):
			tag = ""
		}
	}
	return out
}

type x509UnknownAuthority struct {
	err *tls.CertificateVerificationError
}

// syncBuilder is a strings.Builder safe for the client's two goroutines.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type oauth2Token = oauth2.Token

type staticToken struct{ tok *oauth2.Token }

func (s staticToken) Token(context.Context) (*oauth2.Token, error) { return s.tok, nil }

// isResponse reports whether a client line of the transcript is a SASL
// response (redacted, empty, or the cancel).
func isResponse(text string) bool {
	return text == "[REDACTED]" || text == "" || text == "*"
}
