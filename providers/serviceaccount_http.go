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

	"golang.org/x/oauth2"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ctxBoundClient returns an HTTP client for one call that cancels its
// requests when ctx ends, and a function that reports the last transport
// error (a network failure, as opposed to an HTTP answer).
//
// Some x/oauth2 requests are made without a request context
// (x/oauth2/jwt's token request, Config.DeviceAuth): they follow only the
// client's Timeout. Putting this client in the context (oauth2.HTTPClient)
// makes them honour the caller's ctx too, while the request's own context
// (which carries the client's Timeout) still applies. It also lets a caller
// tell a network failure, which x/oauth2/jwt reports as a plain string,
// from an HTTP answer.
//
// base is the configured client; nil means the client in ctx, then
// http.DefaultClient. The returned client is meant for the duration of the
// call that made it.
func ctxBoundClient(ctx context.Context, base *http.Client) (*http.Client, func() error) {
	if base == nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			base = c
		} else {
			base = http.DefaultClient
		}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	var (
		mu      sync.Mutex
		lastErr error
	)
	hc := *base
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rctx, cancel := context.WithCancelCause(r.Context())
		stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
		resp, err := rt.RoundTrip(r.WithContext(rctx))
		if err != nil {
			stop()
			cancel(nil)
			mu.Lock()
			lastErr = err
			mu.Unlock()
			return nil, err
		}
		resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel(nil) }}
		return resp, nil
	})
	return &hc, func() error {
		mu.Lock()
		defer mu.Unlock()
		return lastErr
	}
}

// releasingBody calls release once, when the body is closed.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// tokenRequestError converts the error of an x/oauth2 token request made
// through a ctxBoundClient into this package's vocabulary: the caller's
// context error; a network failure (which x/oauth2 flattens into a string)
// as the transport's error, retryable; an RFC 6749 error answer as an
// *OAuthError (see TokenEndpointError). what names the request for
// messages. secrets are removed from any text the server sent back.
func tokenRequestError(ctx context.Context, err error, transportErr func() error, what string, secrets ...string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("providers: %s: %w", what, ctxErr)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode == "" {
			fillRetrieveError(re)
		}
	} else if terr := transportErr(); terr != nil {
		err = terr
	}
	err = TokenEndpointError(err, secrets...)
	if !strings.HasPrefix(err.Error(), "providers: ") {
		err = fmt.Errorf("providers: %s: %w", what, err)
	}
	return err
}

// fillRetrieveError decodes the RFC 6749 error fields of a token endpoint
// response body into re; x/oauth2/jwt leaves them empty.
func fillRetrieveError(re *oauth2.RetrieveError) {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	if json.Unmarshal(bytes.TrimSpace(re.Body), &body) == nil {
		re.ErrorCode, re.ErrorDescription, re.ErrorURI = body.Error, body.Description, body.URI
	}
}
