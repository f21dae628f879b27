package sasltest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// MailProfile selects which provider a MailServer imitates: the mechanisms
// it offers on each protocol, the scopes a token needs, and the texts of
// its failures. Where a provider documents a behaviour the profile follows
// the documentation; where it documents nothing (the text of a session
// expiry, for instance) the profile says so beside the value.
type MailProfile int

const (
	// ProfileGmail imitates Gmail (imap.gmail.com, smtp.gmail.com,
	// pop.gmail.com; developers.google.com/workspace/gmail/imap/xoauth2-protocol):
	// XOAUTH2, OAUTHBEARER and PLAIN (and LOGIN on SMTP, which Gmail
	// advertises there), the scope https://mail.google.com/, Google's
	// JSON error challenge before a token failure, "NO
	// [AUTHENTICATIONFAILED] Invalid credentials (Failure)" on IMAP and
	// "535-5.7.8 Username and Password not accepted" on SMTP, and sessions
	// that end when their token expires.
	ProfileGmail MailProfile = iota
	// ProfileMicrosoft imitates Exchange Online (outlook.office365.com,
	// smtp.office365.com; learn.microsoft.com, "Authenticate an IMAP, POP
	// or SMTP connection using OAuth"): XOAUTH2 only, the per-protocol
	// scopes (IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send, or
	// .default for app-only tokens), no error challenge, "NO AUTHENTICATE
	// failed." on IMAP, "535 5.7.3 Authentication unsuccessful" on SMTP and
	// "-ERR Authentication failure: unknown user name or bad password." on
	// POP, and no USER/PASS or IMAP LOGIN (basic authentication is off).
	ProfileMicrosoft
	// ProfileAll offers every mechanism of the server's registry that can
	// run on the connection: SCRAM-SHA-1/256/512 and their -PLUS forms
	// (channel binding from the server's TLS state), OAUTHBEARER, XOAUTH2,
	// PLAIN, LOGIN, CRAM-MD5 and EXTERNAL (with a client certificate from
	// the server's CA). ANONYMOUS is not offered: it would open a mailbox
	// to anyone. Tokens of any scope are accepted.
	ProfileAll
)

// String returns "gmail", "microsoft" or "all".
func (p MailProfile) String() string {
	switch p {
	case ProfileGmail:
		return "gmail"
	case ProfileMicrosoft:
		return "microsoft"
	case ProfileAll:
		return "all"
	}
	return fmt.Sprintf("MailProfile(%d)", int(p))
}

// ParseMailProfile returns the profile named s ("gmail", "microsoft" or
// "all", any case), for a command-line flag.
func ParseMailProfile(s string) (MailProfile, error) {
	for _, p := range []MailProfile{ProfileGmail, ProfileMicrosoft, ProfileAll} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("sasltest: unknown mail profile %q (want gmail, microsoft or all)", s)
}

// Protocol names a mail protocol served by a MailServer.
type Protocol string

// The protocols.
const (
	ProtocolIMAP Protocol = "imap"
	ProtocolSMTP Protocol = "smtp"
	ProtocolPOP3 Protocol = "pop3"
)

// TLSMode says how a listener brings up TLS.
type TLSMode int

const (
	// ImplicitTLS listeners speak TLS from the first byte (IMAPS 993,
	// SMTPS 465, POP3S 995).
	ImplicitTLS TLSMode = iota
	// StartTLS listeners start in clear text and upgrade with IMAP
	// STARTTLS, SMTP STARTTLS or POP3 STLS (IMAP 143, submission 587,
	// POP3 110).
	StartTLS
)

