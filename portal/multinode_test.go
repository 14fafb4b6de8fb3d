package portal

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
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

// newNode starts one portal node on st, behind its own loopback server,
// with its own verifier: the call runs on the node that places it. Without
// auto, the verifier is a fakeVerifier whose every call waits for the test
// between dialing and ringing and after answering.
func newNode(t *testing.T, cfg Config, st store.Store, dir *fakeDir, auto *autoVerifier) *env {
	t.Helper()
	e := &env{t: t, st: st, dir: dir}
	var v Verifier = auto
	if auto == nil {
		e.ver = newFakeVerifier()
		// The holds are set once, before any call.
		e.ver.ring, e.ver.answered = make(chan struct{}), make(chan struct{})
		v = e.ver
	}
	e.serve(cfg, Deps{Store: st, Directory: dir, Verifier: v})
	return e
}

// autoVerifier plays calls that the person answers and keys right at
// once, so that several can run together.
type autoVerifier struct {
	node  string
	calls atomic.Int64
}

func (v *autoVerifier) Verify(ctx context.Context, req ivr.Request, progress func(ivr.Event)) Verification {
	id := v.node + "-call-" + strconv.FormatInt(v.calls.Add(1), 10)
	res := ivr.WrongInput
	if req.Mode == ivr.ModeMatch && req.Match != "" {
		res = ivr.Confirmed
	}
	for _, k := range []ivr.EventKind{ivr.Dialing, ivr.Ringing, ivr.Answered, ivr.KeyReceived} {
		select {
		case <-ctx.Done():
			res = ivr.Failed
		case <-time.After(5 * time.Millisecond):
			progress(ivr.Event{Kind: k})
			continue
		}
		break
	}
	progress(ivr.Event{Kind: ivr.Finished, Result: res})
	return Verification{Outcome: ivr.Outcome{Result: res}, CallID: id}
}

func openPG(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// setsOf returns how many passwords d has set.
func setsOf(d *fakeDir) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sets
}

// releaseHold lets a call held on ch (a verifier's ring or answered) go on.
func releaseHold(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case ch <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatalf("no call waited for %s", what)
	}
}

// followOn reads, with to, the page from's answer redirects to: the next
// request of the same browser, sent to another node.
func followOn(from, to *browser) *browser {
	from.e.t.Helper()
	loc := from.header.Get("Location")
	if from.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow/") {
		from.e.t.Fatalf("%s answered %d to %q, want a redirect to the flow:\n%s", from.url, from.status, loc, mainOf(from.body))
	}
	return to.get(loc)
}

// eventStream is a server-sent event stream of a session, read as it comes.
type eventStream struct {
	t    *testing.T
	ch   chan status
	seen []status
}

// openStream opens GET /flow/{id}/events on e's node with c's cookies.
func openStream(t *testing.T, e *env, c *http.Client, id string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/flow/"+id+"/events", nil)
	res, err := (&http.Client{Jar: c.Jar}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		res.Body.Close()
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &eventStream{t: t, ch: make(chan status, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.ch)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var st status
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				st.Text = "bad event: " + data
			}
			select {
			case s.ch <- st:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); res.Body.Close(); <-done })
	return s
}

// await reads events until one satisfies ok.
func (s *eventStream) await(what string, ok func(status) bool) status {
	s.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st, open := <-s.ch:
			if !open {
				s.t.Fatalf("the stream ended before %s; events: %+v", what, s.seen)
			}
			s.seen = append(s.seen, st)
			if ok(st) {
				return st
			}
		case <-timeout:
			s.t.Fatalf("the stream never showed %s; events: %+v", what, s.seen)
		}
	}
}

// awaitText reads events until one says text.
func (s *eventStream) awaitText(text string) status {
	s.t.Helper()
	return s.await(strconv.Quote(text), func(st status) bool { return st.Text == text })
}

// awaitEnd reads events until the stream ends, and checks the last said
// the session was done.
func (s *eventStream) awaitEnd() {
	s.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st, open := <-s.ch:
			if !open {
				if len(s.seen) == 0 || !s.seen[len(s.seen)-1].Done {
					s.t.Fatalf("the stream ended without saying the session was done: %+v", s.seen)
				}
				return
			}
			s.seen = append(s.seen, st)
		case <-timeout:
			s.t.Fatalf("the stream did not end with the session; events: %+v", s.seen)
		}
	}
}

