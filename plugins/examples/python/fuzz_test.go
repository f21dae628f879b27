package python

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// parseHarness is testdata/parse_harness.py, running: token_file_plugin's
// parser behind a pipe.
type parseHarness struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Reader
}

// parseResult is the harness's answer for one file.
type parseResult struct {
	Entries map[string]struct {
		AccessToken  string   `json:"access_token"`
		TokenType    string   `json:"token_type"`
		ExpiryMillis int64    `json:"expiry_millis"`
		Scopes       []string `json:"scopes"`
	} `json:"entries"`
	Error     *string `json:"error"`
	Exception *string `json:"exception"`
}

func startHarness(f *testing.F) *parseHarness {
	f.Helper()
	cmd := exec.Command(interpreter, "-I", "testdata/parse_harness.py")
	in, err := cmd.StdinPipe()
	if err != nil {
		f.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			f.Errorf("parse harness: %v\n%s", err, stderr.String())
		}
	})
	return &parseHarness{in: in, out: bufio.NewReader(out)}
}

func (h *parseHarness) parse(t *testing.T, data []byte) parseResult {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	if _, err := h.in.Write(append(msg, data...)); err != nil {
		t.Fatal(err)
	}
	line, err := h.out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("parse harness: %v", err)
	}
	var r parseResult
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("parse harness answered %q: %v", line, err)
	}
	return r
}

// FuzzTokenFile feeds arbitrary token files to the plugin's parser: it
// either returns tokens that can go on a mail protocol line with a
// meaningful expiry, or a one-line error naming the file; nothing else
// escapes it. The fuzzer sees no coverage inside Python, so it mutates
// blindly from the seeds; testdata/fuzz holds what it found.
func FuzzTokenFile(f *testing.F) {
	requirePython(f)
	for _, seed := range []string{
		`{"alice@example.com": {"access_token": "ya29.a", "token_type": "Bearer", "expiry": "2026-11-22T07:04:05Z", "scopes": ["https://mail.google.com/"]}}`,
		`{"bob@example.com": {"access_token": "t", "expiry": "0001-01-01T00:00:00Z"}}`,
		`{"a": {"access_token": "t", "expiry": "2026-11-22T07:04:05.123456789+02:00"}}`,
		`{"a": {"access_token": "t", "expiry": "9999-12-31T23:59:59-23:59"}}`,
		`{"a": {"access_token": "t x"}}`,
		`{"a": {"access_token": "t", "expiry": 5}}`,
		`{"a": {"access_token": "t", "scopes": "x"}}`,
		`{"a": {"access_token": "t", "token_type": 1}}`,
		`{"a": "t"}`,
		`[]`,
		`{"a": {"access_token": "t"`,
		"\xff",
		`{"a": {"access_token": "t"}, "a": {"access_token": "u"}}`,
		`{"a": {"access_token": "t", "expiry": "1e400"}}`,
		`1e400`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
	} {
		f.Add([]byte(seed))
	}
	h := startHarness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := h.parse(t, data)
		switch {
		case r.Exception != nil:
			t.Fatalf("the parser raised %s", *r.Exception)
		case r.Error != nil:
			msg := *r.Error
			if !strings.HasPrefix(msg, "/run/tokens.json") || strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Errorf("error %q: want one line naming the file", msg)
			}
		default:
			for account, e := range r.Entries {
				tok := e.AccessToken
				if tok == "" || len(tok) > 8192 || strings.ContainsFunc(tok, func(c rune) bool { return c <= ' ' || c > '~' }) {
					t.Errorf("account %q: unusable token %q accepted", account, tok)
				}
				if e.TokenType == "" || e.ExpiryMillis < 0 {
					t.Errorf("account %q: token type %q, expiry %d", account, e.TokenType, e.ExpiryMillis)
				}
			}
		}
	})
}
