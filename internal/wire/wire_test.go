package wire_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/saslkit/saslkit/internal/wire"
)

func TestDecodeBase64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "\x00tim\x00tanstaaftanstaaf", true},
		{"VXJzZWwAS3VydAB4aXBqM3BsbXE=", "Ursel\x00Kurt\x00xipj3plmq", true},
		{"AQ==", "\x01", true},
		{"=AAA", "", false},     // RFC 4954 §4
		{"AAA=BBB", "", false},  // RFC 4954 §4
		{"AA\tA", "", false},    // embedded TAB (Dovecot CVE-2026-33603)
		{"AA A", "", false},     // embedded space
		{"AA\rA", "", false},    // CR inside
		{"AAA", "", false},      // not padded
		{"AQ=", "", false},      // short padding
		{"AR==", "", false},     // stray bits
		{"A===", "", false},     // three pads
		{"AQ==AQ==", "", false}, // data after padding
		{"dGVzdAB0ZXN0AHRlc3Q=", "test\x00test\x00test", true},
		{"eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=", "", false}, // one pad missing
	} {
		got, ok := wire.DecodeBase64(tc.in)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("DecodeBase64(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		gotB, okB := wire.DecodeBase64([]byte(tc.in))
		if okB != ok || !bytes.Equal(gotB, got) {
			t.Errorf("DecodeBase64([]byte(%q)) differs from the string form", tc.in)
		}
	}
	if b, ok := wire.DecodeBase64(""); !ok || b == nil {
		t.Errorf("empty input must decode to an empty non-nil slice")
	}
}

func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"", "AQ==", "=AAA", "AAA=BBB", "AA\r\nAA", "dGVzdA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := wire.DecodeBase64(s)
		if !ok {
			return
		}
		// Whatever is accepted is exactly the canonical encoding.
		if enc := base64.StdEncoding.EncodeToString(b); enc != s {
			t.Fatalf("accepted %q, canonical form %q", s, enc)
		}
	})
}
