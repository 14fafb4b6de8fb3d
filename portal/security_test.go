package portal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/i18n"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/web"
	"github.com/sspr-project/sspr/portal/workflow"
)

// ---- helpers ----

// noRedirect is a browser of its own that does not follow redirects, to
// look at the first answer of a POST.
func (e *env) noRedirect() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send sends a request with c and returns the response and its body.
func (e *env) send(c *http.Client, method, path string, hdr http.Header, kv ...string) (*http.Response, string) {
	e.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, string(b)
}

// events opens the session's event stream with the browser's cookies. It
// returns the status code, and for a stream the events as they come; the
// channel is closed when the stream ends.
func (b *browser) events(id string) (int, <-chan status) {
	b.e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.e.srv.URL+"/flow/"+id+"/events", nil)
	c := &http.Client{Jar: b.c.Jar}
	res, err := c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	ch := make(chan status, 64)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		b.body = string(body)
		close(ch)
		return res.StatusCode, ch
	}
	go func() {
		defer close(ch)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var s status
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				b.e.t.Errorf("event %q: %v", line, err)
				return
			}
			ch <- s
		}
	}()
	return res.StatusCode, ch
}

// next returns the next event, or false if the stream ended; it fails the
// test after d.
func next(t *testing.T, ch <-chan status, d time.Duration) (status, bool) {
	t.Helper()
	select {
	case s, ok := <-ch:
		return s, ok
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return status{}, false
}

// sessionID is the ID of the session whose page the browser shows.
func (b *browser) sessionID() string {
	b.e.t.Helper()
	id, ok := strings.CutPrefix(b.url, "/flow/")
	if !ok {
		b.e.t.Fatalf("not a session page: %s", b.url)
	}
	return id
}

var sessionURLRE = regexp.MustCompile(`/flow/[A-Za-z0-9_-]{16,64}`)

// normalise replaces what differs between two sessions on the same page:
// the session's ID and the match digits.
func normalise(s string) string {
	s = sessionURLRE.ReplaceAllString(s, "/flow/ID")
	return matchRE.ReplaceAllString(s, `id="match">NN<`)
}

// cookieShape is the names and attributes of the cookies a response sets,
// without their values.
func cookieShape(res *http.Response) []string {
	var out []string
	for _, c := range res.Cookies() {
		out = append(out, fmt.Sprintf("%s path=%s domain=%s maxage=%d httponly=%v secure=%v samesite=%v len=%d",
			c.Name, c.Path, c.Domain, c.MaxAge, c.HttpOnly, c.Secure, c.SameSite, len(c.Value)))
	}
	sort.Strings(out)
	return out
}

// headerShape is a response's headers but Date, normalised.
func headerShape(res *http.Response) string {
	var out []string
	for k, vs := range res.Header {
		if k == "Date" || k == "Set-Cookie" {
			continue
		}
		for _, v := range vs {
			out = append(out, k+": "+normalise(v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// highLimits are limits no test reaches by accident.
func highLimits() Limits {
	r := Rate{N: 100000, Per: time.Hour}
	return Limits{CallsPerUser: r, CallsPerNumber: r, CallsPerClient: r, CallsPerMinute: 100000, StartsPerClient: r, SignInsPerUser: r}
}

// counter returns the value of the counter name with the label, from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}

// syncBuffer is a buffer safe for the portal's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// ---- 1. no enumeration ----

// TestNoEnumeration: an unknown username, one in the directory but not
// registered and a registered one get the same answer to the start of a
// reset or an unlock (status, cookies, headers, page, first events), a
// call goes to the registered one only, and the server takes the same
// time. Registration's sign-in answers an unknown user and a wrong
// password alike.
func TestNoEnumeration(t *testing.T) {
	cfg := testConfig()
	cfg.Limits = highLimits()
	e := newEnv(t, cfg)
	e.register("alice", "+447700900123", "", nil)
	e.ver.ring = make(chan struct{})
	users := []struct {
		name       string
		registered bool
	}{{"zed-unknown", false}, {"bob", false}, {"alice", true}}

	type answer struct {
		status, pageStatus int
		location, headers  string
		cookies            []string
		page               string
		events             []status
	}
	for _, kind := range []string{"reset", "unlock"} {
		var first *answer
		for _, u := range users {
			c := e.noRedirect()
			res, _ := e.send(c, http.MethodPost, "/"+kind, nil, "username", u.name)
			a := &answer{status: res.StatusCode, location: normalise(res.Header.Get("Location")), headers: headerShape(res), cookies: cookieShape(res)}
			loc := res.Header.Get("Location")
			res, body := e.send(c, http.MethodGet, loc, nil)
			a.pageStatus, a.page = res.StatusCode, normalise(body)
			b := &browser{e: e, c: c}
			code, ch := b.events(strings.TrimPrefix(loc, "/flow/"))
			if code != http.StatusOK {
				t.Fatalf("%s %s: events: %d", kind, u.name, code)
			}
			s, _ := next(t, ch, 5*time.Second)
			a.events = append(a.events, s)
			if u.registered {
				e.ver.ring <- struct{}{} // the callee's phone rings
			}
			s, _ = next(t, ch, 5*time.Second)
			a.events = append(a.events, s)
			if a.status != http.StatusSeeOther || a.pageStatus != http.StatusOK || !strings.Contains(a.page, e.msg("phone.status.dialing")) {
				t.Fatalf("%s %s: %d then %d:\n%s", kind, u.name, a.status, a.pageStatus, mainOf(a.page))
			}
			if len(a.cookies) != 1 || !strings.HasPrefix(a.cookies[0], browserCookie+" ") {
				t.Fatalf("%s %s: cookies %v", kind, u.name, a.cookies)
			}
			if a.events[0].Text != e.s.cat.T("en", "phone.status.dialing") || a.events[1].Text != e.s.cat.T("en", "phone.status.ringing") {
				t.Fatalf("%s %s: events %+v", kind, u.name, a.events)
			}
			if first == nil {
				first = a
				continue
			}
			switch {
			case a.status != first.status || a.pageStatus != first.pageStatus:
				t.Errorf("%s %s: status %d/%d, %s: %d/%d", kind, u.name, a.status, a.pageStatus, users[0].name, first.status, first.pageStatus)
			case a.location != first.location:
				t.Errorf("%s %s: Location %q, %s: %q", kind, u.name, a.location, users[0].name, first.location)
			case a.headers != first.headers:
				t.Errorf("%s %s: headers\n%s\n%s:\n%s", kind, u.name, a.headers, users[0].name, first.headers)
			case !slices.Equal(a.cookies, first.cookies):
				t.Errorf("%s %s: cookies %v, %s: %v", kind, u.name, a.cookies, users[0].name, first.cookies)
			case a.page != first.page:
				t.Errorf("%s %s: page\n%s\n%s:\n%s", kind, u.name, mainOf(a.page), users[0].name, mainOf(first.page))
			case !slices.Equal(a.events, first.events):
				t.Errorf("%s %s: events %+v, %s: %+v", kind, u.name, a.events, users[0].name, first.events)
			}
		}
	}
	calls := e.ver.placed()
	if len(calls) != 2 {
		t.Fatalf("%d calls placed, want 2 (alice's reset and unlock)", len(calls))
	}
	for _, c := range calls {
		if c.Number != "+447700900123" {
			t.Fatalf("a call went to %q", c.Number)
		}
	}

	// Registration's sign-in: an unknown user and a wrong password.
	signIn := func(user, pw string) (int, string) {
		res, body := e.send(e.noRedirect(), http.MethodPost, "/register", nil, "username", user, "password", pw)
		return res.StatusCode, strings.ReplaceAll(body, `value="`+user+`"`, `value="USER"`)
	}
	s1, b1 := signIn("zed-unknown", "whatever-pw")
	s2, b2 := signIn("carol", "wrong-pw")
	if s1 != s2 || b1 != b2 || !strings.Contains(b1, e.msg("signin.failed")) {
		t.Errorf("sign-in: unknown user %d, wrong password %d:\n%s\n----\n%s", s1, s2, mainOf(b1), mainOf(b2))
	}

	// Timing: the POST /reset handler, called directly (no network), 30
	// times for each kind of username, interleaved in a random order,
	// after a warm-up.
	h := e.s.Handler()
	cookie := randomToken(32)
	run := func(user string) time.Duration {
		req := httptest.NewRequest(http.MethodPost, "/reset", strings.NewReader("username="+user))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(&http.Cookie{Name: browserCookie, Value: cookie})
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("POST /reset %s: %d", user, rec.Code)
		}
		return d
	}
	for range 5 {
		for _, u := range users {
			run(u.name)
		}
	}
	// measure returns the medians of 40 interleaved runs per kind.
	measure := func() []time.Duration {
		took := make([][]time.Duration, len(users))
		for range 40 {
			for _, i := range rand.Perm(len(users)) {
				took[i] = append(took[i], run(users[i].name))
			}
		}
		var meds []time.Duration
		for i, u := range users {
			meds = append(meds, median(took[i]))
			t.Logf("POST /reset %-12s median %v (min %v, max %v)", u.name, meds[i], slices.Min(took[i]), slices.Max(took[i]))
		}
		return meds
	}
	// The bound, from measurements on a 2-CPU machine: the handler's
	// medians are 12 to 18 ms under -race (SQLite writes dominate), 0.7
	// to 1 ms without; the medians of 40 interleaved runs of the very
	// same work (the unknown and the unregistered username) differ by up
	// to about 25% when other tests run alongside. 30% or 3 ms, whichever
	// is larger, stays clear of that noise while a leak of the size that
	// matters (a directory lookup, an argon2 hash at production cost, a
	// call placed before answering: tens of milliseconds to seconds)
	// fails. A burst of load from other packages' tests can still push
	// one measurement over, so the test measures up to three times and
	// fails only when every one is over: a real leak is there every time.
	var meds []time.Duration
	for try := range 3 {
		meds = measure()
		lo, hi := slices.Min(meds), slices.Max(meds)
		bound := max(3*time.Millisecond, lo*3/10)
		if hi-lo <= bound {
			return
		}
		t.Logf("measurement %d: medians differ by %v (> %v)", try+1, hi-lo, bound)
	}
	t.Errorf("POST /reset medians differ beyond the bound in three measurements; the last: %v", meds)
}

// ---- 2. the decoy ----

// TestDecoyCountsTheSameCaps: for a username without a registration no
// call is placed; the page shows a call that rings for DecoyRing and ends
// unanswered, and the caps count it as they count a real call: the same
// pages and the same audit records as a registered user whose phone is
// not answered.
func TestDecoyCountsTheSameCaps(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.CallsPerUser = Rate{N: 1, Per: time.Hour}
	e := newEnv(t, cfg)
	e.register("alice", "+447700900123", "", nil)
	e.ver.ring = make(chan struct{}) // alice's phone rings when the test says
	pages := map[string][]string{}
	for _, u := range []string{"alice", "bob"} {
		b := e.browser()
		start := time.Now()
		b.post("/reset", "username", u).must(e.msg("phone.match.instructions"))
		pages[u] = append(pages[u], normalise(b.body))
		if u == "alice" {
			e.ver.ring <- struct{}{}
			e.press("no-answer")
		}
		b.waitFor(e.msg("phone.result.no-answer")).must(e.msg("phone.call_again"))
		if took := time.Since(start); u == "bob" && took < cfg.DecoyRing {
			t.Fatalf("the decoy ended after %v, before DecoyRing %v", took, cfg.DecoyRing)
		}
		pages[u] = append(pages[u], normalise(b.body))
		b.post("", "action", "call-again").must(e.msg("limit.calls")).mustNot(e.msg("phone.call_again"))
		pages[u] = append(pages[u], normalise(b.body))
	}
	for i := range pages["alice"] {
		if pages["alice"][i] != pages["bob"][i] {
			t.Errorf("page %d differs:\nalice:\n%s\nbob:\n%s", i, mainOf(pages["alice"][i]), mainOf(pages["bob"][i]))
		}
	}
	if n := len(e.ver.placed()); n != 1 {
		t.Fatalf("%d calls placed, want 1 (alice's)", n)
	}
	if err := e.s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ra, rb := e.audit("alice"), e.audit("bob")
	slices.Sort(ra)
	slices.Sort(rb)
	if !slices.Equal(ra, rb) || !slices.Contains(ra, "call.refused:call_user") {
		t.Errorf("audit of alice %v, of bob %v", ra, rb)
	}
}

// ---- 3. reset-process lockout ----

// TestResetProcessLockout: three failures lock the reset process of that
// user for 15 minutes (and no one else's); the third lockout is permanent
// until an operator clears it; the directory account is never locked.
func TestResetProcessLockout(t *testing.T) {
	cfg := testConfig()
	cfg.Limits = highLimits()
	cfg.Workflow.Register = gates(workflow.Gate{Kind: workflow.Password}, workflow.Gate{Kind: workflow.Phone}, workflow.Gate{Kind: workflow.Questions})
	cfg.Workflow.Unlock = gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeConfirm}, workflow.Gate{Kind: workflow.Questions, Asked: 2})
	clk := newClock()
	e := newEnvWith(t, cfg, func(d *Deps) { d.Now = clk.now })
	e.register("alice", "+447700900123", "", map[string]string{"pet": "Rex", "city": "Paris", "school": "Hill", "street": "Main"})
	notLocked := func(users ...string) {
		t.Helper()
		for _, u := range users {
			b := e.browser().post("/reset", "username", u).must(e.msg("phone.match.instructions")).mustNot(e.msg("limit.locked"), e.msg("limit.locked_permanent"))
			if u == "alice" { // a call rings: let it go unanswered
				e.press("no-answer")
				b.waitFor(e.msg("phone.result.no-answer"))
			}
		}
	}
	locked := func(key string) {
		t.Helper()
		for _, kind := range []string{"/reset", "/unlock"} {
			e.browser().post(kind, "username", "alice").must(e.msg(key)).mustNot(`id="phone-gate"`, e.msg("questions.title"))
		}
		notLocked("bob", "zed-unknown")
	}

	// Lockout 1: three calls keyed wrong, over two sessions (a gate
	// allows two calls).
	b := e.browser()
	b.post("/reset", "username", "alice")
	e.press("999#") // never the two match digits
	b.waitFor(e.msg("phone.call_again")).must(e.msg("phone.result.wrong-input"))
	b.post("", "action", "call-again")
	e.press("999#") // never the two match digits
	b.waitFor(e.msg("common.start_again")).mustNot(e.msg("phone.call_again"))
	if lo, _ := e.st.Lockout(t.Context(), "alice"); lo.Locked(clk.now()) || lo.Failures != 2 {
		t.Fatalf("after 2 failures: %+v", lo)
	}
	b = e.browser()
	b.post("/reset", "username", "alice")
	e.press("999#") // never the two match digits
	b.waitFor(e.msg("common.start_again"))
	lo, err := e.st.Lockout(t.Context(), "alice")
	if err != nil || !lo.Locked(clk.now()) || lo.Lockouts != 1 || lo.Permanent {
		t.Fatalf("after 3 failures: %+v, %v", lo, err)
	}
	calls := len(e.ver.placed())
	locked("limit.locked")
	if n := len(e.ver.placed()); n != calls {
		t.Fatalf("%d calls placed while alice is locked", n-calls)
	}
	clk.add(14 * time.Minute)
	locked("limit.locked")
	clk.add(2 * time.Minute)
	notLocked("alice")

	// Lockouts 2 and 3: security questions answered wrong.
	failQuestions := func() {
		t.Helper()
		for range 3 {
			b := e.browser()
			b.post("/unlock", "username", "alice")
			e.press("#")
			b.waitFor(e.msg("questions.title"))
			b.post("", "action", "questions", "answer0", "wrong answer", "answer1", "wrong too").must(e.msg("questions.wrong"))
		}
	}
	failQuestions()
	locked("limit.locked")
	clk.add(16 * time.Minute)
	notLocked("alice")
	failQuestions()
	locked("limit.locked_permanent")
	clk.add(30 * 24 * time.Hour)
	locked("limit.locked_permanent")

	if err := e.st.ClearLockout(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	notLocked("alice")

	e.dir.mu.Lock()
	touched := len(e.dir.locked)
	e.dir.mu.Unlock()
	if touched != 0 {
		t.Fatalf("the directory account was touched: %v", e.dir.locked)
	}
	count := map[string]int{}
	for _, a := range e.audit("alice") {
		count[a]++
	}
	if count["lockout:temporary-failures"] != 2 || count["lockout:permanent-failures"] != 1 ||
		count["reset.start:locked"] == 0 || count["unlock.start:locked"] == 0 {
		t.Fatalf("audit: %v", count)
	}
	for _, a := range e.audit("bob") {
		if strings.HasPrefix(a, "lockout:") {
			t.Fatalf("bob has a lockout record: %s", a)
		}
	}
}

// ---- 4. call caps ----

// TestCallCaps: each cap refuses the call that goes beyond it: the page
// says so, no call is placed, the refusal is audited with the cap's name
// and counted. X-Forwarded-For names the client only behind a trusted
// proxy.
func TestCallCaps(t *testing.T) {
	type start struct{ user, xff string }
	one := Rate{N: 1, Per: time.Hour}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		limits  func(*Limits)
		proxies []netip.Prefix
		starts  []start
		refused string // the cap that refuses the last start; "" none
	}{
		{"per user", func(l *Limits) { l.CallsPerUser = one }, nil, []start{{"alice", ""}, {"alice", ""}}, "call_user"},
		{"per number", func(l *Limits) { l.CallsPerNumber = one }, nil, []start{{"alice", ""}, {"carol", ""}}, "call_number"},
		{"per client", func(l *Limits) { l.CallsPerClient = one }, nil, []start{{"alice", ""}, {"dave", ""}}, "call_client"},
		{"per client counts decoys", func(l *Limits) { l.CallsPerClient = one }, nil, []start{{"bob", ""}, {"dave", ""}}, "call_client"},
		{"X-Forwarded-For not believed", func(l *Limits) { l.CallsPerClient = one }, nil,
			[]start{{"alice", "198.51.100.1"}, {"dave", "198.51.100.2"}}, "call_client"},
		{"X-Forwarded-For from a trusted proxy", func(l *Limits) { l.CallsPerClient = one }, loopback,
			[]start{{"alice", "198.51.100.1"}, {"dave", "198.51.100.2"}}, ""},
		{"per client behind a trusted proxy", func(l *Limits) { l.CallsPerClient = one }, loopback,
			[]start{{"alice", "198.51.100.1"}, {"dave", "198.51.100.1"}}, "call_client"},
		{"global per minute", func(l *Limits) { l.CallsPerMinute = 2 }, loopback,
			[]start{{"alice", "198.51.100.1"}, {"bob", "198.51.100.2"}, {"dave", "198.51.100.3"}}, "call_global"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.limits(&cfg.Limits)
			cfg.Web.TrustedProxies = tt.proxies
			reg := prometheus.NewRegistry()
			e := newEnvWith(t, cfg, func(d *Deps) { d.Registerer = reg })
			e.register("alice", "+447700900123", "", nil)
			e.register("carol", "+447700900123", "", nil)
			e.register("dave", "+447700900999", "", nil)
			placed := 0
			for i, s := range tt.starts {
				b := e.browser()
				if s.xff != "" {
					b.hdr = http.Header{"X-Forwarded-For": {s.xff}}
				}
				b.post("/reset", "username", s.user).must(e.msg("phone.title"), e.msg("phone.not_registered"))
				if i == len(tt.starts)-1 && tt.refused != "" {
					b.must(e.msg("limit.calls")).mustNot(`id="match"`, `id="next"`)
					continue
				}
				b.mustNot(e.msg("limit.calls"))
				if s.user != "bob" {
					placed++
				}
			}
			if n := len(e.ver.placed()); n != placed {
				t.Fatalf("%d calls placed, want %d", n, placed)
			}
			last := tt.starts[len(tt.starts)-1]
			audit := e.audit(last.user)
			for _, name := range limitNames[2:] {
				want := 0.0
				if name == tt.refused {
					want = 1
				}
				if got := counter(t, reg, "sspr_portal_limit_refusals_total", "limit", name); got != want {
					t.Errorf("refusals{limit=%s} = %v, want %v", name, got, want)
				}
				if has := slices.Contains(audit, "call.refused:"+name); has != (want == 1) {
					t.Errorf("audit of %s = %v (refused by %q)", last.user, audit, tt.refused)
				}
			}
			// The audit names the client the caps counted.
			recs, err := e.st.List(t.Context(), store.Filter{User: last.user, Event: "reset.start"})
			if err != nil || len(recs) == 0 {
				t.Fatal(recs, err)
			}
			want := "127.0.0.1"
			if tt.proxies != nil {
				want = last.xff
			}
			if got := recs[len(recs)-1].ClientAddr; got != want {
				t.Errorf("client address %q, want %q", got, want)
			}
		})
	}
}

// TestStartsPerClient: a client that starts too many resets gets 429 with
// Retry-After, audited and counted.
func TestStartsPerClient(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.StartsPerClient = Rate{N: 2, Per: time.Minute}
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, cfg, func(d *Deps) { d.Registerer = reg })
	for i, u := range []string{"zed", "yan", "xia"} {
		res, body := e.send(e.noRedirect(), http.MethodPost, "/reset", nil, "username", u)
		if i < 2 {
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("start %d: %d", i, res.StatusCode)
			}
			continue
		}
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "60" || !strings.Contains(body, e.msg("limit.rate")) {
			t.Fatalf("start %d: %d, Retry-After %q:\n%s", i, res.StatusCode, res.Header.Get("Retry-After"), mainOf(body))
		}
		if len(res.Cookies()) != 0 {
			t.Fatalf("a refused start set cookies: %v", res.Cookies())
		}
	}
	// Sign-ins count too.
	res, _ := e.send(e.noRedirect(), http.MethodPost, "/register", nil, "username", "carol", "password", "carol-old-pw")
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sign-in beyond the limit: %d", res.StatusCode)
	}
	if got := counter(t, reg, "sspr_portal_limit_refusals_total", "limit", "start_client"); got != 2 {
		t.Fatalf("refusals{limit=start_client} = %v, want 2", got)
	}
	if got := e.audit("xia"); !slices.Equal(got, []string{"reset.start:rate-limited"}) {
		t.Fatalf("audit = %v", got)
	}
}

