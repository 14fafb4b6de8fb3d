package portal

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/store/pgtest"
)

// TestOneLockoutOneRecordTwoNodes: wrong answers keyed at once in
// sessions on two nodes sharing one PostgreSQL make one lockout and one
// lockout record, however the failures interleave: the store, not a
// process's mutex, says which failure started the lockout.
func TestOneLockoutOneRecordTwoNodes(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	cfg := testConfig()
	cfg.Secret = []byte("lockout-secret-shared-by-both-nodes")
	dir := newFakeDir()
	stA := openPG(t, dsn)
	a, b := newNode(t, cfg, stA, dir, nil), newNode(t, cfg, openPG(t, dsn), dir, nil)
	for _, n := range []*env{a, b} {
		// No holds: each call waits only for its key. Set before any call.
		n.ver.ring, n.ver.answered = nil, nil
	}
	a.register("alice", "+447700900123", "", nil)
	var bs []*browser
	for i := range 4 { // within the default 5 calls per user
		n := a
		if i%2 == 1 {
			n = b
		}
		br := n.browser()
		br.post("/reset", "username", "alice").must(n.msg("phone.match.instructions"))
		bs = append(bs, br)
	}
	// Every call waits for its key; key them all wrong at once.
	for range 2 {
		a.press("999#")
		b.press("999#")
	}
	for _, br := range bs {
		br.waitFor(br.e.msg("phone.result.wrong-input"))
	}
	for _, n := range []*env{a, b} {
		if err := n.s.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	lo, err := stA.Lockout(t.Context(), "alice")
	if err != nil || lo.Lockouts != 1 || !lo.Locked(time.Now()) {
		t.Fatalf("lockout %+v, %v; want one, in force", lo, err)
	}
	n := 0
	for _, r := range a.audit("alice") {
		if strings.HasPrefix(r, "lockout:") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d lockout records for one lockout: %v", n, a.audit("alice"))
	}
}

// restartVerifier answers calls as autoVerifier does, but holds the call
// to number held after dialing until release receives.
type restartVerifier struct {
	autoVerifier
	held    string
	release chan struct{}
}

func (v *restartVerifier) Verify(ctx context.Context, req ivr.Request, progress func(ivr.Event)) Verification {
	if req.Number == v.held {
		progress(ivr.Event{Kind: ivr.Dialing})
		select {
		case <-v.release:
		case <-ctx.Done():
			progress(ivr.Event{Kind: ivr.Finished, Result: ivr.Failed})
			return Verification{Outcome: ivr.Outcome{Result: ivr.Failed}}
		}
	}
	return v.autoVerifier.Verify(ctx, req, progress)
}

// restartRequest is one request a worker sent during TestPostgresRestart.
type restartRequest struct {
	start  time.Time
	took   time.Duration
	what   string
	status int
	err    error
}

func (r restartRequest) failed() bool { return r.err != nil || r.status >= 500 }

// restartWorker runs resets one after another for one user, as one
// browser, recording every request.
type restartWorker struct {
	t    *testing.T
	e    *env
	user string
	c    *http.Client
	en   func(string) string

	mu   sync.Mutex
	reqs []restartRequest
	// done maps the ID of every reset the worker saw through to the done
	// page to when it started; sessions all that it started.
	done     map[string]time.Time
	sessions []string
}

// do sends one request and checks that a failure is a clean one: the
// portal's error page, nothing of the store's internals.
func (w *restartWorker) do(method, path string, form url.Values) (int, string, string) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, w.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	start := time.Now()
	res, err := w.c.Do(req)
	rec := restartRequest{start: start, what: method + " " + path, err: err}
	var text, retry string
	if err == nil {
		b, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		rec.status, rec.err, text, retry = res.StatusCode, rerr, string(b), res.Header.Get("Retry-After")
	}
	rec.took = time.Since(start)
	w.mu.Lock()
	w.reqs = append(w.reqs, rec)
	w.mu.Unlock()
	switch {
	case rec.err != nil:
		w.t.Errorf("%s: %v after %v (a hang or a panic)", rec.what, rec.err, rec.took)
	case rec.status >= 500:
		if rec.status != http.StatusServiceUnavailable || retry == "" {
			w.t.Errorf("%s: status %d, Retry-After %q; want 503 with a Retry-After", rec.what, rec.status, retry)
		}
		if !strings.Contains(text, htmlEscape(w.en("error.title"))) || !strings.Contains(text, htmlEscape(w.en("error.body"))) {
			w.t.Errorf("%s: %d without the error page:\n%s", rec.what, rec.status, mainOf(text))
		}
		for _, leak := range []string{"store:", "pgx", "SQLSTATE", "postgres", "dial", "connect", "127.0.0.1", "goroutine", "panic"} {
			if strings.Contains(strings.ToLower(mainOf(text)), strings.ToLower(leak)) {
				w.t.Errorf("%s: the error page shows %q:\n%s", rec.what, leak, mainOf(text))
			}
		}
	case rec.status != http.StatusOK && rec.status != http.StatusSeeOther:
		w.t.Errorf("%s: unexpected status %d:\n%s", rec.what, rec.status, mainOf(text))
	}
	loc := ""
	if res != nil {
		loc = res.Header.Get("Location")
	}
	return rec.status, text, loc
}

