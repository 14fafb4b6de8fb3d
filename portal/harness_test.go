package portal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// fakeDir is a directory in memory. Unit tests only: the acceptance tests
// run the portal against slapd.
type fakeDir struct {
	mu        sync.Mutex
	passwords map[string]string
	locked    map[string]bool
	// history holds passwords the policy refuses as used before.
	history map[string]bool
	// down makes every call fail as unavailable.
	down bool
	// unlockHold, when set, holds Unlock until it is closed.
	unlockHold chan struct{}
	sets       int
}

func newFakeDir() *fakeDir {
	return &fakeDir{
		passwords: map[string]string{"alice": "alice-old-pw", "bob": "bob-old-pw", "carol": "carol-old-pw"},
		locked:    map[string]bool{},
		history:   map[string]bool{"Used-Before-1": true},
	}
}

func (d *fakeDir) Authenticate(_ context.Context, user, pw string) (*directory.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, directory.ErrUnavailable
	}
	if p, ok := d.passwords[user]; !ok || p != pw {
		return nil, &directory.AuthError{Reason: directory.BadCredentials}
	}
	return &directory.User{Username: user, DN: "uid=" + user}, nil
}

func (d *fakeDir) SetPassword(_ context.Context, user, pw string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return directory.ErrUnavailable
	}
	if _, ok := d.passwords[user]; !ok {
		return directory.ErrNotFound
	}
	if d.history[pw] {
		return &directory.PolicyError{Reason: directory.InHistory}
	}
	d.passwords[user] = pw
	d.sets++
	return nil
}

func (d *fakeDir) Unlock(_ context.Context, user string) (bool, error) {
	d.mu.Lock()
	hold := d.unlockHold
	d.mu.Unlock()
	if hold != nil {
		<-hold
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return false, directory.ErrUnavailable
	}
	was := d.locked[user]
	d.locked[user] = false
	return was, nil
}

func (d *fakeDir) password(user string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passwords[user]
}

// fakeVerifier plays a call: dialing, ringing, answered, then it waits
// for the test to say what the person keys (press), and judges the entry
// as ivr would. Unit tests only: the acceptance tests place real calls.
type fakeVerifier struct {
	mu    sync.Mutex
	calls []ivr.Request
	// keys receives, per call, what the person does: digits ending in #,
	// "0" (fraud), or a dial result word ("busy", "no-answer").
	keys chan string
	// codes receives the code spoken in code mode.
	codes chan string
	// ring, if set before the call, holds each call between dialing and
	// ringing until it receives.
	ring chan struct{}
	// answered, if set, holds each answered call before its key until it
	// receives.
	answered chan struct{}
}

func newFakeVerifier() *fakeVerifier {
	return &fakeVerifier{keys: make(chan string, 16), codes: make(chan string, 16)}
}

func (f *fakeVerifier) Verify(ctx context.Context, req ivr.Request, progress func(ivr.Event)) Verification {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	n := len(f.calls)
	f.mu.Unlock()
	id := "call-" + strconv.Itoa(n)
	end := func(r ivr.Result) Verification {
		progress(ivr.Event{Kind: ivr.Finished, Result: r})
		return Verification{Outcome: ivr.Outcome{Result: r}, CallID: id}
	}
	progress(ivr.Event{Kind: ivr.Dialing})
	if f.ring != nil {
		select {
		case <-f.ring:
		case <-ctx.Done():
			return end(ivr.Failed)
		}
	}
	progress(ivr.Event{Kind: ivr.Ringing})
	var k string
	select {
	case k = <-f.keys:
	case <-ctx.Done():
		return end(ivr.Failed)
	}
	switch k {
	case "busy":
		return end(ivr.Busy)
	case "no-answer":
		return end(ivr.NoAnswer)
	}
	progress(ivr.Event{Kind: ivr.Answered})
	if f.answered != nil {
		select {
		case <-f.answered:
		case <-ctx.Done():
			return end(ivr.Failed)
		}
	}
	progress(ivr.Event{Kind: ivr.KeyReceived, At: time.Now()})
	entry := strings.TrimSuffix(k, "#")
	switch {
	case k == "0":
		return end(ivr.FraudReported)
	case req.Mode == ivr.ModeMatch && entry == req.Match:
		return end(ivr.Confirmed)
	case req.Mode == ivr.ModeConfirm && k == "#":
		return end(ivr.Confirmed)
	case req.Mode == ivr.ModePIN && req.CheckPIN != nil && req.CheckPIN(entry):
		return end(ivr.Confirmed)
	case req.Mode == ivr.ModeCode && k == "#":
		f.codes <- req.Code
		return end(ivr.CodeDelivered)
	}
	return end(ivr.WrongInput)
}

// placed returns the requests of the calls placed so far.
func (f *fakeVerifier) placed() []ivr.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ivr.Request(nil), f.calls...)
}

// env is a portal on httptest with fakes and a real SQLite store.
type env struct {
	t   *testing.T
	s   *Server
	srv *httptest.Server
	st  store.Store
	dir *fakeDir
	ver *fakeVerifier
	// onPage, if set, sees every page a browser gets.
	onPage func(*browser)
}