// ---- 5. CSRF, cookies, CSP ----

// TestCrossOriginRefused: a form posted from another site is refused
// before it does anything.
func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	// A session at the password form, for the /flow/{id} case.
	b := e.browser()
	b.post("/reset", "username", "alice")
	e.press(b.match() + "#")
	b.waitFor(e.msg("password.title"))
	id := b.sessionID()
	// The call's own record follows the hang-up, after the page moved on.
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(e.audit(""), "call:confirmed"); {
		if time.Now().After(deadline) {
			t.Fatalf("no call record: %v", e.audit(""))
		}
		time.Sleep(10 * time.Millisecond)
	}
	auditBefore := len(e.audit(""))
	calls := len(e.ver.placed())

	foreign := []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-site"}},
		{"Sec-Fetch-Site": {""}, "Origin": {"http://attacker.example"}},
	}
	posts := []struct {
		path string
		kv   []string
	}{
		{"/reset", []string{"username", "alice"}},
		{"/unlock", []string{"username", "alice"}},
		{"/register", []string{"username", "alice", "password", "alice-old-pw"}},
		{"/flow/" + id, []string{"action", "password", "password", "Evil-Pass-123", "password2", "Evil-Pass-123"}},
		{"/flow/" + id, []string{"action", "unlock-only"}},
	}
	for _, p := range posts {
		for _, h := range foreign {
			// The attacker's page posts with the victim's cookies.
			res, body := e.send(b.c, http.MethodPost, p.path, h, p.kv...)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %v: %d:\n%s", p.path, h, res.StatusCode, body)
			}
			if len(res.Cookies()) != 0 {
				t.Errorf("POST %s with %v set cookies", p.path, h)
			}
		}
	}
	if n := len(e.audit("")); n != auditBefore {
		t.Errorf("%d audit records written by refused requests", n-auditBefore)
	}
	if n := len(e.ver.placed()); n != calls {
		t.Errorf("%d calls placed by refused requests", n-calls)
	}
	if pw := e.dir.password("alice"); pw != "alice-old-pw" {
		t.Errorf("password changed to %q", pw)
	}
	b.get(b.url).must(e.msg("password.title"))
	// The same form from the portal's own pages goes through.
	b.post("", "action", "password", "password", "Good-Pass-123", "password2", "Good-Pass-123").must(e.msg("done.reset.title"))
}

