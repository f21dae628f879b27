package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

var configCommand = &command{
	name:    "config",
	summary: "check the accounts file, or print a commented example of it",
	run:     runConfig,
}

const configAbout = `
Read the accounts file, report every problem in it with its line, and list
its accounts (one JSON object with --json). With --example, print a
commented example file instead.

The file is TOML. It never holds a secret: a key such as client_secret or
password with a value is an error. Client secrets and passwords come from
an environment variable (..._env, its name) or a command that prints them
(..._cmd, an array: ["pass", "show", "mail"]); refresh tokens come from
saslkit authorize, which stores them in token_dir.

Top level: token_dir, plugin_dir, [plugins.NAME] (path, sha256, args),
[accounts.NAME]. Every account: user, provider, imap, pop3, smtp (server
URLs), ca_file, password_env or password_cmd. By provider:

  google, microsoft, oauth2  client_id, client_secret_env/_cmd, tenant
                             (microsoft), auth_url, token_url,
                             device_auth_url, scopes, redirect_host
  service-account            key_file, subject, scopes, token_url
  client-credentials         client_id, client_secret_env/_cmd or
                             certificate_file, tenant or token_url, scopes
  exec                       command, lifetime
  password                   password_env or password_cmd
  plugin                     plugin, scopes

docs/cli.md describes every key.

` + exitCodesHelp

func runConfig(ctx context.Context, st *stdio, args []string) error {
	fs := newFlagSet(st, "config", "", configAbout)
	path := configFlag(fs)
	example := fs.Bool("example", false, "print a commented example accounts file")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if *example {
		_, err := io.WriteString(st.stdout, configExample)
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return configFailure(err)
	}
	out := configJSON{Path: cfg.path, TokenDir: cfg.tokenDir, Accounts: []accountJSON{}}
	for _, a := range cfg.accounts {
		aj := accountJSON{Name: a.name, User: a.user, Provider: string(a.provider), Scopes: a.effectiveScopes()}
		for _, s := range []*serverURL{a.imap, a.pop3, a.smtp} {
			if s != nil {
				aj.Servers = append(aj.Servers, s.String())
			}
		}
		out.Accounts = append(out.Accounts, aj)
	}
	if *jsonOut {
		enc := json.NewEncoder(st.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	fmt.Fprintf(st.stdout, "%s: %d accounts, tokens in %s\n", cfg.path, len(cfg.accounts), cfg.tokenDir)
	for _, a := range out.Accounts {
		fmt.Fprintf(st.stdout, "  %s  %s  %s  %s\n", st.style(styleBold, a.Name), a.User, a.Provider, strings.Join(a.Servers, " "))
	}
	return nil
}

type configJSON struct {
	Path     string        `json:"path"`
	TokenDir string        `json:"token_dir"`
	Accounts []accountJSON `json:"accounts"`
}

type accountJSON struct {
	Name     string   `json:"name"`
	User     string   `json:"user"`
	Provider string   `json:"provider"`
	Scopes   []string `json:"scopes"`
	Servers  []string `json:"servers"`
}
