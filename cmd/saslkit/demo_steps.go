package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/adapters"
	"github.com/saslkit/saslkit/adapters/gosmtp"
	imapadapter "github.com/saslkit/saslkit/adapters/imap"
	"github.com/saslkit/saslkit/adapters/pop3"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// authorize runs the authorization code flow with PKCE against the OAuth
// server, playing the browser, and keeps the tokens in the file store.
func (d *demo) authorize(ctx context.Context, r *stepResult) error {
	var (
		browsed = make(chan browserVisit, 1)
		opened  bool
	)
	tok, err := providers.AuthCodeFlow(ctx, d.conf, func(authURL string) {
		opened = true
		// AuthCodeFlow wants openURL to return at once: the browser runs
		// beside it, as a real one would.
		go func() { browsed <- d.browse(ctx, authURL) }()
	}, &providers.AuthCodeOptions{
		AuthURLOptions: []oauth2.AuthCodeOption{oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("login_hint", demoUser)},
		HTTPClient:     d.http,
	})
	if opened {
		v := <-browsed
		d.printVisit(v)
	}
	if err != nil {
		return err
	}
	d.secret(tok.AccessToken)
	d.secret(tok.RefreshToken)
	if tok.RefreshToken == "" {
		return errors.New("the token response carried no refresh token")
	}
	d.out.detail("token", "access %s (expires in %s), refresh %s", shortToken(tok.AccessToken),
		roundDuration(time.Until(tok.Expiry)).Round(time.Second), shortToken(tok.RefreshToken))

	if err := d.store.Save(ctx, demoUser, nil, tok); err != nil {
		return err
	}
	path := d.store.Path(demoUser)
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	d.out.detail("stored", "%s, mode %04o (%s)", path, fi.Mode().Perm(), fi.Mode().Perm())
	if fi.Mode().Perm() != 0o600 {
		return fmt.Errorf("the token file has mode %04o, want 0600", fi.Mode().Perm())
	}
	if err := d.useTokens(); err != nil {
		return err
	}
	r.Outcome = "refresh token stored, file mode 0600"
	return nil
}

// browserVisit is what the stand-in browser saw.
type browserVisit struct {
	authURL  *url.URL
	redirect *url.URL // where the consent page sent the browser
	status   string   // of the last page
	title    string   // of the last page
	err      error
}

// pageTitle finds an HTML page's title.
var pageTitle = regexp.MustCompile(`<title>([^<]*)</title>`)

