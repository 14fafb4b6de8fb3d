package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/portal/browsertest"
	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
)

// demoRun is `sspr demo` running in-process.
type demoRun struct {
	portal, phone, dir string
	stop               func()
	code               chan int
	stderr             *syncBuffer
}

var (
	demoPortalLine = regexp.MustCompile(`^\s+portal:\s+(http://\S+)/$`)
	demoPhoneLine  = regexp.MustCompile(`^\s+virtual phone:\s+(http://\S+/demo/phone)\b`)
	demoFilesLine  = regexp.MustCompile(`^\s+files:\s+(\S+) `)
	matchDigits    = regexp.MustCompile(`id="match">([0-9]+)<`)
)

// startDemo runs `sspr demo --http 127.0.0.1:0` and waits for its banner.
func startDemo(t *testing.T) *demoRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &demoRun{stop: cancel, code: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		d.code <- run(ctx, []string{"demo", "--http", "127.0.0.1:0", "--log-level", "info"}, strings.NewReader(""), pw, d.stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-d.code:
			d.code <- code
		case <-time.After(time.Minute):
			t.Error("sspr demo did not return")
		}
		if t.Failed() {
			t.Logf("sspr demo's log:\n%s", d.stderr)
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
	timeout := time.After(60 * time.Second)
	for d.portal == "" || d.phone == "" || d.dir == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("sspr demo ended before its banner; stderr:\n%s", d.stderr)
			}
			if m := demoPortalLine.FindStringSubmatch(l); m != nil {
				d.portal = m[1]
			} else if m := demoPhoneLine.FindStringSubmatch(l); m != nil {
				d.phone = m[1]
			} else if m := demoFilesLine.FindStringSubmatch(l); m != nil {
				d.dir = m[1]
			}
		case <-timeout:
			t.Fatalf("sspr demo printed no banner in 60 s; stderr:\n%s", d.stderr)
		}
	}
	return d
}

// wait stops the demo as a signal would and returns its exit status.
func (d *demoRun) wait(t *testing.T) int {
	t.Helper()
	d.stop()
	select {
	case code := <-d.code:
		d.code <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("sspr demo did not stop; stderr:\n%s", d.stderr)
	}
	return -1
}

