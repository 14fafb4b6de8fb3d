package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sspr-project/sspr/directory"
)

// serveYAML is a minimal configuration serving the portal: an embedded
// directory, SQLite, and a trunk that is never called (no user is
// registered), with the decoy call of an unregistered user kept short.
const serveYAML = `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  trunks:
    - name: test
      address: sip:127.0.0.1:9
      keepalive: -1s
  media:
    bind_ip: 127.0.0.1
directory:
  type: embedded
  file: {{users}}
store:
  sqlite: {{db}}
portal:
  listen: 127.0.0.1:0
  decoy_ring: 1s
`

// writeServeConfig writes the users file and serveYAML with extra
// appended, and returns the configuration file's path.
func writeServeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	cheap := directory.EmbeddedConfig{Argon2: directory.Argon2Params{Memory: 64, Time: 1, Threads: 1}}
	if err := directory.WriteEmbedded(users, []directory.EmbeddedUser{
		{Username: "alice", DisplayName: "Alice Example", Phones: []string{"+442079460958"}, Password: "Initial-Passw0rd"},
	}, cheap); err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("{{users}}", users, "{{db}}", filepath.Join(dir, "sspr.db")).Replace(serveYAML) + extra
	file := filepath.Join(dir, "sspr.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// served is a portal started in-process by `sspr serve`.
type served struct {
	portal, admin string // base URLs
	stop          func() // cancels run's context
	code          chan int
	stderr        *syncBuffer
}

var listeningLine = regexp.MustCompile(`^sspr: (portal|admin) listening on (https?://\S+)$`)

// startServe runs `sspr serve` with config and waits for its portal and
// admin listeners.
func startServe(t *testing.T, config string, extra ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{stop: cancel, code: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		args := append([]string{"serve", "--config", config, "--admin", "127.0.0.1:0"}, extra...)
		s.code <- run(ctx, args, strings.NewReader(""), pw, s.stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.code:
		case <-time.After(time.Minute):
			t.Error("sspr serve did not return")
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	timeout := time.After(30 * time.Second)
	for s.portal == "" || s.admin == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("sspr serve ended before listening; stderr:\n%s", s.stderr)
			}
			if m := listeningLine.FindStringSubmatch(l); m != nil {
				if m[1] == "portal" {
					s.portal = m[2]
				} else {
					s.admin = m[2]
				}
			}
		case <-timeout:
			t.Fatalf("sspr serve did not listen in 30 s; stderr:\n%s", s.stderr)
		}
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// wait cancels run's context, as a signal does, and returns its exit
// status.
func (s *served) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	s.stop()
	select {
	case code := <-s.code:
		s.code <- code // for the cleanup
		return code
	case <-time.After(within):
		t.Fatalf("sspr serve did not return within %v of the signal; stderr:\n%s", within, s.stderr)
	}
	return -1
}

// client has a cookie jar and does not follow redirects.
func client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestServe starts the portal in-process on port 0 and stops it as a
// signal would.
func TestServe(t *testing.T) {
	s := startServe(t, writeServeConfig(t, ""))
	c := client(t)
	if code, body := get(t, c, s.portal+"/"); code != http.StatusOK || !strings.Contains(body, "Password self-service") || !strings.Contains(body, `href="/reset"`) {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	if code, body := get(t, c, s.admin+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz: %d %q", code, body)
	}
	// A journey, so that the journeys counter has a series.
	if code, _ := get(t, c, s.portal+"/reset"); code != http.StatusOK {
		t.Fatalf("GET /reset: %d", code)
	}
	res, err := c.PostForm(s.portal+"/reset", url.Values{"username": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /reset: %d", res.StatusCode)
	}
	code, metrics := get(t, c, s.admin+"/metrics")
	for _, want := range []string{"sspr_portal_journeys_total", "go_goroutines", "sspr_sip_"} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Errorf("GET /metrics: %d, no %s", code, want)
		}
	}
	// An event stream open at the signal does not hold the shutdown up.
	flow := res.Header.Get("Location")
	streamCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(streamCtx, http.MethodGet, s.portal+flow+"/events", nil)
	stream, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s/events: %d %s", flow, stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	start := time.Now()
	if code := s.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, s.stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if _, err := http.Get(s.portal + "/"); err == nil {
		t.Error("the portal still answers after shutdown")
	}
	if strings.Contains(s.stderr.String(), "Initial-Passw0rd") {
		t.Error("a password reached the log")
	}
}

// TestServeReset: a reset started from the form lands on its flow page,
// bound to the browser that started it.
func TestServeReset(t *testing.T) {
	s := startServe(t, writeServeConfig(t, ""))
	c := client(t)
	for _, user := range []string{"alice", "nobody"} {
		res, err := c.PostForm(s.portal+"/reset", url.Values{"username": {user}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow/") {
			t.Fatalf("%s: POST /reset: %d, Location %q", user, res.StatusCode, loc)
		}
		if code, body := get(t, c, s.portal+loc); code != http.StatusOK {
			t.Fatalf("%s: GET %s: %d\n%s", user, loc, code, body)
		}
		// Another browser (no cookies) does not get the session.
		if code, _ := get(t, &http.Client{CheckRedirect: c.CheckRedirect}, s.portal+loc); code == http.StatusOK {
			t.Errorf("%s: GET %s from another browser: %d", user, loc, code)
		}
	}
	if code := s.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, s.stderr)
	}
}

