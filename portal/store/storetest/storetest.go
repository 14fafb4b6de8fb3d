// Package storetest is the conformance suite every store.Store
// implementation must pass: run it from the implementation's tests with a
// function that opens a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sspr-project/sspr/portal/store"
)

// t0 is the suite's clock origin: times are passed to the store explicitly.
var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// Run runs the suite. open must return a fresh, empty store and arrange
// for it to be closed when the test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Registrations", testRegistrations},
		{"Sessions", testSessions},
		{"SessionExpiry", testSessionExpiry},
		{"CompleteOnce", testCompleteOnce},
		{"SessionData", testSessionData},
		{"Hit", testHit},
		{"HitConcurrent", testHitConcurrent},
		{"Lockouts", testLockouts},
		{"LockoutConcurrent", testLockoutConcurrent},
		{"LockoutStartedOnce", testLockoutStartedOnce},
		{"Audit", testAudit},
		{"AuditConcurrent", testAuditConcurrent},
		{"PubSub", testPubSub},
		{"Sweep", testSweep},
		{"Nodes", testNodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
	t.Run("AppendOnly", testAppendOnly)
}

// RunPeers checks that progress events cross between two stores on the
// same database, as two nodes behind a load balancer would be. open must
// return two stores sharing one fresh database.
func RunPeers(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	a, b := open(t)
	ctx := t.Context()
	const id = "peer-session"
	events, cancel, err := b.Subscribe(ctx, id)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer cancel()
	local, cancelLocal, err := a.Subscribe(ctx, id)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer cancelLocal()
	want := [][]byte{[]byte(`{"state":"calling"}`), []byte(`{"state":"ringing"}`), {0, 1, 2, 0xff, '\n', ' '}}
	for _, e := range want {
		if err := a.Publish(ctx, id, e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	for _, ch := range []<-chan []byte{events, local} {
		for i, w := range want {
			got := receive(t, ch)
			if string(got) != string(w) {
				t.Fatalf("event %d = %q, want %q", i, got, w)
			}
		}
	}
	// And back the other way.
	if err := b.Publish(ctx, id, []byte("back")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := receive(t, local); string(got) != "back" {
		t.Fatalf("event = %q, want back", got)
	}
}

func receive(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed early")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return nil
}

func testRegistrations(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Registration(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Registration of nobody: err = %v, want ErrNotFound", err)
	}
	r := store.Registration{
		Username: "alice", Phone: "+447946000958", PINHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		Answers:  map[string]string{"pet": "$argon2id$v=19$m=65536,t=1,p=4$eA$eQ", "town": "$argon2id$x"},
		Language: "en",
	}
	if err := s.PutRegistration(ctx, r, t0); err != nil {
		t.Fatalf("PutRegistration: %v", err)
	}
	got, err := s.Registration(ctx, "alice")
	if err != nil {
		t.Fatalf("Registration: %v", err)
	}
	want := r
	want.Created, want.Updated = t0, t0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Registration = %+v, want %+v", got, want)
	}

	// A change keeps Created.
	r.Phone, r.PINHash, r.Answers, r.Language = "+33123456789", "", nil, "fr"
	later := t0.Add(time.Hour)
	if err := s.PutRegistration(ctx, r, later); err != nil {
		t.Fatalf("PutRegistration (change): %v", err)
	}
	got, err = s.Registration(ctx, "alice")
	if err != nil {
		t.Fatalf("Registration: %v", err)
	}
	want = r
	want.Answers = map[string]string{}
	want.Created, want.Updated = t0, later
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Registration after change = %+v, want %+v", got, want)
	}
	if _, err := s.Registration(ctx, "Alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Registration(Alice): err = %v, want ErrNotFound (usernames compare exactly)", err)
	}

	for _, bad := range []store.Registration{{Phone: "+447946000958"}, {Username: "bob"}} {
		if err := s.PutRegistration(ctx, bad, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutRegistration(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}

	if err := s.DeleteRegistration(ctx, "alice"); err != nil {
		t.Fatalf("DeleteRegistration: %v", err)
	}
	if _, err := s.Registration(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Registration after delete: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteRegistration(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteRegistration again: err = %v, want ErrNotFound", err)
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(123456789 * time.Nanosecond) // sub-microsecond part is dropped
	bind := store.BindingOf("cookie-value")
	ses, err := s.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: "alice", Binding: bind}, now)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if !idPattern.MatchString(ses.ID) {
		t.Errorf("ID %q is not 22 URL-safe characters (128 bits)", ses.ID)
	}
	created := now.Truncate(time.Microsecond)
	want := store.Session{ID: ses.ID, Kind: store.KindReset, Username: "alice", Binding: bind,
		Created: created, Expires: created.Add(store.DefaultSessionTTL), State: store.StateActive, Gates: map[int]string{}}
	if !reflect.DeepEqual(ses, want) {
		t.Fatalf("NewSession = %+v, want %+v", ses, want)
	}
	got, err := s.Session(ctx, ses.ID, now)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Session = %+v, want %+v", got, want)
	}
	if !got.BoundTo("cookie-value") || got.BoundTo("another-cookie") {
		t.Errorf("BoundTo: wrong answer for the right or a wrong cookie")
	}
	if bind == "cookie-value" {
		t.Errorf("BindingOf stores the cookie itself")
	}

	other, err := s.NewSession(ctx, store.NewSession{Kind: store.KindUnlock, Username: "alice", Binding: bind, TTL: time.Minute}, now)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	if other.ID == ses.ID {
		t.Fatalf("two sessions got the same ID %q", ses.ID)
	}
	if want := created.Add(time.Minute); !other.Expires.Equal(want) {
		t.Errorf("Expires with a TTL = %v, want %v", other.Expires, want)
	}

	steps := []struct {
		gate   int
		result string
	}{{0, "phone:failed"}, {0, "phone:confirmed"}, {1, "questions:ok"}}
	for _, st := range steps {
		if err := s.RecordGate(ctx, ses.ID, st.gate, st.result, now.Add(time.Second)); err != nil {
			t.Fatalf("RecordGate(%d, %q): %v", st.gate, st.result, err)
		}
	}
	got, err = s.Session(ctx, ses.ID, now.Add(2*time.Second))
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if w := map[int]string{0: "phone:confirmed", 1: "questions:ok"}; !maps.Equal(got.Gates, w) {
		t.Fatalf("Gates = %v, want %v", got.Gates, w)
	}
	other2, _ := s.Session(ctx, other.ID, now)
	if len(other2.Gates) != 0 {
		t.Fatalf("another session's gates = %v, want none", other2.Gates)
	}

	if err := s.Complete(ctx, ses.ID, now.Add(3*time.Second)); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got, _ = s.Session(ctx, ses.ID, now.Add(4*time.Second))
	if got.State != store.StateCompleted {
		t.Fatalf("State after Complete = %q", got.State)
	}
	if err := s.Fail(ctx, other.ID, now.Add(3*time.Second)); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	got, _ = s.Session(ctx, other.ID, now.Add(4*time.Second))
	if got.State != store.StateFailed {
		t.Fatalf("State after Fail = %q", got.State)
	}

	// Used sessions refuse everything, even after their expiry.
	for _, id := range []string{ses.ID, other.ID} {
		for _, at := range []time.Time{now.Add(5 * time.Second), now.Add(time.Hour)} {
			if err := s.Complete(ctx, id, at); !errors.Is(err, store.ErrClosed) {
				t.Errorf("Complete of a used session: err = %v, want ErrClosed", err)
			}
			if err := s.Fail(ctx, id, at); !errors.Is(err, store.ErrClosed) {
				t.Errorf("Fail of a used session: err = %v, want ErrClosed", err)
			}
			if err := s.RecordGate(ctx, id, 2, "x", at); !errors.Is(err, store.ErrClosed) {
				t.Errorf("RecordGate of a used session: err = %v, want ErrClosed", err)
			}
		}
		// ... and write nothing.
		if got, err := s.Session(ctx, id, now.Add(6*time.Second)); err != nil || got.Gates[2] != "" {
			t.Errorf("after a refused RecordGate: gates %v, err %v; want no gate 2", got.Gates, err)
		}
	}

	const unknown = "AAAAAAAAAAAAAAAAAAAAAA"
	if _, err := s.Session(ctx, unknown, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(unknown): err = %v, want ErrNotFound", err)
	}
	if err := s.Complete(ctx, unknown, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Complete(unknown): err = %v, want ErrNotFound", err)
	}
	if err := s.RecordGate(ctx, unknown, 0, "x", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordGate(unknown): err = %v, want ErrNotFound", err)
	}
	for _, n := range []store.NewSession{{Kind: "delete", Username: "a"}, {Kind: store.KindReset, TTL: -time.Second}} {
		if _, err := s.NewSession(ctx, n, now); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("NewSession(%+v): err = %v, want ErrInvalid", n, err)
		}
	}
}

func testSessionExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	ses, err := s.NewSession(ctx, store.NewSession{Kind: store.KindRegister, Username: "bob", Binding: "b"}, t0)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	tests := []struct {
		name  string
		at    time.Duration
		state store.State
		err   error
	}{
		{"just made", 0, store.StateActive, nil},
		{"a microsecond before expiry", store.DefaultSessionTTL - time.Microsecond, store.StateActive, nil},
		{"at expiry", store.DefaultSessionTTL, store.StateExpired, store.ErrExpired},
		{"long after", 24 * time.Hour, store.StateExpired, store.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.at)
			got, err := s.Session(ctx, ses.ID, now)
			if err != nil {
				t.Fatalf("Session: %v", err)
			}
			if got.State != tt.state {
				t.Errorf("State = %q, want %q", got.State, tt.state)
			}
			if err := s.RecordGate(ctx, ses.ID, 0, "ok", now); !errors.Is(err, tt.err) {
				t.Errorf("RecordGate: err = %v, want %v", err, tt.err)
			}
		})
	}
	// An expired session cannot be completed or failed, and stays unusable.
	for _, fn := range []func(context.Context, string, time.Time) error{s.Complete, s.Fail, s.Complete} {
		if err := fn(ctx, ses.ID, t0.Add(store.DefaultSessionTTL)); !errors.Is(err, store.ErrExpired) {
			t.Errorf("finishing an expired session: err = %v, want ErrExpired", err)
		}
	}
	// The refused attempts changed nothing: the store judges expiry by the
	// now it is given, so finishing within the lifetime works, once.
	if err := s.Complete(ctx, ses.ID, t0.Add(time.Minute)); err != nil {
		t.Fatalf("Complete within the lifetime: %v", err)
	}
	if err := s.Complete(ctx, ses.ID, t0.Add(time.Minute)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("second Complete: err = %v, want ErrClosed", err)
	}
}

func testCompleteOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	ses, err := s.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: "carol", Binding: "b"}, t0)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				errs[i] = s.Complete(ctx, ses.ID, t0.Add(time.Second))
			} else {
				errs[i] = s.Fail(ctx, ses.ID, t0.Add(time.Second))
			}
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrClosed):
			t.Errorf("caller %d: err = %v, want nil or ErrClosed", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent Complete/Fail calls succeeded, want exactly 1", ok, n)
	}
}

func testHit(t *testing.T, s store.Store) {
	ctx := t.Context()
	const w = time.Minute
	base := t0.Add(10 * time.Second) // inside the window [t0, t0+1m)
	tests := []struct {
		key  string
		at   time.Duration
		want int
	}{
		{"user:alice", 0, 1},
		{"user:alice", time.Second, 2},
		{"phone:+44", time.Second, 1},
		{"user:alice", 49 * time.Second, 3},
		{"user:alice", 50 * time.Second, 1}, // t0+1m: a new window
		{"user:alice", 51 * time.Second, 2},
		{"phone:+44", 2 * time.Minute, 1},
	}
	for _, tt := range tests {
		got, err := s.Hit(ctx, tt.key, w, base.Add(tt.at))
		if err != nil {
			t.Fatalf("Hit(%q, +%v): %v", tt.key, tt.at, err)
		}
		if got != tt.want {
			t.Errorf("Hit(%q, +%v) = %d, want %d", tt.key, tt.at, got, tt.want)
		}
	}
	for _, bad := range []struct {
		key string
		w   time.Duration
	}{{"", w}, {"k", 0}} {
		if _, err := s.Hit(ctx, bad.key, bad.w, t0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Hit(%q, %v): err = %v, want ErrInvalid", bad.key, bad.w, err)
		}
	}
}

func testHitConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 50
	counts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = s.Hit(ctx, "global", time.Minute, t0.Add(time.Duration(i)*time.Millisecond))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Hit %d: %v", i, err)
		}
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("concurrent Hit counts = %v, want 1..%d each once", counts, n)
		}
	}
}

