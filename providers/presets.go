package providers

import (
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/endpoints"
)

// OAuth 2.0 scopes for mail access.
const (
	// ScopeGmail grants full IMAP, POP and SMTP access to a Gmail or Google
	// Workspace mailbox (XOAUTH2 and OAUTHBEARER).
	ScopeGmail = "https://mail.google.com/"
	// ScopeOutlookIMAP grants delegated IMAP access to an Exchange Online
	// mailbox.
	ScopeOutlookIMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
	// ScopeOutlookPOP grants delegated POP access to an Exchange Online
	// mailbox.
	ScopeOutlookPOP = "https://outlook.office.com/POP.AccessAsUser.All"
	// ScopeOutlookSMTP grants delegated SMTP AUTH submission through
	// Exchange Online.
	ScopeOutlookSMTP = "https://outlook.office.com/SMTP.Send"
	// ScopeOfflineAccess asks the Microsoft identity platform for a
	// refresh token.
	ScopeOfflineAccess = "offline_access"
	// ScopeOffice365AppOnly is the app-only (client credentials) scope for
	// IMAP, POP and SMTP in Exchange Online.
	ScopeOffice365AppOnly = "https://outlook.office365.com/.default"
)

// GoogleEndpoint returns Google's OAuth 2.0 endpoints, with client
// credentials sent in the request body (Google's documented style), so
// that x/oauth2 never doubles a request by auto-detecting it.
func GoogleEndpoint() oauth2.Endpoint {
	e := endpoints.Google
	e.AuthStyle = oauth2.AuthStyleInParams
	return e
}

// MicrosoftEndpoint returns the Microsoft identity platform (v2.0)
// endpoints of tenant: a tenant ID, a domain such as contoso.com, or
// "common", "organizations" or "consumers". An empty tenant means
// "common". Client credentials are sent in the request body, which the
// platform accepts for both public and confidential clients.
func MicrosoftEndpoint(tenant string) oauth2.Endpoint {
	e := endpoints.AzureAD(tenant)
	e.AuthStyle = oauth2.AuthStyleInParams
	return e
}

// GoogleMailScopes returns the scopes for Gmail over IMAP, POP and SMTP.
func GoogleMailScopes() []string { return []string{ScopeGmail} }

// MicrosoftMailScopes returns the delegated scopes for Exchange Online
// IMAP, POP and SMTP, plus offline_access for a refresh token.
func MicrosoftMailScopes() []string {
	return []string{ScopeOutlookIMAP, ScopeOutlookPOP, ScopeOutlookSMTP, ScopeOfflineAccess}
}
