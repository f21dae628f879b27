package plugins

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/saslkit/saslkit/sasl"
)

// ManifestName is the name of a plugin directory's manifest.
const ManifestName = "SHA256SUMS"

// maxManifestSize bounds the manifest file.
const maxManifestSize = 1 << 20

// ParseManifest reads a manifest in the format sha256sum prints: one line
// per file, "<64 hex digits>  <name>" (or " *<name>" for binary mode).
// Names must be plain file names (no directory, not "." or ".."); sha256sum's
// backslash-escaped names are refused, as are duplicates and blank names.
// Blank lines and lines starting with '#' are skipped. It returns the
// digests by name, in hex; errors are *ManifestError values naming path.
func ParseManifest(path string, data []byte) (map[string]string, error) {
	if len(data) > maxManifestSize {
		return nil, &ManifestError{Path: path, Reason: "larger than 1 MiB"}
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxManifestSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(reason string) error { return &ManifestError{Path: path, Line: n, Reason: reason} }
		if strings.HasPrefix(line, `\`) {
			return nil, bad("escaped file names are not supported")
		}
		if len(line) < 66 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*') {
			return nil, bad(`want "<sha256 hex>  <name>"`)
		}
		sum := strings.ToLower(line[:64])
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, bad("digest is not hex")
		}
		name := line[66:]
		switch {
		case name == "" || name == "." || name == "..":
			return nil, bad("missing file name")
		case strings.ContainsAny(name, "/\\\x00") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return nil, &ManifestError{Path: path, Line: n, Name: name, Reason: "not a plain file name"}
		}
		if _, dup := sums[name]; dup {
			return nil, &ManifestError{Path: path, Line: n, Name: name, Reason: "listed twice"}
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, &ManifestError{Path: path, Reason: err.Error()}
	}
	return sums, nil
}

// Set is the plugins of a directory, opened by OpenDir.
type Set struct {
	// Plugins are the opened plugins, by file name order.
	Plugins []*Plugin
}

// OpenDir opens every plugin in dir. The directory's SHA256SUMS manifest
// (see ParseManifest) must list every regular file in dir except itself and
// hidden files (names starting with '.'); a file it does not list, a listed
// file that is missing, and a file whose digest differs are refused with an
// error naming the file, and nothing is started. Subdirectories are
// ignored.
//
// Each plugin is opened with opts, its Checksum taken from the manifest
// and its Name from the file name. If one fails to start, those already
// started are closed and the error is returned.
func OpenDir(ctx context.Context, dir string, opts *Options) (*Set, error) {
	mpath := filepath.Join(dir, ManifestName)
	data, err := readBounded(mpath)
	if err != nil {
		return nil, &ManifestError{Path: mpath, Reason: err.Error()}
	}
	sums, err := ParseManifest(mpath, data)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if name == ManifestName || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		if _, ok := sums[name]; !ok {
			return nil, &ManifestError{Path: mpath, Name: name, Reason: "file in the plugin directory is not listed"}
		}
		names = append(names, name)
	}
	for name := range sums {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			return nil, &ManifestError{Path: mpath, Name: name, Reason: "listed file is missing"}
		}
	}
	sort.Strings(names)
	set := &Set{}
	for _, name := range names {
		var o Options
		if opts != nil {
			o = *opts
		}
		o.Checksum, o.InsecureSkipChecksum, o.Name = sums[name], false, name
		p, err := Open(ctx, filepath.Join(dir, name), &o)
		if err != nil {
			_ = set.Close()
			return nil, err
		}
		set.Plugins = append(set.Plugins, p)
	}
	return set, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxManifestSize+1))
}

// Register adds the mechanisms of every plugin in the set to reg.
func (s *Set) Register(reg *sasl.Registry) error {
	for _, p := range s.Plugins {
		if err := p.Register(reg); err != nil {
			return err
		}
	}
	return nil
}

// Plugin returns the plugin opened from the file name, or nil.
func (s *Set) Plugin(name string) *Plugin {
	for _, p := range s.Plugins {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Close closes every plugin of the set.
func (s *Set) Close() error {
	var errs []error
	for _, p := range s.Plugins {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
