package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/saslkit/saslkit/sasl"
	"github.com/saslkit/saslkit/sasl/sasltest"
)

// transcriptMark returns the number of the last connection ms has
// recorded, so that the connections made after it can be told apart.
func transcriptMark(ms *sasltest.MailServer) int {
	last := 0
	for _, t := range ms.Transcripts() {
		last = max(last, t.ID)
	}
	return last
}

// transcriptsAfter returns the transcripts of the connections to
// protocol p made after mark, in order.
func transcriptsAfter(ms *sasltest.MailServer, mark int, p sasltest.Protocol) []sasltest.Transcript {
	var out []sasltest.Transcript
	for _, t := range ms.Transcripts() {
		if t.ID > mark && t.Protocol == p {
			out = append(out, t)
		}
	}
	return out
}

// endedTranscript waits for the first connection to protocol p after mark
// to end, and returns its complete transcript.
func endedTranscript(ctx context.Context, ms *sasltest.MailServer, mark int, p sasltest.Protocol) (sasltest.Transcript, error) {
	trs := transcriptsAfter(ms, mark, p)
	if len(trs) == 0 {
		return sasltest.Transcript{}, fmt.Errorf("the %s server recorded no connection", p)
	}
	select {
	case <-trs[0].Done:
	case <-ctx.Done():
		return sasltest.Transcript{}, fmt.Errorf("waiting for the %s connection to end: %w", p, ctx.Err())
	}
	for _, t := range ms.Transcripts() {
		if t.ID == trs[0].ID {
			return t, nil
		}
	}
	return sasltest.Transcript{}, fmt.Errorf("the %s transcript disappeared", p)
}

// authExchange picks the authentication out of a transcript, as the
// server saw it (secrets are already "[REDACTED]" there): the mechanisms
// the server advertised last before it, the lines from the first AUTH (or
// AUTHENTICATE) command to the server's final answer, and the number of
// client lines among them: the round trips.
func authExchange(tr sasltest.Transcript) (advertised []string, lines []sasltest.TranscriptLine, rounds int) {
	start := -1
	for i, l := range tr.Lines {
		if start < 0 {
			if l.Dir == sasltest.FromServer {
				if mechs, ok := advertisedIn(tr.Protocol, l.Text); ok {
					advertised = mechs
				}
			}
			if l.Dir == sasltest.FromClient && isAuthCommand(tr.Protocol, l.Text) {
				start = i
			} else {
				continue
			}
		}
		if l.Dir == sasltest.Event {
			continue
		}
		lines = append(lines, l)
		if l.Dir == sasltest.FromClient {
			rounds++
		}
		if l.Dir == sasltest.FromServer && isFinalAuthAnswer(tr.Protocol, l.Text) && !nextIsAuth(tr, i) {
			break
		}
	}
	return advertised, lines, rounds
}

// nextIsAuth reports whether the client's next line after i starts
// another authentication (a retry with a fresh token).
func nextIsAuth(tr sasltest.Transcript, i int) bool {
	for _, l := range tr.Lines[i+1:] {
		if l.Dir == sasltest.FromClient {
			return isAuthCommand(tr.Protocol, l.Text)
		}
	}
	return false
}

// isAuthCommand reports whether a client line starts an authentication:
// IMAP "tag AUTHENTICATE", SMTP and POP3 "AUTH".
func isAuthCommand(p sasltest.Protocol, line string) bool {
	f := strings.Fields(line)
	if p == sasltest.ProtocolIMAP {
		return len(f) >= 2 && strings.EqualFold(f[1], "AUTHENTICATE")
	}
	return len(f) >= 1 && strings.EqualFold(f[0], "AUTH")
}

// isFinalAuthAnswer reports whether a server line ends an authentication
// exchange rather than continuing it.
func isFinalAuthAnswer(p sasltest.Protocol, line string) bool {
	switch p {
	case sasltest.ProtocolIMAP:
		return !strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "* ")
	case sasltest.ProtocolSMTP:
		// A multi-line reply ends at "ddd " (space); 334 continues.
		return len(line) >= 4 && line[3] == ' ' && !strings.HasPrefix(line, "334")
	default:
		return strings.HasPrefix(line, "+OK") || strings.HasPrefix(line, "-ERR")
	}
}

// advertisedIn returns the SASL mechanisms a server line advertises: IMAP
// AUTH= capabilities, the SMTP EHLO AUTH keyword, the POP3 CAPA SASL line.
func advertisedIn(p sasltest.Protocol, line string) ([]string, bool) {
	f := strings.Fields(line)
	switch p {
	case sasltest.ProtocolIMAP:
		if !strings.Contains(line, "CAPABILITY") {
			return nil, false
		}
		var mechs []string
		for _, w := range f {
			w = strings.TrimRight(w, "]")
			if m, ok := strings.CutPrefix(w, "AUTH="); ok {
				mechs = append(mechs, m)
			}
		}
		return mechs, true
	case sasltest.ProtocolSMTP:
		if len(f) >= 1 && (f[0] == "250-AUTH" || f[0] == "250" && len(f) >= 2 && f[1] == "AUTH") {
			i := 1
			if f[0] == "250" {
				i = 2
			}
			return f[i:], true
		}
	default:
		if len(f) >= 1 && f[0] == "SASL" {
			return f[1:], true
		}
	}
	return nil, false
}

// showExchange prints the authentication of the first connection to
// protocol p after mark, as the server recorded it: the mechanisms it
// offered, the client's choice (n, when it succeeded) and why, and the
// exchange. It records the choice and the round trips in r.
func (d *demo) showExchange(ctx context.Context, ms *sasltest.MailServer, mark int, p sasltest.Protocol, n *sasl.Negotiated, r *stepResult) error {
	tr, err := endedTranscript(ctx, ms, mark, p)
	if err != nil {
		return err
	}
	advertised, lines, rounds := authExchange(tr)
	if len(advertised) > 0 {
		d.out.detail("offered", "%s", strings.Join(advertised, " "))
	}
	if n != nil {
		r.Mechanism, r.Reason = n.Mechanism.Name, n.Reason()
		d.out.detail("negotiated", "%s", n.Reason())
	}
	for i, l := range lines {
		key := ""
		if i == 0 {
			key = "wire"
		}
		d.out.wire(key, l.String())
	}
	r.RoundTrips = rounds
	d.out.detail("round trips", "%d", rounds)
	return nil
}
