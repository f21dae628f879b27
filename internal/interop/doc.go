// Package interop holds the real-server interop suites: tests that run
// saslkit's protocol adapters against mail servers installed on the
// machine rather than the in-process sasltest servers.
//
// The Dovecot suite writes a self-contained Dovecot configuration into a
// temporary directory (TLS certificate from its own CA, a passwd-file with
// plain passwords, an oauth2 passdb validating tokens against a
// sasltest.OAuthServer by RFC 7662 introspection, a submission relay to an
// SMTP sink served by the test), starts `dovecot -F` on free loopback
// ports, and runs the IMAP, POP3 and submission adapters over implicit TLS
// and STARTTLS with every mechanism Dovecot offers, for success and
// failure. It also builds cmd/saslkit and runs "saslkit check" against the
// same Dovecot, with an accounts file and stored tokens of its own. Without
// dovecot in PATH the suite skips, unless CI=true, where that is a failure.
package interop
