package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/saslkit/saslkit/plugins"
	"github.com/saslkit/saslkit/sasl"
)

// openedPlugins are the plugin processes a command started; close stops
// them all.
type openedPlugins struct {
	list []*plugins.Plugin
	sets []*plugins.Set
}

func (o *openedPlugins) close() {
	for _, p := range o.list {
		_ = p.Close()
	}
	for _, s := range o.sets {
		_ = s.Close()
	}
}

// all returns every opened plugin.
func (o *openedPlugins) all() []*plugins.Plugin {
	all := append([]*plugins.Plugin{}, o.list...)
	for _, s := range o.sets {
		all = append(all, s.Plugins...)
	}
	return all
}

// pluginError is a plugin that could not be started.
type pluginError struct {
	name string
	err  error
}

func (e *pluginError) Error() string { return fmt.Sprintf("plugin %s: %v", e.name, e.err) }
func (e *pluginError) Unwrap() error { return e.err }

// openAllPlugins starts every plugin the accounts file names: each
// [plugins.NAME] and every plugin of plugin_dir.
func openAllPlugins(ctx context.Context, cfg *config) (*openedPlugins, error) {
	o := &openedPlugins{}
	for _, ps := range cfg.plugins {
		p, err := plugins.Open(ctx, ps.path, &plugins.Options{Checksum: ps.sha256, Args: ps.args, Name: ps.name})
		if err != nil {
			o.close()
			return nil, &pluginError{name: ps.name, err: err}
		}
		o.list = append(o.list, p)
	}
	if cfg.pluginDir != "" {
		set, err := plugins.OpenDir(ctx, cfg.pluginDir, nil)
		if err != nil {
			o.close()
			return nil, &pluginError{name: "directory " + cfg.pluginDir, err: err}
		}
		o.sets = append(o.sets, set)
	}
	return o, nil
}

// openPlugin starts the plugin called name: a [plugins.NAME] table, else
// the file of plugin_dir listed in its SHA256SUMS manifest.
func openPlugin(ctx context.Context, cfg *config, name string) (*plugins.Plugin, error) {
	if ps := cfg.plugin(name); ps != nil {
		p, err := plugins.Open(ctx, ps.path, &plugins.Options{Checksum: ps.sha256, Args: ps.args, Name: ps.name})
		if err != nil {
			return nil, &pluginError{name: name, err: err}
		}
		return p, nil
	}
	if cfg.pluginDir == "" {
		return nil, &pluginError{name: name, err: errors.New("no such plugin in the accounts file")}
	}
	manifest := filepath.Join(cfg.pluginDir, plugins.ManifestName)
	data, err := os.ReadFile(manifest)
	if err != nil {
		return nil, &pluginError{name: name, err: err}
	}
	sums, err := plugins.ParseManifest(manifest, data)
	if err != nil {
		return nil, &pluginError{name: name, err: err}
	}
	sum, ok := sums[name]
	if !ok {
		return nil, &pluginError{name: name, err: fmt.Errorf("not listed in %s", manifest)}
	}
	p, err := plugins.Open(ctx, filepath.Join(cfg.pluginDir, name), &plugins.Options{Checksum: sum, Name: name})
	if err != nil {
		return nil, &pluginError{name: name, err: err}
	}
	return p, nil
}

// registerPlugins adds the mechanisms of every opened plugin to reg,
// except those whose name reg already holds (a built-in mechanism wins).
// It returns the names left out.
func registerPlugins(reg *sasl.Registry, o *openedPlugins) (skipped []string) {
	for _, p := range o.all() {
		for _, m := range p.Mechanisms() {
			if _, dup := reg.Lookup(m.Name); dup {
				skipped = append(skipped, p.Name()+":"+m.Name)
				continue
			}
			if err := reg.Register(m); err != nil {
				skipped = append(skipped, p.Name()+":"+m.Name)
			}
		}
	}
	return skipped
}
