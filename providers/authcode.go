package providers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

var (
	// ErrAccessDenied matches an authorization the user (or the server's
	// policy) refused: error=access_denied at the redirect of the
	// authorization code flow, or from the token endpoint in the device
	// flow.
	ErrAccessDenied = errors.New("providers: authorization denied")
	// ErrStateMismatch matches a redirect to the loopback listener whose
	// state parameter is not the one this flow sent: a forged or stale
	// request. The flow stops without exchanging any code.
	ErrStateMismatch = errors.New("providers: authorization redirect has the wrong state")
)

// AuthorizationError is an error response of the authorization endpoint,
// delivered by redirect (RFC 6749 section 4.1.2.1). Its text comes from the
// redirect's query, which anyone able to reach the listener could forge, so
// it is shortened and cleaned of control characters. An AuthorizationError
// with Code access_denied matches ErrAccessDenied.
type AuthorizationError struct {
	// Code is the "error" parameter, e.g. access_denied,
	// invalid_scope, unauthorized_client.
	Code string
	// Description is the "error_description" parameter.
	Description string
	// URI is the "error_uri" parameter.
	URI string
}

// Error describes the authorization endpoint's error response.
func (e *AuthorizationError) Error() string {
	s := "providers: authorization endpoint returned " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is reports whether target is ErrAccessDenied and Code is access_denied.
func (e *AuthorizationError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == "access_denied"
}

// AuthCodeOptions configure AuthCodeFlow. The zero value (or nil) gives the
// defaults.
type AuthCodeOptions struct {
	// AuthURLOptions are added to the authorization URL. For a Google
	// refresh token pass oauth2.AccessTypeOffline (and
	// oauth2.ApprovalForce to get one again for an account that already
	// consented); oauth2.SetAuthURLParam("login_hint", address)
	// preselects the account.
	AuthURLOptions []oauth2.AuthCodeOption
	// ExchangeOptions are added to the token request.
	ExchangeOptions []oauth2.AuthCodeOption
	// ListenAddr is the loopback address to listen on; it must be a
	// loopback IP. Empty means "127.0.0.1:0" (any free port), which both
	// Google and the Microsoft identity platform accept for native apps
	// without registering the port.
	ListenAddr string
	// RedirectPath is the path of the redirect URI. Empty means "/".
	RedirectPath string
	// RedirectHost is the host put in the redirect URI: "localhost" or a
	// loopback IP. Empty means the listener's IP (127.0.0.1), which RFC
	// 8252 recommends. Set "localhost" for an app registration whose
	// redirect URI is http://localhost (the Microsoft Entra admin center
	// accepts http only for localhost); the browser must then resolve
	// localhost to the listener's address.
	RedirectHost string
	// HTTPClient makes the token request; nil means the client in the
	// context (oauth2.HTTPClient) or http.DefaultClient.
	HTTPClient *http.Client
}

// AuthCodeFlow obtains a token (with a refresh token, when the server
// issues one) through the authorization code grant with PKCE (RFC 7636)
// and a loopback redirect (RFC 8252): the way a command-line or desktop
// program gets a user's first refresh token.
//
// It listens on a random port of 127.0.0.1, sets cfg's redirect URI to it
// (cfg itself is not modified), and calls openURL with the authorization
// URL, which carries a random state and an S256 code challenge. openURL
// shows the URL to the user or opens a browser; it should return promptly.
// The user signs in and consents; the server redirects the browser to the
// listener, which answers with a short "you can close this window" page.
// The first redirect decides: one with the wrong state ends the flow with
// ErrStateMismatch, one with an error parameter with an
// *AuthorizationError, one with a code leads to the token request with the
// code verifier. Later requests get 410 Gone.
//
// The flow ends when ctx does; give it a deadline. The listener is closed
// before AuthCodeFlow returns.
func AuthCodeFlow(ctx context.Context, cfg *oauth2.Config, openURL func(authURL string), opts *AuthCodeOptions) (*oauth2.Token, error) {
	if cfg == nil || cfg.ClientID == "" || cfg.Endpoint.AuthURL == "" || cfg.Endpoint.TokenURL == "" {
		return nil, errors.New("providers: auth code flow: the config needs ClientID, AuthURL and TokenURL")
	}
	if openURL == nil {
		return nil, errors.New("providers: auth code flow: no function to show the authorization URL")
	}
	var o AuthCodeOptions
	if opts != nil {
		o = *opts
	}
	addr := o.ListenAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("providers: auth code flow: listen address %q is not a loopback IP address and port", addr)
	}
	path := o.RedirectPath
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("providers: auth code flow: redirect path %q does not start with /", path)
	}

	redirectHost := o.RedirectHost
	if redirectHost != "" && redirectHost != "localhost" {
		if ip := net.ParseIP(redirectHost); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("providers: auth code flow: redirect host %q is neither localhost nor a loopback IP", redirectHost)
		}
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("providers: auth code flow: %w", err)
	}
	tcp := ln.Addr().(*net.TCPAddr)

	conf := *cfg
	conf.Scopes = append([]string(nil), cfg.Scopes...)
	if redirectHost == "" {
		redirectHost = tcp.IP.String()
	}
	conf.RedirectURL = "http://" + net.JoinHostPort(redirectHost, strconv.Itoa(tcp.Port)) + path
	if conf.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}

	state, err := randomState()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("providers: auth code flow: %w", err)
	}
	verifier := oauth2.GenerateVerifier()

	cb := newCallback(path, state)
	srv := &http.Server{
		Handler:           cb,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		// Let the browser receive its page, then stop.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-served
	}()

	authOpts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, o.AuthURLOptions...)
	openURL(conf.AuthCodeURL(state, authOpts...))

	var res callbackResult
	select {
	case res = <-cb.result:
	case <-ctx.Done():
		return nil, fmt.Errorf("providers: auth code flow: no authorization received: %w", ctx.Err())
	}
	if res.err != nil {
		return nil, res.err
	}

	hc, transportErr := ctxBoundClient(ctx, o.HTTPClient)
	exOpts := append([]oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, o.ExchangeOptions...)
	tok, err := conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), res.code, exOpts...)
	if err != nil {
		return nil, tokenRequestError(ctx, err, transportErr, "auth code exchange", res.code, verifier, cfg.ClientSecret)
	}
	return tok, nil
}

