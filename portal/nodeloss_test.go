package portal

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sspr-project/sspr/portal/store"
)

// newPeer starts a second node on e's store, directory and clock (now),
// with its own verifier, as a second process on the same store would be.
func newPeer(t *testing.T, e *env, cfg Config, now func() time.Time) *env {
	t.Helper()
	p := &env{t: t, st: e.st, dir: e.dir, ver: newFakeVerifier()}
	p.serve(cfg, Deps{Store: e.st, Directory: e.dir, Verifier: p.ver, Now: now})
	return p
}

// TestStaleByLiveness: a running call is stale when its node has not
// beaten for lostAfterBeats beats since the call started (or was never
// seen), never when it is this node's own, and always past CallTimeout.
func TestStaleByLiveness(t *testing.T) {
	clk := newClock()
	e := newEnvWith(t, testConfig(), func(d *Deps) { d.Now = clk.now })
	now := clk.now()
	ctx := t.Context()
	lost := (lostAfterBeats + 1) * beatEvery
	for node, at := range map[string]time.Time{"fresh": now.Add(-beatEvery), "old": now.Add(-lost), "future": now.Add(time.Second)} {
		if err := e.st.Beat(ctx, node, at); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		c    callState
		want bool
	}{
		{"not running", callState{Node: "gone", Started: now.Add(-time.Hour)}, false},
		{"own call, no beat for long", callState{Running: true, Node: e.s.node, Started: now.Add(-lost)}, false},
		{"other node beating", callState{Running: true, Node: "fresh", Started: now.Add(-time.Minute)}, false},
		{"other node silent", callState{Running: true, Node: "old", Started: now.Add(-time.Minute)}, true},
		{"silent node, call too young to tell", callState{Running: true, Node: "old", Started: now.Add(-beatEvery)}, false},
		{"never seen, started long ago", callState{Running: true, Node: "unknown", Started: now.Add(-lost)}, true},
		{"never seen, just started", callState{Running: true, Node: "unknown2", Started: now}, false},
		{"other node a little ahead (clock skew)", callState{Running: true, Node: "future", Started: now.Add(-time.Minute)}, false},
		{"older than any call, own node", callState{Running: true, Node: e.s.node, Started: now.Add(-e.s.cfg.CallTimeout - 2*time.Minute)}, true},
		{"no node recorded", callState{Running: true, Started: now.Add(-lost)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.s.stale(&tt.c); got != tt.want {
				t.Errorf("stale = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNodeLossMidCall: node A places a call and crashes (its heartbeat
// stops, nothing is cleaned up); node B, on the same store, shows the
// call failed once A has missed its beats, records the loss once however
// many requests see it, and "Call me again" on B places a new call that
// passes, and the reset completes.
func TestNodeLossMidCall(t *testing.T) {
	clk := newClock()
	cfg := testConfig()
	a := newEnvWith(t, cfg, func(d *Deps) { d.Now = clk.now })
	b := newPeer(t, a, cfg, clk.now)
	a.register("alice", "+447700900123", "", nil)
	a.dir.mu.Lock()
	a.dir.passwords["alice"] = "Old-Pass-1"
	a.dir.mu.Unlock()
	en := func(key string) string { return a.msg(key) }

	// One browser: Go's cookie jar ignores ports, so both nodes get its cookie.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	onA, onB := &browser{e: a, c: client}, &browser{e: b, c: client}

	// A places the call; the person never keys (the fake verifier waits).
	onA.post("/reset", "username", "alice").must(en("phone.match.instructions"))
	id := strings.TrimPrefix(onA.url, "/flow/")
	onA.waitFor(en("phone.status.ringing"))
	if n := len(a.ver.placed()); n != 1 {
		t.Fatalf("%d calls placed by A, want 1", n)
	}

	// A alive: however much time passes, its heartbeat keeps its call.
	clk.add(3 * lostAfterBeats * beatEvery)
	waitBeat(t, a.st, a.s.node, clk.now())
	onB.get("/flow/"+id).must(en("phone.status.ringing")).mustNot(en("phone.call_again"), en("phone.result.failed"))

	// A crashes: its heartbeat stops and its call is never ended.
	a.s.live.stop()
	clk.add((lostAfterBeats + 1) * beatEvery)

	// Several requests see the lost call at once, on B's page and stream.
	ev := openStream(t, b, client, id)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			res, err := client.Get(b.srv.URL + "/flow/" + id)
			if err == nil {
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	ev.await("the call failed", func(st status) bool { return !st.Running && st.Result == "failed" })
	onB.get("/flow/"+id).must(en("phone.result.failed"), en("phone.call_again"))
	if got := countAudit(t, a.st, id, "call", lostOutcome); got != 1 {
		t.Fatalf("%d audit records of the lost call, want 1: %v", got, a.audit("alice"))
	}
	if got := testutil.ToFloat64(b.s.live.lost); got != 1 {
		t.Errorf("B counted %v lost calls, want 1", got)
	}

	// "Call me again" on B: B places and owns the new call, which passes.
	onB.post("/flow/"+id, "action", "call-again").must(en("phone.match.instructions"))
	if n := len(b.ver.placed()); n != 1 {
		t.Fatalf("%d calls placed by B, want 1", n)
	}
	b.press(onB.match() + "#")
	onB.waitFor(en("password.title"))
	pw := "New-Pass-alice-7"
	onB.post("/flow/"+id, "action", "password", "password", pw, "password2", pw).must(en("done.reset.title"))
	if got := a.dir.password("alice"); got != pw {
		t.Fatal("the directory password is not the new one")
	}

	// Nothing is left running, and the loss is recorded once.
	ses, err := a.st.Session(t.Context(), id, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	var f flow
	if err := json.Unmarshal(ses.Data, &f); err != nil {
		t.Fatal(err)
	}
	if ses.State != store.StateCompleted || f.Call == nil || f.Call.Running || f.Call.Attempt != 2 {
		t.Fatalf("session %s, call %+v; want completed, attempt 2 not running", ses.State, f.Call)
	}
	if got := countAudit(t, a.st, id, "call", lostOutcome); got != 1 {
		t.Fatalf("%d audit records of the lost call, want 1: %v", got, a.audit("alice"))
	}
}

// waitBeat waits until node's heartbeat reaches at.
func waitBeat(t *testing.T, st store.Store, node string, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(3 * beatEvery)
	for time.Now().Before(deadline) {
		if seen, err := st.NodeSeen(t.Context(), node); err == nil && !seen.Before(at) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s never beat at %v", node, at)
}

// countAudit counts the audit records of session id with event and outcome.
func countAudit(t *testing.T, st store.Store, id, event, outcome string) int {
	t.Helper()
	recs, err := st.List(t.Context(), store.Filter{ResetID: id, Event: event})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Outcome == outcome {
			n++
		}
	}
	return n
}

// TestAPINodeLoss: a verification whose call's node crashed reads as
// failed on another node once that node has missed its beats, as the
// portal's pages do, rather than "ringing" until the call timeout.
func TestAPINodeLoss(t *testing.T) {
	clk := newClock()
	cfg := apiConfig()
	a := newEnvWith(t, cfg, func(d *Deps) { d.Now = clk.now })
	b := newPeer(t, a, cfg, clk.now)
	a.register("alice", aliceNumber, "", nil)
	id := a.create(`{"user": "alice", "mode": "confirm"}`).str("id")
	a.waitStatus(id, "ringing")

	// A alive: its call stays ringing on B however long it rings.
	clk.add(3 * lostAfterBeats * beatEvery)
	waitBeat(t, a.st, a.s.node, clk.now())
	if got := b.api("GET", "/api/v1/verifications/"+id, mimToken, "", ""); got.str("status") != "ringing" {
		t.Fatalf("while A beats, B reads %s", got.raw)
	}

	// A crashes.
	a.s.live.stop()
	clk.add((lostAfterBeats + 1) * beatEvery)
	got := b.waitStatus(id, "failed")
	if got.str("result") != "failed" {
		t.Fatalf("after A's crash, B reads %s", got.raw)
	}
}
