package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// printCheck prints one result for a person.
func printCheck(st *stdio, r *checkResult, verbose bool) {
	w := st.stdout
	label := func(s string) string { return st.style(styleDim, fmt.Sprintf("  %-12s", s)) }
	fmt.Fprintf(w, "%s %s as %s (account %s)\n", st.style(styleBold, "Checking"), r.URL, r.User, r.Account)
	if r.StartTLS {
		upgrade := "STARTTLS"
		if r.Protocol == "POP3" {
			upgrade = "STLS"
		}
		fmt.Fprintf(w, "%s%s, upgraded with %s\n", label("connection"), r.Address, upgrade)
	} else {
		fmt.Fprintf(w, "%s%s, TLS from the first byte\n", label("connection"), r.Address)
	}
	if t := r.TLS; t != nil {
		if t.Version != "" {
			fmt.Fprintf(w, "%s%s, %s\n", label("TLS"), t.Version, t.CipherSuite)
		}
		if c := t.Certificate; c != nil {
			fmt.Fprintf(w, "%s%s\n", label("certificate"), c.Subject)
			fmt.Fprintf(w, "%sissued by %s\n", label(""), c.Issuer)
			fmt.Fprintf(w, "%svalid until %s, for %s\n", label(""), c.NotAfter, strings.Join(c.Names, ", "))
		}
		if t.Verified {
			fmt.Fprintf(w, "%s%s\n", label("verified"), st.style(styleGreen, "yes"))
		} else {
			fmt.Fprintf(w, "%sNO: %s\n", label("verified"), t.VerifyError)
		}
	}
	if r.Connected || len(r.Advertised) > 0 {
		adv := strings.Join(r.Advertised, " ")
		if adv == "" {
			adv = "(none)"
		}
		fmt.Fprintf(w, "%s%s\n", label("mechanisms"), adv)
	}
	if r.Mechanism != "" {
		fmt.Fprintf(w, "%s%s", label("chosen"), st.style(styleCyan, r.Mechanism))
		if r.Reason != "" {
			fmt.Fprintf(w, ": %s", r.Reason)
		}
		fmt.Fprintln(w)
	}
	for _, p := range r.PassedOver {
		fmt.Fprintf(w, "%s%s: %s\n", label("passed over"), p.Mechanism, p.Reason)
	}
	if verbose && len(r.Transcript) > 0 {
		fmt.Fprintf(w, "%s\n", label("transcript"))
		for _, l := range r.Transcript {
			fmt.Fprintf(w, "    %s\n", st.style(styleDim, l))
		}
	}
	if r.Authenticated {
		msg := "authenticated as " + r.User
		if r.TokenExpiry != "" {
			msg += "; the token, and so the session, ends at " + r.TokenExpiry
		}
		fmt.Fprintf(w, "%s%s\n\n", label("result"), st.style(styleGreen, "OK")+", "+msg)
		return
	}
	if f := r.Failure; f != nil {
		fmt.Fprintf(w, "%s%s at %s (exit %d): %s\n", label("result"), st.style(styleBold, "FAILED"), f.Stage, r.ExitCode, f.Error)
		fmt.Fprintf(w, "%s%s\n\n", label("what to do"), f.Explanation)
	}
}

// writeCheckJSON writes one result as an object, several as an array
// under "results".
func writeCheckJSON(st *stdio, results []*checkResult) error {
	enc := json.NewEncoder(st.stdout)
	enc.SetEscapeHTML(false)
	if len(results) == 1 {
		return enc.Encode(results[0])
	}
	return enc.Encode(struct {
		Results []*checkResult `json:"results"`
	}{results})
}

// transcriptLines splits a transcript into lines without their endings.
func transcriptLines(s string) []string {
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