// randomState returns 32 random bytes, base64url.
func randomState() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// callbackResult is what the first decisive redirect delivered.
type callbackResult struct {
	code string
	err  error
}

// callback is the one-shot redirect handler.
type callback struct {
	path   string
	state  string
	result chan callbackResult // buffered, receives exactly one result

	mu   sync.Mutex
	done bool
}

func newCallback(path, state string) *callback {
	return &callback{path: path, state: state, result: make(chan callbackResult, 1)}
}

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if r.URL.Path != c.path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writePage(w, http.StatusMethodNotAllowed, "Method not allowed", "")
		return
	}
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		writePage(w, http.StatusGone, "Already completed", "This sign-in has already completed. You can close this window.")
		return
	}
	c.done = true
	c.mu.Unlock()

	q := r.URL.Query()
	var (
		res    callbackResult
		status = http.StatusOK
		title  = "Signed in"
		msg    = "Authorization received. You can close this window and return to the application."
	)
	switch got := q.Get("state"); {
	case subtle.ConstantTimeCompare([]byte(got), []byte(c.state)) != 1:
		res.err = fmt.Errorf("%w (the flow was stopped; start it again)", ErrStateMismatch)
		status, title, msg = http.StatusBadRequest, "Sign-in failed", "The request did not come from this sign-in (state mismatch). Start again from the application."
	case q.Get("error") != "":
		ae := &AuthorizationError{
			Code:        cleanText(q.Get("error"), 64, nil),
			Description: cleanText(q.Get("error_description"), 300, nil),
			URI:         cleanText(q.Get("error_uri"), 200, nil),
		}
		res.err = ae
		status, title = http.StatusForbidden, "Sign-in failed"
		msg = "The authorization server returned " + ae.Code + ". You can close this window."
	case q.Get("code") == "":
		res.err = errors.New("providers: authorization redirect has neither a code nor an error")
		status, title, msg = http.StatusBadRequest, "Sign-in failed", "The redirect carried no authorization code."
	default:
		res.code = q.Get("code")
	}
	writePage(w, status, title, msg)
	c.result <- res
}

// writePage writes the small HTML page the browser shows after the
// redirect. msg and title are escaped.
func writePage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>body{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em;color:#222}</style></head>
<body><h1>%s</h1><p>%s</p></body></html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
}
