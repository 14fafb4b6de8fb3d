// Package e2e holds the portal's acceptance tests: the real sspr binary
// (sspr serve), a real OpenLDAP slapd with the ppolicy overlay, the sip
// package's own softphone answering over real SIP and RTP on loopback,
// and headless Chromium driven like a person would, checked by axe-core
// on every page. Screenshots of each page land in the test's artifact
// directory (go test -artifacts; make test keeps them in test-artifacts/).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/directory/dirtest"
	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/portal/browsertest"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
)

// binary is the sspr binary built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sspr-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sspr")
	build := exec.Command("go", "build", "-o", binary, "github.com/sspr-project/sspr/cmd/sspr")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building sspr:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// person is the person who answers the phone: the test's softphone,
// which rings for 300 ms, answers, and hands the call to the test.
type person struct {
	t     *testing.T
	phone *sip.Phone
	calls chan *sip.PhoneCall
}

// newPerson starts the softphone on a free loopback port.
func newPerson(t *testing.T) *person {
	t.Helper()
	p := &person{t: t, calls: make(chan *sip.PhoneCall, 4)}
	ph, err := sip.NewPhone(sip.PhoneConfig{Media: media.Config{BindIP: netip.MustParseAddr("127.0.0.1")}}, func(in *sip.Incoming) {
		// The phone's handler owns the call until it returns.
		_ = in.Ring()
		time.Sleep(300 * time.Millisecond)
		c, err := in.Answer(context.Background())
		if err != nil {
			return
		}
		select {
		case p.calls <- c:
		default:
			_ = c.Hangup(context.Background())
			return
		}
		<-c.Done()
	}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ph.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = ph.Close()
	})
	select {
	case <-ph.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("softphone not ready")
	}
	p.phone = ph
	return p
}

// answer waits for the phone to ring and be answered, and returns the
// call; its digits (heard in band from the far end) start flowing.
func (p *person) answer() *sip.PhoneCall {
	p.t.Helper()
	select {
	case c := <-p.calls:
		p.t.Cleanup(func() { _ = c.Hangup(context.Background()) })
		return c
	case <-time.After(30 * time.Second):
		p.t.Fatal("the phone never rang")
	}
	return nil
}

// key presses keys on an answered call as RFC 4733 events, after the
// first prompt has started.
func (p *person) key(c *sip.PhoneCall, keys string) {
	p.t.Helper()
	time.Sleep(time.Second)
	if err := c.SendDigits(context.Background(), keys, media.RFC4733, 120*time.Millisecond, 120*time.Millisecond); err != nil {
		p.t.Fatalf("pressing %d keys: %v", len(keys), err)
	}
}

// hear returns the digits the far end plays in band until n have come
// (the spoken code, which the test's prompts sound as DTMF tones).
func (p *person) hear(c *sip.PhoneCall, n int) string {
	p.t.Helper()
	var got []byte
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case d, ok := <-c.Media().Digits():
			if !ok {
				p.t.Fatalf("the call ended after %d digits of the code", len(got))
			}
			got = append(got, d.Key)
		case <-deadline:
			p.t.Fatalf("heard %d digits of the code, want %d", len(got), n)
		}
	}
	return string(got)
}

