// Command saslkit is the saslkit program: tools around SASL and OAuth 2.0
// for mail, built on the saslkit packages.
//
// Usage:
//
//	saslkit COMMAND [flags]
//	saslkit help [COMMAND]
//
// The commands:
//
//	demo       run the whole system once, offline, on loopback: OAuth with
//	           PKCE, SMTP, IMAP and POP3 logins, a refresh after a rejected
//	           token, an expiry under IDLE, a token from a plugin (docs/demo.md)
//	sandbox    run Gmail-like or Microsoft-like IMAP, SMTP and POP3 servers
//	           and an OAuth 2.0 server on loopback, for testing any mail client
//	authorize  sign in to an account's OAuth 2.0 provider (authorization code
//	           with PKCE and a loopback redirect, or --device) and store the
//	           refresh token
//	token      print a valid access token for an account, refreshing it when
//	           needed: the password command of mutt, aerc, isync, msmtp
//	check      connect to a mail server, show TLS, certificate and SASL
//	           mechanisms, authenticate with an account, explain a failure
//	mechs      list the SASL mechanisms and their properties
//	config     check the accounts file, or print a commented example
//
// Every command takes its own flags after its name (saslkit sandbox -h lists
// them). A command that a script may read accepts --json and then writes one
// JSON object to standard output instead of text. Colour is used only when
// standard output is a terminal, and never when NO_COLOR is set or TERM is
// "dumb". Errors go to standard error, prefixed "saslkit: ".
//
// Exit codes, common to every command:
//
//	0  success (for sandbox: stopped by SIGINT, SIGTERM or SIGHUP)
//	1  failure: the command could not do its work (a port in use, a file
//	   that cannot be written, a temporary server failure, ...)
//	2  usage: an unknown command, flag or account, or a bad flag value
//
// and those of the commands that use accounts (authorize, token, check,
// config):
//
//	3  the server or the token endpoint refused the credentials, or the
//	   account must be authorized (again): run saslkit authorize
//	4  no usable mechanism: nothing the server offers fits the account's
//	   credentials, or the connection is not secure enough for them
//	5  network or TLS: connection refused, host not found, timeout, TLS
//	   failure, certificate not verified
//	6  the accounts file is missing or wrong
//
// # Accounts
//
// authorize, token and check work on the accounts of a TOML file,
// os.UserConfigDir()/saslkit/accounts.toml unless $SASLKIT_CONFIG or
// --config names another: [accounts.NAME] tables with the user, the
// provider (google, microsoft, oauth2, service-account,
// client-credentials, exec, password, plugin) and its settings, and the
// servers; plugins (plugin_dir with a SHA256SUMS manifest, or
// [plugins.NAME] with the file's sha256) add token sources and mechanisms.
// The file holds no secret: client secrets and passwords come from an
// environment variable or a command, refresh tokens from authorize, which
// stores them in a token directory. Every mistake in the file is reported
// with its line. saslkit config --example prints a commented example;
// docs/cli.md describes every key and shows the lines for mutt, aerc,
// isync and msmtp.
//
// # The sandbox
//
// saslkit sandbox starts the servers of package
// github.com/saslkit/saslkit/sasl/sasltest standalone on 127.0.0.1: IMAP,
// SMTP submission and POP3, each with implicit TLS and with STARTTLS, sharing
// one in-memory mail store, and the OAuth 2.0 server whose tokens they
// accept. It writes the certificate authority that signed the servers'
// certificate to a file (--ca-file, by default in a new temporary directory
// removed at exit) and prints the addresses, the CA file, the users with
// their passwords, a valid access token and a refresh token for each, and the
// OAuth client id, client secret and token URL with which a client refreshes.
// These are test credentials, printed on purpose for manual testing; they
// open nothing but the sandbox. It runs until interrupted.
//
// With --port-base B the listeners take fixed ports, B plus the standard
// port of each service:
//
//	B+993  IMAP, implicit TLS      B+143  IMAP, STARTTLS
//	B+465  SMTP, implicit TLS      B+587  SMTP submission, STARTTLS
//	B+995  POP3, implicit TLS      B+110  POP3, STLS
//	B+80   OAuth 2.0 server (HTTP): /token, /authorize, /device/code, ...
//
// so --port-base 10000 puts IMAPS on 10993. Without it (or with 0) every
// listener takes a free port; the output says which.
//
// docs/testing.md ("The sandbox") shows how to use it from Thunderbird, curl
// and Python, and the shape of the --json output.
package main
