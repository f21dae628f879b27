package providers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

const (
	e2eDesktopID     = "desktop-mail-client"
	e2eDesktopSecret = "GOCSPX-desktopClientSecret-e2e"
	e2eUser          = "alice@example.test"
)

func e2eInstalledApp(t *testing.T, opts *sasltest.OAuthOptions) (*sasltest.OAuthServer, *oauth2.Config) {
	t.Helper()
	srv := sasltest.NewOAuthServer(opts)
	t.Cleanup(srv.Close)
	srv.AddUser(e2eUser)
	if err := srv.AddClient(sasltest.OAuthClient{ID: e2eDesktopID, Secret: e2eDesktopSecret, LoopbackRedirect: true}); err != nil {
		t.Fatal(err)
	}
	return srv, &oauth2.Config{
		ClientID:     e2eDesktopID,
		ClientSecret: e2eDesktopSecret,
		Endpoint:     srv.Endpoint(),
		Scopes:       []string{providers.ScopeGmail},
	}
}

// TestAuthCodeFlowEndToEnd drives the browser side: it GETs the
// authorization URL with a client that follows redirects, so the test
// server's consent page approves and redirects to the loopback listener.
func TestAuthCodeFlowEndToEnd(t *testing.T) {
	t.Parallel()
	srv, conf := e2eInstalledApp(t, nil)
	pages := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := providers.AuthCodeFlow(ctx, conf, func(authURL string) {
		go func() {
			resp, err := http.Get(authURL)
			if err != nil {
				pages <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			pages <- resp.Status + " " + string(b)
		}()
	}, &providers.AuthCodeOptions{
		AuthURLOptions: []oauth2.AuthCodeOption{oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("login_hint", e2eUser)},
		HTTPClient:     srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if page := <-pages; !strings.HasPrefix(page, "200 OK") || !strings.Contains(page, "close this window") {
		t.Fatalf("browser page %q", page)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	info, ok := srv.Lookup(tok.AccessToken)
	if !ok || info.User != e2eUser || info.Grant != sasltest.GrantAuthorizationCode {
		t.Fatalf("token info %+v", info)
	}
	if _, err := srv.TokenVerifier(providers.ScopeGmail).VerifyToken(ctx, sasl.TokenRequest{Mechanism: "XOAUTH2", Username: e2eUser, Token: tok.AccessToken}); err != nil {
		t.Fatal(err)
	}
}

// A Microsoft-style registration of http://localhost: the redirect URI
// names localhost, which the browser resolves to the listener.
func TestAuthCodeFlowEndToEndLocalhost(t *testing.T) {
	t.Parallel()
	srv, conf := e2eInstalledApp(t, &sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft})
	conf.Scopes = []string{providers.ScopeOutlookIMAP, providers.ScopeOfflineAccess}
	var redirect string
	tok, err := providers.AuthCodeFlow(context.Background(), conf, func(authURL string) {
		u, _ := url.Parse(authURL)
		redirect = u.Query().Get("redirect_uri")
		go func() {
			if resp, err := http.Get(authURL); err == nil {
				resp.Body.Close()
			}
		}()
	}, &providers.AuthCodeOptions{RedirectHost: "localhost", RedirectPath: "/callback", HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(redirect, "http://localhost:") || !strings.HasSuffix(redirect, "/callback") {
		t.Fatalf("redirect URI %q", redirect)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
}

func TestDeviceFlowEndToEnd(t *testing.T) {
	t.Parallel()
	for _, profile := range []sasltest.OAuthProfile{sasltest.OAuthGoogle, sasltest.OAuthMicrosoft} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			srv, conf := e2eInstalledApp(t, &sasltest.OAuthOptions{
				Profile:                profile,
				DeviceInterval:         time.Second,
				DeviceAutoApprove:      e2eUser,
				DeviceAutoApprovePolls: 1,
			})
			conf.Scopes = append(conf.Scopes, providers.ScopeOfflineAccess)
			var shown providers.DeviceCode
			var progress []providers.DeviceProgress
			tok, err := providers.DeviceFlow(context.Background(), conf,
				func(dc providers.DeviceCode) { shown = dc },
				&providers.DeviceFlowOptions{
					HTTPClient: srv.HTTPClient(),
					Progress:   func(p providers.DeviceProgress) { progress = append(progress, p) },
				})
			if err != nil {
				t.Fatal(err)
			}
			if shown.UserCode == "" || shown.VerificationURI != srv.VerificationURL() {
				t.Fatalf("shown %+v", shown)
			}
			if len(progress) != 1 || progress[0].Status != "authorization_pending" {
				t.Fatalf("progress %+v", progress)
			}
			info, ok := srv.Lookup(tok.AccessToken)
			if !ok || info.User != e2eUser || info.Grant != sasltest.GrantDeviceCode || tok.RefreshToken == "" {
				t.Fatalf("token info %+v", info)
			}
		})
	}
}

func TestDeviceFlowEndToEndDenied(t *testing.T) {
	t.Parallel()
	srv, conf := e2eInstalledApp(t, &sasltest.OAuthOptions{Profile: sasltest.OAuthMicrosoft, DeviceInterval: time.Second})
	_, err := providers.DeviceFlow(context.Background(), conf, func(dc providers.DeviceCode) {
		if err := srv.DenyDevice(dc.UserCode); err != nil {
			t.Error(err)
		}
	}, &providers.DeviceFlowOptions{HTTPClient: srv.HTTPClient()})
	if !errors.Is(err, providers.ErrAccessDenied) {
		t.Fatalf("got %v", err)
	}
}
