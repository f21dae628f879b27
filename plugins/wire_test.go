package plugins

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/saslkit/saslkit/plugins/proto"
	"github.com/saslkit/saslkit/providers"
	"github.com/saslkit/saslkit/sasl"
)

func newTestRegistry(t *testing.T) *sasl.Registry {
	t.Helper()
	return sasl.NewRegistry()
}

// TestErrorsCrossTheWire sends saslkit's errors through a gRPC status and
// back: each keeps what callers branch on.
func TestErrorsCrossTheWire(t *testing.T) {
	for _, tc := range []struct {
		err   error
		check func(error) bool
	}{
		{&sasl.TokenError{Mechanism: "XOAUTH2", Status: "401", Schemes: "Bearer", Scope: "https://mail.google.com/"}, func(e error) bool {
			var te *sasl.TokenError
			return errors.As(e, &te) && te.Status == "401" && te.Scope == "https://mail.google.com/" && errors.Is(e, sasl.ErrAuthFailed)
		}},
		{sasl.Malformed("SCRAM-SHA-256", "missing r="), func(e error) bool {
			var me *sasl.MalformedError
			return errors.As(e, &me) && me.Reason == "missing r=" && me.Mechanism == "SCRAM-SHA-256"
		}},
		{&providers.OAuthError{Code: "invalid_grant", Description: "revoked", StatusCode: 400}, func(e error) bool {
			var oe *providers.OAuthError
			return errors.As(e, &oe) && oe.Code == "invalid_grant" && errors.Is(e, providers.ErrReauthRequired)
		}},
		{&providers.TransientError{Err: errors.New("busy"), RetryAfter: 3 * time.Second}, func(e error) bool {
			var te *providers.TransientError
			return errors.As(e, &te) && te.RetryAfter == 3*time.Second
		}},
		{fmt.Errorf("wrapped: %w", sasl.ErrAuthFailed), func(e error) bool { return errors.Is(e, sasl.ErrAuthFailed) }},
		{fmt.Errorf("lookup: %w", sasl.ErrUnknownUser), func(e error) bool { return errors.Is(e, sasl.ErrUnknownUser) }},
		{fmt.Errorf("%w: grant", providers.ErrReauthRequired), func(e error) bool { return errors.Is(e, providers.ErrReauthRequired) }},
		{fmt.Errorf("x: %w", providers.ErrNoToken), func(e error) bool { return errors.Is(e, providers.ErrNoToken) }},
		{fmt.Errorf("x: %w", sasl.ErrServerAuth), func(e error) bool { return errors.Is(e, sasl.ErrServerAuth) }},
		{errors.New("database down"), func(e error) bool {
			var re *RemoteError
			return errors.As(e, &re) && re.Message == "database down" && !errors.Is(e, sasl.ErrAuthFailed)
		}},
	} {
		st := statusError(tc.err)
		got := callError(context.Background(), "p", st)
		if !tc.check(got) {
			t.Errorf("%v came back as %v (%T)", tc.err, got, got)
		}
	}
}

func TestRemoteErrorRedacted(t *testing.T) {
	err := fromWire("p", &pb.Error{Kind: pb.Error_KIND_UNSPECIFIED, Message: "fetch failed: Authorization: Bearer ya29.a0AbCdEf123456"})
	if strings.Contains(err.Error(), "ya29") {
		t.Fatalf("error holds the token: %v", err)
	}
}

func FuzzFromWire(f *testing.F) {
	for _, e := range []*pb.Error{
		{Kind: pb.Error_KIND_TOKEN_REJECTED, Token: &pb.TokenRejection{Status: "401"}},
		{Kind: pb.Error_KIND_OAUTH, Oauth: &pb.OAuthError{Code: "invalid_grant"}, RetryAfterMillis: -5},
		{Kind: 99, Message: "password=hunter2"},
	} {
		b, _ := proto.Marshal(e)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e pb.Error
		if proto.Unmarshal(data, &e) != nil {
			return
		}
		err := fromWire("p", &e)
		if err == nil {
			t.Fatal("nil error from a wire error")
		}
		var te *providers.TransientError
		if errors.As(err, &te) && te.RetryAfter < 0 {
			t.Fatal("negative retry delay")
		}
		_ = err.Error()
	})
}

func TestConnStateCrossesTheWire(t *testing.T) {
	cs := &sasl.ConnState{Host: "imap.example.com", Port: 993, RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 993}}
	got := mustConnFromWire(t, connToWire(cs, true))
	if got.Host != cs.Host || got.Port != 993 || !got.Loopback() || got.TLS != nil {
		t.Fatalf("conn state %+v", got)
	}
	got = mustConnFromWire(t, &pb.ConnState{RemoteAddr: "/run/sock", Tls: &pb.TLSInfo{Version: tls.VersionTLS13, PeerCertificate: []byte("junk"), Verified: true}})
	if got.RemoteAddr.String() != "/run/sock" || got.TLS == nil || got.TLS.Version != tls.VersionTLS13 || got.Secure() {
		t.Fatalf("conn state %+v (an unparsable certificate must not count as verified)", got)
	}
}

func FuzzParseLogLine(f *testing.F) {
	f.Add([]byte(`{"@level":"warn","@message":"m","access_token":"x","n":{"a":[1,2]}}`))
	f.Add([]byte(`{"@level":5}`))
	f.Add([]byte("[ERROR] Bearer abc"))
	f.Add([]byte("panic: boom"))
	f.Add([]byte("\xff\xfe invalid utf8 password=x"))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec := parseLogLine(line, 0)
		for _, a := range rec.attrs {
			if secretKey(a.key) && a.value != "[REDACTED]" {
				t.Fatalf("secret attribute %q kept its value", a.key)
			}
		}
		w := &logWriter{log: discardLogger(), secrets: &secretSet{}, stream: "stderr"}
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
		w.Close()
	})
}

