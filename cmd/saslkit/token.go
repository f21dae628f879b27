package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

var tokenCommand = &command{
	name:    "token",
	summary: "print a valid access token for an account (for PassCmd, passwordeval, ...)",
	run:     runToken,
}

const tokenAbout = `
Print a valid OAuth 2.0 access token for ACCOUNT, an account of the
accounts file, refreshing it first when it is expired or about to be: the
token alone and a newline on standard output, nothing else, for a mail
client's password command (isync PassCmd, msmtp passwordeval, aerc
*-cred-cmd, mutt's imap_oauth_refresh_command). Messages go to standard
error.

With --json, print one JSON object instead: access_token, token_type,
expiry (RFC 3339), expires_in (seconds), scopes, account and user.

Accounts with provider google, microsoft or oauth2 need a refresh token
first: run saslkit authorize ACCOUNT once. A refreshed (rotated) refresh
token is saved before the access token is printed.

` + exitCodesHelp

func runToken(ctx context.Context, st *stdio, args []string) error {
	fs := newFlagSet(st, "token", "ACCOUNT", tokenAbout)
	path := configFlag(fs)
	jsonOut := fs.Bool("json", false, "print a JSON object with the token, its expiry and scopes")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this `duration`")
	pos, err := fs.parseMixed(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usage("want one ACCOUNT, got %d arguments", len(pos))
	}
	cfg, a, err := loadAccount(fs, *path, pos[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	src, done, err := a.tokenSource(ctx, cfg, st.stderr)
	defer done()
	if err != nil {
		return tokenFailure(a, fmt.Errorf("token: %w", err))
	}
	tok, err := src.Token(ctx)
	if err != nil {
		return tokenFailure(a, fmt.Errorf("token: account %s: %w", a.name, err))
	}
	if tok == nil || tok.AccessToken == "" {
		return fmt.Errorf("token: account %s: the provider returned no access token", a.name)
	}
	if !*jsonOut {
		_, err := fmt.Fprintln(st.stdout, tok.AccessToken)
		return err
	}
	enc := json.NewEncoder(st.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(newTokenJSON(a, tok, time.Now()))
}

// tokenJSON is the output of token --json.
type tokenJSON struct {
	Account     string   `json:"account"`
	User        string   `json:"user"`
	AccessToken string   `json:"access_token"`
	TokenType   string   `json:"token_type"`
	Expiry      string   `json:"expiry,omitempty"`
	ExpiresIn   *int64   `json:"expires_in,omitempty"`
	Scopes      []string `json:"scopes"`
}

func newTokenJSON(a *account, tok *oauth2.Token, now time.Time) *tokenJSON {
	j := &tokenJSON{Account: a.name, User: a.user, AccessToken: tok.AccessToken, TokenType: tok.Type(), Scopes: a.effectiveScopes()}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		j.Scopes = strings.Fields(s)
	}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	if !tok.Expiry.IsZero() {
		j.Expiry = tok.Expiry.UTC().Format(time.RFC3339)
		in := int64(tok.Expiry.Sub(now).Seconds())
		j.ExpiresIn = &in
	}
	return j
}
