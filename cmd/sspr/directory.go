package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/ivr"
)

// directoryConfig is the directory section of the configuration file:
// an LDAP directory (type ad or openldap, with directory.Config's keys),
// or the embedded one (type embedded, with file).
type directoryConfig struct {
	directory.Config `yaml:",inline"`
	// BindPassword may only be a reference to an environment variable,
	// ${NAME}: a password written into the file itself is refused.
	BindPassword string `yaml:"bind_password"`
	// File is the embedded directory's users file.
	File string `yaml:"file"`
}

// openDirectory opens the directory the configuration describes. close
// releases it.
func (c *directoryConfig) open(log *slog.Logger, reg prometheus.Registerer) (d directory.Directory, close func(), err error) {
	switch c.Type {
	case "embedded":
		if c.File == "" {
			return nil, nil, errors.New("directory.file: required for type embedded")
		}
		e, err := directory.OpenEmbedded(c.File, directory.EmbeddedConfig{Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("directory.file: %w", err)
		}
		return e, func() {}, nil
	case "":
		return nil, nil, errors.New("directory.type: required (ad, openldap or embedded)")
	}
	cfg := c.Config
	if c.BindPassword != "" {
		if !strings.HasPrefix(c.BindPassword, "${") {
			return nil, nil, errors.New("directory.bind_password: a password written into the file is refused; use ${ENV_VAR} or bind_password_file")
		}
		pw, err := expandSecret(c.BindPassword, "", "directory.bind_password")
		if err != nil {
			return nil, nil, err
		}
		cfg.BindPassword = directory.Secret(pw)
	}
	l, err := directory.NewLDAP(cfg, log, reg)
	if err != nil {
		return nil, nil, err
	}
	return l, func() { _ = l.Close() }, nil
}

// directoryCommand opens the configured directory for an admin command.
func directoryCommand(e *env, fs *flagSet, args []string, operands int) (d directory.Directory, names []string, done func(), status int, ok bool) {
	configFile := fs.String("config", "", "sspr configuration file (YAML) whose directory section to use (required)")
	names, status, ok = fs.parse(e, args)
	if !ok {
		return nil, nil, nil, status, false
	}
	switch {
	case *configFile == "":
		return nil, nil, nil, fs.usageError(e, "--config is required"), false
	case len(names) != operands:
		if operands == 0 {
			return nil, nil, nil, fs.usageError(e, "unexpected argument %q", names[0]), false
		}
		return nil, nil, nil, fs.usageError(e, "want exactly one USER"), false
	}
	fc, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr %s: --config: %v\n", fs.name, err)
		return nil, nil, nil, exitUsage, false
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, closeDir, err := fc.Directory.open(log, prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr %s: %v\n", fs.name, err)
		return nil, nil, nil, exitFail, false
	}
	return d, names, closeDir, 0, true
}

func runDirectoryStatus(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("directory status", "--config FILE", `
Connect to the configured directory, check TLS and the service account,
and print what was found. Exit status 1 when the directory cannot be used.`)
	d, _, done, status, ok := directoryCommand(e, fs, args, 0)
	if !ok {
		return status
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := d.Check(ctx); err != nil {
		fmt.Fprintf(e.stdout, "directory: not usable: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "directory: ok (%T, checked in %d ms)\n", d, time.Since(start).Milliseconds())
	return exitOK
}

func runDirectoryFind(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("directory find", "--config FILE USER", `
Find USER in the configured directory and print the entry's DN, display
name, phone numbers (masked) and lock state.`)
	d, names, done, status, ok := directoryCommand(e, fs, args, 1)
	if !ok {
		return status
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u, err := d.Find(ctx, names[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr directory find: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "dn: %s\nusername: %s\ndisplay name: %s\n", u.DN, u.Username, u.DisplayName)
	for _, p := range u.Phones {
		fmt.Fprintf(e.stdout, "phone: %s\n", ivr.MaskNumber(p))
	}
	switch {
	case !u.Locked:
		fmt.Fprintln(e.stdout, "locked: no")
	case u.LockedUntil.IsZero():
		fmt.Fprintln(e.stdout, "locked: yes, until an operator unlocks it")
	default:
		fmt.Fprintf(e.stdout, "locked: yes, until %s\n", u.LockedUntil.Format(time.RFC3339))
	}
	return exitOK
}

func runDirectoryUnlock(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("directory unlock", "--config FILE USER", `
Clear USER's lockout in the configured directory. Unlocking an account
that is not locked succeeds and says so.`)
	d, names, done, status, ok := directoryCommand(e, fs, args, 1)
	if !ok {
		return status
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	was, err := d.Unlock(ctx, names[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr directory unlock: %v\n", err)
		return exitFail
	}
	if was {
		fmt.Fprintf(e.stdout, "%s: unlocked\n", names[0])
	} else {
		fmt.Fprintf(e.stdout, "%s: was not locked\n", names[0])
	}
	return exitOK
}
