package main

// configExample is the commented example accounts file printed by
// saslkit config --example and shown in docs/cli.md (a test keeps the two
// equal and checks that the example parses).
const configExample = `# saslkit accounts file: ~/.config/saslkit/accounts.toml on Linux
# (os.UserConfigDir()/saslkit/accounts.toml; --config or $SASLKIT_CONFIG
# name another). It holds no secret: client secrets and passwords come
# from an environment variable (..._env) or a command (..._cmd), refresh
# tokens from "saslkit authorize", stored in token_dir.

# Where refresh tokens are kept, one file per account, mode 0600.
# Default: $XDG_STATE_HOME/saslkit/tokens (~/.local/state/saslkit/tokens).
# token_dir = "~/.local/state/saslkit/tokens"

# Plugins (out-of-process token sources and mechanisms): a directory whose
# SHA256SUMS manifest lists every plugin in it, and/or single plugins with
# their checksum. A plugin whose file does not match is never run.
# plugin_dir = "~/.local/lib/saslkit/plugins"
[plugins.tokenfile]
path = "/usr/local/lib/saslkit/tokenfile"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
args = ["/run/mail-tokens.json"]

# Gmail with your own OAuth client ("Desktop app" in the Google Cloud
# console). Run "saslkit authorize gmail" once.
[accounts.gmail]
user = "alice@gmail.com"
provider = "google"
client_id = "1234567890-abc.apps.googleusercontent.com"
client_secret_cmd = ["pass", "show", "oauth/gmail-client-secret"]
# scopes = ["https://mail.google.com/"]          # the default
imap = "imaps://imap.gmail.com"
smtp = "smtps://smtp.gmail.com"

# Microsoft 365 / Outlook.com, delegated: a public client (no secret).
# Run "saslkit authorize work" (or "saslkit authorize --device work").
[accounts.work]
user = "alice@contoso.com"
provider = "microsoft"
tenant = "contoso.com"             # or a tenant ID; default "common"
client_id = "00000000-1111-2222-3333-444444444444"
# scopes default to IMAP, POP and SMTP access plus offline_access
redirect_host = "localhost"        # the app registration's redirect URI is http://localhost
imap = "imaps://outlook.office365.com"
pop3 = "pop3s://outlook.office365.com"
smtp = "smtp://smtp.office365.com:587"    # STARTTLS

# Any other OAuth 2.0 server.
[accounts.example]
user = "alice@example.org"
provider = "oauth2"
client_id = "mail-client"
client_secret_env = "EXAMPLE_CLIENT_SECRET"
auth_url = "https://login.example.org/oauth2/authorize"
token_url = "https://login.example.org/oauth2/token"
device_auth_url = "https://login.example.org/oauth2/device"
scopes = ["mail"]
imap = "imaps://mail.example.org"
# ca_file = "/etc/ssl/example-test-ca.pem"     # trust a private CA too

# Google Workspace, a service account with domain-wide delegation
# acting for user (or subject). The key file is read when needed.
[accounts.relay]
user = "noreply@example.com"
provider = "service-account"
key_file = "~/.config/saslkit/relay-key.json"
smtp = "smtps://smtp.gmail.com"

# Microsoft 365 app-only access (client credentials) to one mailbox.
[accounts.archive]
user = "archive@contoso.com"
provider = "client-credentials"
tenant = "contoso.onmicrosoft.com"
client_id = "55555555-6666-7777-8888-999999999999"
client_secret_env = "ARCHIVE_CLIENT_SECRET"     # or certificate_file = "archive.pem"
pop3 = "pop3s://outlook.office365.com"

# A helper that prints an access token (oauth2ms, gcloud, ...).
[accounts.helper]
user = "bob@example.com"
provider = "exec"
command = ["oauth2ms", "--encode-xoauth2=false"]
lifetime = "55m"                   # when the helper does not say
imap = "imaps://imap.example.com"

# Tokens from a plugin: a [plugins.NAME] table or a file of plugin_dir.
[accounts.fleet]
user = "robot@example.com"
provider = "plugin"
plugin = "tokenfile"
smtp = "smtps://smtp.example.com"

# A password (SCRAM, PLAIN or LOGIN, the strongest the server offers).
[accounts.home]
user = "alice"
provider = "password"
password_cmd = ["secret-tool", "lookup", "mail", "home"]
imap = "imap://mail.home.arpa"             # STARTTLS
smtp = "smtp://mail.home.arpa:587"
`