// TestDemoStarts: the banner names a portal that serves, a phone page
// behind the portal's CSP, the users; the temporary directory goes away
// on exit.
func TestDemoStarts(t *testing.T) {
	d := startDemo(t)
	c := client(t)
	if code, body := get(t, c, d.portal+"/reset"); code != http.StatusOK || !strings.Contains(body, "Reset your password") {
		t.Fatalf("GET /reset: %d", code)
	}
	res, err := c.Get(d.phone)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="phone-state"`) ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET %s: %d, CSP %q", d.phone, res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	for _, f := range []struct {
		path string
		code int
	}{{"/demo/phone.js", 200}, {"/demo/phone.css", 200}, {"/demo/phone.html", 404}, {"/demo/nothing.js", 404}} {
		if code, _ := get(t, c, d.portal+f.path); code != f.code {
			t.Errorf("GET %s: %d, want %d", f.path, code, f.code)
		}
	}
	for _, f := range []string{"users.yaml", "sspr.db"} {
		if _, err := os.Stat(filepath.Join(d.dir, f)); err != nil {
			t.Errorf("the demo's %s: %v", f, err)
		}
	}
	if code := d.wait(t); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(d.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's directory %s is still there (%v)", d.dir, err)
	}
	if strings.Contains(d.stderr.String(), "Ada-Lovelace-1815") {
		t.Error("a password reached the log")
	}
}

// TestDemoSeed: the directory and the store hold the users the banner
// promises.
func TestDemoSeed(t *testing.T) {
	d := startDemo(t)
	dir, err := directory.OpenEmbedded(filepath.Join(d.dir, "users.yaml"), directory.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range demoUsers {
		got, err := dir.Find(t.Context(), u.name)
		if err != nil {
			t.Fatalf("%s: %v", u.name, err)
		}
		if got.Locked != u.locked {
			t.Errorf("%s: locked %v, want %v", u.name, got.Locked, u.locked)
		}
	}
}

// phonePage is the test's side of the phone page's WebSocket.
type phonePage struct {
	t      *testing.T
	conn   *websocket.Conn
	states chan string
	frames chan int
}

// openPhone connects to the phone page's WebSocket as the page does.
func openPhone(t *testing.T, phoneURL string) *phonePage {
	t.Helper()
	u := "ws" + strings.TrimPrefix(phoneURL, "http") + "/ws"
	conn, _, err := websocket.Dial(t.Context(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	p := &phonePage{t: t, conn: conn, states: make(chan string, 64), frames: make(chan int, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			typ, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				select {
				case p.frames <- len(data):
				default:
				}
				continue
			}
			var ev phoneEvent
			if json.Unmarshal(data, &ev) == nil && ev.Type == "state" {
				p.states <- ev.State
			}
		}
	}()
	t.Cleanup(func() {
		_ = conn.CloseNow()
		<-done
	})
	return p
}

// waitState waits for the phone to report state.
func (p *phonePage) waitState(state string) {
	p.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case s := <-p.states:
			if s == state {
				return
			}
		case <-timeout:
			p.t.Fatalf("the phone page never showed %q", state)
		}
	}
}

func (p *phonePage) send(cmd phoneCommand) {
	p.t.Helper()
	b, _ := json.Marshal(cmd)
	if err := p.conn.Write(p.t.Context(), websocket.MessageText, b); err != nil {
		p.t.Fatal(err)
	}
}

// startJourney posts a username to /reset or /unlock and returns the
// flow's path and the match digits it shows.
func startJourney(t *testing.T, c *http.Client, portal, kind, user string) (flow, digits string) {
	t.Helper()
	res, err := c.PostForm(portal+"/"+kind, url.Values{"username": {user}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	flow = res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(flow, "/flow/") {
		t.Fatalf("POST /%s: %d, Location %q", kind, res.StatusCode, flow)
	}
	_, body := get(t, c, portal+flow)
	m := matchDigits.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s shows no match digits", flow)
	}
	return flow, m[1]
}

// waitPage polls the flow's page until it holds want.
func waitPage(t *testing.T, c *http.Client, u, want string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := get(t, c, u)
		if strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never showed %q:\n%s", u, want, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDemoPhoneBridge: resets driven over HTTP, answered and keyed over
// the phone page's WebSocket, with each way of sending keys.
func TestDemoPhoneBridge(t *testing.T) {
	d := startDemo(t)
	ph := openPhone(t, d.phone)
	ph.waitState(phoneIdle)
	cases := []struct {
		method, password string
	}{
		{"rfc4733", "Bridge-Pass-4733"},
		{"inband", "Bridge-Pass-Tone"},
		{"info", "Bridge-Pass-Info"},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			c := client(t)
			flow, digits := startJourney(t, c, d.portal, "reset", "ada")
			ph.waitState(phoneRinging)
			ph.send(phoneCommand{Op: "answer"})
			ph.waitState(phoneConnected)
			// The prompt's audio reaches the page.
			select {
			case n := <-ph.frames:
				if n != 320 {
					t.Errorf("an audio frame of %d bytes, want 320 (20 ms of 8 kHz PCM16)", n)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no audio reached the page")
			}
			for _, k := range digits + "#" {
				ph.send(phoneCommand{Op: "key", Key: string(k), Method: tc.method})
			}
			waitPage(t, c, d.portal+flow, `name="password2"`)
			res, err := c.PostForm(d.portal+flow, url.Values{"action": {"password"}, "password": {tc.password}, "password2": {tc.password}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			waitPage(t, c, d.portal+flow, "Your password is changed")
			ph.waitState(phoneIdle)
		})
	}
	dir, err := directory.OpenEmbedded(filepath.Join(d.dir, "users.yaml"), directory.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Authenticate(t.Context(), "ada", cases[len(cases)-1].password); err != nil {
		t.Errorf("ada's new password: %v", err)
	}
}

// TestDemoPhoneCommands: what the page may ask of the phone, in each
// state.
func TestDemoPhoneCommands(t *testing.T) {
	v := &virtualPhone{clients: map[*phoneClient]struct{}{}}
	v.init()
	cases := []struct {
		name  string
		state string
		cmd   phoneCommand
		want  error
	}{
		{"answer idle", phoneIdle, phoneCommand{Op: "answer"}, errNotRinging},
		{"decline idle", phoneIdle, phoneCommand{Op: "decline"}, errNotRinging},
		{"key idle", phoneIdle, phoneCommand{Op: "key", Key: "1"}, errNoCall},
		{"hangup idle", phoneIdle, phoneCommand{Op: "hangup"}, errNoCall},
		{"answer ringing", phoneRinging, phoneCommand{Op: "answer"}, nil},
		{"key ringing", phoneRinging, phoneCommand{Op: "key", Key: "1"}, errNoCall},
		{"key", phoneConnected, phoneCommand{Op: "key", Key: "#"}, nil},
		{"key info", phoneConnected, phoneCommand{Op: "key", Key: "0", Method: "info"}, nil},
		{"key A", phoneConnected, phoneCommand{Op: "key", Key: "A"}, errBadKey},
		{"two keys", phoneConnected, phoneCommand{Op: "key", Key: "12"}, errBadKey},
		{"bad method", phoneConnected, phoneCommand{Op: "key", Key: "1", Method: "smoke"}, errBadMethod},
		{"unknown", phoneIdle, phoneCommand{Op: "dance"}, errBadCommand},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v.state, v.decide, v.keys = tc.state, make(chan bool, 1), make(chan keyPress, 1)
			if err := v.command(tc.cmd); !errors.Is(err, tc.want) {
				t.Fatalf("%+v in %s: %v, want %v", tc.cmd, tc.state, err, tc.want)
			}
		})
	}
}

// TestDemoBrowser is the acceptance test: in Chromium, a person
// resets ada's password with the virtual phone's page in a second tab
// (answering, keying the digits and #), then unlocks grace the same way.
func TestDemoBrowser(t *testing.T) {
	d := startDemo(t)
	b := browsertest.Start(t)
	phone := b.Page(t)
	phone.Go(d.phone)
	phone.WaitText("#phone-state", "Idle")
	portal := b.Page(t)

	journeys := []struct {
		user, kind, title, done string
	}{
		{"ada", "reset", "Reset your password", "Your password is changed"},
		{"grace", "unlock", "Unlock your account", "Your account is unlocked"},
	}
	for _, j := range journeys {
		portal.Go(d.portal + "/" + j.kind)
		portal.WaitText("h1", j.title)
		portal.Fill("#username", j.user)
		portal.Click(`button[type=submit]`)
		portal.WaitText("h1", "Confirm it is you")
		digits := portal.Text("#match")
		portal.Screenshot(j.kind + "-call")

		phone.WaitText("#phone-state", "Ringing")
		phone.Screenshot(j.kind + "-phone-ringing")
		phone.CheckAccessibility(t, j.kind+" phone ringing")
		phone.Click("#answer")
		phone.WaitText("#phone-state", "On a call")
		waitFrames(t, phone)
		for _, k := range digits + "#" {
			phone.Click(`.key[data-key="` + string(k) + `"]`)
		}
		phone.WaitText("#pressed", digits+"#")
		phone.Screenshot(j.kind + "-phone-keyed")
		phone.CheckAccessibility(t, j.kind+" phone on a call")

		if j.kind == "reset" {
			portal.WaitText("h1", "Choose a new password")
			portal.Fill("#password", "Browser-Pass-2026")
			portal.Fill("#password2", "Browser-Pass-2026")
			portal.Click(`#password-form button[type=submit]`)
		}
		portal.WaitText("h1", j.done)
		portal.Screenshot(j.kind + "-done")
		phone.WaitText("#phone-state", "Idle")
	}
	for _, p := range []*browsertest.Page{phone, portal} {
		if errs := p.Errors(); len(errs) > 0 {
			t.Errorf("a page reported errors:\n%s", strings.Join(errs, "\n"))
		}
	}

	dir, err := directory.OpenEmbedded(filepath.Join(d.dir, "users.yaml"), directory.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := dir.Find(t.Context(), "grace"); err != nil || u.Locked {
		t.Errorf("grace after the unlock: %+v, %v", u, err)
	}
	if _, err := dir.Authenticate(t.Context(), "ada", "Browser-Pass-2026"); err != nil {
		t.Errorf("ada's new password: %v", err)
	}
}