// TestServeConfigErrors: a bad configuration stops serve before it
// starts, with an error naming the setting's path in the file.
func TestServeConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		extra string // appended to serveYAML, or replacing it when full
		full  string
		want  string
	}{
		{name: "store both", full: "store:\n  sqlite: a.db\n  postgres: postgres://x\n", want: "store.sqlite and store.postgres"},
		{name: "store env unset", full: "store:\n  postgres: ${SSPR_TEST_UNSET_DSN}\n", want: "store.postgres: environment variable SSPR_TEST_UNSET_DSN"},
		{name: "store unknown key", full: "store:\n  mysql: x\n", want: "field mysql not found"},
		{name: "workflow mode", extra: "  workflow:\n    reset:\n      - gate: phone\n      - gate: questions\n        mode: match\n", want: "portal.workflow.reset[1].mode:"},
		{name: "workflow gate", extra: "  workflow:\n    unlock:\n      - gate: pin\n", want: "portal.workflow.unlock[0].gate:"},
		{name: "unknown field", extra: "  listn: 127.0.0.1:1\n", want: "field listn not found"},
		{name: "proxy", extra: "  trusted_proxies: [10.0.0.0/8, not-a-cidr]\n", want: "portal.trusted_proxies[1]"},
		{name: "tls half", extra: "  tls_cert: cert.pem\n", want: "portal.tls_cert and portal.tls_key"},
		{name: "secret env unset", extra: "  secret: ${SSPR_TEST_UNSET_SECRET}\n", want: "portal.secret: environment variable SSPR_TEST_UNSET_SECRET"},
		{name: "phone country", extra: "  phone:\n    countries: [GB, XX]\n", want: "portal.phone:"},
		{name: "duration", extra: "  session_ttl: ten minutes\n", want: "line 20: cannot unmarshal !!str `ten min...` into time.Duration"},
		{name: "messages", extra: "  messages: /nonexistent/sspr-messages\n", want: "portal.messages:"},
		{name: "no trunk", full: "directory:\n  type: embedded\n  file: x\n", want: "sip.trunks: at least one trunk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeServeConfig(t, tc.extra)
			if tc.full != "" {
				if err := os.WriteFile(file, []byte(tc.full), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, code := runSSPR(t, nil, "serve", "--config", file)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(stdout, "listening") {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, stderr, tc.want)
			}
		})
	}
	// Usage errors.
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--config", "x.yaml", "extra"},
		{"serve", "--config", "x.yaml", "--log-format", "xml"},
		{"serve", "--config", "x.yaml", "--drain-timeout", "0s"},
	} {
		if _, stderr, code := runSSPR(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
