package plugins

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a log
// handler.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPluginLogsRedacted has the test plugin log the token it hands out
// (in a message, an attribute, a header, a SASL initial response, plain
// stderr, an hclog JSON line and stdout) and checks the host's log byte by
// byte: no form of the token, no password, no refresh token.
func TestPluginLogsRedacted(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: LevelTrace}))
	p := openTest(t, &Options{Logger: logger})
	tok, err := p.TokenSource("log").Token(bounded(t))
	if err != nil {
		t.Fatal(err)
	}
	// The plugin's output arrives asynchronously; its last line is the
	// stdout one.
	deadline := time.Now().Add(testTimeout)
	for !strings.Contains(out.String(), "stdout after the handshake") {
		if time.Now().After(deadline) {
			t.Fatalf("plugin output never arrived:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Close()
	log := out.String()
	secret := tok.AccessToken
	for _, form := range []string{
		secret,
		secret[len("ya29.a0A"):], // the random part alone
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
		url.QueryEscape(secret),
		"hunter2hunter2",
		"1//0gLongRefresh",
		base64.StdEncoding.EncodeToString([]byte("user=log@example.com\x01auth=Bearer " + secret + "\x01\x01")),
	} {
		if strings.Contains(log, form) {
			t.Errorf("host log holds %q:\n%s", form, log)
		}
	}
	for _, want := range []string{
		`level=INFO msg="fetched token [REDACTED]"`,
		`access_token=[REDACTED]`,
		`level=DEBUG msg=sending`,
		`level=WARN msg="json with`,
		`refresh_token=[REDACTED]`,
		`stream=stdout`,
		`plugin=testplugin`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("host log lacks %q:\n%s", want, log)
		}
	}
}

func TestLogWriterLevelsAndLimits(t *testing.T) {
	var out syncBuffer
	w := &logWriter{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: LevelTrace})),
		secrets: &secretSet{}, stream: "stderr", level: slog.LevelInfo}
	w.secrets.add("s3cr3t-password")
	huge := strings.Repeat("x", 200<<10)
	for _, chunk := range []string{
		"[WARN] disk almost full\n",
		`{"@level":"error","@message":"boom","@timestamp":"2026-01-01T00:00:00.000000Z","k":1}` + "\n",
		`{"@level":5,"@message":7}` + "\n", // JSON of the wrong types: logged as text
		"password was s3cr3t-password\r\n",
		huge[:100<<10], huge[100<<10:] + "\n", // a 200 KB line, in two writes
		"panic: runtime error\n", "goroutine 1 [running]:\n",
		`{"@level":"info","@message":"after the panic"}` + "\n",
		"no newline at the end",
	} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	log := out.String()
	for _, want := range []string{
		`level=WARN msg="disk almost full"`,
		`level=ERROR msg=boom stream=stderr k=1`,
		`level=INFO msg="{\"@level\":5,\"@message\":7}"`,
		`msg="password was [REDACTED]"`,
		`level=WARN msg="plugin wrote an overlong line; dropped" stream=stderr bytes=204800`,
		`level=ERROR msg="panic: runtime error"`,
		`level=ERROR msg="goroutine 1 [running]:"`,
		`level=INFO msg="after the panic"`,
		`msg="no newline at the end"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "xxxxxxxx") || strings.Contains(log, "s3cr3t") {
		t.Errorf("log holds what it should not:\n%.2000s", log)
	}
}

func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		"Authorization: Bearer ya29.abc-DEF_123":                                  "Authorization: Bearer [REDACTED]",
		"auth=Bearer abc":                                                         "auth=Bearer [REDACTED]",
		`{"access_token":"abc","expires_in":3599}`:                                `{"access_token":"[REDACTED]","expires_in":3599}`,
		"client_secret=s3cr3t&grant_type=refresh_token":                           "client_secret=[REDACTED]&grant_type=refresh_token",
		"password: hunter2":                                                       "password: [REDACTED]",
		"jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl":                   "jwt [REDACTED]",
		"ir dXNlcj1hbGljZQFhdXRoPUJlYXJlciB5YTI5LmFiYwEB":                         "ir [REDACTED]",
		"sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08": "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"plugin /tmp/TestPlugins123/001/userdb started":                           "plugin /tmp/TestPlugins123/001/userdb started",
		"starting plugin path=/usr/lib/saslkit/tokenfile args=[x]":                "starting plugin path=/usr/lib/saslkit/tokenfile args=[x]",
		"status_code=400 error=invalid_grant":                                     "status_code=400 error=invalid_grant",
	} {
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
}
