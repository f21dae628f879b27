package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/saslkit/saslkit/sasl/sasltest"
)

// demoStyleFailed marks a failed step (red) when colour is on.
const demoStyleFailed = "\x1b[31m"

// demoOut prints the demo's progress for a person. With --json it writes
// to io.Discard.
type demoOut struct {
	st *stdio
	w  io.Writer
}

// detailWidth is the width of the key column of a step's detail lines.
const detailWidth = 12

// stepHeader starts step i of n.
func (o *demoOut) stepHeader(i, n int, s *demoStep) {
	fmt.Fprintf(o.w, "\n%s %s\n", o.st.style(styleBold, fmt.Sprintf("[%d/%d] %s:", i, n, s.name)), s.title)
}

// detail prints one line of a step: a key and a value.
func (o *demoOut) detail(key, format string, a ...any) {
	fmt.Fprintf(o.w, "      %s %s\n", o.st.style(styleDim, fmt.Sprintf("%-*s", detailWidth, key)), fmt.Sprintf(format, a...))
}

// wire prints one transcript line.
func (o *demoOut) wire(key, line string) {
	fmt.Fprintf(o.w, "      %s %s\n", o.st.style(styleDim, fmt.Sprintf("%-*s", detailWidth, key)), o.st.style(styleCyan, line))
}

// stepResult ends a step with its outcome and time.
func (o *demoOut) stepResult(r *stepResult) {
	switch r.Status {
	case statusOK:
		fmt.Fprintf(o.w, "      %s %s\n", o.st.style(styleGreen, "ok"), o.st.style(styleDim, "("+roundDuration(r.dur).String()+")"))
	case statusSkipped:
		fmt.Fprintf(o.w, "      skipped: %s\n", r.Error)
	default:
		fmt.Fprintf(o.w, "      %s %s %s\n", o.st.style(demoStyleFailed, "FAILED:"), r.Error, o.st.style(styleDim, "("+roundDuration(r.dur).String()+")"))
	}
}

// printSetup describes the servers the demo started.
func (d *demo) printSetup() {
	o := d.out
	fmt.Fprintf(o.w, "%s a Gmail-like mail system on 127.0.0.1, no network, no account\n\n", o.st.style(styleBold, "saslkit demo:"))
	o.detail("OAuth 2.0", "%s (client %s, scope %s)", d.oauth.URL, demoClientID, sasltest.GmailScope)
	o.detail("IMAP", "%s implicit TLS, %s STARTTLS", d.ms.Addr(sasltest.ProtocolIMAP, sasltest.ImplicitTLS), d.ms.Addr(sasltest.ProtocolIMAP, sasltest.StartTLS))
	o.detail("SMTP", "%s implicit TLS, %s STARTTLS", d.ms.Addr(sasltest.ProtocolSMTP, sasltest.ImplicitTLS), d.ms.Addr(sasltest.ProtocolSMTP, sasltest.StartTLS))
	o.detail("POP3", "%s implicit TLS, %s STLS", d.ms.Addr(sasltest.ProtocolPOP3, sasltest.ImplicitTLS), d.ms.Addr(sasltest.ProtocolPOP3, sasltest.StartTLS))
	o.detail("user", "%s (no password: tokens only)", demoUser)
	o.detail("token store", "%s", d.store.Dir())
}

// summary prints the table that ends the demo.
func (o *demoOut) summary(sum *demoSummary) {
	fmt.Fprintf(o.w, "\n%s\n", o.st.style(styleBold, "Summary"))
	rows := [][]string{{"#", "step", "result", "time", "mechanism", "round trips", "outcome"}}
	for i, r := range sum.Steps {
		rt := ""
		if r.RoundTrips > 0 {
			rt = fmt.Sprint(r.RoundTrips)
		}
		outcome := r.Outcome
		if r.Status != statusOK {
			outcome = r.Error
		}
		rows = append(rows, []string{fmt.Sprint(i + 1), r.Name, r.Status, roundDuration(r.dur).String(), r.Mechanism, rt, outcome})
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row[:len(row)-1] {
			widths[i] = max(widths[i], len(c))
		}
	}
	for n, row := range rows {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range row {
			cell := c
			if i < len(row)-1 {
				cell = fmt.Sprintf("%-*s", widths[i], c)
			}
			// Styled after padding: escape codes would upset the widths.
			switch {
			case n == 0:
				cell = o.st.style(styleDim, cell)
			case i == 2 && c == statusOK:
				cell = o.st.style(styleGreen, cell)
			case i == 2:
				cell = o.st.style(demoStyleFailed, cell)
			}
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		fmt.Fprintln(o.w, strings.TrimRight(b.String(), " "))
	}
	total := time.Duration(sum.Seconds * float64(time.Second))
	passed := 0
	for _, r := range sum.Steps {
		if r.Status == statusOK {
			passed++
		}
	}
	if sum.OK {
		fmt.Fprintf(o.w, "\n%s in %s.\n", o.st.style(styleGreen, fmt.Sprintf("All %d steps passed", len(sum.Steps))), roundDuration(total))
	} else {
		fmt.Fprintf(o.w, "\n%s in %s.\n", o.st.style(demoStyleFailed, fmt.Sprintf("%d of %d steps passed", passed, len(sum.Steps))), roundDuration(total))
	}
}
