package sasltest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/saslkit/saslkit/internal/redact"
)

// Direction says who sent a transcript line.
type Direction byte

const (
	// FromClient marks a line the client sent.
	FromClient Direction = 'C'
	// FromServer marks a line the server sent.
	FromServer Direction = 'S'
	// Event marks a note of the recorder (TLS established, connection
	// closed, a fault injected).
	Event Direction = '*'
)

// TranscriptLine is one line of a wire transcript, without its line ending.
type TranscriptLine struct {
	Dir  Direction
	Text string
}

// String returns the line as "C: text", "S: text" or "*: text".
func (l TranscriptLine) String() string { return string(l.Dir) + ": " + l.Text }

// Transcript is the record of one connection to a MailServer: every line
// each side sent, in order, as the server saw it (after TLS). Secrets are
// never in it: the base64 after AUTH or AUTHENTICATE, every SASL
// continuation line in both directions, the arguments of IMAP LOGIN and
// POP3 PASS (and the literals that follow them) are replaced by
// "[REDACTED]". Literal data and message bodies are summarised by size.
type Transcript struct {
	// ID numbers connections in the order they were accepted, from 1.
	ID int
	// Protocol and Mode name the listener.
	Protocol Protocol
	Mode     TLSMode
	// RemoteAddr is the client's address (the client's LocalAddr).
	RemoteAddr string
	// User and Mechanism are who authenticated and how, or "" before.
	User      string
	Mechanism string
	// Lines are the lines so far.
	Lines []TranscriptLine
	// Closed reports whether the connection had ended when the snapshot
	// was taken.
	Closed bool
	// Done is closed when the connection ends; after it the transcript is
	// complete.
	Done <-chan struct{}
}

// String renders the transcript one line per TranscriptLine.
func (t Transcript) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s #%d from %s\n", t.Protocol, t.Mode, t.ID, t.RemoteAddr)
	for _, l := range t.Lines {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Format prints the rendered transcript; it holds no secret.
func (t Transcript) Format(f fmt.State, verb rune) { redact.Format(f, verb, t.String()) }

// maxTranscriptLines bounds a transcript; a hostile client cannot make the
// server keep an unbounded record.
const maxTranscriptLines = 20000

// maxTranscriptText bounds one recorded line.
const maxTranscriptText = 1024

// transcriptLog is the live record of one connection.
type transcriptLog struct {
	id         int
	proto      Protocol
	mode       TLSMode
	remoteAddr string
	done       chan struct{}

	mu      sync.Mutex
	lines   []TranscriptLine
	dropped int
	closed  bool
	user    string
	mech    string
}

func newTranscriptLog(id int, proto Protocol, mode TLSMode, remote string) *transcriptLog {
	return &transcriptLog{id: id, proto: proto, mode: mode, remoteAddr: remote, done: make(chan struct{})}
}

// add records a line; text must already be redacted.
func (t *transcriptLog) add(dir Direction, text string) {
	if len(text) > maxTranscriptText {
		text = fmt.Sprintf("%s...[%d octets]", text[:maxTranscriptText], len(text))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if len(t.lines) >= maxTranscriptLines {
		t.dropped++
		return
	}
	t.lines = append(t.lines, TranscriptLine{Dir: dir, Text: text})
}

func (t *transcriptLog) setIdentity(user, mech string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.user, t.mech = user, mech
}

// close marks the end of the connection.
func (t *transcriptLog) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.dropped > 0 {
		t.lines = append(t.lines, TranscriptLine{Dir: Event, Text: fmt.Sprintf("%d further lines not recorded", t.dropped)})
	}
	t.lines = append(t.lines, TranscriptLine{Dir: Event, Text: "connection closed"})
	t.closed = true
	close(t.done)
}

func (t *transcriptLog) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *transcriptLog) snapshot() Transcript {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Transcript{
		ID: t.id, Protocol: t.proto, Mode: t.mode, RemoteAddr: t.remoteAddr,
		User: t.user, Mechanism: t.mech,
		Lines:  append([]TranscriptLine(nil), t.lines...),
		Closed: t.closed, Done: t.done,
	}
}

// printable returns s with control characters other than TAB escaped, so
// that a transcript line is one line of text.
func printable(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}
