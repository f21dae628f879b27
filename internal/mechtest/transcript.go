package mechtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// A Step is one message of a transcript pinned in testdata: one line per
// message, "C: " for the client and "S: " for the server, each followed by
// the message in base64 ("=" for an empty message). Lines starting with '#'
// are comments. A transcript that starts with "C:" opens with an initial
// response.
type Step struct {
	From byte   // 'C' or 'S'
	Text string // base64 as written in the file
	Data []byte // the decoded message, never nil
}

// ReadTranscript reads testdata/name.
func ReadTranscript(t testing.TB, name string) []Step {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []Step
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		from, text, ok := strings.Cut(line, ": ")
		if !ok || (from != "C" && from != "S") {
			t.Fatalf("%s: bad line %q", name, line)
		}
		data := []byte{}
		if text != "=" {
			data, err = base64.StdEncoding.Strict().DecodeString(text)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, text, err)
			}
		}
		steps = append(steps, Step{From: from[0], Text: text, Data: data})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 {
		t.Fatalf("%s: empty transcript", name)
	}
	return steps
}

// Encode returns a message's form in a transcript.
func Encode(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ReplayClient runs c against the server side of steps and checks that
// every client message matches byte for byte. An initial response answers a
// leading empty server challenge, as protocol libraries send it when the
// protocol has no inline initial response.
func ReplayClient(t testing.TB, c sasl.Client, steps []Step) {
	t.Helper()
	_, ir, err := c.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	i := 0
	switch {
	case steps[0].From == 'C':
		if ir == nil {
			t.Fatalf("Start: no initial response, transcript has %s", steps[0].Text)
		}
		if got := Encode(ir); got != steps[0].Text {
			t.Fatalf("initial response = %s, want %s", got, steps[0].Text)
		}
		i = 1
	case ir != nil:
		if len(steps) < 2 || len(steps[0].Data) != 0 || steps[1].From != 'C' {
			t.Fatalf("Start: initial response, but the transcript does not open with an empty challenge")
		}
		if got := Encode(ir); got != steps[1].Text {
			t.Fatalf("initial response = %s, want %s", got, steps[1].Text)
		}
		i = 2
	}
	for ; i < len(steps); i += 2 {
		if steps[i].From != 'S' || i+1 >= len(steps) || steps[i+1].From != 'C' {
			t.Fatalf("step %d: transcript must alternate S and C", i)
		}
		resp, err := c.Next(steps[i].Data)
		if err != nil {
			t.Fatalf("Next(%s): %v", steps[i].Text, err)
		}
		if resp == nil {
			t.Fatalf("Next(%s) = nil response", steps[i].Text)
		}
		if got := Encode(resp); got != steps[i+1].Text {
			t.Fatalf("Next(%s) = %s, want %s", steps[i].Text, got, steps[i+1].Text)
		}
	}
}

// ReplayServer feeds the client side of steps to s, checks every challenge
// byte for byte, and returns the server's final error once it is done.
func ReplayServer(t testing.TB, s sasl.Server, steps []Step) error {
	t.Helper()
	var resp []byte // nil: no initial response
	i := 0
	if steps[0].From == 'C' {
		resp, i = steps[0].Data, 1
	}
	for {
		ch, done, err := s.Next(resp)
		if done || err != nil {
			if i != len(steps) {
				t.Fatalf("server finished after %d of %d steps (err %v)", i, len(steps), err)
			}
			if !done {
				t.Fatalf("server returned error without done: %v", err)
			}
			return err
		}
		if i+1 >= len(steps) || steps[i].From != 'S' || steps[i+1].From != 'C' {
			t.Fatalf("server sent %s at step %d, transcript expects no more challenges", Encode(ch), i)
		}
		if ch == nil {
			t.Fatalf("step %d: nil challenge", i)
		}
		if got := Encode(ch); got != steps[i].Text {
			t.Fatalf("challenge %d = %s, want %s", i, got, steps[i].Text)
		}
		resp, i = steps[i+1].Data, i+2
	}
}

// Golden reads testdata/name without its final newline. A ".txt" file holds
// the published "^A" rendering of a message; Golden converts it to real
// 0x01 bytes.
func Golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	if strings.HasSuffix(name, ".txt") {
		b = bytes.ReplaceAll(b, []byte("^A"), []byte{1})
	}
	return b
}

// GoldenBase64 reads a base64 testdata file and decodes it strictly.
func GoldenBase64(t testing.TB, name string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.Strict().DecodeString(string(Golden(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}