// TestCookieAttributes: the browser cookie is HttpOnly, SameSite=Strict,
// Path=/, and Secure exactly when the portal is served over TLS.
func TestCookieAttributes(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name    string
		web     web.Config
		hdr     http.Header
		secure  bool
		hstsSet bool
	}{
		{"plain HTTP", web.Config{}, nil, false, false},
		{"X-Forwarded-Proto from anyone", web.Config{}, http.Header{"X-Forwarded-Proto": {"https"}}, false, false},
		{"TLS", web.Config{TLS: true}, nil, true, true},
		{"trusted TLS proxy", web.Config{TrustedProxies: loopback}, http.Header{"X-Forwarded-Proto": {"https"}}, true, true},
		{"trusted proxy over HTTP", web.Config{TrustedProxies: loopback}, http.Header{"X-Forwarded-Proto": {"http"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Web = tt.web
			e := newEnv(t, cfg)
			for _, path := range []string{"/reset", "/register"} {
				kv := []string{"username", "alice", "password", "alice-old-pw"}
				res, _ := e.send(e.noRedirect(), http.MethodPost, path, tt.hdr, kv...)
				cs := res.Cookies()
				if res.StatusCode != http.StatusSeeOther || len(cs) != 1 {
					t.Fatalf("POST %s: %d, cookies %v", path, res.StatusCode, cs)
				}
				c := cs[0]
				if c.Name != browserCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tt.secure || c.Domain != "" {
					t.Fatalf("POST %s: cookie %q", path, res.Header.Get("Set-Cookie"))
				}
				if hsts := res.Header.Get("Strict-Transport-Security") != ""; hsts != tt.hstsSet {
					t.Fatalf("POST %s: Strict-Transport-Security %q", path, res.Header.Get("Strict-Transport-Security"))
				}
			}
		})
	}
}

