package main

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// configEnv names the environment variable that overrides the accounts
// file's location (--config wins over it).
const configEnv = "SASLKIT_CONFIG"

// providerKind is how an account obtains its credentials.
type providerKind string

// The provider kinds of the accounts file.
const (
	kindGoogle            providerKind = "google"
	kindMicrosoft         providerKind = "microsoft"
	kindOAuth2            providerKind = "oauth2"
	kindServiceAccount    providerKind = "service-account"
	kindClientCredentials providerKind = "client-credentials"
	kindExec              providerKind = "exec"
	kindPassword          providerKind = "password"
	kindPlugin            providerKind = "plugin"
)

var providerKinds = []providerKind{kindGoogle, kindMicrosoft, kindOAuth2, kindServiceAccount, kindClientCredentials, kindExec, kindPassword, kindPlugin}

// interactive reports whether the kind's refresh token comes from
// saslkit authorize.
func (k providerKind) interactive() bool {
	return k == kindGoogle || k == kindMicrosoft || k == kindOAuth2
}

// config is a parsed accounts file.
type config struct {
	// path is the file it was read from.
	path string
	// tokenDir is where refresh tokens are stored.
	tokenDir string
	// accounts in the order of the file.
	accounts []*account
	// pluginDir is a directory of plugins with a SHA256SUMS manifest, or "".
	pluginDir string
	// plugins are the [plugins.NAME] tables, in the order of the file.
	plugins []*pluginSpec
}

// pluginSpec is one [plugins.NAME] table: a plugin program and the
// SHA-256 its file must have.
type pluginSpec struct {
	name   string
	line   int
	path   string
	sha256 string
	args   []string
}

// plugin returns the [plugins.NAME] table called name, or nil.
func (c *config) plugin(name string) *pluginSpec {
	for _, p := range c.plugins {
		if p.name == name {
			return p
		}
	}
	return nil
}

// account is one [accounts.NAME] table.
type account struct {
	name string
	line int // the table's line, for errors

	user     string
	provider providerKind

	clientID        string
	clientSecret    secretRef
	tenant          string
	authURL         string
	tokenURL        string
	deviceAuthURL   string
	scopes          []string
	scopesSet       bool
	redirectHost    string
	keyFile         string
	subject         string
	certificateFile string
	command         []string
	lifetime        time.Duration
	password        secretRef
	pluginName      string

	imap, pop3, smtp *serverURL
	caFile           string
}

// lookup returns the account called name, or nil.
func (c *config) lookup(name string) *account {
	for _, a := range c.accounts {
		if a.name == name {
			return a
		}
	}
	return nil
}

// names returns the account names.
func (c *config) names() []string {
	var n []string
	for _, a := range c.accounts {
		n = append(n, a.name)
	}
	return n
}

// configError is a problem with the accounts file: a syntax error or a bad
// value, with the line it is on.
type configError struct {
	Path string
	Line int    // 0 when unknown
	Key  string // the dotted key, or ""
	Msg  string
}

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// configErrors is every problem found in a file, in line order.
type configErrors []*configError

func (e configErrors) Error() string {
	s := make([]string, len(e))
	for i, ce := range e {
		s[i] = ce.Error()
	}
	return strings.Join(s, "\n")
}

func (e configErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, ce := range e {
		errs[i] = ce
	}
	return errs
}

// errNoConfig matches a missing accounts file.
var errNoConfig = errors.New("no accounts file")

// defaultConfigPath returns the accounts file's default location:
// $SASLKIT_CONFIG, else accounts.toml in saslkit's directory under the
// user's configuration directory.
func defaultConfigPath() (string, error) {
	if p := os.Getenv(configEnv); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the configuration directory: %w (use --config or %s)", err, configEnv)
	}
	return filepath.Join(dir, "saslkit", "accounts.toml"), nil
}

// defaultTokenDir returns where refresh tokens go when the file does not
// say: $XDG_STATE_HOME/saslkit/tokens, else ~/.local/state/saslkit/tokens
// on Unix-like systems, else saslkit/tokens under the user's configuration
// directory. Refresh tokens are state, not cache: a cache cleaner must not
// sign the user out.
func defaultTokenDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "saslkit", "tokens"), nil
	}
	switch runtime.GOOS {
	case "windows", "darwin", "plan9":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, "saslkit", "tokens"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "state", "saslkit", "tokens"), nil
}