// TestMultiNode runs resets on two nodes sharing one PostgreSQL database,
// as a load balancer without sticky sessions would: every request of a
// reset goes to the other node than the one before. The node that placed
// a call owns it; its progress reaches the other node's event stream over
// LISTEN/NOTIFY; the password is set once; the audit log holds exactly
// one record set per reset. Five resets run one after the other, step by
// step; one fails its first call and calls again from the other node;
// five more run at once on two more nodes.
func TestMultiNode(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	cfg := testConfig()
	cfg.Secret = []byte("multi-node-secret-shared-by-both-nodes")
	dir := newFakeDir()
	stA, stB := openPG(t, dsn), openPG(t, dsn)
	a, b := newNode(t, cfg, stA, dir, nil), newNode(t, cfg, stB, dir, nil)
	en := func(key string) string { return a.s.cat.T("en", key) }

	// One browser: Go's cookie jar ignores ports, so both nodes get its
	// cookie. Redirects are followed by hand, to the other node.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	onA, onB := &browser{e: a, c: client}, &browser{e: b, c: client}

	users := []string{"user1", "user2", "user3", "user4", "user5"}
	sessions := map[string]string{} // user → session ID
	for i, user := range append(slices.Clone(users), "frank") {
		dir.mu.Lock()
		dir.passwords[user] = user + "-old-pw"
		dir.mu.Unlock()
		// Registered through node A's store, read by B's.
		a.register(user, "+4477009001"+strconv.Itoa(10+i), "", nil)
	}

	for _, user := range users {
		sets := setsOf(dir)
		// The start goes to A, which places the call; the flow page comes
		// from B.
		onA.post("/reset", "username", user)
		followOn(onA, onB).must(en("phone.match.instructions"))
		digits := onB.match()
		id := strings.TrimPrefix(onB.url, "/flow/")
		sessions[user] = id
		// B's stream follows the call A owns.
		ev := openStream(t, b, client, id)
		ev.await("dialing", func(st status) bool { return st.Running && st.Text == en("phone.status.dialing") })
		releaseHold(t, a.ver.ring, "the ring")
		ev.awaitText(en("phone.status.ringing"))
		a.press(digits + "#")
		ev.awaitText(en("phone.status.waiting"))
		releaseHold(t, a.ver.answered, "the key")
		ev.await("confirmed", func(st status) bool {
			return st.Gate == -1 && !st.Running && st.Result == string(ivr.Confirmed) && st.Text == en("phone.status.confirmed")
		})
		// Next to A, the flow from B: the password form.
		onA.post("/flow/"+id, "action", "next")
		followOn(onA, onB).must(en("password.title"))
		// The password to B, the done page from A.
		pw := "New-Pass-" + user + "-7"
		onB.post("/flow/"+id, "action", "password", "password", pw, "password2", pw)
		followOn(onB, onA).must(en("done.reset.title"))
		ev.awaitEnd()
		if got := dir.password(user); got != pw {
			t.Fatalf("%s: directory password not the new one", user)
		}
		if n := setsOf(dir) - sets; n != 1 {
			t.Fatalf("%s: the password was set %d times", user, n)
		}
	}
	if n, m := len(a.ver.placed()), len(b.ver.placed()); n != len(users) || m != 0 {
		t.Fatalf("calls placed: %d by A, %d by B; want %d by A (the node that started each), none by B", n, m, len(users))
	}

	// A wrong key fails A's call; "Call me again", posted to B, places the
	// second call from B, and A's stream follows it.
	onA.post("/reset", "username", "frank")
	followOn(onA, onB).must(en("phone.match.instructions"))
	first := onB.match()
	id := strings.TrimPrefix(onB.url, "/flow/")
	sessions["frank"] = id
	releaseHold(t, a.ver.ring, "the ring")
	a.press("999#")
	releaseHold(t, a.ver.answered, "the key")
	onB.waitFor(a.msg("phone.call_again")).must(a.msg("phone.result.wrong-input"))
	onB.post("/flow/"+id, "action", "call-again")
	followOn(onB, onA).must(en("phone.match.instructions"))
	second := onA.match()
	ev := openStream(t, a, client, id)
	var placed []ivr.Request
	for range 100 {
		if placed = b.ver.placed(); len(placed) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(placed) != 1 || placed[0].Match != second || placed[0].Number != "+447700900115" {
		t.Fatalf("calls placed by B: %+v; want one, to frank, with the digits the page shows", placed)
	}
	if n := len(a.ver.placed()); n != len(users)+1 {
		t.Fatalf("A placed %d calls, want %d", n, len(users)+1)
	}
	if first == "" || second == "" {
		t.Fatal("no match digits")
	}
	ev.await("dialing", func(st status) bool { return st.Running && st.Attempt == 2 && st.Text == en("phone.status.dialing") })
	releaseHold(t, b.ver.ring, "the ring")
	ev.awaitText(en("phone.status.ringing"))
	b.press(second + "#")
	ev.awaitText(en("phone.status.waiting"))
	releaseHold(t, b.ver.answered, "the key")
	ev.await("confirmed", func(st status) bool { return st.Gate == -1 && st.Attempt == 2 && st.Result == string(ivr.Confirmed) })
	onA.get("/flow/" + id).must(en("password.title"))
	onB.post("/flow/"+id, "action", "password", "password", "Frank-New-Pass-1", "password2", "Frank-New-Pass-1")
	followOn(onB, onA).must(en("done.reset.title"))
	ev.awaitEnd()
	if dir.password("frank") != "Frank-New-Pass-1" {
		t.Fatal("frank: directory password not the new one")
	}

	// More resets at once, on two more nodes whose calls answer by
	// themselves; each browser alternates between them too.
	c := newNode(t, cfg, openPG(t, dsn), dir, &autoVerifier{node: "c"})
	d := newNode(t, cfg, openPG(t, dsn), dir, &autoVerifier{node: "d"})
	var together []string
	for i := range 5 {
		user := "many" + strconv.Itoa(i)
		together = append(together, user)
		dir.mu.Lock()
		dir.passwords[user] = user + "-old-pw"
		dir.mu.Unlock()
		c.register(user, "+4477009002"+strconv.Itoa(10+i), "", nil)
	}
	var mu sync.Mutex
	t.Run("together", func(t *testing.T) {
		for _, user := range together {
			t.Run(user, func(t *testing.T) {
				t.Parallel()
				// The nodes' envs, with this subtest's t.
				ce, de := *c, *d
				ce.t, de.t = t, t
				jar, _ := cookiejar.New(nil)
				client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				onC, onD := &browser{e: &ce, c: client}, &browser{e: &de, c: client}
				onC.post("/reset", "username", user)
				followOn(onC, onD).must(en("phone.match.instructions"))
				onD.match()
				id := strings.TrimPrefix(onD.url, "/flow/")
				mu.Lock()
				sessions[user] = id
				mu.Unlock()
				onC.get("/flow/" + id).waitFor(a.msg("password.title"))
				pw := "New-Pass-" + user + "-7"
				onD.post("/flow/"+id, "action", "password", "password", pw, "password2", pw)
				followOn(onD, onC).must(en("done.reset.title"))
				if got := dir.password(user); got != pw {
					t.Errorf("%s: directory password not the new one", user)
				}
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if n := setsOf(dir); n != len(sessions) {
		t.Fatalf("%d passwords set for %d resets", n, len(sessions))
	}

	// The audit log, written by every node: one complete record set per
	// reset, once the calls' own records are in.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*env{b, c, d} {
		if err := n.s.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"call:confirmed", "gate.phone:passed", "reset.password:ok", "reset.start:ok"}
	for _, user := range slices.Concat(users, []string{"frank"}, together) {
		w := want
		if user == "frank" {
			w = []string{"call:confirmed", "call:wrong-input", "gate.phone:passed", "reset.password:ok", "reset.start:ok"}
		}
		recs, err := stB.List(ctx, store.Filter{User: user})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.Event+":"+r.Outcome)
			if r.ResetID != sessions[user] {
				t.Errorf("%s: record %s:%s of reset %q, want %q", user, r.Event, r.Outcome, r.ResetID, sessions[user])
			}
			if r.Event == "call" && r.CallID == "" {
				t.Errorf("%s: call record without the call's ID", user)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Errorf("%s: audit = %v, want %v", user, got, w)
		}
	}
	// No session is left active: each ended completed, read by either node.
	for user, id := range sessions {
		ses, err := stA.Session(ctx, id, time.Now())
		if err != nil || ses.State != store.StateCompleted {
			t.Errorf("%s: session %+v, %v; want completed", user, ses.State, err)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total, active int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM sessions`).Scan(&total, &active); err != nil {
		t.Fatal(err)
	}
	if total != len(sessions) || active != 0 {
		t.Errorf("sessions in the database: %d, %d active; want %d, none active", total, active, len(sessions))
	}
}