func testLockouts(t *testing.T, s store.Store) {
	ctx := t.Context()
	var p store.LockoutPolicy // the defaults: 3 failures, 15 minutes, 3rd lockout permanent
	l, err := s.Lockout(ctx, "dave")
	if err != nil {
		t.Fatalf("Lockout: %v", err)
	}
	if !reflect.DeepEqual(l, store.Lockout{Username: "dave"}) || l.Locked(t0) {
		t.Fatalf("Lockout of a new user = %+v", l)
	}
	type step struct {
		at        time.Duration
		op        string // fail, success, lock
		failures  int
		lockouts  int
		until     time.Duration // -1: zero
		permanent bool
	}
	steps := []step{
		{0, "fail", 1, 0, -1, false},
		{1 * time.Minute, "fail", 2, 0, -1, false},
		{2 * time.Minute, "success", 0, 0, -1, false},
		{3 * time.Minute, "fail", 1, 0, -1, false},
		{4 * time.Minute, "fail", 2, 0, -1, false},
		{5 * time.Minute, "fail", 0, 1, 20 * time.Minute, false}, // 3rd failure: locked 15 min
		{6 * time.Minute, "fail", 0, 1, 20 * time.Minute, false}, // not counted while locked
		{20 * time.Minute, "fail", 1, 1, 20 * time.Minute, false},
		{21 * time.Minute, "lock", 0, 2, 36 * time.Minute, false}, // fraud: at once
		{40 * time.Minute, "fail", 1, 2, 36 * time.Minute, false},
		{41 * time.Minute, "fail", 2, 2, 36 * time.Minute, false},
		{42 * time.Minute, "fail", 0, 3, 57 * time.Minute, true}, // 3rd lockout: permanent
		{10 * time.Hour, "fail", 0, 3, 57 * time.Minute, true},
	}
	prevLockouts := 0
	for i, st := range steps {
		now := t0.Add(st.at)
		var err error
		switch st.op {
		case "fail":
			l, err = s.RecordFailure(ctx, "dave", p, now)
		case "lock":
			l, err = s.Lock(ctx, "dave", p, now)
		case "success":
			err = s.RecordSuccess(ctx, "dave")
		}
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, st.op, err)
		}
		got, err := s.Lockout(ctx, "dave")
		if err != nil {
			t.Fatalf("Lockout: %v", err)
		}
		if st.op != "success" {
			if started := st.lockouts > prevLockouts; l.Started != started {
				t.Errorf("step %d (%s): Started = %v, want %v", i, st.op, l.Started, started)
			}
			l.Started = false
			if !reflect.DeepEqual(got, l) {
				t.Errorf("step %d: returned %+v, stored %+v", i, l, got)
			}
		}
		prevLockouts = st.lockouts
		want := store.Lockout{Username: "dave", Failures: st.failures, Lockouts: st.lockouts, Permanent: st.permanent}
		if st.until >= 0 {
			want.LockedUntil = t0.Add(st.until)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("step %d (%s at +%v): state %+v, want %+v", i, st.op, st.at, got, want)
		}
		locked := st.permanent || now.Before(want.LockedUntil)
		if got.Locked(now) != locked {
			t.Errorf("step %d: Locked = %v, want %v", i, got.Locked(now), locked)
		}
	}
	if other, _ := s.Lockout(ctx, "erin"); other.Lockouts != 0 || other.Failures != 0 {
		t.Errorf("another user's lockout = %+v", other)
	}
	if err := s.ClearLockout(ctx, "dave"); err != nil {
		t.Fatalf("ClearLockout: %v", err)
	}
	if got, _ := s.Lockout(ctx, "dave"); got.Locked(t0.Add(10*time.Hour)) || got.Lockouts != 0 {
		t.Fatalf("after ClearLockout: %+v", got)
	}

	// A policy of its own.
	custom := store.LockoutPolicy{MaxFailures: 1, Duration: time.Minute, MaxLockouts: 2}
	l, _ = s.RecordFailure(ctx, "frank", custom, t0)
	if !l.Locked(t0) || !l.LockedUntil.Equal(t0.Add(time.Minute)) || l.Permanent {
		t.Errorf("custom policy, first failure: %+v", l)
	}
	l, _ = s.RecordFailure(ctx, "frank", custom, t0.Add(time.Minute))
	if !l.Permanent {
		t.Errorf("custom policy, second lockout not permanent: %+v", l)
	}
	if _, err := s.RecordFailure(ctx, "", p, t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordFailure without a username: err = %v, want ErrInvalid", err)
	}
}

func testLockoutConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := store.LockoutPolicy{MaxFailures: 1000, Duration: time.Minute, MaxLockouts: 3}
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = s.RecordFailure(ctx, "gina", p, t0) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("RecordFailure %d: %v", i, err)
		}
	}
	if l, _ := s.Lockout(ctx, "gina"); l.Failures != n {
		t.Fatalf("after %d concurrent failures: %+v", n, l)
	}
}

// testLockoutStartedOnce: of failures recorded at once past the
// threshold, exactly one says it started the lockout.
func testLockoutStartedOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := store.LockoutPolicy{MaxFailures: 3, Duration: time.Minute, MaxLockouts: 3}
	const n = 20
	var wg sync.WaitGroup
	got := make([]store.Lockout, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.RecordFailure(ctx, "hana", p, t0) })
	}
	wg.Wait()
	started := 0
	for i, l := range got {
		if errs[i] != nil {
			t.Fatalf("RecordFailure %d: %v", i, errs[i])
		}
		if l.Started {
			started++
			if !l.Locked(t0) || l.Lockouts != 1 {
				t.Errorf("the failure that started the lockout returned %+v", l)
			}
		}
	}
	if started != 1 {
		t.Fatalf("%d of %d concurrent failures say they started the lockout, want 1", started, n)
	}
	if l, _ := s.Lockout(ctx, "hana"); l.Lockouts != 1 || l.Started {
		t.Fatalf("after %d concurrent failures: %+v, want one lockout (and Started only on a change)", n, l)
	}
	if l, err := s.Lock(ctx, "hana", p, t0); err != nil || !l.Started || l.Lockouts != 2 {
		t.Fatalf("Lock: %+v, %v; want a second lockout, Started", l, err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	recs := []store.Record{
		{Time: t0, Event: "reset.start", User: "alice", ClientAddr: "192.0.2.1", Outcome: "ok", ResetID: "r1"},
		{Time: t0.Add(time.Second), Event: "gate.phone", User: "alice", ClientAddr: "192.0.2.1", Outcome: "confirmed", CallID: "c1", ResetID: "r1"},
		{Time: t0.Add(2 * time.Second), Event: "reset.start", User: "bob", ClientAddr: "2001:db8::1", Outcome: "refused"},
		// Out of time order: the log keeps the order of appends.
		{Time: t0.Add(time.Second / 2), Event: "lockout", User: "alice", ClientAddr: "192.0.2.1", Outcome: "locked", ResetID: "r1"},
	}
	for _, r := range recs {
		if err := s.Append(ctx, r); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if err := s.Append(ctx, store.Record{User: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Append without an event: err = %v, want ErrInvalid", err)
	}
	tests := []struct {
		name string
		f    store.Filter
		want []int
	}{
		{"all", store.Filter{}, []int{0, 1, 2, 3}},
		{"user", store.Filter{User: "alice"}, []int{0, 1, 3}},
		{"event", store.Filter{Event: "reset.start"}, []int{0, 2}},
		{"reset", store.Filter{ResetID: "r1", Event: "gate.phone"}, []int{1}},
		{"since", store.Filter{Since: t0.Add(time.Second)}, []int{1, 2}},
		{"until", store.Filter{Until: t0.Add(time.Second)}, []int{0, 3}},
		{"limit", store.Filter{Limit: 2}, []int{0, 1}},
		{"nothing", store.Filter{User: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("List(%+v) gave %d records, want %d: %+v", tt.f, len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				want := recs[w]
				want.Seq = got[i].Seq
				if !reflect.DeepEqual(got[i], want) {
					t.Errorf("record %d = %+v, want %+v", i, got[i], want)
				}
				if i > 0 && got[i].Seq <= got[i-1].Seq {
					t.Errorf("Seq not increasing: %d after %d", got[i].Seq, got[i-1].Seq)
				}
			}
		})
	}
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Append(ctx, store.Record{Time: t0, Event: "e", User: fmt.Sprint(i), Outcome: "ok"})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	got, err := s.List(ctx, store.Filter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	seen := map[string]bool{}
	for i, r := range got {
		seen[r.User] = true
		if i > 0 && r.Seq <= got[i-1].Seq {
			t.Fatalf("Seq not increasing: %d after %d", r.Seq, got[i-1].Seq)
		}
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("%d records (%d users) after %d concurrent appends", len(got), len(seen), n)
	}
}

// testAppendOnly checks the shape of the API: the audit log has no method
// that changes or removes a record, and a record has no field for a secret.
func testAppendOnly(t *testing.T) {
	st := reflect.TypeFor[store.Store]()
	allowed := map[string]bool{
		"PutRegistration": true, "Registration": true, "DeleteRegistration": true,
		"NewSession": true, "Session": true, "RecordGate": true, "Complete": true, "Fail": true, "SaveData": true,
		"Hit": true, "RecordFailure": true, "Lock": true, "RecordSuccess": true, "Lockout": true, "ClearLockout": true,
		"Append": true, "List": true, "Publish": true, "Subscribe": true, "Sweep": true, "Close": true,
		"Beat": true, "NodeSeen": true,
	}
	for m := range st.Methods() {
		if !allowed[m.Name] {
			t.Errorf("Store has method %s: check it cannot change the audit log, then add it here", m.Name)
		}
	}
	fields := []string{}
	for f := range reflect.TypeFor[store.Record]().Fields() {
		fields = append(fields, f.Name)
	}
	want := []string{"Seq", "Time", "Event", "User", "ClientAddr", "Outcome", "CallID", "ResetID"}
	if !slices.Equal(fields, want) {
		t.Errorf("Record fields = %v, want %v (no secrets)", fields, want)
	}
}

func testPubSub(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, cancelA, err := s.Subscribe(ctx, "s1")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	a2, cancelA2, err := s.Subscribe(ctx, "s1")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer cancelA2()
	subCtx, endB := context.WithCancel(ctx)
	b, cancelB, err := s.Subscribe(subCtx, "s2")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer cancelB()

	events := []string{"calling", "ringing", "answered", "confirmed"}
	for _, e := range events {
		if err := s.Publish(ctx, "s1", []byte(e)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if err := s.Publish(ctx, "s2", []byte("other")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for _, ch := range []<-chan []byte{a, a2} {
		for _, e := range events {
			if got := receive(t, ch); string(got) != e {
				t.Fatalf("got %q, want %q", got, e)
			}
		}
	}
	if got := receive(t, b); string(got) != "other" {
		t.Fatalf("s2 got %q, want other", got)
	}

	// cancel closes the channel; a cancelled context too.
	cancelA()
	cancelA() // idempotent
	if err := s.Publish(ctx, "s1", []byte("late")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := receive(t, a2); string(got) != "late" {
		t.Fatalf("got %q, want late", got)
	}
	for e := range a {
		t.Fatalf("cancelled subscription got %q", e)
	}
	endB()
	for e := range b {
		t.Fatalf("subscription with a cancelled context got %q", e)
	}
	if err := s.Publish(ctx, "nobody-listens", []byte("x")); err != nil {
		t.Fatalf("Publish without subscribers: %v", err)
	}
	if _, _, err := s.Subscribe(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Subscribe(\"\"): err = %v, want ErrInvalid", err)
	}
}

func testSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	short, _ := s.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: "h", TTL: time.Minute}, t0)
	long, _ := s.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: "h", TTL: time.Hour}, t0)
	if err := s.RecordGate(ctx, short.ID, 0, "ok", t0); err != nil {
		t.Fatalf("RecordGate: %v", err)
	}
	if _, err := s.Hit(ctx, "k", time.Minute, t0); err != nil {
		t.Fatalf("Hit: %v", err)
	}
	if err := s.Append(ctx, store.Record{Time: t0, Event: "e"}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := s.Sweep(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if _, err := s.Session(ctx, short.ID, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session after Sweep: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, long.ID, t0); err != nil {
		t.Errorf("live session after Sweep: %v", err)
	}
	if n, _ := s.Hit(ctx, "k", time.Minute, t0.Add(30*time.Second)); n != 1 {
		t.Errorf("rate window after Sweep: count %d, want 1 (a fresh start)", n)
	}
	if recs, _ := s.List(ctx, store.Filter{}); len(recs) != 1 {
		t.Errorf("Sweep touched the audit log: %d records", len(recs))
	}
}

// testSessionData checks SaveData's compare-and-set: one writer per
// version wins, the data survives the session's end, and a session that
// is no longer active refuses changes.
func testSessionData(t *testing.T, s store.Store) {
	ctx := t.Context()
	ses, err := s.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: "dora", Binding: "b"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, ses.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 0 || got.Version != 0 {
		t.Fatalf("new session: data %q version %d, want empty and 0", got.Data, got.Version)
	}
	v, err := s.SaveData(ctx, ses.ID, 0, []byte(`{"a":1}`), t0.Add(time.Second))
	if err != nil || v != 1 {
		t.Fatalf("SaveData(version 0) = %d, %v; want 1, nil", v, err)
	}
	if _, err := s.SaveData(ctx, ses.ID, 0, []byte(`{"stale":true}`), t0.Add(time.Second)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("SaveData with a stale version: %v, want ErrConflict", err)
	}
	// Concurrent writers of the same version: exactly one wins.
	const writers = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.SaveData(ctx, ses.ID, 1, []byte(fmt.Sprintf(`{"w":%d}`, i)), t0.Add(2*time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != writers-1 {
		t.Fatalf("%d writers of version 1: %d won, %d conflicted; want 1 and %d", writers, wins, conflicts, writers-1)
	}
	got, err = s.Session(ctx, ses.ID, t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || !regexp.MustCompile(`^\{"w":\d+\}$`).Match(got.Data) {
		t.Fatalf("after the race: data %q version %d; want one writer's data and version 2", got.Data, got.Version)
	}
	if err := s.Complete(ctx, ses.ID, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveData(ctx, ses.ID, 2, []byte(`{}`), t0.Add(5*time.Second)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("SaveData on a completed session: %v, want ErrClosed", err)
	}
	after, err := s.Session(ctx, ses.ID, t0.Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if string(after.Data) != string(got.Data) || after.State != store.StateCompleted {
		t.Fatalf("completed session: data %q state %s; want %q completed", after.Data, after.State, got.Data)
	}
	// An expired session refuses changes; an unknown one is not found.
	old, err := s.NewSession(ctx, store.NewSession{Kind: store.KindUnlock, Username: "dora", Binding: "b", TTL: time.Minute}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveData(ctx, old.ID, 0, []byte(`{}`), t0.Add(time.Minute)); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("SaveData on an expired session: %v, want ErrExpired", err)
	}
	if _, err := s.SaveData(ctx, "no-such-session", 0, []byte(`{}`), t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SaveData on an unknown session: %v, want ErrNotFound", err)
	}
}

// testNodes checks the node heartbeats: a node unknown until it beats,
// the last beat kept, one node's beat never another's, and Sweep
// forgetting only the nodes not seen for store.NodeRetention.
func testNodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.NodeSeen(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("NodeSeen before any beat: err = %v, want ErrNotFound", err)
	}
	if err := s.Beat(ctx, "", t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Beat(\"\"): err = %v, want ErrInvalid", err)
	}
	beats := []struct {
		node string
		at   time.Duration
	}{{"a", 0}, {"b", time.Second}, {"a", 2 * time.Second}, {"a", 4 * time.Second}}
	for _, b := range beats {
		if err := s.Beat(ctx, b.node, t0.Add(b.at)); err != nil {
			t.Fatalf("Beat(%s, +%v): %v", b.node, b.at, err)
		}
	}
	for _, tt := range []struct {
		node string
		want time.Time
	}{{"a", t0.Add(4 * time.Second)}, {"b", t0.Add(time.Second)}} {
		got, err := s.NodeSeen(ctx, tt.node)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("NodeSeen(%s) = %v, %v; want %v in UTC", tt.node, got, err, tt.want)
		}
	}
	// Sweep once b is older than the retention and a is not.
	if err := s.Sweep(ctx, t0.Add(time.Second+store.NodeRetention)); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if _, err := s.NodeSeen(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("NodeSeen(b) after Sweep: err = %v, want ErrNotFound", err)
	}
	if _, err := s.NodeSeen(ctx, "a"); err != nil {
		t.Errorf("NodeSeen(a) after Sweep: %v, want it kept", err)
	}
}
