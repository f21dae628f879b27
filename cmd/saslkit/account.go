package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

// httpTimeout bounds one request to a token endpoint.
const httpTimeout = 60 * time.Second

// rootCAs returns the system's trusted roots plus the account's ca_file,
// or nil for the system's roots alone, which crypto/tls then loads only if
// a handshake happens (a token command that finds a valid stored token
// makes none, and parsing the system's bundle costs milliseconds).
func (a *account) rootCAs() (*x509.CertPool, error) {
	if a.caFile == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(a.caFile)
	if err != nil {
		return nil, fmt.Errorf("account %s: ca_file: %w", a.name, err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("account %s: ca_file %s holds no PEM certificate", a.name, a.caFile)
	}
	return pool, nil
}

// httpClient returns the client for the account's token endpoints,
// trusting ca_file too. The CA pool is built at the first request: a token
// command that finds a valid stored token sends none.
func (a *account) httpClient() (*http.Client, error) {
	if a.caFile != "" {
		if _, err := os.Stat(a.caFile); err != nil {
			return nil, fmt.Errorf("account %s: ca_file: %w", a.name, err)
		}
	}
	return &http.Client{Transport: &lazyTransport{build: a.transport}, Timeout: httpTimeout}, nil
}

// transport returns the HTTP transport trusting the account's roots.
func (a *account) transport() (http.RoundTripper, error) {
	roots, err := a.rootCAs()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// lazyTransport builds its transport at the first request.
type lazyTransport struct {
	build func() (http.RoundTripper, error)
	once  sync.Once
	rt    http.RoundTripper
	err   error
}

func (l *lazyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	l.once.Do(func() { l.rt, l.err = l.build() })
	if l.err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, l.err
	}
	return l.rt.RoundTrip(r)
}

// effectiveScopes returns the configured scopes or the provider's default.
func (a *account) effectiveScopes() []string {
	if a.scopesSet {
		return a.scopes
	}
	switch a.provider {
	case kindGoogle, kindServiceAccount:
		return providers.GoogleMailScopes()
	case kindMicrosoft:
		return providers.MicrosoftMailScopes()
	case kindClientCredentials:
		if a.tenant != "" {
			return []string{providers.ScopeOffice365AppOnly}
		}
	}
	return nil
}

// oauthConfig returns the OAuth 2.0 client of an interactive account,
// with its secret fetched from the environment or its command.
func (a *account) oauthConfig(ctx context.Context, stderr io.Writer) (*oauth2.Config, error) {
	var ep oauth2.Endpoint
	switch a.provider {
	case kindGoogle:
		ep = providers.GoogleEndpoint()
	case kindMicrosoft:
		ep = providers.MicrosoftEndpoint(a.tenant)
	case kindOAuth2:
		ep = oauth2.Endpoint{AuthStyle: oauth2.AuthStyleInParams}
	default:
		return nil, fmt.Errorf("account %s: provider %q has no authorization flow", a.name, a.provider)
	}
	if a.authURL != "" {
		ep.AuthURL = a.authURL
	}
	if a.tokenURL != "" {
		ep.TokenURL = a.tokenURL
	}
	if a.deviceAuthURL != "" {
		ep.DeviceAuthURL = a.deviceAuthURL
	}
	secret, err := a.clientSecret.resolve(ctx, "client_secret", stderr)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.name, err)
	}
	return &oauth2.Config{ClientID: a.clientID, ClientSecret: secret, Endpoint: ep, Scopes: a.effectiveScopes()}, nil
}

// tokenStore returns the store of the accounts' refresh tokens.
func (c *config) tokenStore() *providers.FileStore {
	return providers.NewFileStore(c.tokenDir, nil)
}

// errNotTokenAccount is an account that authenticates with a password only.
var errNotTokenAccount = errors.New("the account authenticates with a password, not with OAuth 2.0 tokens")