var (
	scriptRE = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	styleRE  = regexp.MustCompile(`(?is)<style\b`)
	tagRE    = regexp.MustCompile(`(?s)<[a-zA-Z][a-zA-Z0-9-]*((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*/?>`)
	attrRE   = regexp.MustCompile(`(?s)([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?`)
)

// cspProblems lists what a strict Content-Security-Policy would block in
// a page, or a policy would have to loosen for: inline scripts, event
// handler attributes, style elements and attributes, javascript: URLs.
func cspProblems(page string) []string {
	var out []string
	for _, m := range scriptRE.FindAllStringSubmatch(page, -1) {
		if strings.TrimSpace(m[2]) != "" || !strings.Contains(m[1], "src=") {
			out = append(out, "inline script: "+m[0])
		}
	}
	if styleRE.MatchString(page) {
		out = append(out, "style element")
	}
	for _, tag := range tagRE.FindAllStringSubmatch(page, -1) {
		for _, a := range attrRE.FindAllStringSubmatch(tag[1], -1) {
			name, value := strings.ToLower(a[1]), strings.ToLower(strings.Trim(a[2], `"'`))
			switch {
			case strings.HasPrefix(name, "on"):
				out = append(out, "event handler attribute: "+tag[0])
			case name == "style":
				out = append(out, "style attribute: "+tag[0])
			case strings.HasPrefix(strings.TrimSpace(value), "javascript:"):
				out = append(out, "javascript: URL: "+tag[0])
			}
		}
	}
	return out
}

