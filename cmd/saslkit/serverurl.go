package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// serverURL is a mail server as check and the accounts file name it:
// imaps://host[:port], imap://host (STARTTLS), smtps://, smtp:// (STARTTLS,
// port 587 unless given), pop3s://, pop3:// (STLS).
type serverURL struct {
	scheme   string // as written, lower case
	protocol string // "imap", "smtp" or "pop3"
	startTLS bool   // upgrade a clear-text connection (STARTTLS, STLS)
	user     string // from the URL's user info, or ""
	host     string
	port     int
}

// String returns the URL without user info.
func (u *serverURL) String() string {
	return u.scheme + "://" + net.JoinHostPort(u.host, strconv.Itoa(u.port))
}

// addr is host:port.
func (u *serverURL) addr() string { return net.JoinHostPort(u.host, strconv.Itoa(u.port)) }

var serverSchemes = map[string]struct {
	protocol string
	startTLS bool
	port     int
}{
	"imaps":       {"imap", false, 993},
	"imap":        {"imap", true, 143},
	"smtps":       {"smtp", false, 465},
	"submissions": {"smtp", false, 465},
	"smtp":        {"smtp", true, 587},
	"submission":  {"smtp", true, 587},
	"pop3s":       {"pop3", false, 995},
	"pop3":        {"pop3", true, 110},
}

// parseServerURL parses a server URL. Errors name what is wrong, never a
// password (a URL may carry one in its user info, which is refused).
func parseServerURL(s string) (*serverURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, fmt.Errorf("%q is not a server URL: want imaps://host, imap://host (STARTTLS), smtps://host, smtp://host:587 (STARTTLS), pop3s://host or pop3://host (STLS)", s)
	}
	scheme = strings.ToLower(scheme)
	sc, ok := serverSchemes[scheme]
	if !ok {
		return nil, fmt.Errorf("unknown scheme %q: want imaps, imap, smtps, smtp, pop3s or pop3", scheme)
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return nil, errors.New("malformed server URL")
	}
	if _, has := u.User.Password(); has {
		return nil, errors.New("a server URL must not carry a password")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("a server URL is scheme://[user@]host[:port], without a path, query or fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("a server URL needs a host")
	}
	if !validHost(host) {
		return nil, errors.New("the host is neither a name nor an IP address")
	}
	port := sc.port
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("port %q out of range", p)
		}
		port = n
	}
	return &serverURL{scheme: scheme, protocol: sc.protocol, startTLS: sc.startTLS, user: u.User.Username(), host: host, port: port}, nil
}

// checkHTTPURL checks an OAuth endpoint: https, or http to a loopback
// host (a test server).
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q: plain http is allowed only to a loopback host; use https", s)
	}
	return fmt.Errorf("%q: want an https URL", s)
}

// validHost reports whether h is an IP address or a DNS name (letters,
// digits, hyphens, underscores, dots).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
