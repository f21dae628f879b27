package adaptertest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// The user NewServer adds when the options name none.
const (
	Alice    = "alice@example.test"
	Password = "app-password-42"
)

// Profiles are the mail server profiles the adapters are tested against.
var Profiles = []sasltest.MailProfile{sasltest.ProfileGmail, sasltest.ProfileMicrosoft, sasltest.ProfileAll}

// Modes are the TLS modes the adapters are tested over.
var Modes = []sasltest.TLSMode{sasltest.ImplicitTLS, sasltest.StartTLS}

// NewServer starts a sasltest mail server, with Alice as its only user when
// opts names none, and closes it when the test ends.
func NewServer(t testing.TB, opts *sasltest.MailOptions) *sasltest.MailServer {
	t.Helper()
	if opts == nil {
		opts = &sasltest.MailOptions{}
	}
	if opts.Users == nil {
		opts.Users = []sasltest.MailUser{{Address: Alice, Password: Password}}
	}
	ms, err := sasltest.NewMailServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	return ms
}

// Issuer fetches Alice's tokens from the mail server's OAuth server; the
// first revoke tokens it issues are revoked before they are handed out, as
// if the user had revoked the grant's access tokens.
type Issuer struct {
	ms      *sasltest.MailServer
	revoke  int32
	Fetches atomic.Int32 // how many tokens it has fetched
	Issued  []string     // the access tokens it has handed out
}

// Fetch implements providers.Fetcher.
func (f *Issuer) Fetch(ctx context.Context) (*oauth2.Token, error) {
	tok, err := f.ms.IssueToken(Alice)
	if err != nil {
		return nil, err
	}
	if f.Fetches.Add(1) <= f.revoke {
		f.ms.OAuth().Revoke(tok.AccessToken)
	}
	f.Issued = append(f.Issued, tok.AccessToken)
	return tok, nil
}

// TokenCreds returns Alice's credentials with a cached token source over an
// Issuer that revokes the first revoke tokens, and that Issuer.
func TokenCreds(ms *sasltest.MailServer, revoke int32) (*sasl.Credentials, *Issuer) {
	f := &Issuer{ms: ms, revoke: revoke}
	return &sasl.Credentials{Username: Alice, TokenSource: providers.NewCache(f, nil)}, f
}

// Clock is a settable clock safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the time last set.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the time Now returns.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the time Now returns on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// LastTranscript returns the transcript of the newest connection of proto.
func LastTranscript(t testing.TB, ms *sasltest.MailServer, proto sasltest.Protocol) sasltest.Transcript {
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

// SMTPLinesPerAuth counts, for each AUTH in tr, the lines the client sent
// until the server's final reply: 1 is one round trip.
func SMTPLinesPerAuth(tr sasltest.Transcript) []int {
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

// IMAPLinesPerAuth counts, for each AUTHENTICATE in tr, the lines the
// client sent until the server's tagged answer: 1 is one round trip.
func IMAPLinesPerAuth(tr sasltest.Transcript) []int {
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

// isResponse reports whether a client line of the transcript is a SASL
// response (redacted, empty, or the cancel).
func isResponse(text string) bool {
	return text == "[REDACTED]" || text == "" || text == "*"
}

// ForEach runs f in a parallel subtest for each of Profiles over each of
// Modes.
func ForEach(t *testing.T, f func(t *testing.T, p sasltest.MailProfile, mode sasltest.TLSMode)) {
	for _, p := range Profiles {
		for _, mode := range Modes {
			t.Run(p.String()+"/"+mode.String(), func(t *testing.T) {
				t.Parallel()
				f(t, p, mode)
			})
		}
	}
}
