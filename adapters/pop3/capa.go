package pop3

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Capabilities are a server's answer to CAPA (RFC 2449), parsed. A server
// that answers CAPA with -ERR (an RFC 1939-only server) has none: the zero
// value.
type Capabilities struct {
	// SASL lists the mechanisms of the SASL capability (RFC 5034), upper
	// case, in the server's order.
	SASL []string
	// STLS: the server offers STLS (RFC 2595).
	STLS bool
	// User: the server offers USER/PASS.
	User bool
	// UIDL, Top: the server supports those commands.
	UIDL, Top bool
	// RespCodes: the server sends RFC 2449 response codes.
	RespCodes bool
	// AuthRespCode: the server sends the AUTH response code (RFC 3206).
	AuthRespCode bool
	// Pipelining: the server accepts pipelined commands.
	Pipelining bool
	// Implementation is the IMPLEMENTATION text, for display only.
	Implementation string
	// Expire is the EXPIRE policy: Never is true for "NEVER", otherwise
	// ExpireDays is the minimum retention in days; ExpireSet reports that
	// the capability was present at all.
	Expire Expire
	// LoginDelay is the LOGIN-DELAY capability: the minimum wait between
	// logins; zero when absent.
	LoginDelay time.Duration
	// Other holds every capability line not recognised above, verbatim
	// (sanitized).
	Other []string
}

// Expire is the RFC 2449 EXPIRE capability.
type Expire struct {
	// Set reports that the server sent EXPIRE.
	Set bool
	// Never: messages are never expired by the server.
	Never bool
	// Days is the minimum number of days messages are kept (0: messages
	// may be deleted as soon as they are retrieved).
	Days int
	// PerUser: the server marked the value USER (it may differ once
	// authenticated).
	PerUser bool
}

// HasSASL reports whether mech is among the SASL mechanisms
// (case-insensitively).
func (c *Capabilities) HasSASL(mech string) bool {
	return c != nil && slices.ContainsFunc(c.SASL, func(m string) bool { return strings.EqualFold(m, mech) })
}

// maxCapaLines bounds the lines of a CAPA answer.
const maxCapaLines = 512

// parseCapa parses the lines of a CAPA answer (without the terminating
// "."). Unknown and malformed lines go to Other; it never fails.
func parseCapa(lines []string) *Capabilities {
	c := &Capabilities{}
	for _, raw := range lines {
		name, args, _ := strings.Cut(raw, " ")
		f := strings.Fields(args)
		switch strings.ToUpper(name) {
		case "SASL":
			for _, m := range f {
				m = strings.ToUpper(m)
				if validMech(m) && !slices.Contains(c.SASL, m) {
					c.SASL = append(c.SASL, m)
				}
			}
		case "STLS":
			c.STLS = true
		case "USER":
			c.User = true
		case "UIDL":
			c.UIDL = true
		case "TOP":
			c.Top = true
		case "RESP-CODES":
			c.RespCodes = true
		case "AUTH-RESP-CODE":
			c.AuthRespCode = true
		case "PIPELINING":
			c.Pipelining = true
		case "IMPLEMENTATION":
			c.Implementation = sanitize(args)
		case "EXPIRE":
			c.Expire.Set = true
			if len(f) > 0 {
				if strings.EqualFold(f[0], "NEVER") {
					c.Expire.Never = true
				} else if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 {
					c.Expire.Days = n
				}
			}
			c.Expire.PerUser = len(f) > 1 && strings.EqualFold(f[1], "USER")
		case "LOGIN-DELAY":
			if len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 && n < 1<<31 {
					c.LoginDelay = time.Duration(n) * time.Second
				}
			}
		default:
			c.Other = append(c.Other, sanitize(raw))
		}
	}
	return c
}

// validMech checks a SASL mechanism name (RFC 4422 §3.1): 1 to 20
// characters of A-Z, 0-9, "-" and "_".
func validMech(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