// TestCSPChecker: the page check finds what it looks for.
func TestCSPChecker(t *testing.T) {
	tests := []struct {
		page string
		bad  bool
	}{
		{`<html><head><script src="/static/app.js" defer></script></head><body><p class="x" id='y'>ok</p></body></html>`, false},
		{`<a href="/on" data-online="1" title="onclick=x">on</a>`, false},
		{`<script>alert(1)</script>`, true},
		{"<SCRIPT src=/a.js>\nx()</SCRIPT>", true},
		{`<button type="submit" onclick="go()">`, true},
		{`<body ONLOAD=go()>`, true},
		{`<p style="color:red">`, true},
		{`<style>p{}</style>`, true},
		{`<a href="javascript:go()">`, true},
		{`<input name="a"
  onfocus="x">`, true},
	}
	for _, tt := range tests {
		if got := cspProblems(tt.page); (len(got) > 0) != tt.bad {
			t.Errorf("%q: problems %v, want bad=%v", tt.page, got, tt.bad)
		}
	}
}

// TestEveryPageStrictCSP walks every journey and looks at every page: each
// carries the Content-Security-Policy and needs nothing it forbids.
func TestEveryPageStrictCSP(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow = workflow.Config{
		Register: gates(workflow.Gate{Kind: workflow.Password}, workflow.Gate{Kind: workflow.Phone},
			workflow.Gate{Kind: workflow.PIN}, workflow.Gate{Kind: workflow.Questions, Count: 2}, workflow.Gate{Kind: workflow.Language}),
		Reset:  gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeCode}, workflow.Gate{Kind: workflow.Questions, Asked: 2}),
		Unlock: gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeConfirm}),
	}
	e := newEnv(t, cfg)
	seen := map[string]bool{}
	var mu sync.Mutex
	e.onPage = func(b *browser) {
		t.Helper()
		if got := b.header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q", b.url, got)
		}
		if strings.Contains(b.header.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("%s: unsafe-inline", b.url)
		}
		for _, p := range cspProblems(b.body) {
			t.Errorf("%s: %s", b.url, p)
		}
		if m := regexp.MustCompile(`<h1>(.*?)</h1>`).FindStringSubmatch(b.body); m != nil {
			mu.Lock()
			seen[m[1]] = true
			mu.Unlock()
		}
	}
	// Home, start pages, sign-in, a page that is not there.
	b := e.browser()
	b.get("/")
	b.get("/reset")
	b.get("/unlock")
	b.get("/register")
	b.get("/nowhere")
	// Register: sign-in error, phone (with an error), phone gate, PIN,
	// questions, language, review, a change.
	b.post("/register", "username", "carol", "password", "wrong")
	b.post("/register", "username", "carol", "password", "carol-old-pw")
	b.post("", "action", "phone", "phone", "not a number")
	b.post("", "action", "phone", "phone", "+44 20 7946 0958")
	e.press(b.match() + "#")
	b.waitFor(e.msg("register.pin.title"))
	b.post("", "action", "pin", "pin", "5829", "pin2", "5828")
	b.post("", "action", "pin", "pin", "5829", "pin2", "5829")
	b.post("", "action", "questions", "question0", "pet", "answer0", "Rex", "question1", "city", "answer1", "")
	b.post("", "action", "questions", "question0", "pet", "answer0", "Rex", "question1", "city", "answer1", "Paris")
	b.post("", "action", "language", "language", "en").must(e.msg("register.review.title"))
	b.post("", "action", "change", "what", "phone").must(e.msg("signin.again"))
	// Reset: code mode, the questions, the password with a refusal, done.
	r := e.browser()
	r.post("/reset", "username", "carol")
	e.press("#")
	code := <-e.ver.codes
	r.waitFor(e.msg("phone.code.label"))
	r.post("", "action", "code", "code", "1")
	r.post("", "action", "code", "code", code).must(e.msg("questions.title"))
	r.post("", "action", "questions", "answer0", "", "answer1", "")
	ans := []string{"action", "questions"}
	for i, q := range regexp.MustCompile(`<label for="answer\d">(.*?)</label>`).FindAllStringSubmatch(r.body, -1) {
		a := map[string]string{"Name of your first pet?": "rex", "City you were born in?": "paris"}[q[1]]
		ans = append(ans, "answer"+strconv.Itoa(i), a)
	}
	r.post("", ans...).must(e.msg("password.title"))
	r.post("", "action", "password", "password", "Used-Before-1", "password2", "Used-Before-1").must(e.msg("policy.in-history"))
	r.post("", "action", "password", "password", "Fine-Pass-123", "password2", "Fine-Pass-123").must(e.msg("done.reset.title"))
	// A session from another browser; an unlock the directory refuses,
	// then done; a failed session; a lockout; a rate limit.
	e.browser().get(r.url).must(e.msg("session.expired.title"))
	e.register("alice", "+447700900123", "", nil)
	u := e.browser()
	e.dir.mu.Lock()
	e.dir.down = true
	e.dir.mu.Unlock()
	u.post("/unlock", "username", "alice")
	e.press("#")
	u.waitFor(e.msg("error.directory"))
	e.dir.mu.Lock()
	e.dir.down = false
	e.dir.mu.Unlock()
	u.post("", "action", "unlock").must(e.msg("done.unlock.title"))
	f := e.browser()
	f.post("/unlock", "username", "alice")
	e.press("0")
	f.waitFor(e.msg("phone.result.fraud-reported"))
	e.browser().post("/unlock", "username", "alice").must(e.msg("limit.locked"))

	for _, key := range []string{"home.title", "reset.title", "unlock.title", "signin.title", "error.not_found.title",
		"register.phone.title", "phone.title", "register.pin.title", "register.questions.title", "register.language.title",
		"register.review.title", "questions.title", "password.title", "done.reset.title", "done.unlock.title",
		"session.expired.title", "error.title"} {
		if !seen[e.msg(key)] {
			t.Errorf("no page titled %q (%s) was looked at: %v", e.msg(key), key, seen)
		}
	}
}

