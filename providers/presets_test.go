package providers

import (
	"testing"

	"golang.org/x/oauth2"
)

func TestPresets(t *testing.T) {
	g := GoogleEndpoint()
	if g.TokenURL != "https://oauth2.googleapis.com/token" || g.AuthURL != "https://accounts.google.com/o/oauth2/auth" ||
		g.DeviceAuthURL != "https://oauth2.googleapis.com/device/code" || g.AuthStyle != oauth2.AuthStyleInParams {
		t.Errorf("Google: %+v", g)
	}
	m := MicrosoftEndpoint("")
	if m.TokenURL != "https://login.microsoftonline.com/common/oauth2/v2.0/token" ||
		m.AuthURL != "https://login.microsoftonline.com/common/oauth2/v2.0/authorize" ||
		m.DeviceAuthURL != "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode" || m.AuthStyle != oauth2.AuthStyleInParams {
		t.Errorf("Microsoft: %+v", m)
	}
	if m := MicrosoftEndpoint("contoso.onmicrosoft.com"); m.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
		t.Errorf("tenant: %s", m.TokenURL)
	}
	if s := MicrosoftMailScopes(); len(s) != 4 || s[0] != "https://outlook.office.com/IMAP.AccessAsUser.All" ||
		s[1] != "https://outlook.office.com/POP.AccessAsUser.All" || s[2] != "https://outlook.office.com/SMTP.Send" || s[3] != "offline_access" {
		t.Errorf("Microsoft scopes: %v", s)
	}
	if s := GoogleMailScopes(); len(s) != 1 || s[0] != "https://mail.google.com/" {
		t.Errorf("Google scopes: %v", s)
	}
	if ScopeOffice365AppOnly != "https://outlook.office365.com/.default" {
		t.Error("app-only scope")
	}
	// Each call returns a fresh value: no shared mutable state.
	a := MicrosoftMailScopes()
	a[0] = "x"
	if MicrosoftMailScopes()[0] == "x" {
		t.Error("scopes slice shared")
	}
}