// loadConfig reads and checks the accounts file at path ("" for the
// default). Every problem is reported, each with its line.
func loadConfig(path string) (*config, error) {
	if path == "" {
		p, err := defaultConfigPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: create one (saslkit config --example shows the format) or name one with --config", errNoConfig, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the accounts file: %w", err)
	}
	return parseConfig(path, data)
}

// parseConfig parses the accounts file held in data; path names it in
// errors and anchors relative paths.
func parseConfig(path string, data []byte) (*config, error) {
	p := &configParser{path: path, dir: filepath.Dir(path)}
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &configError{Path: path, Line: pe.Position.Line, Msg: "TOML syntax: " + pe.Message}
		}
		return nil, &configError{Path: path, Msg: "TOML: " + err.Error()}
	}
	p.md = &md
	cfg := &config{path: path}
	for key, prim := range top {
		switch key {
		case "token_dir":
			var s string
			if p.decode(prim, key, &s, "a string (a directory)") {
				cfg.tokenDir = p.resolvePath(s)
			}
		case "plugin_dir":
			var s string
			if p.decode(prim, key, &s, "a string (a directory)") {
				cfg.pluginDir = p.resolvePath(s)
			}
		case "plugins":
			var specs map[string]toml.Primitive
			if !p.decode(prim, key, &specs, "a table of plugins: [plugins.NAME]") {
				continue
			}
			for name, sp := range specs {
				if ps := p.pluginSpec(name, sp); ps != nil {
					cfg.plugins = append(cfg.plugins, ps)
				}
			}
		case "accounts":
			var accts map[string]toml.Primitive
			if !p.decode(prim, key, &accts, "a table of accounts: [accounts.NAME]") {
				continue
			}
			for name, ap := range accts {
				if a := p.account(name, ap); a != nil {
					cfg.accounts = append(cfg.accounts, a)
				}
			}
		default:
			p.errAt(prim, key, unknownKey(key, []string{"token_dir", "accounts", "plugin_dir", "plugins"}))
		}
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	sort.Slice(cfg.accounts, func(i, j int) bool { return cfg.accounts[i].line < cfg.accounts[j].line })
	sort.Slice(cfg.plugins, func(i, j int) bool { return cfg.plugins[i].line < cfg.plugins[j].line })
	for _, a := range cfg.accounts {
		if a.provider == kindPlugin && cfg.plugin(a.pluginName) == nil && cfg.pluginDir == "" {
			p.errs = append(p.errs, &configError{Path: path, Line: a.line, Key: "accounts." + a.name,
				Msg: fmt.Sprintf("plugin %q is neither a [plugins.%s] table nor in a plugin_dir", a.pluginName, a.pluginName)})
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	if cfg.tokenDir == "" {
		d, err := defaultTokenDir()
		if err != nil {
			return nil, fmt.Errorf("finding the token directory: %w (set token_dir in %s)", err, path)
		}
		cfg.tokenDir = d
	}
	return cfg, nil
}

// configParser collects the problems of one file.
type configParser struct {
	path, dir string
	md        *toml.MetaData
	errs      configErrors
}

// raiser is a decoding target that always fails: decoding a key's
// Primitive into it makes BurntSushi/toml report the key's position, which
// its MetaData does not otherwise export.
type raiser struct{}

func (raiser) UnmarshalTOML(any) error { return errRaised }

var errRaised = errors.New("position probe")

// lineOf returns the line of the key prim was decoded from, or 0.
func (p *configParser) lineOf(prim toml.Primitive) int {
	var pe toml.ParseError
	if err := p.md.PrimitiveDecode(prim, raiser{}); errors.As(err, &pe) {
		return pe.Position.Line
	}
	return 0
}

// errAt records a problem with the key prim came from.
func (p *configParser) errAt(prim toml.Primitive, key, msg string) {
	p.errs = append(p.errs, &configError{Path: p.path, Line: p.lineOf(prim), Key: key, Msg: msg})
}

// decode decodes prim into dst, recording a problem (saying the value
// should be want) when the types do not match.
func (p *configParser) decode(prim toml.Primitive, key string, dst any, want string) bool {
	if err := p.md.PrimitiveDecode(prim, dst); err != nil {
		p.errAt(prim, key, "must be "+want)
		return false
	}
	return true
}

// resolvePath expands a leading ~/ and makes a relative path relative to
// the accounts file's directory.
func (p *configParser) resolvePath(s string) string {
	if rest, ok := strings.CutPrefix(s, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.dir, s)
}

// literalSecretKeys are keys a user might write a secret under; the file
// holds none, so each gets an error pointing at the right key.
var literalSecretKeys = map[string]string{
	"client_secret": "client_secret_env or client_secret_cmd",
	"password":      "password_env or password_cmd",
	"refresh_token": "saslkit authorize, which stores it in the token directory",
	"access_token":  "saslkit authorize, or provider = \"exec\" with a command that prints it",
	"token":         "saslkit authorize, or provider = \"exec\" with a command that prints it",
	"secret":        "client_secret_env or client_secret_cmd",
	"private_key":   "key_file (a service account key) or certificate_file",
	"app_password":  "password_env or password_cmd",
}

// validAccountName: 1 to 64 letters, digits and . _ @ + -, starting with a
// letter or digit.
func validAccountName(s string) bool {
	return validWord(s, 64, "", "._@+-")
}

// validEnvName: a portable environment variable name, at most 128 bytes.
func validEnvName(s string) bool {
	return validWord(s, 128, "_", "_")
}

// validWord reports whether s is 1 to max ASCII letters and digits, plus
// firstExtra allowed as its first byte and extra after it; a digit may
// start it only when firstExtra is empty.
func validWord(s string, max int, firstExtra, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		digit := '0' <= c && c <= '9'
		switch {
		case letter:
		case digit && (i > 0 || firstExtra == ""):
		case i == 0 && strings.IndexByte(firstExtra, c) >= 0:
		case i > 0 && strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// accountFields are the keys of an account table, with their decoders.
var accountFields = map[string]func(p *configParser, a *account, prim toml.Primitive, key string){
	"user": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.str(prim, key, &a.user)
	},
	"provider": func(p *configParser, a *account, prim toml.Primitive, key string) {
		var s string
		if p.decode(prim, key, &s, "a string") {
			if !slices.Contains(providerKinds, providerKind(s)) {
				p.errAt(prim, key, fmt.Sprintf("unknown provider %q (want one of %s)", s, kindList()))
				return
			}
			a.provider = providerKind(s)
		}
	},
	"client_id":         func(p *configParser, a *account, prim toml.Primitive, key string) { p.str(prim, key, &a.clientID) },
	"client_secret_env": func(p *configParser, a *account, prim toml.Primitive, key string) { p.env(prim, key, &a.clientSecret) },
	"client_secret_cmd": func(p *configParser, a *account, prim toml.Primitive, key string) { p.cmd(prim, key, &a.clientSecret) },
	"tenant":            func(p *configParser, a *account, prim toml.Primitive, key string) { p.str(prim, key, &a.tenant) },
	"auth_url":          func(p *configParser, a *account, prim toml.Primitive, key string) { p.httpURL(prim, key, &a.authURL) },
	"token_url":         func(p *configParser, a *account, prim toml.Primitive, key string) { p.httpURL(prim, key, &a.tokenURL) },
	"device_auth_url": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.httpURL(prim, key, &a.deviceAuthURL)
	},
	"redirect_host": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.redirectHost(prim, key, &a.redirectHost)
	},
	"key_file": func(p *configParser, a *account, prim toml.Primitive, key string) { p.file(prim, key, &a.keyFile) },
	"subject":  func(p *configParser, a *account, prim toml.Primitive, key string) { p.str(prim, key, &a.subject) },
	"certificate_file": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.file(prim, key, &a.certificateFile)
	},
	"ca_file":      func(p *configParser, a *account, prim toml.Primitive, key string) { p.file(prim, key, &a.caFile) },
	"password_env": func(p *configParser, a *account, prim toml.Primitive, key string) { p.env(prim, key, &a.password) },
	"password_cmd": func(p *configParser, a *account, prim toml.Primitive, key string) { p.cmd(prim, key, &a.password) },
	"imap": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.server(prim, key, "imap", &a.imap)
	},
	"pop3": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.server(prim, key, "pop3", &a.pop3)
	},
	"smtp": func(p *configParser, a *account, prim toml.Primitive, key string) {
		p.server(prim, key, "smtp", &a.smtp)
	},
	"scopes":              func(p *configParser, a *account, prim toml.Primitive, key string) { p.scopes(prim, key, a) },
	"command":             func(p *configParser, a *account, prim toml.Primitive, key string) { p.argv(prim, key, &a.command) },
	"plugin":              func(p *configParser, a *account, prim toml.Primitive, key string) { p.str(prim, key, &a.pluginName) },
	"lifetime":            func(p *configParser, a *account, prim toml.Primitive, key string) { p.duration(prim, key, &a.lifetime) },
	"client_secret_file":  nil, // refused below with a hint
	"password_file":       nil,
	"refresh_token_file":  nil,
	"client_secret_value": nil,
}

