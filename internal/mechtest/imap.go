package mechtest

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	gosasl "github.com/emersion/go-sasl"

	"github.com/saslkit/saslkit/sasl"
)

// IMAPOptions configure StartIMAP.
type IMAPOptions struct {
	// Mechanism is the one SASL mechanism the server offers; LOGIN is
	// refused.
	Mechanism string
	// NewServer creates the conversation for each AUTHENTICATE command.
	NewServer NewServerFunc
	// User owns the in-memory mailbox, with an INBOX, that an
	// authenticated session serves.
	User string
}

// IMAP is a go-imap v2 server on the loopback interface, without TLS, that
// authenticates with a saslkit server conversation and announces SASL-IR.
// Every failure reaches the client as NO [AUTHENTICATIONFAILED].
type IMAP struct {
	// Addr is the address it listens on.
	Addr string
	// Log is the server's debug output.
	Log *Log
	results
}

// StartIMAP starts an IMAP server for the rest of the test.
func StartIMAP(t testing.TB, opts IMAPOptions) *IMAP {
	t.Helper()
	user := imapmemserver.NewUser(opts.User, "")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	ln := listen(t, nil)
	s := &IMAP{Addr: ln.Addr().String(), Log: &Log{}, results: newResults()}
	ctx := t.Context()
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			newConv := func() sasl.ServerConversation { return opts.NewServer(ctx, connState(ln, c.NetConn(), nil)) }
			return &imapSession{mech: opts.Mechanism, user: user, newConv: newConv, res: &s.results}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapSASLIR: {}},
		InsecureAuth: true, // loopback test server
		DebugWriter:  s.Log,
		Logger:       discardLogger(),
	})
	serve(t, ln, srv.Serve, srv.Close)
	return s
}

// Dial connects an imapclient without TLS. The connection is closed when the
// test ends.
func (s *IMAP) Dial(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// imapSession serves the user's mailbox once authenticated.
type imapSession struct {
	*imapmemserver.UserSession // nil until authenticated
	mech                       string
	user                       *imapmemserver.User
	newConv                    func() sasl.ServerConversation
	res                        *results
}

func (s *imapSession) Login(string, string) error       { return imapserver.ErrAuthFailed }
func (s *imapSession) AuthenticateMechanisms() []string { return []string{s.mech} }

func (s *imapSession) Authenticate(mech string) (gosasl.Server, error) {
	if mech != s.mech {
		return nil, imapserver.ErrAuthFailed
	}
	return &conversation{
		conv:   s.newConv(),
		res:    s.res,
		mapErr: func(error) error { return imapserver.ErrAuthFailed },
		onOK:   func(sasl.Identity) { s.UserSession = imapmemserver.NewUserSession(s.user) },
	}, nil
}
