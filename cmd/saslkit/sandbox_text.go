package main

import (
	"fmt"
	"strings"
	"time"
)

// printSandboxText prints the sandbox's addresses and credentials for a
// person, with copy-and-paste commands for curl.
func printSandboxText(st *stdio, info *sandboxInfo) {
	w := st.stdout
	h := func(s string) string { return st.style(styleBold, s) }
	v := func(s string) string { return st.style(styleCyan, s) }
	dim := func(s string) string { return st.style(styleDim, s) }

	fmt.Fprintf(w, "%s %s profile, access tokens live %s\n\n", st.style(styleGreen, "saslkit sandbox running:"), info.Profile,
		time.Duration(info.OAuth.TokenLifetime*float64(time.Second)))

	names := "localhost, 127.0.0.1"
	if info.Hostname != "localhost" && info.Hostname != "127.0.0.1" {
		names = info.Hostname + ", " + names
	}
	fmt.Fprintln(w, h("Mail servers")+dim(" (the certificate names "+names+")"))
	fmt.Fprintf(w, "  CA certificate  %s\n", v(info.CAFile))
	for _, p := range []struct {
		name  string
		proto sandboxProtocol
		plain string
	}{
		{"IMAP", info.IMAP, "STARTTLS"},
		{"SMTP", info.SMTP, "STARTTLS"},
		{"POP3", info.POP3, "STLS"},
	} {
		// Padded before styling: escape codes would upset the widths.
		fmt.Fprintf(w, "  %s  implicit TLS  %s %-8s  %s\n", p.name, v(fmt.Sprintf("%-24s", p.proto.ImplicitTLS.URL)), p.plain, v(p.proto.StartTLS.URL))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, h("OAuth 2.0 server"))
	fmt.Fprintf(w, "  token URL       %s\n", v(info.OAuth.TokenURL))
	fmt.Fprintf(w, "  auth URL        %s\n", v(info.OAuth.AuthURL))
	fmt.Fprintf(w, "  device URL      %s\n", v(info.OAuth.DeviceAuthURL))
	fmt.Fprintf(w, "  client id       %s\n", v(info.OAuth.ClientID))
	fmt.Fprintf(w, "  client secret   %s\n", v(info.OAuth.ClientSecret))
	fmt.Fprintf(w, "  scopes          %s\n", v(strings.Join(info.OAuth.Scopes, " ")))

	fmt.Fprintln(w)
	fmt.Fprintln(w, h("Users")+dim(" (test credentials: they open nothing but this sandbox)"))
	for _, u := range info.Users {
		fmt.Fprintf(w, "  %s\n", st.style(styleBold, u.Address))
		fmt.Fprintf(w, "    password       %s\n", v(u.Password))
		fmt.Fprintf(w, "    access token   %s\n", v(u.AccessToken))
		fmt.Fprintf(w, "    expires        %s\n", u.TokenExpiry.Local().Format(time.RFC3339))
		fmt.Fprintf(w, "    refresh token  %s\n", v(u.RefreshToken))
		fmt.Fprintf(w, "    XOAUTH2        %s\n", v(u.XOAUTH2))
	}

	if len(info.Users) > 0 {
		u := info.Users[0]
		fmt.Fprintln(w)
		fmt.Fprintln(w, h("Try"))
		fmt.Fprintf(w, "  curl --cacert %s --oauth2-bearer %s -u '%s:' '%s/INBOX'\n",
			shellQuote(info.CAFile), u.AccessToken, u.Address, info.IMAP.ImplicitTLS.URL)
		fmt.Fprintf(w, "  curl --cacert %s --ssl-reqd --oauth2-bearer %s -u '%s:' %s/\n",
			shellQuote(info.CAFile), u.AccessToken, u.Address, info.POP3.StartTLS.URL)
		fmt.Fprintf(w, "  curl -d grant_type=refresh_token -d client_id=%s -d client_secret=%s -d refresh_token=%s %s\n",
			info.OAuth.ClientID, info.OAuth.ClientSecret, u.RefreshToken, info.OAuth.TokenURL)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, dim("Press Ctrl-C to stop."))
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