// browse plays the user's browser: it opens the authorization URL and
// follows the consent page's redirect to the loopback listener.
func (d *demo) browse(ctx context.Context, authURL string) browserVisit {
	var v browserVisit
	v.authURL, v.err = url.Parse(authURL)
	if v.err != nil {
		return v
	}
	client := &http.Client{
		Transport: d.http.Transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 3 {
				return errors.New("too many redirects")
			}
			v.redirect = req.URL
			d.secret(req.URL.Query().Get("code"))
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		v.err = err
		return v
	}
	resp, err := client.Do(req)
	if err != nil {
		v.err = err
		return v
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	v.status = resp.Status
	if m := pageTitle.FindSubmatch(body); m != nil {
		v.title = string(m[1])
	}
	return v
}

// printVisit shows the browser's way, with the code, state and PKCE
// challenge left out.
func (d *demo) printVisit(v browserVisit) {
	if v.authURL != nil {
		q := v.authURL.Query()
		d.out.detail("browser", "GET %s://%s%s (response_type=%s, code_challenge_method=%s, access_type=%s)",
			v.authURL.Scheme, v.authURL.Host, v.authURL.Path, q.Get("response_type"), q.Get("code_challenge_method"), q.Get("access_type"))
	}
	if v.redirect != nil {
		q := v.redirect.Query()
		shown := url.Values{}
		for k := range q {
			shown.Set(k, "…")
		}
		if s := q.Get("error"); s != "" {
			shown.Set("error", s)
		}
		d.out.detail("consent", "approved as %s, redirected to %s://%s%s?%s", demoUser, v.redirect.Scheme, v.redirect.Host, v.redirect.Path, unescapedQuery(shown))
	}
	switch {
	case v.err != nil:
		d.out.detail("browser", "failed: %v", v.err)
	case v.status != "":
		d.out.detail("listener", "%s %q: the code is exchanged with the PKCE verifier", v.status, v.title)
	}
}

// unescapedQuery encodes q sorted by key, without escaping "…".
func unescapedQuery(q url.Values) string {
	s, err := url.QueryUnescape(q.Encode())
	if err != nil {
		return q.Encode()
	}
	return s
}

// demoMessage builds the message the smtp step sends.
func (d *demo) demoMessage() {
	d.msgID = "<" + rand.Text() + "@saslkit.demo>"
	d.message = []byte("From: " + demoUser + "\r\n" +
		"To: " + demoUser + "\r\n" +
		"Subject: saslkit demo\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: " + d.msgID + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Sent over SMTP with STARTTLS, read back over IMAP and POP3.\r\n")
}

// smtp sends the demo message to the user's own address over SMTP
// submission with STARTTLS.
func (d *demo) smtp(ctx context.Context, r *stepResult) error {
	creds, err := d.credentials(ctx)
	if err != nil {
		return err
	}
	d.demoMessage()
	addr := d.ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS)
	mark := transcriptMark(d.ms)
	c, n, err := gosmtp.DialStartTLS(ctx, addr, &gosmtp.Options{Credentials: creds, TLSConfig: d.ms.ClientTLSConfig()})
	if err != nil {
		_ = d.showExchange(ctx, d.ms, mark, sasltest.ProtocolSMTP, nil, r)
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer c.Close()
	if err := c.SendMail(demoUser, []string{demoUser}, bytes.NewReader(d.message)); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	d.sent = true
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	if err := d.showExchange(ctx, d.ms, mark, sasltest.ProtocolSMTP, n, r); err != nil {
		return err
	}
	d.out.detail("sent", "%d octets to %s, Message-ID %s", len(d.message), demoUser, d.msgID)
	r.Outcome = fmt.Sprintf("%s over STARTTLS, message sent", n.Mechanism.Name)
	return nil
}

// ensureMessage makes sure the demo message is in the mailbox, putting it
// there directly when the smtp step could not send it, so that the steps
// reading it back still run.
func (d *demo) ensureMessage() error {
	if d.sent {
		return nil
	}
	d.demoMessage()
	if _, err := d.ms.Store().Deliver(demoUser, d.message); err != nil {
		return err
	}
	d.sent = true
	d.out.detail("note", "the smtp step did not send the message: it was put into the mailbox directly")
	return nil
}

// imap reads the demo message back over IMAP with implicit TLS.
func (d *demo) imap(ctx context.Context, r *stepResult) error {
	creds, err := d.credentials(ctx)
	if err != nil {
		return err
	}
	if err := d.ensureMessage(); err != nil {
		return err
	}
	mark := transcriptMark(d.ms)
	c, n, err := d.dialIMAP(ctx, creds)
	if err != nil {
		_ = d.showExchange(ctx, d.ms, mark, sasltest.ProtocolIMAP, nil, r)
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return fmt.Errorf("SELECT: %w", err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-Id", Value: d.msgID}}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("UID SEARCH: %w", err)
	}
	uids := found.AllUIDs()
	if len(uids) != 1 {
		return fmt.Errorf("UID SEARCH for the Message-ID found %d messages, want 1", len(uids))
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("FETCH: %w", err)
	}
	if len(msgs) != 1 {
		return fmt.Errorf("FETCH returned %d messages, want 1", len(msgs))
	}
	body := msgs[0].FindBodySection(section)
	if !bytes.Equal(body, d.message) {
		return fmt.Errorf("the message read back (%d octets) differs from the one sent (%d octets)", len(body), len(d.message))
	}
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("LOGOUT: %w", err)
	}
	if err := d.showExchange(ctx, d.ms, mark, sasltest.ProtocolIMAP, n, r); err != nil {
		return err
	}
	d.out.detail("read", "INBOX holds %d message(s); UID %d is the message sent, %d octets, byte for byte", sel.NumMessages, uids[0], len(body))
	r.Outcome = fmt.Sprintf("%s over implicit TLS, message read back", n.Mechanism.Name)
	return nil
}

// dialIMAP connects to the IMAP server with implicit TLS and
// authenticates.
func (d *demo) dialIMAP(ctx context.Context, creds *sasl.Credentials) (*imapclient.Client, *sasl.Negotiated, error) {
	return imapadapter.DialTLS(ctx, d.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), &imapadapter.Options{
		Credentials: creds,
		Client:      &imapclient.Options{TLSConfig: d.ms.ClientTLSConfig()},
	})
}

// pop3 reads the demo message back over POP3, upgraded with STLS.
func (d *demo) pop3(ctx context.Context, r *stepResult) error {
	creds, err := d.credentials(ctx)
	if err != nil {
		return err
	}
	if err := d.ensureMessage(); err != nil {
		return err
	}
	mark := transcriptMark(d.ms)
	c, err := pop3.Dial(ctx, d.ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS), &pop3.Options{TLSConfig: d.ms.ClientTLSConfig()})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.STLS(ctx); err != nil {
		return err
	}
	res, err := c.Authenticate(ctx, &pop3.AuthOptions{Options: adapters.Options{Credentials: creds}})
	if err != nil {
		_ = c.Close()
		_ = d.showExchange(ctx, d.ms, mark, sasltest.ProtocolPOP3, nil, r)
		return err
	}
	list, err := c.List(ctx)
	if err != nil {
		return err
	}
	var body []byte
	// The newest message is last; the demo's is normally the only one.
	for i := len(list) - 1; i >= 0 && body == nil; i-- {
		rc, err := c.Retr(ctx, list[i].Number)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("Message-ID: "+d.msgID+"\r\n")) {
			body = b
		}
	}
	if body == nil {
		return fmt.Errorf("none of the %d messages in the maildrop is the one sent", len(list))
	}
	if !bytes.Equal(body, d.message) {
		return fmt.Errorf("the message read back (%d octets) differs from the one sent (%d octets)", len(body), len(d.message))
	}
	if err := c.Quit(ctx); err != nil {
		return err
	}
	if err := d.showExchange(ctx, d.ms, mark, sasltest.ProtocolPOP3, res.Negotiated, r); err != nil {
		return err
	}
	d.out.detail("read", "maildrop holds %d message(s); RETR gave the message sent, %d octets, byte for byte", len(list), len(body))
	r.Outcome = fmt.Sprintf("%s after STLS, message read back", res.Mechanism)
	return nil
}

