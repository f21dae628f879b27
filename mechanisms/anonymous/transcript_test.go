package anonymous

import (
	"bufio"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saslkit/saslkit/sasl"
)

// A transcript is a SASL exchange pinned in testdata: one line per message,
// "C: " for the client and "S: " for the server, each followed by the
// message in base64 ("=" for an empty message). Lines starting with '#' are
// comments. A transcript that starts with "C:" opens with an initial
// response.
type step struct {
	from byte   // 'C' or 'S'
	text string // base64 as written in the file
	data []byte
}

func readTranscript(t *testing.T, name string) []step {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
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
		steps = append(steps, step{from: from[0], text: text, data: data})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 {
		t.Fatalf("%s: empty transcript", name)
	}
	return steps
}

// enc is a message's form in a transcript.
func enc(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// replayClient runs c against the server side of steps and checks that every
// client message matches byte for byte. An initial response answers a
// leading empty server challenge, as protocol libraries send it when the
// protocol has no inline initial response.
func replayClient(t *testing.T, c sasl.Client, steps []step) {
	t.Helper()
	_, ir, err := c.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	i := 0
	switch {
	case steps[0].from == 'C':
		if ir == nil {
			t.Fatalf("Start: no initial response, transcript has %s", steps[0].text)
		}
		if got := enc(ir); got != steps[0].text {
			t.Fatalf("initial response = %s, want %s", got, steps[0].text)
		}
		i = 1
	case ir != nil:
		if len(steps) < 2 || len(steps[0].data) != 0 || steps[1].from != 'C' {
			t.Fatalf("Start: initial response, but the transcript does not open with an empty challenge")
		}
		if got := enc(ir); got != steps[1].text {
			t.Fatalf("initial response = %s, want %s", got, steps[1].text)
		}
		i = 2
	}
	for ; i < len(steps); i += 2 {
		if steps[i].from != 'S' || i+1 >= len(steps) || steps[i+1].from != 'C' {
			t.Fatalf("step %d: transcript must alternate S and C", i)
		}
		resp, err := c.Next(steps[i].data)
		if err != nil {
			t.Fatalf("Next(%s): %v", steps[i].text, err)
		}
		if resp == nil {
			t.Fatalf("Next(%s) = nil response", steps[i].text)
		}
		if got := enc(resp); got != steps[i+1].text {
			t.Fatalf("Next(%s) = %s, want %s", steps[i].text, got, steps[i+1].text)
		}
	}
}

// replayServer feeds the client side of steps to s, checks every challenge
// byte for byte, and returns the server's final error once it is done.
func replayServer(t *testing.T, s sasl.Server, steps []step) error {
	t.Helper()
	var resp []byte // nil: no initial response
	i := 0
	if steps[0].from == 'C' {
		resp, i = steps[0].data, 1
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
		if i+1 >= len(steps) || steps[i].from != 'S' || steps[i+1].from != 'C' {
			t.Fatalf("server sent %s at step %d, transcript expects no more challenges", enc(ch), i)
		}
		if ch == nil {
			t.Fatalf("step %d: nil challenge", i)
		}
		if got := enc(ch); got != steps[i].text {
			t.Fatalf("challenge %d = %s, want %s", i, got, steps[i].text)
		}
		resp, i = steps[i+1].data, i+2
	}
}
