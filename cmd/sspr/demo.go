package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
)

// demoUser is one of the demo's directory users.
type demoUser struct {
	name, display, password string
	// phone is the number in the directory and, when registered, the
	// registration's; the trunk takes every number to the virtual phone.
	phone      string
	registered bool
	locked     bool
	// note says what to try with the user.
	note string
}

// demoUsers are the users the demo's directory is seeded with. Their
// passwords are printed: the demo runs on loopback only.
var demoUsers = []demoUser{
	{name: "ada", display: "Ada Lovelace", password: "Ada-Lovelace-1815", phone: "+442079460001", registered: true,
		note: "registered: reset her password at /reset"},
	{name: "grace", display: "Grace Hopper", password: "Grace-Hopper-1906", phone: "+442079460002", registered: true, locked: true,
		note: "registered, locked out of the directory: unlock her at /unlock"},
	{name: "linus", display: "Linus Torvalds", password: "Linus-Torvalds-1991", phone: "+442079460003",
		note: "not registered: register him at /register (any UK number rings the virtual phone)"},
}

// demoPolicy is the demo directory's policy: an account locks after
// three failed sign-ins until it is unlocked.
var demoPolicy = directory.EmbeddedPolicy{MinLength: 8, History: 3, LockoutThreshold: 3}

// demoConfig is the configuration sspr demo serves; {{...}} are filled
// in at start.
const demoConfig = `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  ring_timeout: 60s
  trunks:
    - name: demo
      address: sip:{{phone}}
      keepalive: -1s
  media:
    bind_ip: 127.0.0.1
ivr:
  first_key_timeout: 30s
  inter_digit_timeout: 10s
directory:
  type: embedded
  file: {{users}}
store:
  sqlite: {{db}}
portal:
  listen: {{http}}
  decoy_ring: 10s
  phone:
    countries: [GB]
    default_region: GB
  workflow:
    register:
      - gate: password
      - gate: phone
        mode: match
      - gate: language
    reset:
      - gate: phone
        mode: match
    unlock:
      - gate: phone
        mode: match
`