// testConfig is a workflow with every kind of gate, cheap hashes and a
// short decoy ring.
func testConfig() Config {
	return Config{
		Phone:     phone.Policy{Countries: []string{"GB", "US", "DE"}},
		Questions: []Question{{"pet", "Name of your first pet?"}, {"city", "City you were born in?"}, {"school", "Your first school?"}, {"street", "The street you grew up on?"}},
		Argon2:    Argon2{Memory: 1024, Time: 1, Threads: 1},
		DecoyRing: 200 * time.Millisecond,
	}
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// clock is a controllable clock for Deps.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newEnvWith is newEnv with deps changed by set (a clock, a logger, a
// registry) before the portal is made; the store, directory and verifier
// are the env's.
func newEnvWith(t *testing.T, cfg Config, set func(*Deps)) *env {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "sspr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, st: st, dir: newFakeDir(), ver: newFakeVerifier()}
	deps := Deps{Store: st, Directory: e.dir, Verifier: e.ver}
	if set != nil {
		set(&deps)
	}
	e.serve(cfg, deps)
	return e
}

// serve starts e's Server with cfg and deps on an httptest server, both
// closed when the test ends.
func (e *env) serve(cfg Config, deps Deps) {
	e.t.Helper()
	var err error
	if e.s, err = New(cfg, deps); err != nil {
		e.t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.s.Handler())
	e.t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		_ = e.s.Close()
	})
}

// register stores a registration directly, as a finished registration
// would have.
func (e *env) register(user, number, pin string, answers map[string]string) {
	e.t.Helper()
	r := store.Registration{Username: user, Phone: number, Answers: map[string]string{}}
	if pin != "" {
		h, err := e.s.hash.hash(pin)
		if err != nil {
			e.t.Fatal(err)
		}
		r.PINHash = h
	}
	for id, a := range answers {
		h, err := e.s.hash.hash(normaliseAnswer(a))
		if err != nil {
			e.t.Fatal(err)
		}
		r.Answers[id] = h
	}
	if err := e.st.PutRegistration(e.t.Context(), r, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// browser is one browser: its own cookies.
type browser struct {
	e *env
	c *http.Client
	// url is the last page's URL, body its HTML, status its status.
	url    string
	body   string
	status int
	// hdr is sent with every request (X-Forwarded-For...).
	hdr http.Header
	// header is the last response's header.
	header http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (b *browser) do(req *http.Request) {
	b.e.t.Helper()
	for k, v := range b.hdr {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	b.url, b.body, b.status, b.header = res.Request.URL.Path, string(body), res.StatusCode, res.Header
	if b.e.onPage != nil {
		b.e.onPage(b)
	}
}

func (b *browser) get(path string) *browser {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	b.do(req)
	return b
}

// post posts a form to path ("" is the current page) as the page's own
// form would (same origin).
func (b *browser) post(path string, kv ...string) *browser {
	b.e.t.Helper()
	if path == "" {
		path = b.url
	}
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	b.do(req)
	return b
}

// must fails the test unless the page contains every text.
func (b *browser) must(texts ...string) *browser {
	b.e.t.Helper()
	for _, s := range texts {
		if !strings.Contains(b.body, s) {
			b.e.t.Fatalf("page %s (%d) lacks %q:\n%s", b.url, b.status, s, mainOf(b.body))
		}
	}
	return b
}

// mustNot fails the test if the page contains any of texts.
func (b *browser) mustNot(texts ...string) *browser {
	b.e.t.Helper()
	for _, s := range texts {
		if strings.Contains(b.body, s) {
			b.e.t.Fatalf("page %s has %q:\n%s", b.url, s, mainOf(b.body))
		}
	}
	return b
}

var mainRE = regexp.MustCompile(`(?s)<main[^>]*>(.*)</main>`)

func mainOf(html string) string {
	if m := mainRE.FindStringSubmatch(html); m != nil {
		return m[1]
	}
	return html
}

var matchRE = regexp.MustCompile(`id="match">(\d+)<`)

// match returns the digits the phone gate page shows.
func (b *browser) match() string {
	b.e.t.Helper()
	m := matchRE.FindStringSubmatch(b.body)
	if m == nil {
		b.e.t.Fatalf("no match digits on %s:\n%s", b.url, mainOf(b.body))
	}
	return m[1]
}

// waitFor reloads the page until it contains text (the page without
// JavaScript refreshes itself the same way).
func (b *browser) waitFor(text string) *browser {
	b.e.t.Helper()
	for range 200 {
		b.get(b.url)
		if strings.Contains(b.body, text) {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.e.t.Fatalf("page %s never showed %q:\n%s", b.url, text, mainOf(b.body))
	return b
}

// press says what the person on the phone keys in the next call.
func (e *env) press(keys string) { e.ver.keys <- keys }

// t returns an English message.
func (e *env) msg(key string, args ...string) string {
	return htmlEscape(e.s.cat.T("en", key, args...))
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")
	return r.Replace(s)
}

// audit returns the audit log's events for user, as "event:outcome".
func (e *env) audit(user string) []string {
	e.t.Helper()
	recs, err := e.st.List(e.t.Context(), store.Filter{User: user})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Event+":"+r.Outcome)
	}
	return out
}

var errAny = errors.New("any")

// gates is a workflow config shorthand.
func gates(gs ...workflow.Gate) []workflow.Gate { return gs }
