package adapters_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/saslkit/saslkit/adapters"
)

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "5.7.8 Username and Password not accepted", "a\x00b\r\nc", "\xff\xfe", strings.Repeat("é", 150)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := adapters.Sanitize(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		if len(got) > adapters.MaxTextLen+len("…") {
			t.Fatalf("length %d", len(got))
		}
		for _, r := range got {
			if !unicode.IsPrint(r) {
				t.Fatalf("unprintable %q in %q", r, got)
			}
		}
		if again := adapters.Sanitize(got); !strings.HasSuffix(got, "…") && again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
	})
}

// Whatever surrounds an AUTH line and an IMAP LOGIN whose password is a
// literal, and however the stream is cut, the writer does not panic, passes
// only whole lines, and never lets the initial response or the password
// through.
func FuzzRedactWriter(f *testing.F) {
	f.Add([]byte("T1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n+ \r\n"), []byte("=\r\nT1 OK\r\n"), uint8(3))
	f.Add([]byte("EHLO x\r\n250 AUTH LOGIN"), []byte("334 VXNlcm5hbWU6\r\nYWxpY2U=\r\n"), uint8(1))
	f.Add([]byte("CAPA\r\n+OK\r\nSASL LOGIN PLAIN\r\n"), []byte(".\r\n250-AUTH LOGIN PLAIN\r\n"), uint8(5))
	f.Add([]byte("a1 LOGIN {5}\r\n+ go\r\nalice {6}"), []byte("+ go\r\nx\r\n"), uint8(2))
	const secret = "c2VjcmV0LXRva2Vu" // base64 "secret-token"
	const password = "pässwörd-literal"
	f.Fuzz(func(t *testing.T, before, after []byte, cut uint8) {
		for _, s := range []string{secret, password} {
			if bytes.Contains(before, []byte(s)) || bytes.Contains(after, []byte(s)) {
				t.Skip()
			}
		}
		in := append(append(append([]byte{}, before...),
			"\nAUTH PLAIN "+secret+"\r\nZ9 LOGIN alice {18+}\r\n"+password+"\r\n"...), after...)
		var out bytes.Buffer
		w := adapters.RedactWriter(&out)
		step := int(cut)%16 + 1
		for i := 0; i < len(in); i += step {
			if _, err := w.Write(in[i:min(i+step, len(in))]); err != nil {
				t.Fatal(err)
			}
		}
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			t.Fatalf("partial line written: %q", out.Bytes())
		}
		if bytes.Contains(out.Bytes(), []byte(secret)) {
			t.Fatalf("initial response passed: %q", out.Bytes())
		}
		if bytes.Contains(out.Bytes(), []byte(password)) {
			t.Fatalf("LOGIN password passed: %q", out.Bytes())
		}
	})
}
