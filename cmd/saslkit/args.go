package main

// parseMixed parses args allowing flags after the positional arguments,
// as in "saslkit token work --json"; "--" ends the flags. It returns the
// positional arguments.
func (fs *flagSet) parseMixed(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// The flag package consumed a "--" terminator: everything after
		// it is positional.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// configFlag adds --config to fs.
func configFlag(fs *flagSet) *string {
	return fs.String("config", "", "the accounts `file` (default $"+configEnv+", else accounts.toml in saslkit's directory under the user configuration directory)")
}

// loadAccount loads the accounts file and the account called name.
func loadAccount(fs *flagSet, path, name string) (*config, *account, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, configFailure(err)
	}
	a := cfg.lookup(name)
	if a == nil {
		msg := "no account %q in %s"
		if len(cfg.accounts) > 0 {
			return nil, nil, fs.usage(msg+" (accounts: %s)", name, cfg.path, joinNames(cfg.names()))
		}
		return nil, nil, fs.usage(msg+" (it has none)", name, cfg.path)
	}
	return cfg, a, nil
}

func joinNames(n []string) string {
	s := ""
	for i, v := range n {
		if i > 0 {
			s += ", "
		}
		s += v
	}
	return s
}