// fetcher returns what fetches the account's access tokens.
func (a *account) fetcher(ctx context.Context, cfg *config, stderr io.Writer) (providers.Fetcher, error) {
	hc, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	switch a.provider {
	case kindGoogle, kindMicrosoft, kindOAuth2:
		oc, err := a.oauthConfig(ctx, stderr)
		if err != nil {
			return nil, err
		}
		// With no token stored, the fetcher's error matches
		// providers.ErrNotFound as well as ErrReauthRequired, which
		// tokenFailure and check turn into "not authorized yet".
		f, err := providers.NewRefreshFetcher(oc, cfg.tokenStore(), a.name, &providers.RefreshOptions{HTTPClient: hc})
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", a.name, err)
		}
		return f, nil
	case kindServiceAccount:
		key, err := os.ReadFile(a.keyFile)
		if err != nil {
			return nil, fmt.Errorf("account %s: key_file: %w", a.name, err)
		}
		sa, err := providers.NewServiceAccount(key, &providers.ServiceAccountOptions{Scopes: a.effectiveScopes(), TokenURL: a.tokenURL, HTTPClient: hc, MaxUsers: 1})
		if err != nil {
			return nil, fmt.Errorf("account %s: key_file %s: %w", a.name, a.keyFile, err)
		}
		subject := a.subject
		if subject == "" {
			subject = a.user
		}
		return sa.User(subject), nil
	case kindClientCredentials:
		cc := providers.ClientCredentialsConfig{TokenURL: a.tokenURL, Scopes: a.effectiveScopes()}
		if a.tenant != "" {
			cc = providers.MicrosoftAppOnly(a.tenant, a.clientID)
			if a.tokenURL != "" {
				cc.TokenURL = a.tokenURL
			}
			if a.scopesSet {
				cc.Scopes = a.scopes
			}
		}
		cc.ClientID, cc.HTTPClient = a.clientID, hc
		if a.certificateFile != "" {
			pem, err := os.ReadFile(a.certificateFile)
			if err != nil {
				return nil, fmt.Errorf("account %s: certificate_file: %w", a.name, err)
			}
			cert, err := providers.ParseClientCertificatePEM(pem)
			if err != nil {
				return nil, fmt.Errorf("account %s: certificate_file %s: %w", a.name, a.certificateFile, err)
			}
			cc.Certificate = cert
		} else {
			secret, err := a.clientSecret.resolve(ctx, "client_secret", stderr)
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", a.name, err)
			}
			cc.ClientSecret = secret
		}
		f, err := providers.NewClientCredentials(cc)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", a.name, err)
		}
		return f, nil
	case kindExec:
		f, err := providers.NewExec(providers.ExecConfig{Command: a.command, Lifetime: a.lifetime})
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", a.name, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("account %s: %w", a.name, errNotTokenAccount)
}

// cliRetry retries a token request that failed transiently a little, as
// a person or a mail client waits for the command.
func cliRetry() *providers.RetryPolicy {
	return &providers.RetryPolicy{MaxAttempts: 3, MaxRetryAfter: 10 * time.Second}
}

// tokenSource returns the account's access token source: a Cache in
// front of the provider (which adapters invalidate when a server rejects
// its token), or a plugin's own cached source. done releases what it
// started (a plugin process); it is never nil.
func (a *account) tokenSource(ctx context.Context, cfg *config, stderr io.Writer) (src sasl.TokenSource, done func(), err error) {
	if a.provider == kindPlugin {
		p, err := openPlugin(ctx, cfg, a.pluginName)
		if err != nil {
			return nil, func() {}, fmt.Errorf("account %s: %w", a.name, err)
		}
		return p.TokenSource(a.user, a.scopes...), func() { _ = p.Close() }, nil
	}
	f, err := a.fetcher(ctx, cfg, stderr)
	if err != nil {
		return nil, func() {}, err
	}
	return providers.NewCache(f, &providers.CacheOptions{Name: a.name, Retry: cliRetry(), OnError: persistWarning(stderr, a.name)}), func() {}, nil
}

// credentials returns what the account authenticates with: a token source
// and the password, when the account has them. done releases what it
// started; it is never nil.
func (a *account) credentials(ctx context.Context, cfg *config, stderr io.Writer) (creds *sasl.Credentials, done func(), err error) {
	creds = &sasl.Credentials{Username: a.user}
	done = func() {}
	if a.provider != kindPassword {
		creds.TokenSource, done, err = a.tokenSource(ctx, cfg, stderr)
		if err != nil {
			return nil, done, err
		}
	}
	if a.password.set() {
		pw, err := a.password.resolve(ctx, "password", stderr)
		if err != nil {
			return nil, done, fmt.Errorf("account %s: %w", a.name, err)
		}
		creds.Password = pw
	}
	return creds, done, nil
}

// persistWarning returns a Cache's OnError: a refreshed token that could
// not be saved still works, but the next run may find its refresh token
// spent, so the user is told. Other errors reach the caller anyway.
func persistWarning(stderr io.Writer, account string) func(error) {
	w := &syncWriter{w: stderr}
	return func(err error) {
		if errors.Is(err, providers.ErrPersistFailed) {
			fmt.Fprintf(w, "%s: warning: account %s: %v\n", progName, account, err)
		}
	}
}

// syncWriter serialises writes to w, for messages written from a token
// cache's refresh goroutine.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}