// ---- 6. sessions ----

// TestSessionBoundToBrowser: a session's page, form and events opened from
// another browser (or none) show that the session has ended, and nothing
// of the session.
func TestSessionBoundToBrowser(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice")
	digits := b.match()
	id := b.sessionID()
	other := e.browser()
	other.post("/reset", "username", "zed-unknown") // a cookie of its own
	if len(other.c.Jar.Cookies(must(url.Parse(e.srv.URL)))) != 1 {
		t.Fatal("the other browser has no cookie")
	}
	noCookie := &browser{e: e, c: &http.Client{Timeout: 10 * time.Second}}
	for name, o := range map[string]*browser{"another browser": other, "no cookie": noCookie} {
		o.get(b.url)
		if o.status != http.StatusGone {
			t.Errorf("%s: GET %d", name, o.status)
		}
		o.must(e.msg("session.expired.title")).mustNot(`id="match"`, ">"+digits+"<", `id="phone-gate"`, id+"/events")
		o.post(b.url, "action", "call-again")
		if o.status != http.StatusGone {
			t.Errorf("%s: POST %d", name, o.status)
		}
		o.must(e.msg("session.expired.title"))
		if code, ch := o.events(id); code != http.StatusGone {
			t.Errorf("%s: events %d", name, code)
		} else if _, ok := <-ch; ok {
			t.Errorf("%s: an event", name)
		}
	}
	if n := len(e.ver.placed()); n != 1 {
		t.Fatalf("%d calls placed", n)
	}
	b.get(b.url).must(digits) // the browser that started it still sees it
}

// TestSessionExpires: past SessionTTL the session's page says it ended.
func TestSessionExpires(t *testing.T) {
	cfg := testConfig()
	cfg.SessionTTL = 5 * time.Minute
	clk := newClock()
	e := newEnvWith(t, cfg, func(d *Deps) { d.Now = clk.now })
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice")
	digits := b.match()
	clk.add(5*time.Minute - time.Second)
	b.get(b.url).must(digits)
	clk.add(2 * time.Second)
	b.get(b.url)
	if b.status != http.StatusGone {
		t.Fatalf("expired session: %d", b.status)
	}
	b.must(e.msg("session.expired.title"), e.msg("session.expired.body", "minutes", "5")).mustNot(">" + digits + "<")
	b.post(b.url, "action", "next")
	if b.status != http.StatusGone {
		t.Fatalf("posting to an expired session: %d", b.status)
	}
	b.must(e.msg("session.expired.title"))
}

// ---- 7. secrets ----