// digitPrompts writes a prompt directory in which each spoken digit is
// that digit's DTMF tone, so that the softphone can hear the code mode's
// code.
func digitPrompts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	for d := byte('0'); d <= '9'; d++ {
		pcm, err := dtmf.AppendTones(nil, string(d), dtmf.ToneConfig{On: 120 * time.Millisecond, Off: 150 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := dtmf.WriteWAV(&b, pcm, dtmf.EncodingPCM16); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "en", "digit_"+string(d)+".wav"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// server is a running `sspr serve`.
type server struct {
	URL string
	cmd *exec.Cmd
	log *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// setup is what a test's servers share: the directory, the phone and the
// store's file.
type setup struct {
	t      *testing.T
	ldap   *dirtest.Server
	person *person
	db     string
}

func newSetup(t *testing.T) *setup {
	return &setup{t: t, ldap: dirtest.Slapd(t), person: newPerson(t), db: filepath.Join(t.TempDir(), "sspr.db")}
}

// config is the YAML configuration of a server with the given workflow
// (YAML, indented under portal.workflow) and extra ivr settings.
func (s *setup) config(workflow, ivr string) string {
	return `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  ring_timeout: 20s
  trunks:
    - name: lab
      address: sip:` + s.person.phone.Addr().String() + `
      keepalive: -1s
  media:
    bind_ip: 127.0.0.1
ivr:
` + ivr + `
directory:
  type: openldap
  urls: [` + s.ldap.LDAPSURL + `]
  ca_file: ` + s.ldap.CAFile + `
  bind_dn: ` + s.ldap.BindDN + `
  bind_password: ${SSPR_E2E_LDAP_PASSWORD}
  base_dn: ` + s.ldap.BaseDN + `
store:
  sqlite: ` + s.db + `
portal:
  listen: 127.0.0.1:0
  phone:
    countries: [GB, US, DE]
  questions:
    - {id: pet, text: "What was the name of your first pet?"}
    - {id: city, text: "In which city were you born?"}
    - {id: school, text: "What was the name of your first school?"}
    - {id: street, text: "On which street did you grow up?"}
  decoy_ring: 5s
  limits:
    # alice takes more calls in an hour than the default cap of 5 allows.
    calls_per_user: {n: 50, per: 1h}
    calls_per_number: {n: 50, per: 1h}
  workflow:
` + workflow
}

// serve starts `sspr serve` with config and stops it, by its PID, when
// the test ends.
func (s *setup) serve(config string) *server {
	t := s.t
	t.Helper()
	file := filepath.Join(t.TempDir(), "sspr.yaml")
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--config", file)
	cmd.Env = append(os.Environ(), "SSPR_E2E_LDAP_PASSWORD="+s.ldap.BindPassword)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{cmd: cmd, log: &lockedBuffer{}}
	cmd.Stderr = srv.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop(t) })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if _, u, ok := strings.Cut(line, "portal listening on "); ok {
				urls <- strings.TrimSpace(u)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case srv.URL = <-urls:
	case <-time.After(20 * time.Second):
		t.Fatalf("sspr serve did not start:\n%s", srv.log.String())
	}
	return srv
}

// stop ends the server with SIGTERM, then SIGKILL, by its PID.
func (srv *server) stop(t *testing.T) {
	if srv.cmd.Process == nil || srv.cmd.ProcessState != nil {
		return
	}
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = srv.cmd.Process.Kill()
		<-done
	}
	if t.Failed() {
		t.Logf("sspr serve's log:\n%s", tail(srv.log.String(), 60))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// binds reports whether user's password is password, by a bind to slapd.
func (s *setup) binds(user, password string) error {
	d, err := directory.NewLDAP(directory.Config{
		Type: directory.OpenLDAP, URLs: []string{s.ldap.LDAPSURL}, CAFile: s.ldap.CAFile,
		BindDN: s.ldap.BindDN, BindPassword: directory.Secret(s.ldap.BindPassword), BaseDN: s.ldap.BaseDN,
	}, nil, nil)
	if err != nil {
		return err
	}
	defer d.Close()
	_, err = d.Authenticate(context.Background(), user, password)
	return err
}

// visit checks the page a person sees now: a screenshot to look at, and
// axe-core finding no serious or critical problem.
func visit(t *testing.T, p *browsertest.Page, name string) {
	t.Helper()
	p.Screenshot(name)
	p.CheckAccessibility(t, name)
}

// clean fails the test if the page logged errors (a CSP violation, a
// script error, a missing file).
func clean(t *testing.T, p *browsertest.Page) {
	t.Helper()
	var errs []string
	for _, e := range p.Errors() {
		// A form shown again with its errors is a 422 by design; the
		// browser logs it as a failed load.
		if strings.Contains(e, "status of 422") {
			continue
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// preregister gives user a registration with number only, written to the
// store's file as a finished registration would have (set-up: the
// register journey itself is walked by alice).
func (s *setup) preregister(t *testing.T, user, number string) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutRegistration(t.Context(), store.Registration{Username: user, Phone: number}, time.Now()); err != nil {
		t.Fatal(err)
	}
}