// waitFrames waits until the phone page has received audio over its
// WebSocket.
func waitFrames(t *testing.T, p *browsertest.Page) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _ := strconv.Atoi(p.Text("#frames"))
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the phone page received no audio")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDemoPhoneBusy: the virtual phone takes one call at a time; a
// second call while the first rings is refused with 486 Busy Here.
func TestDemoPhoneBusy(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	v, err := newVirtualPhone(log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- v.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ran
		_ = v.close()
	})
	<-v.ready()
	agent, stop, err := startAgent(t.Context(), sip.Config{
		Listen: []sip.Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks: []sip.Trunk{{Name: "demo", Address: "sip:" + v.addr().String(), KeepAlive: -1}},
		Media:  media.Config{BindIP: netip.MustParseAddr("127.0.0.1")},
	}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	first := make(chan error, 1)
	firstCtx, cancelFirst := context.WithCancel(t.Context())
	go func() {
		c, err := agent.Dial(firstCtx, "+442079460001", sip.DialOptions{RingTimeout: 20 * time.Second})
		if err == nil {
			_ = c.Hangup(context.Background())
		}
		first <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v.mu.Lock()
		st := v.state
		v.mu.Unlock()
		if st == phoneRinging {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first call never rang")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = agent.Dial(t.Context(), "+442079460002", sip.DialOptions{RingTimeout: 5 * time.Second})
	if got := sip.OutcomeOf(err); got != sip.Busy {
		t.Errorf("a second call while the first rings: %v (%s), want busy", err, got)
	}
	// Declined from the page, the first call is rejected and the phone
	// is idle again.
	if err := v.command(phoneCommand{Op: "decline"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-first:
		if got := sip.OutcomeOf(err); got != sip.Rejected && got != sip.Busy {
			t.Errorf("the declined call: %v (%s), want rejected", err, got)
		}
	case <-time.After(10 * time.Second):
		cancelFirst()
		t.Fatal("the declined call did not end")
	}
	cancelFirst()
}