// TestNoSecretsInLogsAuditOrSession walks a registration and a reset with
// every secret there is, and looks for them in the logs (at debug), the
// audit log and the sessions' stored data.
func TestNoSecretsInLogsAuditOrSession(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow = workflow.Config{
		Register: gates(workflow.Gate{Kind: workflow.Password}, workflow.Gate{Kind: workflow.Phone},
			workflow.Gate{Kind: workflow.PIN}, workflow.Gate{Kind: workflow.Questions, Count: 3}, workflow.Gate{Kind: workflow.Language}),
		Reset:  gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeCode}, workflow.Gate{Kind: workflow.Questions, Asked: 2}),
		Unlock: gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModePIN}),
	}
	var logs syncBuffer
	h := slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
		if len(g) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{} // times are digits that could look like a code
		}
		return a
	}})
	clk := newClock()
	e := newEnvWith(t, cfg, func(d *Deps) { d.Logger = slog.New(h); d.Now = clk.now })
	const (
		oldPW, wrongPW, newPW, refusedPW = "carol-old-pw", "Wrong-Pass-4711", "Sekret-New-Pass-9", "Used-Before-1"
		pin, wrongPIN                    = "582931", "774155"
	)
	answers := map[string]string{"pet": "Rexosaurus", "city": "Parisville", "school": "Hillroad Academy"}
	var mu sync.Mutex
	var data []string
	e.onPage = func(b *browser) {
		id, ok := strings.CutPrefix(b.url, "/flow/")
		if !ok {
			return
		}
		ses, err := e.st.Session(context.Background(), id, clk.now())
		if err != nil {
			return
		}
		mu.Lock()
		data = append(data, string(ses.Data))
		mu.Unlock()
	}

	b := e.browser()
	b.post("/register", "username", "carol", "password", wrongPW).must(e.msg("signin.failed"))
	b.post("/register", "username", "carol", "password", oldPW)
	b.post("", "action", "phone", "phone", "44 20 7946 0958")
	e.press(b.match() + "#")
	b.waitFor(e.msg("register.pin.title"))
	b.post("", "action", "pin", "pin", pin, "pin2", pin).must(e.msg("register.questions.title"))
	b.post("", "action", "questions", "question0", "pet", "answer0", answers["pet"], "question1", "city", "answer1", answers["city"],
		"question2", "school", "answer2", answers["school"]).must(e.msg("register.language.title"))
	b.post("", "action", "language", "language", "en").must(e.msg("register.review.title"))
	// Change the number: the password again.
	b.post("", "action", "change", "what", "phone")
	b.post("", "action", "phone", "phone", "+44 20 7946 0958", "password", wrongPW).must(e.msg("signin.failed"))

	r := e.browser()
	r.post("/reset", "username", "carol")
	e.press("#")
	code := <-e.ver.codes
	r.waitFor(e.msg("phone.code.label"))
	wrongCode := "000000"
	if code == wrongCode {
		wrongCode = "111111"
	}
	r.post("", "action", "code", "code", wrongCode).must(e.msg("phone.code.wrong"))
	r.post("", "action", "code", "code", code).must(e.msg("questions.title"))
	ans := []string{"action", "questions"}
	texts := map[string]string{"Name of your first pet?": answers["pet"], "City you were born in?": answers["city"], "Your first school?": answers["school"]}
	for i, q := range regexp.MustCompile(`<label for="answer\d">(.*?)</label>`).FindAllStringSubmatch(r.body, -1) {
		ans = append(ans, "answer"+strconv.Itoa(i), texts[q[1]])
	}
	r.post("", ans...).must(e.msg("password.title"))
	r.post("", "action", "password", "password", refusedPW, "password2", refusedPW).must(e.msg("policy.in-history"))
	r.post("", "action", "password", "password", newPW, "password2", newPW).must(e.msg("done.reset.title"))
	if e.dir.password("carol") != newPW {
		t.Fatal("the reset did not set the password")
	}
	// Unlock with the PIN: a wrong one, then the right one.
	u := e.browser()
	u.post("/unlock", "username", "carol")
	e.press(wrongPIN + "#")
	u.waitFor(e.msg("phone.call_again"))
	u.post("", "action", "call-again")
	e.press(pin + "#")
	u.waitFor(e.msg("done.unlock.title"))
	if err := e.s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}

	recs, err := e.st.List(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var audit strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&audit, "%s %s %s %s %s %s\n", r.Event, r.User, r.ClientAddr, r.Outcome, r.CallID, r.ResetID)
	}
	secrets := []string{oldPW, wrongPW, newPW, refusedPW, pin, wrongPIN, code, wrongCode}
	for _, a := range answers {
		secrets = append(secrets, a, normaliseAnswer(a))
	}
	number := []string{"+442079460958", "442079460958", "2079460958", "20 7946 0958", "7946 0958", "79460958"}
	mu.Lock()
	sessions := strings.Join(data, "\n")
	mu.Unlock()
	if len(data) < 10 || !strings.Contains(sessions, `"lang"`) {
		t.Fatalf("session data not collected: %d", len(data))
	}
	for _, where := range []struct {
		name, text string
		secrets    []string
	}{
		{"logs", logs.String(), append(secrets, number...)},
		{"audit log", audit.String(), append(secrets, number...)},
		{"session data", sessions, secrets},
	} {
		low := strings.ToLower(where.text)
		for _, s := range where.secrets {
			if strings.Contains(low, strings.ToLower(s)) {
				t.Errorf("the %s hold %q", where.name, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "registration saved") || !strings.Contains(audit.String(), "reset.password carol") {
		t.Fatalf("nothing logged or audited:\n%s\n%s", logs.String(), audit.String())
	}
}

// ---- 8. the catalogue ----

var (
	templateKeyRE = regexp.MustCompile(`\bT\s+"([^"]+)"`)
	keyLikeRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$`)
)

// TestEveryMessageKeyExists: every key the templates and the code look up
// is in the English catalogue, the computed ones included.
func TestEveryMessageKeyExists(t *testing.T) {
	cat, err := i18n.Default()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range cat.Keys() {
		have[k] = true
	}
	used := map[string]string{} // key: where
	tmpls, _ := filepath.Glob("templates/*.html")
	if len(tmpls) == 0 {
		t.Fatal("no templates")
	}
	for _, f := range tmpls {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateKeyRE.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
	}
	// The code: every string literal that looks like a key, but audit
	// events (the event argument of audit, or a variable named event)
	// and prefixes (strings.HasPrefix).
	fset := token.NewFileSet()
	gofiles, _ := filepath.Glob("*.go")
	for _, f := range gofiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		skip := map[*ast.BasicLit]bool{}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				name := ""
				switch fn := n.Fun.(type) {
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				case *ast.Ident:
					name = fn.Name
				}
				// The argument that is an event name or a prefix.
				if i, ok := map[string]int{"audit": 1, "auditRetrying": 1, "allowStart": 2, "HasPrefix": 1}[name]; ok && i < len(n.Args) {
					if l, ok := n.Args[i].(*ast.BasicLit); ok {
						skip[l] = true
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if id, ok := lhs.(*ast.Ident); ok && id.Name == "event" && i < len(n.Rhs) {
						ast.Inspect(n.Rhs[i], func(m ast.Node) bool {
							if l, ok := m.(*ast.BasicLit); ok {
								skip[l] = true
							}
							return true
						})
					}
				}
			case *ast.BasicLit:
				if n.Kind != token.STRING || skip[n] {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err == nil && keyLikeRE.MatchString(s) {
					used[s] = fset.Position(n.Pos()).String()
				}
			}
			return true
		})
	}
	// The computed keys.
	for _, r := range ivr.Results {
		used["phone.result."+string(r)] = "phone.result.<ivr.Result>"
	}
	for _, k := range []ivr.EventKind{ivr.Dialing, ivr.Ringing, ivr.KeyReceived} {
		used["phone.status."+string(k)] = "phone.status.<step>"
	}
	used["phone.status.waiting"] = "phone.status.<step>"
	for _, r := range []directory.PolicyReason{directory.TooShort, directory.TooRecent, directory.InHistory, directory.NotComplex, directory.PolicyOther} {
		used["policy."+string(r)] = "policy.<directory.PolicyReason>"
	}
	for _, d := range []string{"reset", "unlock"} {
		used["done."+d+".title"], used["done."+d+".body"] = "done.<kind>", "done.<kind>"
	}
	if len(used) < 60 {
		t.Fatalf("only %d keys found: the scan is broken", len(used))
	}
	var missing []string
	for k, where := range used {
		if !have[k] {
			missing = append(missing, k+" ("+where+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no message %s", m)
	}
}

// ---- 9. server-sent events ----

// TestEventsFollowTheCall: the event stream says what the call does as it
// does it, and ends when the session ends.
func TestEventsFollowTheCall(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	e.ver.ring = make(chan struct{})
	e.ver.answered = make(chan struct{})
	b := e.browser()
	b.post("/reset", "username", "alice")
	digits := b.match()
	code, ch := b.events(b.sessionID())
	if code != http.StatusOK {
		t.Fatalf("events: %d", code)
	}
	want := func(key string, running bool) status {
		t.Helper()
		s, ok := next(t, ch, 5*time.Second)
		if !ok || s.Text != e.s.cat.T("en", key) || s.Running != running || s.Done {
			t.Fatalf("event %+v (open %v), want %q", s, ok, e.s.cat.T("en", key))
		}
		return s
	}
	want("phone.status.dialing", true)
	e.ver.ring <- struct{}{}
	want("phone.status.ringing", true)
	e.press(digits + "#")
	want("phone.status.waiting", true)
	e.ver.answered <- struct{}{}
	// Key received, then the result; the gate moves on.
	var last status
	for last.Gate != -1 {
		s, ok := next(t, ch, 5*time.Second)
		if !ok || s.Done {
			t.Fatalf("stream ended or done before the password: %+v", s)
		}
		last = s
		if s.Result == string(ivr.Confirmed) {
			break
		}
	}
	if last.Running || (last.Text != e.s.cat.T("en", "phone.result.confirmed") && last.Text != e.s.cat.T("en", "phone.status.confirmed")) {
		t.Fatalf("last event %+v", last)
	}
	// The stream that showed the call running measured the time from the
	// key to the result reaching the page, once.
	var m dto.Metric
	if err := e.s.m.keyToPage.Write(&m); err != nil {
		t.Fatal(err)
	}
	if n, sum := m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum(); n != 1 || sum <= 0 || sum > 5 {
		t.Errorf("sspr_portal_key_to_page_seconds: %d samples, sum %v s; want 1, under 5 s", n, sum)
	}
	b.get(b.url).must(e.msg("password.title"))
	// The password ends the session, and the stream.
	b.post("", "action", "password", "password", "Good-Pass-123", "password2", "Good-Pass-123").must(e.msg("done.reset.title"))
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s, ok := <-ch:
			if !ok {
				return
			}
			if s.Running || s.Gate != -1 {
				t.Fatalf("event after the call: %+v", s)
			}
		case <-deadline:
			t.Fatal("the stream did not end with the session")
		}
	}
}

// ---- 10. without JavaScript ----

// TestPhonePageWithoutJavaScript: while a call runs, the phone page
// refreshes itself without JavaScript and offers a refresh link; once it
// ended, it stops refreshing.
func TestPhonePageWithoutJavaScript(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice")
	head := b.body[:strings.Index(b.body, "</head>")]
	if !regexp.MustCompile(`<noscript><meta http-equiv="refresh" content="\d+"></noscript>`).MatchString(head) {
		t.Fatalf("no refresh in the head:\n%s", head)
	}
	link := regexp.MustCompile(`(?s)<noscript>.*?<a [^>]*href="` + regexp.QuoteMeta(b.url) + `"[^>]*>` + regexp.QuoteMeta(e.msg("common.refresh")) + `</a>.*?</noscript>`)
	if !link.MatchString(mainOf(b.body)) {
		t.Fatalf("no refresh link:\n%s", mainOf(b.body))
	}
	e.press("999#") // never the two match digits
	b.waitFor(e.msg("phone.call_again")).mustNot(`http-equiv="refresh"`, e.msg("common.refresh"))
}

// TestOneLockoutOneRecord: calls keyed wrong that end after the process
// locked (sessions in parallel) do not count as lockouts of their own.
func TestOneLockoutOneRecord(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	var bs []*browser
	for range 4 {
		b := e.browser()
		b.post("/reset", "username", "alice").must(e.msg("phone.match.instructions"))
		bs = append(bs, b)
	}
	for range bs {
		e.press("999#") // never the two match digits
	}
	for _, b := range bs {
		b.waitFor(e.msg("phone.result.wrong-input"))
	}
	if err := e.s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	lo, err := e.st.Lockout(t.Context(), "alice")
	if err != nil || lo.Lockouts != 1 {
		t.Fatalf("lockout %+v, %v", lo, err)
	}
	n := 0
	for _, a := range e.audit("alice") {
		if strings.HasPrefix(a, "lockout:") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d lockout records for one lockout: %v", n, e.audit("alice"))
	}
}