func runDemo(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet("demo", "[--http ADDR]", `
Run a demonstration of sspr on this machine, with nothing to install: the
portal, an embedded directory seeded with demo users, SQLite in a
temporary directory, and a virtual phone that sspr calls over real SIP and
RTP on loopback. Open the phone's page in a second browser tab: it rings,
plays the call's audio, and has a keypad.

It prints the URLs and the demo users with their passwords, and runs until
SIGINT or SIGTERM; then it removes its temporary directory.`)
	httpAddr := flags.String("http", "127.0.0.1:8080", "address of the portal and the phone page (port 0 picks a free one)")
	logLevel := flags.String("log-level", "warn", "least level logged on standard error: debug, info, warn or error")
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	var level slog.Level
	switch {
	case len(operands) != 0:
		return flags.usageError(e, "unexpected argument %q", operands[0])
	case level.UnmarshalText([]byte(*logLevel)) != nil:
		return flags.usageError(e, "--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if _, _, err := net.SplitHostPort(*httpAddr); err != nil {
		return flags.usageError(e, "--http %q: %v", *httpAddr, err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if err := demo(ctx, e, log, *httpAddr); err != nil {
		fmt.Fprintf(e.stderr, "sspr demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// demo sets the demonstration up in a temporary directory, serves it
// until ctx is done, and removes the directory.
func demo(ctx context.Context, e *env, log *slog.Logger, httpAddr string) (err error) {
	dir, err := os.MkdirTemp("", "sspr-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	users := filepath.Join(dir, "users.yaml")
	db := filepath.Join(dir, "sspr.db")
	if err := seedDemo(ctx, users, db); err != nil {
		return err
	}

	vp, err := newVirtualPhone(log.With("component", "virtual-phone"), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	phoneCtx, stopPhone := context.WithCancel(context.Background())
	phoneDone := make(chan error, 1)
	go func() { phoneDone <- vp.run(phoneCtx) }()
	defer func() {
		stopPhone()
		<-phoneDone
		_ = vp.close()
	}()
	select {
	case <-vp.ready():
	case err := <-phoneDone:
		phoneDone <- err
		return fmt.Errorf("virtual phone: %w", err)
	}

	cfg := strings.NewReplacer("{{phone}}", vp.addr().String(), "{{users}}", users, "{{db}}", db, "{{http}}", httpAddr).Replace(demoConfig)
	file := filepath.Join(dir, "sspr.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return err
	}
	sc, err := loadServeConfig(file)
	if err != nil {
		return fmt.Errorf("the demo's configuration: %w", err)
	}
	sc.wrap = vp.wrap
	out := &bannerWriter{w: e.stdout, banner: func(w io.Writer, url string) { printDemoBanner(w, url, dir) }}
	return serve(ctx, &env{stdin: e.stdin, stdout: out, stderr: e.stderr}, log, sc, "", 10*time.Second)
}

// seedDemo writes the demo's directory (locking the locked users by
// failed sign-ins, as a person would) and registers its registered users
// in the store.
func seedDemo(ctx context.Context, users, db string) error {
	cfg := directory.EmbeddedConfig{Policy: &demoPolicy}
	seed := make([]directory.EmbeddedUser, 0, len(demoUsers))
	for _, u := range demoUsers {
		seed = append(seed, directory.EmbeddedUser{Username: u.name, DisplayName: u.display, Phones: []string{u.phone}, Password: u.password})
	}
	if err := directory.WriteEmbedded(users, seed, cfg); err != nil {
		return err
	}
	// The file keeps the policy WriteEmbedded wrote into it.
	d, err := directory.OpenEmbedded(users, directory.EmbeddedConfig{})
	if err != nil {
		return err
	}
	for _, u := range demoUsers {
		for i := 0; u.locked && i < demoPolicy.LockoutThreshold; i++ {
			if _, err := d.Authenticate(ctx, u.name, "not the password"); err == nil {
				return fmt.Errorf("directory: %s signed in with a wrong password", u.name)
			}
		}
		if lu, err := d.Find(ctx, u.name); err != nil {
			return err
		} else if lu.Locked != u.locked {
			return fmt.Errorf("directory: %s: locked %v, want %v", u.name, lu.Locked, u.locked)
		}
	}
	st, err := store.OpenSQLite(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, u := range demoUsers {
		if !u.registered {
			continue
		}
		if err := st.PutRegistration(ctx, store.Registration{Username: u.name, Phone: u.phone}, time.Now()); err != nil {
			return err
		}
	}
	return nil
}

// printDemoBanner prints the URLs, the users and the demo's directory
// dir, once the portal listens at url.
func printDemoBanner(w io.Writer, url, dir string) {
	fmt.Fprintf(w, "\nsspr demo: everything runs on this machine; Ctrl-C stops it and removes its files.\n\n")
	fmt.Fprintf(w, "  portal:        %s/\n", url)
	fmt.Fprintf(w, "  virtual phone: %s/demo/phone  (open it in a second tab: it rings when sspr calls)\n\n", url)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  user\tpassword\t\n")
	for _, u := range demoUsers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.name, u.password, u.note)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n  files:         %s (the directory's users.yaml, the store's sspr.db; removed on exit)\n\n", dir)
}

// bannerWriter passes serve's output through and, after the line that
// says where the portal listens, prints the demo's banner.
type bannerWriter struct {
	w      io.Writer
	banner func(w io.Writer, url string)

	mu      sync.Mutex
	partial []byte
	done    bool
}

// portalLine starts the line serve prints once the portal listens.
const portalLine = "sspr: portal listening on "

func (b *bannerWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err != nil || b.done {
		return n, err
	}
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			return n, nil
		}
		line := string(b.partial[:i])
		b.partial = b.partial[i+1:]
		if url, ok := strings.CutPrefix(line, portalLine); ok {
			b.done, b.partial = true, nil
			b.banner(b.w, strings.TrimSpace(url))
			return n, nil
		}
	}
}

// newVirtualPhone starts the demo's virtual phone on a free loopback
// port.
func newVirtualPhone(log *slog.Logger, reg prometheus.Registerer) (*virtualPhone, error) {
	v := &virtualPhone{log: log, clients: map[*phoneClient]struct{}{}}
	v.init()
	ph, err := sip.NewPhone(sip.PhoneConfig{Listen: "127.0.0.1:0", Media: media.Config{BindIP: netip.MustParseAddr("127.0.0.1")}},
		v.handle, log, reg)
	if err != nil {
		return nil, fmt.Errorf("virtual phone: %w", err)
	}
	v.phone = ph
	return v, nil
}