// String returns "implicit-tls" or "starttls".
func (m TLSMode) String() string {
	switch m {
	case ImplicitTLS:
		return "implicit-tls"
	case StartTLS:
		return "starttls"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// profileSpec is everything a profile decides.
type profileSpec struct {
	oauth OAuthProfile
	// mechs are the mechanisms offered per protocol, in advertising
	// order; nil means every mechanism the registry serves.
	mechs map[Protocol][]string
	// scopes a token must carry one of, per protocol; nil accepts any.
	scopes map[Protocol][]string
	// issueScopes are the scopes MailServer.IssueToken asks for.
	issueScopes []string
	// imapLogin allows IMAP LOGIN; popUser allows POP3 USER/PASS.
	imapLogin, popUser bool

	imapRejected, imapTemporary *imap.Error
	imapExpired                 string
	smtpRejected, smtpTemporary *smtp.SMTPError
	smtpExpired                 *smtp.SMTPError
	popGreeting                 string
	popRejected, popTemporary   string
	popExpired                  string
}

// spec returns the profile's table.
func (p MailProfile) spec() *profileSpec {
	temporaryIMAP := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Temporary authentication failure, try again later"}
	temporarySMTP := &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure, try again later"}
	switch p {
	case ProfileMicrosoft:
		xo := []string{"XOAUTH2"}
		return &profileSpec{
			oauth: OAuthMicrosoft,
			mechs: map[Protocol][]string{ProtocolIMAP: xo, ProtocolSMTP: xo, ProtocolPOP3: xo},
			scopes: map[Protocol][]string{
				ProtocolIMAP: {OutlookIMAPScope, OutlookAppScope},
				ProtocolPOP3: {OutlookPOPScope, OutlookAppScope},
				ProtocolSMTP: {OutlookSMTPScope, OutlookAppScope},
			},
			issueScopes: []string{OutlookIMAPScope, OutlookPOPScope, OutlookSMTPScope, "offline_access"},
			// Exchange Online's texts, as its documentation and its
			// servers show them.
			imapRejected:  &imap.Error{Type: imap.StatusResponseTypeNo, Text: "AUTHENTICATE failed."},
			imapTemporary: temporaryIMAP,
			// Exchange Online ends an IMAP session whose token expired
			// with this BYE.
			imapExpired:   "Session invalidated - AccessTokenExpired",
			smtpRejected:  &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful"},
			smtpTemporary: temporarySMTP,
			smtpExpired:   &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Session invalidated - AccessTokenExpired"},
			popGreeting:   "The Microsoft Exchange POP3 service is ready.",
			popRejected:   "Authentication failure: unknown user name or bad password.",
			popTemporary:  "[SYS/TEMP] Temporary authentication failure, try again later",
			popExpired:    "Session invalidated - AccessTokenExpired",
		}
	case ProfileAll:
		return &profileSpec{
			oauth:         OAuthGoogle,
			issueScopes:   []string{GmailScope},
			imapLogin:     true,
			popUser:       true,
			imapRejected:  &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed"},
			imapTemporary: temporaryIMAP,
			// No provider documents these texts; they are the project's.
			imapExpired:   "Session expired: the access token is no longer valid",
			smtpRejected:  &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"},
			smtpTemporary: temporarySMTP,
			smtpExpired:   &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Session expired: the access token is no longer valid"},
			popGreeting:   "saslkit sasltest POP3 server ready",
			popRejected:   "[AUTH] Authentication failed",
			popTemporary:  "[SYS/TEMP] Temporary authentication failure, try again later",
			popExpired:    "[AUTH] Session expired: the access token is no longer valid",
		}
	default:
		return &profileSpec{
			oauth: OAuthGoogle,
			// Gmail's advertised lists, less the mechanisms saslkit does
			// not have (PLAIN-CLIENTTOKEN, XOAUTH).
			mechs: map[Protocol][]string{
				ProtocolIMAP: {"XOAUTH2", "PLAIN", "OAUTHBEARER"},
				ProtocolSMTP: {"LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"},
				ProtocolPOP3: {"PLAIN", "XOAUTH2", "OAUTHBEARER"},
			},
			scopes: map[Protocol][]string{
				ProtocolIMAP: {GmailScope}, ProtocolPOP3: {GmailScope}, ProtocolSMTP: {GmailScope},
			},
			issueScopes:   []string{GmailScope},
			imapLogin:     true,
			popUser:       true,
			imapRejected:  &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials (Failure)"},
			imapTemporary: &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Temporary System Error"},
			// Google documents that the session ends with the token but
			// not the text; this one is the project's.
			imapExpired: "Session expired, please login again.",
			// Gmail repeats the enhanced code on each line of the reply;
			// go-smtp writes it only on the last, so it is spelled out.
			smtpRejected: &smtp.SMTPError{Code: 535, EnhancedCode: smtp.NoEnhancedCode,
				Message: "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8 https://support.google.com/mail/?p=BadCredentials"},
			smtpTemporary: &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
				Message: "Cannot authenticate due to a temporary system problem. Try again later."},
			smtpExpired:  &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Session expired, please login again."},
			popGreeting:  "Gpop ready for requests",
			popRejected:  "[AUTH] Username and password not accepted.",
			popTemporary: "[SYS/TEMP] Temporary System Error",
			popExpired:   "[AUTH] Session expired, please login again.",
		}
	}
}

// offered returns the mechanisms to advertise on proto: the profile's list
// (or override) in its order, keeping only names in servable.
func (ps *profileSpec) offered(proto Protocol, override, servable []string) []string {
	want := override
	if want == nil {
		want = ps.mechs[proto]
	}
	if want == nil {
		return slices.Clone(servable)
	}
	var out []string
	for _, m := range want {
		m = strings.ToUpper(m)
		if slices.Contains(servable, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