func kindList() string {
	s := make([]string, len(providerKinds))
	for i, k := range providerKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// account parses the table of account name.
func (p *configParser) account(name string, prim toml.Primitive) *account {
	key := "accounts." + name
	if strings.Contains(name, ".") {
		key = "accounts." + fmt.Sprintf("%q", name)
	}
	a := &account{name: name, line: p.lineOf(prim)}
	if !validAccountName(name) {
		p.errAt(prim, key, "an account name is 1 to 64 letters, digits and . _ @ + - (starting with a letter or digit)")
		return nil
	}
	var fields map[string]toml.Primitive
	if !p.decode(prim, key, &fields, "a table: [accounts."+name+"]") {
		return nil
	}
	before := len(p.errs)
	for k, fp := range fields {
		fkey := key + "." + k
		if hint, ok := literalSecretKeys[k]; ok {
			p.errAt(fp, fkey, "secrets do not belong in the accounts file; use "+hint)
			continue
		}
		dec, ok := accountFields[k]
		if !ok {
			p.errAt(fp, fkey, unknownKey(k, knownAccountKeys()))
			continue
		}
		if dec == nil {
			p.errAt(fp, fkey, "unknown key; secrets come from an environment variable (…_env) or a command (…_cmd)")
			continue
		}
		dec(p, a, fp, fkey)
	}
	if len(p.errs) > before {
		return nil
	}
	if msg := a.check(); msg != "" {
		p.errs = append(p.errs, &configError{Path: p.path, Line: a.line, Key: key, Msg: msg})
		return nil
	}
	return a
}

func knownAccountKeys() []string {
	var k []string
	for name, dec := range accountFields {
		if dec != nil {
			k = append(k, name)
		}
	}
	sort.Strings(k)
	return k
}

// unknownKey describes an unknown key, suggesting a known one that is
// close.
func unknownKey(key string, known []string) string {
	msg := "unknown key"
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// editDistance is the Levenshtein distance of a and b, for short keys.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (p *configParser) str(prim toml.Primitive, key string, dst *string) {
	var s string
	if p.decode(prim, key, &s, "a string") {
		if strings.TrimSpace(s) == "" {
			p.errAt(prim, key, "must not be empty")
			return
		}
		*dst = s
	}
}

func (p *configParser) file(prim toml.Primitive, key string, dst *string) {
	var s string
	if p.decode(prim, key, &s, "a string (a file name)") {
		if s == "" {
			p.errAt(prim, key, "must not be empty")
			return
		}
		*dst = p.resolvePath(s)
	}
}

// env decodes the name of an environment variable holding a secret. The
// value is never quoted in errors: it may be a secret pasted by mistake.
func (p *configParser) env(prim toml.Primitive, key string, dst *secretRef) {
	var s string
	if !p.decode(prim, key, &s, "a string (the name of an environment variable)") {
		return
	}
	if !validEnvName(s) {
		p.errAt(prim, key, "must name an environment variable (letters, digits and _); the secret itself goes in the variable, not here")
		return
	}
	if dst.set() {
		p.errAt(prim, key, "give the secret either by environment variable (…_env) or by command (…_cmd), not both")
		return
	}
	dst.env = s
}

// cmd decodes a command printing a secret: an array of strings (argv).
func (p *configParser) cmd(prim toml.Primitive, key string, dst *secretRef) {
	var argv []string
	p.argv(prim, key, &argv)
	if argv == nil {
		return
	}
	if dst.set() {
		p.errAt(prim, key, "give the secret either by environment variable (…_env) or by command (…_cmd), not both")
		return
	}
	dst.cmd = argv
}

func (p *configParser) argv(prim toml.Primitive, key string, dst *[]string) {
	var argv []string
	if !p.decode(prim, key, &argv, `an array of strings, the program and its arguments: ["pass", "show", "mail"]`) {
		return
	}
	if len(argv) == 0 || argv[0] == "" {
		p.errAt(prim, key, "must name a program")
		return
	}
	*dst = argv
}

func (p *configParser) scopes(prim toml.Primitive, key string, a *account) {
	var s []string
	if !p.decode(prim, key, &s, `an array of strings: ["https://mail.google.com/"]`) {
		return
	}
	for _, v := range s {
		if v == "" || strings.ContainsAny(v, " \t\r\n") {
			p.errAt(prim, key, "a scope is one word without spaces; give several as separate strings")
			return
		}
	}
	a.scopes, a.scopesSet = s, true
}

func (p *configParser) duration(prim toml.Primitive, key string, dst *time.Duration) {
	var s string
	if !p.decode(prim, key, &s, `a duration string such as "1h" or "55m"`) {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.errAt(prim, key, fmt.Sprintf(`%q is not a positive duration (such as "1h" or "55m")`, s))
		return
	}
	*dst = d
}

func (p *configParser) httpURL(prim toml.Primitive, key string, dst *string) {
	var s string
	if !p.decode(prim, key, &s, "a string (a URL)") {
		return
	}
	if err := checkHTTPURL(s); err != nil {
		p.errAt(prim, key, err.Error())
		return
	}
	*dst = s
}

func (p *configParser) redirectHost(prim toml.Primitive, key string, dst *string) {
	var s string
	if !p.decode(prim, key, &s, "a string") {
		return
	}
	if s != "localhost" && s != "127.0.0.1" && s != "::1" {
		p.errAt(prim, key, fmt.Sprintf(`%q is not a loopback host: use "localhost", "127.0.0.1" or "::1"`, s))
		return
	}
	*dst = s
}

func (p *configParser) server(prim toml.Primitive, key, proto string, dst **serverURL) {
	var s string
	if !p.decode(prim, key, &s, "a string (a server URL such as "+proto+"s://host)") {
		return
	}
	u, err := parseServerURL(s)
	if err != nil {
		p.errAt(prim, key, err.Error())
		return
	}
	if u.protocol != proto {
		p.errAt(prim, key, fmt.Sprintf("%s is a %s URL; %s wants %ss:// or %s://", u.scheme, strings.ToUpper(u.protocol), key[strings.LastIndex(key, ".")+1:], proto, proto))
		return
	}
	*dst = u
}

// check validates the account as a whole, returning a problem or "".
func (a *account) check() string {
	switch {
	case a.user == "":
		return `missing key "user" (the mailbox address or login name)`
	case a.provider == "":
		return `missing key "provider" (one of ` + kindList() + ")"
	}
	if addr, err := mail.ParseAddress(a.user); a.provider != kindPassword && a.provider != kindExec && a.provider != kindPlugin && (err != nil || addr.Address != a.user) {
		return fmt.Sprintf("user %q is not a plain mail address", a.user)
	}
	allowed := map[string]bool{"user": true, "provider": true, "imap": true, "pop3": true, "smtp": true, "ca_file": true, "password": true}
	need := func(ok bool, what string) string {
		if ok {
			return ""
		}
		return fmt.Sprintf("provider %q needs %s", a.provider, what)
	}
	var msg string
	switch a.provider {
	case kindGoogle, kindMicrosoft, kindOAuth2:
		msg = need(a.clientID != "", `"client_id"`)
		if msg == "" && a.provider == kindOAuth2 {
			msg = need(a.tokenURL != "", `"token_url"`)
			if msg == "" {
				msg = need(a.authURL != "" || a.deviceAuthURL != "", `"auth_url" or "device_auth_url" to authorize`)
			}
		}
		if a.provider != kindMicrosoft && a.tenant != "" {
			msg = `"tenant" is for provider "microsoft" and "client-credentials"`
		}
		for _, k := range []string{"client_id", "client_secret", "tenant", "auth_url", "token_url", "device_auth_url", "scopes", "redirect_host"} {
			allowed[k] = true
		}
	case kindServiceAccount:
		msg = need(a.keyFile != "", `"key_file" (the service account's JSON key)`)
		for _, k := range []string{"key_file", "subject", "scopes", "token_url"} {
			allowed[k] = true
		}
	case kindClientCredentials:
		msg = need(a.clientID != "", `"client_id"`)
		if msg == "" {
			msg = need(a.clientSecret.set() != (a.certificateFile != ""), `exactly one of "client_secret_env", "client_secret_cmd" and "certificate_file"`)
		}
		if msg == "" {
			msg = need(a.tenant != "" || a.tokenURL != "", `"tenant" (Microsoft 365) or "token_url"`)
		}
		if msg == "" && a.tenant == "" && !a.scopesSet {
			msg = need(false, `"scopes" when no "tenant" is given`)
		}
		for _, k := range []string{"client_id", "client_secret", "certificate_file", "tenant", "token_url", "scopes"} {
			allowed[k] = true
		}
	case kindExec:
		msg = need(len(a.command) > 0, `"command" (the program that prints an access token)`)
		for _, k := range []string{"command", "lifetime"} {
			allowed[k] = true
		}
	case kindPassword:
		msg = need(a.password.set(), `"password_env" or "password_cmd"`)
	case kindPlugin:
		msg = need(a.pluginName != "", `"plugin" (a [plugins.NAME] table or a file of plugin_dir)`)
		for _, k := range []string{"plugin", "scopes"} {
			allowed[k] = true
		}
	}
	if msg != "" {
		return msg
	}
	for _, f := range []struct {
		key string
		set bool
	}{
		{"client_id", a.clientID != ""}, {"client_secret", a.clientSecret.set()}, {"tenant", a.tenant != ""},
		{"auth_url", a.authURL != ""}, {"token_url", a.tokenURL != ""}, {"device_auth_url", a.deviceAuthURL != ""},
		{"scopes", a.scopesSet}, {"redirect_host", a.redirectHost != ""}, {"key_file", a.keyFile != ""}, {"subject", a.subject != ""},
		{"certificate_file", a.certificateFile != ""}, {"command", len(a.command) > 0}, {"lifetime", a.lifetime != 0},
		{"plugin", a.pluginName != ""},
	} {
		if f.set && !allowed[f.key] {
			return fmt.Sprintf("%q does not apply to provider %q", f.key, a.provider)
		}
	}
	return ""
}

// isSHA256Hex reports whether s is 64 hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// pluginSpec parses the table of plugin name.
func (p *configParser) pluginSpec(name string, prim toml.Primitive) *pluginSpec {
	key := "plugins." + name
	ps := &pluginSpec{name: name, line: p.lineOf(prim)}
	var fields map[string]toml.Primitive
	if !p.decode(prim, key, &fields, "a table: [plugins."+name+"]") {
		return nil
	}
	before := len(p.errs)
	for k, fp := range fields {
		fkey := key + "." + k
		switch k {
		case "path":
			p.file(fp, fkey, &ps.path)
		case "sha256":
			var s string
			if p.decode(fp, fkey, &s, "a string (64 hex digits, as sha256sum prints)") {
				if !isSHA256Hex(s) {
					p.errAt(fp, fkey, "must be the file's SHA-256 in hex, 64 digits (sha256sum prints it)")
					continue
				}
				ps.sha256 = strings.ToLower(s)
			}
		case "args":
			var args []string
			if p.decode(fp, fkey, &args, "an array of strings") {
				ps.args = args
			}
		default:
			p.errAt(fp, fkey, unknownKey(k, []string{"path", "sha256", "args"}))
		}
	}
	if len(p.errs) > before {
		return nil
	}
	switch {
	case ps.path == "":
		p.errs = append(p.errs, &configError{Path: p.path, Line: ps.line, Key: key, Msg: `missing key "path" (the plugin program)`})
		return nil
	case ps.sha256 == "":
		p.errs = append(p.errs, &configError{Path: p.path, Line: ps.line, Key: key, Msg: `missing key "sha256": a plugin runs only if its file has the SHA-256 given here (sha256sum prints it)`})
		return nil
	}
	return ps
}
