package xoauth2

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/saslkit/saslkit/internal/mechtest"
	"github.com/saslkit/saslkit/sasl"
)

// Google's worked example (test-vectors §11) and Microsoft's (§12): the
// client reproduces the published initial response byte for byte, and the
// published base64 decodes to the published ^A rendering.
func TestInitialResponseVectors(t *testing.T) {
	tests := []struct {
		name, user, token, b64, txt string
	}{
		{"google", "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "google-ir.b64", "google-ir.txt"},
		{"microsoft", "test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA", "microsoft-ir.b64", "microsoft-ir.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mechtest.GoldenBase64(t, tt.b64)
			if txt := mechtest.Golden(t, tt.txt); !bytes.Equal(want, txt) {
				t.Fatalf("published base64 and published text differ:\n%q\n%q", want, txt)
			}
			mech, ir, err := NewClient(tt.user, tt.token).Start()
			if err != nil || mech != "XOAUTH2" {
				t.Fatalf("Start: %q %v", mech, err)
			}
			if !bytes.Equal(ir, want) {
				t.Fatalf("initial response\n got %q\nwant %q", ir, want)
			}
			if got := base64.StdEncoding.EncodeToString(ir); got != string(mechtest.Golden(t, tt.b64)) {
				t.Fatalf("base64 %s", got)
			}
			// The strict server reads the vector back.
			v := newTable(tt.user, tt.token)
			_, done, err := NewServer(context.Background(), v, nil).Next(want)
			if !done || err != nil {
				t.Fatalf("server on the vector: done=%v err=%v", done, err)
			}
			if calls := v.Calls(); len(calls) != 1 || calls[0].Username != tt.user || calls[0].Token != tt.token {
				t.Fatal("server passed the wrong request to the verifier")
			}
		})
	}
}

// Google's error blobs: the documented one (401, "bearer mac", with a
// trailing newline) and the one Gmail sends today (400, "Bearer").
func TestErrorBlobVectors(t *testing.T) {
	tests := []struct {
		file string
		want sasl.TokenError
		nl   bool
	}{
		{"google-error-401.b64", sasl.TokenError{Mechanism: "XOAUTH2", Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}, true},
		{"google-error-400.b64", sasl.TokenError{Mechanism: "XOAUTH2", Status: "400", Schemes: "Bearer", Scope: "https://mail.google.com/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			blob := mechtest.GoldenBase64(t, tt.file)
			if bytes.HasSuffix(blob, []byte("\n")) != tt.nl {
				t.Fatalf("trailing newline in %q: want %v", blob, tt.nl)
			}
			c := NewClient("someuser@example.com", "ya29.token")
			if _, _, err := c.Start(); err != nil {
				t.Fatal(err)
			}
			resp, err := c.Next(blob)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if resp == nil || len(resp) != 0 {
				t.Fatalf("answer %q (nil=%v), want an empty non-nil response", resp, resp == nil)
			}
			var te *sasl.TokenError
			if !errors.As(sasl.FailureOf(c), &te) || *te != tt.want {
				t.Fatalf("recorded %#v, want %#v", sasl.FailureOf(c), tt.want)
			}
			if !errors.Is(sasl.FailureOf(c), sasl.ErrAuthFailed) {
				t.Fatal("failure does not match ErrAuthFailed")
			}
		})
	}
}

// The server reproduces Gmail's current blob byte for byte, and the
// documented one but for its trailing newline.
func TestServerErrorBlobs(t *testing.T) {
	ir := mechtest.GoldenBase64(t, "google-ir.b64")
	reject := func(te sasl.TokenError) sasl.TokenVerifier {
		return sasl.TokenVerifierFunc(func(context.Context, sasl.TokenRequest) (sasl.Identity, error) {
			return sasl.Identity{}, &te
		})
	}
	ch, done, err := NewServer(context.Background(), reject(sasl.TokenError{Status: "400"}), GoogleServerOptions()).Next(ir)
	if done || err != nil || !bytes.Equal(ch, mechtest.GoldenBase64(t, "google-error-400.b64")) {
		t.Fatalf("Gmail-style challenge %q done=%v err=%v", ch, done, err)
	}
	te := sasl.TokenError{Status: "401", Schemes: "bearer mac", Scope: "https://mail.google.com/"}
	ch, _, _ = NewServer(context.Background(), reject(te), nil).Next(ir)
	if want := bytes.TrimSuffix(mechtest.GoldenBase64(t, "google-error-401.b64"), []byte("\n")); !bytes.Equal(ch, want) {
		t.Fatalf("documented challenge\n got %q\nwant %q", ch, want)
	}
}