// refresh revokes the client's current access token on the server, then
// logs in over IMAP: the server rejects the token, the adapter invalidates
// it, the token source refreshes it once, and the second attempt on the
// same connection succeeds.
func (d *demo) refresh(ctx context.Context, r *stepResult) error {
	creds, err := d.credentials(ctx)
	if err != nil {
		return err
	}
	old, err := d.tokens.Token(ctx)
	if err != nil {
		return err
	}
	if !d.oauth.Revoke(old.AccessToken) {
		return errors.New("the OAuth server does not know the client's access token")
	}
	d.out.detail("revoked", "access token %s, on the server (the client's cache still holds it)", shortToken(old.AccessToken))
	refreshes := d.oauth.Requests(sasltest.GrantRefreshToken)
	before := d.ms.AuthStats(sasltest.ProtocolIMAP, "")
	mark := transcriptMark(d.ms)

	c, n, err := d.dialIMAP(ctx, creds)
	if err != nil {
		_ = d.showExchange(ctx, d.ms, mark, sasltest.ProtocolIMAP, nil, r)
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer c.Close()
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("LOGOUT: %w", err)
	}
	if err := d.showExchange(ctx, d.ms, mark, sasltest.ProtocolIMAP, n, r); err != nil {
		return err
	}
	after := d.ms.AuthStats(sasltest.ProtocolIMAP, "")
	nowRefreshes := d.oauth.Requests(sasltest.GrantRefreshToken)
	fresh, err := d.tokens.Token(ctx)
	if err != nil {
		return err
	}
	d.out.detail("refreshes", "%d → %d at the token endpoint; new access token %s", refreshes, nowRefreshes, shortToken(fresh.AccessToken))
	d.out.detail("logins", "rejected %d → %d, succeeded %d → %d (one connection)", before.Rejected, after.Rejected, before.Succeeded, after.Succeeded)
	switch {
	case nowRefreshes != refreshes+1:
		return fmt.Errorf("%d refreshes, want exactly 1", nowRefreshes-refreshes)
	case after.Rejected != before.Rejected+1 || after.Succeeded != before.Succeeded+1:
		return fmt.Errorf("%d rejected and %d successful logins, want 1 of each", after.Rejected-before.Rejected, after.Succeeded-before.Succeeded)
	case fresh.AccessToken == old.AccessToken:
		return errors.New("the token source still hands out the revoked token")
	}
	r.Outcome = "rejected once, refreshed once, logged in"
	return nil
}