// reset runs one reset; a step that fails is tried again for a while (the
// session should survive the gap), then the reset is left.
func (w *restartWorker) reset() {
	started := time.Now()
	status, _, loc := w.do(http.MethodPost, "/reset", url.Values{"username": {w.user}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow/") {
		time.Sleep(50 * time.Millisecond)
		return
	}
	id := strings.TrimPrefix(loc, "/flow/")
	w.mu.Lock()
	w.sessions = append(w.sessions, id)
	w.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	pw := "New-Pass-" + id[:8] + "-7"
	for time.Now().Before(deadline) {
		status, body, _ := w.do(http.MethodGet, loc, nil)
		switch {
		case status == http.StatusOK && strings.Contains(body, htmlEscape(w.en("done.reset.title"))):
			w.mu.Lock()
			w.done[id] = started
			w.mu.Unlock()
			return
		case status == http.StatusOK && strings.Contains(body, htmlEscape(w.en("password.title"))):
			w.do(http.MethodPost, loc, url.Values{"action": {"password"}, "password": {pw}, "password2": {pw}})
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestPostgresRestart restarts PostgreSQL (down for 2 s) under resets
// running from several browsers at once against one portal on it.
// During the gap, requests fail cleanly: the portal's error page, no
// internals, no hang, no panic. Once PostgreSQL is back, the same portal
// serves resets again without a restart; its LISTEN/NOTIFY listener
// reconnects (a stream opened afterwards follows a call by notification,
// well before the heartbeat); the audit log holds exactly one record set
// per completed reset; and no session is left with a call that never
// ends.
func TestPostgresRestart(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	cfg := testConfig()
	cfg.Secret = []byte("restart-secret")
	lots := Rate{N: 1_000_000, Per: time.Hour}
	cfg.Limits = Limits{CallsPerUser: lots, CallsPerNumber: lots, CallsPerClient: lots, CallsPerMinute: 1_000_000, StartsPerClient: lots}
	dir := newFakeDir()
	st := openPG(t, dsn)
	ver := &restartVerifier{autoVerifier: autoVerifier{node: "a"}, held: "+447700900999", release: make(chan struct{})}
	e := &env{t: t, st: st, dir: dir}
	e.serve(cfg, Deps{Store: st, Directory: dir, Verifier: ver})
	en := func(key string) string { return e.s.cat.T("en", key) }

	const workers = 4
	var ws []*restartWorker
	for i := range workers {
		user := "load" + strconv.Itoa(i)
		dir.mu.Lock()
		dir.passwords[user] = user + "-old-pw"
		dir.mu.Unlock()
		e.register(user, "+4477009003"+strconv.Itoa(10+i), "", nil)
		jar, _ := cookiejar.New(nil)
		ws = append(ws, &restartWorker{t: t, e: e, user: user, en: en, done: map[string]time.Time{},
			c: &http.Client{Jar: jar, Timeout: 15 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}})
	}
	dir.mu.Lock()
	dir.passwords["probe"] = "probe-old-pw"
	dir.mu.Unlock()
	e.register("probe", ver.held, "", nil)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for !stop.Load() {
				w.reset()
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	stopAt := time.Now()
	pg.Stop(t)
	downAt := time.Now()
	time.Sleep(2 * time.Second)
	pg.Resume(t)
	upAt := time.Now()
	t.Logf("PostgreSQL stopping at +0, stopped at +%v, accepting again at +%v",
		downAt.Sub(stopAt).Round(time.Millisecond), upAt.Sub(stopAt).Round(time.Millisecond))

	// The listener: a probe event published after the restart reaches a
	// subscriber on the same store through PostgreSQL.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	probe, unsub, err := st.Subscribe(ctx, "probe")
	if err != nil {
		t.Fatal(err)
	}
	var listenerBack time.Duration
probing:
	for {
		_ = st.Publish(ctx, "probe", []byte("x"))
		select {
		case <-probe:
			listenerBack = time.Since(upAt)
			break probing
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the LISTEN/NOTIFY listener did not reconnect within 30 s of PostgreSQL's restart")
		}
	}
	unsub()

	time.Sleep(4 * time.Second) // resets go on after the restart
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// A stream opened now follows a call by notification: the call is held
	// after dialing, released, and the stream shows it confirmed within
	// await's 5 s, well before the 15 s heartbeat re-reads the session.
	jar, _ := cookiejar.New(nil)
	pc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	pb := &browser{e: e, c: pc}
	pb.post("/reset", "username", "probe").must(htmlEscape(en("phone.match.instructions")))
	probeID := strings.TrimPrefix(pb.url, "/flow/")
	ev := openStream(t, e, pc, probeID)
	ev.await("dialing", func(s status) bool { return s.Running && s.Text == en("phone.status.dialing") })
	releaseHold(t, ver.release, "the probe call")
	sent := time.Now()
	ev.await("confirmed", func(s status) bool { return s.Result == string(ivr.Confirmed) })
	t.Logf("after the restart, a stream saw the call confirmed %v after its release", time.Since(sent).Round(time.Millisecond))

	if err := e.s.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	// What the workers saw.
	var all []restartRequest
	completed := map[string]time.Time{}
	var sessions []string
	for _, w := range ws {
		all = append(all, w.reqs...)
		for id, at := range w.done {
			completed[id] = at
		}
		sessions = append(sessions, w.sessions...)
	}
	slices.SortFunc(all, func(a, b restartRequest) int { return a.start.Compare(b.start) })
	failed, firstOK := 0, time.Duration(-1)
	var lastFail time.Time
	var slowest time.Duration
	for _, r := range all {
		slowest = max(slowest, r.took)
		if r.failed() {
			failed++
			lastFail = r.start
			if r.start.Before(stopAt.Add(-time.Second)) {
				t.Errorf("%s failed at %v, before PostgreSQL stopped", r.what, r.start.Sub(stopAt))
			}
			if r.start.After(upAt.Add(5 * time.Second)) {
				t.Errorf("%s failed at +%v, %v after PostgreSQL was back", r.what, r.start.Sub(stopAt), r.start.Sub(upAt))
			}
		} else if firstOK < 0 && r.start.After(upAt) {
			firstOK = r.start.Add(r.took).Sub(upAt)
		}
	}
	var firstReset time.Duration = -1
	after := 0
	for _, at := range completed {
		if at.After(upAt) {
			after++
			if d := at.Sub(upAt); firstReset < 0 || d < firstReset {
				firstReset = d
			}
		}
	}
	t.Logf("%d requests, %d failed (all during the gap, the last at +%v); the slowest took %v",
		len(all), failed, lastFail.Sub(stopAt).Round(time.Millisecond), slowest.Round(time.Millisecond))
	t.Logf("recovery after PostgreSQL was back: first good request %v, first reset started that completed %v, listener %v; %d resets completed, %d of them started after the restart",
		firstOK.Round(time.Millisecond), firstReset.Round(time.Millisecond), listenerBack.Round(time.Millisecond), len(completed), after)
	if failed == 0 {
		t.Error("no request failed while PostgreSQL was down: the test did not test the gap")
	}
	if after < workers {
		t.Errorf("%d resets started after the restart completed, want at least %d (one per browser)", after, workers)
	}

	// The audit log: exactly one complete record set per completed reset.
	want := []string{"call:confirmed", "gate.phone:passed", "reset.password:ok", "reset.start:ok"}
	for id := range completed {
		recs, err := st.List(ctx, store.Filter{ResetID: id})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.Event+":"+r.Outcome)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("reset %s: audit = %v, want %v", id, got, want)
		}
	}

	// Every session is final, or active with no call left running, and
	// its page shows.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT id FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	// A reset whose answer failed in the gap may have made a session the
	// browser never learnt of: more sessions than the browsers know.
	if len(ids) < len(sessions)+1 {
		t.Errorf("%d sessions in the database, %d started", len(ids), len(sessions)+1)
	}
	states := map[store.State]int{}
	for _, id := range ids {
		s, err := e.s.load(ctx, id)
		if err != nil {
			t.Errorf("session %s: %v", id, err)
			continue
		}
		states[s.ses.State]++
		switch {
		case s.ses.State == store.StateCompleted || s.ses.State == store.StateFailed:
		case s.ses.State != store.StateActive:
			t.Errorf("session %s: %s", id, s.ses.State)
		case s.flow.Call != nil && s.flow.Call.Running:
			t.Errorf("session %s: active with a call still running: %+v", id, *s.flow.Call)
		}
		if _, ok := completed[id]; ok && s.ses.State != store.StateCompleted {
			t.Errorf("session %s: the browser saw it done, the store says %s", id, s.ses.State)
		}
	}
	t.Logf("sessions: %v", fmt.Sprint(states))
}
