package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/saslkit/saslkit/mechanisms"
	"github.com/saslkit/saslkit/sasl"
)

var mechsCommand = &command{
	name:    "mechs",
	summary: "list the SASL mechanisms saslkit knows and their properties",
	run:     runMechs,
}

const mechsAbout = `
List the SASL mechanisms saslkit negotiates from, strongest first, with
their properties: the strength that ranks them in negotiation, whether the
exchange reveals a reusable secret (a password or a bearer token, so it is
sent only over verified TLS or to loopback), whether it binds to the TLS
channel, whether the server proves itself (mutual authentication), whether
it is off unless asked for, what credentials it needs, and the document that
defines it, and where it comes from: built in, or a plugin of the accounts
file (plugin_dir, [plugins.NAME]). --json prints one JSON object.

Exit codes: 0 success, 1 failure, 2 usage, 6 accounts file wrong or a
plugin that cannot start.`

func runMechs(ctx context.Context, st *stdio, args []string) error {
	fs := newFlagSet(st, "mechs", "", mechsAbout)
	path := configFlag(fs)
	jsonOut := fs.Bool("json", false, "print one JSON object")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	reg := mechanisms.Builtin()
	var list []mechJSON
	for _, m := range reg.Mechanisms() {
		list = append(list, newMechJSON(m, "builtin"))
	}
	// The plugins of the accounts file, if there is one: a missing file
	// at the default place just means none.
	cfg, err := loadConfig(*path)
	switch {
	case errors.Is(err, errNoConfig) && *path == "":
	case err != nil:
		return configFailure(err)
	case len(cfg.plugins) > 0 || cfg.pluginDir != "":
		opened, err := openAllPlugins(ctx, cfg)
		if err != nil {
			return configFailure(fmt.Errorf("mechs: %w", err))
		}
		defer opened.close()
		for _, p := range opened.all() {
			for _, m := range p.Mechanisms() {
				j := newMechJSON(m, "plugin "+p.Name())
				_, j.Shadowed = reg.Lookup(m.Name)
				list = append(list, j)
			}
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].Strength > list[j].Strength })
	}
	if *jsonOut {
		enc := json.NewEncoder(st.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(mechsJSON{Mechanisms: list})
	}
	tw := tabwriter.NewWriter(st.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MECHANISM\tSTRENGTH\tSENDS SECRET\tCHANNEL BINDING\tMUTUAL AUTH\tDEFAULT\tNEEDS\tSTANDARD\tSOURCE")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "-"
	}
	for _, m := range list {
		def := "on"
		if m.OffByDefault {
			def = "off"
		}
		src := m.Source
		if m.Shadowed {
			src += " (the built-in one is used)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Strength, yes(m.SendsSecret), yes(m.ChannelBinding),
			yes(m.MutualAuth), def, strings.Join(m.Needs, ","), orDash(m.Standard), src)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(st.stdout, "\nMechanisms marked off are used only when a policy allows them by name.")
	return nil
}

// mechsJSON is the output of mechs --json.
type mechsJSON struct {
	Mechanisms []mechJSON `json:"mechanisms"`
}

// mechJSON is one mechanism's properties.
type mechJSON struct {
	Name           string   `json:"name"`
	Strength       int      `json:"strength"`
	SendsSecret    bool     `json:"sends_secret"`
	ChannelBinding bool     `json:"channel_binding"`
	MutualAuth     bool     `json:"mutual_auth"`
	OffByDefault   bool     `json:"off_by_default"`
	Anonymous      bool     `json:"anonymous"`
	Dictionary     bool     `json:"dictionary_attack"`
	Needs          []string `json:"needs"`
	Client         bool     `json:"client"`
	Server         bool     `json:"server"`
	Standard       string   `json:"standard"`
	// Source is "builtin" or "plugin NAME".
	Source string `json:"source"`
	// Shadowed marks a plugin mechanism whose name a built-in one holds;
	// negotiation uses the built-in one.
	Shadowed bool `json:"shadowed,omitempty"`
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newMechJSON(m sasl.Mechanism, source string) mechJSON {
	j := mechJSON{
		Name:           m.Name,
		Strength:       m.Strength,
		SendsSecret:    m.Properties.Has(sasl.SendsSecret),
		ChannelBinding: m.Properties.Has(sasl.ChannelBinding),
		MutualAuth:     m.Properties.Has(sasl.MutualAuth),
		OffByDefault:   m.Properties.Has(sasl.OffByDefault),
		Anonymous:      m.Properties.Has(sasl.Anonymous),
		Dictionary:     m.Properties.Has(sasl.Dictionary),
		Needs:          needNames(m.Needs),
		Client:         m.NewClient != nil,
		Server:         m.NewServer != nil,
		Standard:       m.Standard,
		Source:         source,
	}
	return j
}

// needNames names the credential kinds of n; "nothing" for none.
func needNames(n sasl.Need) []string {
	var s []string
	for _, k := range []struct {
		need sasl.Need
		name string
	}{{sasl.NeedPassword, "password"}, {sasl.NeedToken, "token"}, {sasl.NeedExternal, "external"}} {
		if n&k.need != 0 {
			s = append(s, k.name)
		}
	}
	if len(s) == 0 {
		s = []string{"nothing"}
	}
	return s
}