func FuzzRedactText(f *testing.F) {
	f.Add("Authorization: Bearer abc", "abc")
	f.Add(`{"refresh_token":"1//0abcdefghijk"}`, "1//0abcdefghijk")
	f.Add("token ya29.a0AbCdEf123", "ya29.a0AbCdEf123")
	f.Add("password=\"x y\"", "x y")
	f.Fuzz(func(t *testing.T, text, secret string) {
		out := redactText(text)
		if again := redactText(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", text, out, again)
		}
		// A known secret never survives the host's redaction.
		s := &secretSet{}
		s.add(secret)
		if len(secret) >= minSecretLen && !strings.Contains("[REDACTED]", secret) && !strings.Contains(secret, "[REDACTED]") {
			if got := s.redact(text + " " + secret + " " + text); strings.Contains(got, secret) {
				t.Fatalf("secret %q survives in %q", secret, got)
			}
		}
	})
}

// TestAutoMTLS dials the plugin's gRPC address as a stranger: without the
// host's one-time client certificate the TLS handshake fails.
func TestAutoMTLS(t *testing.T) {
	p := openTest(t, nil)
	p.mu.Lock()
	rc := p.cur.client.ReattachConfig()
	p.mu.Unlock()
	if rc == nil || rc.Addr == nil {
		t.Fatal("no plugin address")
	}
	conn, err := grpc.NewClient("passthrough:///plugin",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, rc.Addr.Network(), rc.Addr.String())
		}),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pb.NewPluginClient(conn).Info(ctx, &pb.InfoRequest{})
	if err == nil {
		t.Fatal("a client without the one-time certificate was served")
	}
	if s, _ := status.FromError(err); s.Code().String() == "OK" {
		t.Fatalf("unexpected status %v", err)
	}
}

func TestOptionsFormatHidesEnv(t *testing.T) {
	o := Options{Name: "p", Env: []string{"CLIENT_SECRET=s3cr3t-value"}, Args: []string{"serve"}}
	for _, out := range []string{fmt.Sprintf("%v", o), fmt.Sprintf("%+v", &o), fmt.Sprintf("%#v", o), fmt.Sprint(o)} {
		if strings.Contains(out, "s3cr3t") || !strings.Contains(out, "CLIENT_SECRET=[REDACTED]") {
			t.Errorf("formatted options: %s", out)
		}
	}
}

func FuzzConnFromWire(f *testing.F) {
	seed, _ := proto.Marshal(&pb.ConnState{Host: "h", Port: 993, RemoteAddr: "127.0.0.1:1",
		Tls: &pb.TLSInfo{Version: tls.VersionTLS13, Verified: true, PeerCertificate: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}})
	f.Add(seed)
	seed, _ = proto.Marshal(&pb.ConnState{Tls: &pb.TLSInfo{Version: tls.VersionTLS12, Exporter: make([]byte, 32), ServerCertificate: []byte{0x30, 0x00}}})
	f.Add(seed)
	seed, _ = proto.Marshal(&pb.ConnState{Tls: &pb.TLSInfo{Version: tls.VersionTLS13, Exporter: make([]byte, 31)}})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		var w pb.ConnState
		if proto.Unmarshal(data, &w) != nil {
			return
		}
		c, err := connFromWire(&w)
		if err != nil {
			if !errors.Is(err, sasl.ErrChannelBindingData) || !errors.Is(err, sasl.ErrUnusable) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if cb := c.ChannelBinding; cb != nil && cb.Exporter != nil && len(cb.Exporter) != sasl.ExporterSize {
			t.Fatalf("exporter of %d bytes accepted", len(cb.Exporter))
		}
		if c.Secure() && len(c.TLS.PeerCertificates) == 0 {
			t.Fatal("secure without a parsed certificate")
		}
		_ = c.Loopback()
		_ = connToWire(c, true)
	})
}

func TestTokenExpiryCrossesTheWire(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expiry time.Time
	}{
		{"unknown", time.Time{}},
		{"future", time.UnixMilli(4102444800000)},
		{"before 1970", time.UnixMilli(-86400000)},
		{"the epoch", time.UnixMilli(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			access, typ, exp := tokenToWire(&oauth2.Token{AccessToken: "x", TokenType: "Bearer", Expiry: tc.expiry})
			got := tokenFromWire(access, typ, exp)
			switch {
			case tc.expiry.IsZero():
				if !got.Expiry.IsZero() {
					t.Fatalf("unknown expiry came back as %v", got.Expiry)
				}
			case got.Expiry.IsZero():
				// An expiry read as unknown would make an expired token
				// live for ever.
				t.Fatalf("expiry %v came back as unknown", tc.expiry)
			case tc.expiry.Unix() <= 0 && got.Expiry.After(time.Unix(0, 0)):
				t.Fatalf("expiry %v came back as %v, not expired in 1970", tc.expiry, got.Expiry)
			case tc.expiry.Unix() > 0 && !got.Expiry.Equal(tc.expiry):
				t.Fatalf("expiry %v came back as %v", tc.expiry, got.Expiry)
			}
		})
	}
	if tok := tokenFromWire("x", "", -1); tok.Expiry.IsZero() || tok.Valid() {
		t.Fatalf("a negative expiry gave %v, valid %v", tok.Expiry, tok.Valid())
	}
}
