package sasltest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/saslkit/saslkit/internal/redact"
)

// deviceRecord is a device authorization (RFC 8628).
type deviceRecord struct {
	client   string
	scopes   []string
	userCode string
	expiry   time.Time
	lastPoll time.Time
	interval time.Duration
	pending  int    // polls answered authorization_pending
	user     string // set on approval
	denied   bool
	redeemed bool
}

// Errors of the device approval API.
var (
	// ErrUnknownUserCode: no pending device authorization has that code.
	ErrUnknownUserCode = errors.New("sasltest: unknown or expired user code")
	// ErrOAuthUnknownUser: the user is not registered.
	ErrOAuthUnknownUser = errors.New("sasltest: unknown user")
)

// userCodeAlphabet is RFC 8628 §6.1's base-20 alphabet: consonants only,
// no vowels (no words) and no easily confused letters.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// newUserCode returns a user code like "WDJB-MJHT" (RFC 8628 §6.1).
func newUserCode() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 0, 9)
	for i, v := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(v)%len(userCodeAlphabet)])
	}
	return string(out)
}

// normalizeUserCode ignores case, dashes and spaces, as RFC 8628 §6.1
// recommends.
func normalizeUserCode(s string) string {
	s = strings.ToUpper(s)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, s)
}

// deviceResponse is the device authorization response (RFC 8628 §3.2).
// Google names the URI verification_url; Microsoft verification_uri and
// adds a message for the user.
type deviceResponse struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri,omitempty"`
	VerificationURL string `json:"verification_url,omitempty"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
	Message         string `json:"message,omitempty"`
}

// Format prints the response without the device code.
func (d deviceResponse) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, fmt.Sprintf("sasltest.deviceResponse{DeviceCode:%s UserCode:%q}", redact.Secret(d.DeviceCode), d.UserCode))
}

// handleDeviceAuthorization is the device authorization endpoint (RFC 8628
// §3.1). The client is identified by client_id; it authenticates at the
// token endpoint when it polls (golang.org/x/oauth2's DeviceAuth sends
// client_id and scope only).
func (s *OAuthServer) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	req, oe := parseOAuthForm(r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Body)
	if oe != nil {
		if oe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		s.writeError(w, oe)
		return
	}
	id := req.get("client_id")
	if id == "" && req.hasBasic {
		id = req.basicID
	}
	if id == "" {
		s.writeError(w, errMissingParam("client_id"))
		return
	}
	s.mu.Lock()
	_, ok := s.st.clients[id]
	s.mu.Unlock()
	if !ok {
		s.writeError(w, oerr(401, "invalid_client", "The OAuth client was not found.",
			700016, "Application with identifier '"+id+"' was not found in the directory."))
		return
	}
	scopes := splitScope(req.get("scope"))
	if len(scopes) == 0 {
		s.writeError(w, errMissingParam("scope"))
		return
	}
	dc := randomToken("")
	uc := newUserCode()
	s.mu.Lock()
	rec := &deviceRecord{
		client: id, scopes: scopes, userCode: uc,
		expiry: s.now().Add(s.opts.DeviceCodeLifetime), interval: s.opts.DeviceInterval,
	}
	s.st.devices[keyOf(dc)] = rec
	s.st.userCodes[normalizeUserCode(uc)] = rec
	s.mu.Unlock()
	resp := deviceResponse{
		DeviceCode: dc,
		UserCode:   uc,
		ExpiresIn:  int64(s.opts.DeviceCodeLifetime / time.Second),
		Interval:   int64(s.opts.DeviceInterval / time.Second),
	}
	if resp.Interval < 1 {
		resp.Interval = 1
	}
	if s.profile == OAuthMicrosoft {
		resp.VerificationURI = s.VerificationURL()
		resp.Message = "To sign in, use a web browser to open the page " + s.VerificationURL() + " and enter the code " + uc + " to authenticate."
	} else {
		resp.VerificationURL = s.VerificationURL()
	}
	writeJSON(w, http.StatusOK, resp)
}

// pollSlack absorbs timer jitter when deciding that a poll came too early.
func pollSlack(interval time.Duration) time.Duration { return interval / 10 }

// grantDeviceCode is the device_code grant (RFC 8628 §3.4, §3.5):
// authorization_pending until approved; slow_down, with the interval grown
// by 5 seconds, for a poll sooner than the interval after the previous one;
// access_denied (Microsoft: authorization_declined) once denied;
// expired_token after the code's lifetime. A device code is redeemed once.
func (s *OAuthServer) grantDeviceCode(req *oauthRequest) (*tokenResponse, *oauthError) {
	c, oe := s.authenticateClient(req, s.TokenURL())
	if oe != nil {
		return nil, oe
	}
	dc := req.get("device_code")
	if dc == "" {
		return nil, errMissingParam("device_code")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.devices[keyOf(dc)]
	if !ok || rec.client != c.ID || rec.redeemed {
		e := oerr(400, "invalid_grant", "Bad Request", 9002313, "Invalid request. Request is malformed or invalid.")
		if s.profile == OAuthMicrosoft {
			e.code = "bad_verification_code"
		}
		return nil, e
	}
	now := s.now()
	if !now.Before(rec.expiry) {
		return nil, oerr(400, "expired_token", "Expired device code.", 70019, "Verification code expired.")
	}
	if rec.denied {
		e := oerr(403, "access_denied", "Forbidden", 0, "The end user denied the authorization request.")
		if s.profile == OAuthMicrosoft {
			e.status, e.code = 400, "authorization_declined"
		}
		return nil, e
	}
	prev := rec.lastPoll
	rec.lastPoll = now
	if rec.user == "" && !prev.IsZero() && now.Sub(prev) < rec.interval-pollSlack(rec.interval) {
		rec.interval += 5 * time.Second
		// Google answers slow_down with 403; RFC 8628 and Microsoft 400.
		e := oerr(400, "slow_down", "Polling too frequently.", 0, "")
		if s.profile == OAuthGoogle {
			e.status = 403
		}
		return nil, e
	}
	if rec.user == "" && s.opts.DeviceAutoApprove != "" && rec.pending >= s.opts.DeviceAutoApprovePolls {
		if s.st.users[s.opts.DeviceAutoApprove] {
			rec.user = s.opts.DeviceAutoApprove
		}
	}
	if rec.user == "" {
		rec.pending++
		e := oerr(428, "authorization_pending", "Precondition Required", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
		if s.profile == OAuthMicrosoft {
			e.status = 400
		}
		return nil, e
	}
	rec.redeemed = true
	delete(s.st.userCodes, normalizeUserCode(rec.userCode))
	fam := s.st.newFamily()
	rt := ""
	if s.profile == OAuthGoogle || slices.Contains(rec.scopes, "offline_access") {
		rt = s.st.newRefresh(s.profile, fam, rec.client, rec.user, rec.scopes)
	}
	return s.newTokenResponseLocked(fam, rec.client, rec.user, rec.scopes, GrantDeviceCode, rt), nil
}

// ApproveDevice approves the device authorization with userCode as user,
// as the user would on the verification page. The next poll gets tokens.
func (s *OAuthServer) ApproveDevice(userCode, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.userCodes[normalizeUserCode(userCode)]
	if !ok || rec.redeemed || !s.now().Before(rec.expiry) {
		return ErrUnknownUserCode
	}
	if !s.st.users[user] {
		return ErrOAuthUnknownUser
	}
	rec.user, rec.denied = user, false
	return nil
}

// DenyDevice denies the device authorization with userCode; the next poll
// gets access_denied (Microsoft: authorization_declined).
func (s *OAuthServer) DenyDevice(userCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.st.userCodes[normalizeUserCode(userCode)]
	if !ok || rec.redeemed || !s.now().Before(rec.expiry) {
		return ErrUnknownUserCode
	}
	rec.denied, rec.user = true, ""
	return nil
}

var devicePage = template.Must(template.New("device").Parse(`<!DOCTYPE html>
<html><head><title>Connect a device</title></head>
<body><h1>Connect a device</h1>
{{if .Msg}}<p>{{.Msg}}</p>{{end}}
<form method="post">
<label>Code <input name="user_code" value="{{.Code}}" autocomplete="off"></label>
<label>User <input name="user" value="{{.User}}"></label>
<button name="action" value="approve">Allow</button>
<button name="action" value="deny">Deny</button>
</form></body></html>
`))

// handleDeviceVerification is the verification page: GET shows a form,
// POST with user_code, user (default ApproveAs or the first registered
// user) and action=approve|deny decides.
func (s *OAuthServer) handleDeviceVerification(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct{ Code, User, Msg string }{}
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		data.Msg = "The request could not be parsed."
		_ = devicePage.Execute(w, data)
		return
	}
	data.Code = r.Form.Get("user_code")
	data.User = r.Form.Get("user")
	if data.User == "" {
		s.mu.Lock()
		data.User = s.opts.ApproveAs
		if data.User == "" && len(s.st.userOrder) > 0 {
			data.User = s.st.userOrder[0]
		}
		s.mu.Unlock()
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var err error
		if r.Form.Get("action") == "deny" {
			err = s.DenyDevice(data.Code)
			data.Msg = "Access denied. You may close this window."
		} else {
			err = s.ApproveDevice(data.Code, data.User)
			data.Msg = "Device connected as " + data.User + ". You may close this window."
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			data.Msg = strings.TrimPrefix(err.Error(), "sasltest: ")
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	_ = devicePage.Execute(w, data)
}
