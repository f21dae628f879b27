package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// ErrDeviceCodeExpired matches a device flow that ended because the device
// code expired (expired_token, or its lifetime ran out) before the user
// approved it. Start the flow again.
var ErrDeviceCodeExpired = errors.New("providers: device code expired before it was approved")

// DeviceCode is what the user needs to approve a device authorization
// (RFC 8628 section 3.3): go to VerificationURI and enter UserCode.
type DeviceCode struct {
	// UserCode is the code to enter.
	UserCode string
	// VerificationURI is where to enter it.
	VerificationURI string
	// VerificationURIComplete, when the server provides it, already
	// carries the code (for a QR code or a clickable link).
	VerificationURIComplete string
	// Expiry is when the code stops working (zero when unknown).
	Expiry time.Time
	// Interval is the server's polling interval.
	Interval time.Duration
}

// DeviceProgress reports one unsuccessful poll of the token endpoint.
type DeviceProgress struct {
	// Poll counts the polls so far, starting at 1.
	Poll int
	// Status is the server's answer: "authorization_pending" (the user
	// has not approved yet) or "slow_down" (the interval grew by five
	// seconds).
	Status string
	// Interval is the polling interval from now on.
	Interval time.Duration
}

// DeviceFlowOptions configure DeviceFlow. The zero value (or nil) gives the
// defaults.
type DeviceFlowOptions struct {
	// AuthOptions are added to the device authorization request.
	AuthOptions []oauth2.AuthCodeOption
	// TokenOptions are added to every token (poll) request.
	TokenOptions []oauth2.AuthCodeOption
	// Progress, if set, is called after each poll that did not end the
	// flow, on the goroutine running DeviceFlow. It must not block.
	Progress func(DeviceProgress)
	// HTTPClient makes the requests; nil means the client in the context
	// (oauth2.HTTPClient) or http.DefaultClient.
	HTTPClient *http.Client
}

// DeviceFlow obtains a token (with a refresh token, when the server issues
// one) through the OAuth 2.0 device authorization grant (RFC 8628): for
// programs without a browser, or on another machine than the user.
//
// It requests a device code (oauth2.Config.DeviceAuth), calls show with
// the user code and verification URI to display, then polls the token
// endpoint (oauth2.Config.DeviceAccessToken) at the server's interval,
// slowing down by five seconds on each slow_down, until the user approves
// or denies, the code expires, or ctx ends. progress reports each
// "authorization_pending" or "slow_down" answer.
//
// An access_denied answer (authorization_declined from Microsoft) matches
// ErrAccessDenied; expired_token, or the code's lifetime running out,
// matches ErrDeviceCodeExpired. Both wrap the server's *OAuthError when
// there is one.
//
// cfg is not modified. A cfg whose AuthStyle is auto-detect is used with
// oauth2.AuthStyleInParams, the style of both Google and Microsoft, which
// keeps auto-detection from doubling every pending poll.
func DeviceFlow(ctx context.Context, cfg *oauth2.Config, show func(DeviceCode), opts *DeviceFlowOptions) (*oauth2.Token, error) {
	if cfg == nil || cfg.ClientID == "" || cfg.Endpoint.DeviceAuthURL == "" || cfg.Endpoint.TokenURL == "" {
		return nil, errors.New("providers: device flow: the config needs ClientID, DeviceAuthURL and TokenURL")
	}
	if show == nil {
		return nil, errors.New("providers: device flow: no function to show the user code")
	}
	var o DeviceFlowOptions
	if opts != nil {
		o = *opts
	}
	conf := *cfg
	conf.Scopes = append([]string(nil), cfg.Scopes...)
	if conf.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}

	hc, transportErr := ctxBoundClient(ctx, o.HTTPClient)
	da, err := conf.DeviceAuth(context.WithValue(ctx, oauth2.HTTPClient, hc), o.AuthOptions...)
	if err != nil {
		return nil, tokenRequestError(ctx, err, transportErr, "device authorization request", cfg.ClientSecret)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, fmt.Errorf("%w: device authorization response lacks device_code, user_code or verification_uri", ErrBadResponse)
	}
	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second // RFC 8628 section 3.2
	}
	show(DeviceCode{
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Expiry:                  da.Expiry,
		Interval:                interval,
	})

	// DeviceAccessToken polls on its own; watching its answers on the way
	// is how progress is reported without polling a second time.
	watcher := &pollWatcher{tokenURL: conf.Endpoint.TokenURL, interval: interval, progress: o.Progress}
	tok, err := conf.DeviceAccessToken(context.WithValue(ctx, oauth2.HTTPClient, watcher.wrap(hc)), da, o.TokenOptions...)
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if ctx.Err() == nil && !errors.As(err, &re) && !da.Expiry.IsZero() && !time.Now().Before(da.Expiry) &&
		(errors.Is(err, context.DeadlineExceeded) || errors.Is(transportErr(), context.DeadlineExceeded)) {
		// DeviceAccessToken bounds polling by the code's lifetime.
		return nil, &flowError{sentinel: ErrDeviceCodeExpired, err: context.DeadlineExceeded}
	}
	err = tokenRequestError(ctx, err, transportErr, "device flow", da.DeviceCode, cfg.ClientSecret)
	var oe *OAuthError
	if errors.As(err, &oe) {
		switch oe.Code {
		case "access_denied", "authorization_declined": // RFC 8628; Microsoft
			return nil, &flowError{sentinel: ErrAccessDenied, err: err}
		case "expired_token":
			return nil, &flowError{sentinel: ErrDeviceCodeExpired, err: err}
		}
	}
	return nil, err
}

// flowError pairs a sentinel with the error that caused it.
type flowError struct {
	sentinel error
	err      error
}

func (e *flowError) Error() string {
	return e.sentinel.Error() + ": " + strings.TrimPrefix(e.err.Error(), "providers: ")
}

func (e *flowError) Unwrap() []error { return []error{e.sentinel, e.err} }

// pollWatcher observes the answers to device code polls and reports the
// unsuccessful ones.
type pollWatcher struct {
	tokenURL string
	progress func(DeviceProgress)

	mu       sync.Mutex
	polls    int
	interval time.Duration
}

// wrap returns a client whose transport reports the token endpoint's
// pending and slow_down answers.
func (w *pollWatcher) wrap(base *http.Client) *http.Client {
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc := *base
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err != nil || r.URL.String() != w.tokenURL || resp.StatusCode < 400 || resp.StatusCode >= 500 {
			return resp, err
		}
		// Read the (small) error body and hand an identical copy on.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr == nil {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(body, &e) == nil {
				w.observe(e.Error)
			}
		}
		return resp, nil
	})
	return &hc
}

func (w *pollWatcher) observe(code string) {
	if code != "authorization_pending" && code != "slow_down" {
		return
	}
	w.mu.Lock()
	w.polls++
	if code == "slow_down" {
		w.interval += 5 * time.Second // as DeviceAccessToken does
	}
	p := DeviceProgress{Poll: w.polls, Status: code, Interval: w.interval}
	w.mu.Unlock()
	if w.progress != nil {
		w.progress(p)
	}
}
