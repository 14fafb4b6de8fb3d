package directory_test

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/directory/dirconf"
)

// testArgon2 makes hashes cheap enough for tests.
var testArgon2 = directory.Argon2Params{Memory: 64, Time: 1, Threads: 1}

const (
	alicePassword = "Correct-Horse-1"
	bobPassword   = "Battery-Staple-2"
)

func seedUsers() []directory.EmbeddedUser {
	return []directory.EmbeddedUser{
		{Username: "alice", DisplayName: "Alice Martin", Mail: "alice@example.org", Phones: []string{"+442079460958"}, Language: "en", Password: alicePassword},
		{Username: "bob", DisplayName: "Bob Durand", Mail: "bob@example.org", Language: "fr", Password: bobPassword},
		{Username: "carol", Password: "Carol-Password-3"},
	}
}

// clock is a settable clock for lockout and password ages.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newEmbedded writes the seed users to a new file named name in a
// temporary directory and opens it with policy (nil: the default).
func newEmbedded(t *testing.T, name string, policy *directory.EmbeddedPolicy, now func() time.Time) (*directory.Embedded, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	cfg := directory.EmbeddedConfig{Policy: policy, Argon2: testArgon2, Now: now}
	if err := directory.WriteEmbedded(path, seedUsers(), cfg); err != nil {
		t.Fatalf("WriteEmbedded: %v", err)
	}
	// Open with the policy from the file, as the demo does.
	cfg.Policy = nil
	d, err := directory.OpenEmbedded(path, cfg)
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	return d, path
}

func TestEmbeddedConformance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		policy *directory.EmbeddedPolicy
		fix    dirconf.Fixture
	}{
		{
			name: "default policy yaml",
			file: "users.yaml",
			fix:  dirconf.Fixture{Lockout: 5, MinLength: 8, History: 3},
		},
		{
			name: "strict policy json",
			file: "users.json",
			policy: &directory.EmbeddedPolicy{
				MinLength: 12, History: 5, LockoutThreshold: 3, Complexity: true,
			},
			fix: dirconf.Fixture{Lockout: 3, MinLength: 12, History: 5},
		},
		{
			name:   "lockout after one failure",
			file:   "users.yml",
			policy: &directory.EmbeddedPolicy{MinLength: 4, History: 1, LockoutThreshold: 1, LockoutDuration: time.Hour},
			fix:    dirconf.Fixture{Lockout: 1, MinLength: 4, History: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := newEmbedded(t, tc.file, tc.policy, nil)
			tc.fix.User, tc.fix.Password, tc.fix.Other = "alice", alicePassword, "bob"
			dirconf.Run(t, d, tc.fix)
		})
	}
}

// TestEmbeddedConformanceReset runs the suite with a Reset that puts the
// seed file back and reopens it.
func TestEmbeddedConformanceReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	cfg := directory.EmbeddedConfig{Argon2: testArgon2}
	if err := directory.WriteEmbedded(path, seedUsers(), cfg); err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := &swappable{}
	reset := func(t *testing.T) {
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := directory.OpenEmbedded(path, cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.set(e)
	}
	reset(t)
	dirconf.Run(t, d, dirconf.Fixture{
		User: "bob", Password: bobPassword, Other: "carol",
		Lockout: 5, MinLength: 8, History: 3, Reset: reset,
	})
}

// swappable is a Directory whose implementation a Reset replaces.
type swappable struct {
	mu sync.Mutex
	d  directory.Directory
}

func (s *swappable) set(d directory.Directory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = d
}

func (s *swappable) get() directory.Directory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d
}

func (s *swappable) Find(ctx context.Context, u string) (*directory.User, error) {
	return s.get().Find(ctx, u)
}

func (s *swappable) Authenticate(ctx context.Context, u, p string) (*directory.User, error) {
	return s.get().Authenticate(ctx, u, p)
}

func (s *swappable) SetPassword(ctx context.Context, u, p string) error {
	return s.get().SetPassword(ctx, u, p)
}

func (s *swappable) Unlock(ctx context.Context, u string) (bool, error) {
	return s.get().Unlock(ctx, u)
}

func (s *swappable) Check(ctx context.Context) error { return s.get().Check(ctx) }

// reasonOf returns the AuthError reason of err, or "" with err's text.
func reasonOf(err error) string {
	var ae *directory.AuthError
	if errors.As(err, &ae) {
		return string(ae.Reason)
	}
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

func policyReasonOf(err error) string {
	var pe *directory.PolicyError
	if errors.As(err, &pe) {
		return string(pe.Reason)
	}
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

func TestEmbeddedPersistence(t *testing.T) {
	for _, name := range []string{"users.yaml", "users.json"} {
		t.Run(name, func(t *testing.T) { testPersistence(t, name) })
	}
}

func testPersistence(t *testing.T, name string) {
	ctx := t.Context()
	clk := newClock()
	d, path := newEmbedded(t, name, nil, clk.Now)

	const newPassword = "Another-Good-One-4"
	if err := d.SetPassword(ctx, "alice", newPassword); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, _ = d.Authenticate(ctx, "bob", "wrong-password")
	}
	for range 2 {
		_, _ = d.Authenticate(ctx, "carol", "wrong-password")
	}

	reopen := func() *directory.Embedded {
		t.Helper()
		e, err := directory.OpenEmbedded(path, directory.EmbeddedConfig{Argon2: testArgon2, Now: clk.Now})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		return e
	}
	e := reopen()
	if _, err := e.Authenticate(ctx, "alice", newPassword); err != nil {
		t.Errorf("alice with the new password after reopen: %v", err)
	}
	if _, err := e.Authenticate(ctx, "alice", alicePassword); reasonOf(err) != string(directory.BadCredentials) {
		t.Errorf("alice with the old password after reopen: %s", reasonOf(err))
	}
	if err := e.SetPassword(ctx, "alice", alicePassword); policyReasonOf(err) != string(directory.InHistory) {
		t.Errorf("alice back to the old password after reopen: %s, want in history", policyReasonOf(err))
	}
	u, err := e.Find(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Locked || !u.LockedUntil.Equal(clk.Now().Add(15*time.Minute)) {
		t.Errorf("bob after reopen: Locked %v until %v, want locked until %v", u.Locked, u.LockedUntil, clk.Now().Add(15*time.Minute))
	}
	// carol's two failures survive: three more lock her.
	for i := range 3 {
		if _, err := e.Authenticate(ctx, "carol", "wrong-password"); reasonOf(err) != string(directory.BadCredentials) {
			t.Errorf("carol failure %d: %s", i+3, reasonOf(err))
		}
	}
	if _, err := e.Authenticate(ctx, "carol", "Carol-Password-3"); reasonOf(err) != string(directory.LockedOut) {
		t.Errorf("carol after 5 failures over a reopen: %s, want locked-out", reasonOf(err))
	}
	// An unlock survives too.
	if was, err := e.Unlock(ctx, "bob"); err != nil || !was {
		t.Fatalf("Unlock(bob) = %v, %v", was, err)
	}
	if _, err := reopen().Authenticate(ctx, "bob", bobPassword); err != nil {
		t.Errorf("bob after unlock and reopen: %v", err)
	}
	// The file keeps its format, is private, and has no temporary files
	// left beside it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if isJSON := strings.HasSuffix(name, ".json"); isJSON != json.Valid(data) {
		t.Errorf("%s: JSON %v, want %v:\n%s", name, json.Valid(data), isJSON, data)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the file", names)
	}
}

func TestEmbeddedTestdata(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		file      string
		minLength int
		bobLocked bool
		bobUntil  bool
	}{
		{"users.yaml", 8, true, false},
		{"users.json", 10, false, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			// Copy: the directory writes to its file.
			data, err := os.ReadFile(filepath.Join("testdata", "embedded", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			d, err := directory.OpenEmbedded(path, directory.EmbeddedConfig{Argon2: testArgon2})
			if err != nil {
				t.Fatal(err)
			}
			u, err := d.Authenticate(ctx, "alice", alicePassword)
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if u.DisplayName != "Alice Martin" || u.DN != "uid=alice" {
				t.Errorf("alice = %+v", u)
			}
			b, err := d.Find(ctx, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if b.Locked != tc.bobLocked || !b.LockedUntil.IsZero() {
				t.Errorf("bob: Locked %v until %v, want %v forever", b.Locked, b.LockedUntil, tc.bobLocked)
			}
			short := strings.Repeat("Ab1!", 4)[:tc.minLength-1]
			if err := d.SetPassword(ctx, "alice", short); policyReasonOf(err) != string(directory.TooShort) {
				t.Errorf("%d characters: %s, want too-short", len(short), policyReasonOf(err))
			}
		})
	}
}

func TestEmbeddedMalformed(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // in the error, in order
	}{
		{"bad-hash.yaml", []string{"line 5", "users[1].password_hash", "not a PHC string"}},
		{"bad-params.yaml", []string{"line 3", "users[0].password_hash", "m=4194304"}},
		{"bad-history.yaml", []string{"line 6", "users[0].password_history", "entry 1"}},
		{"missing-hash.yaml", []string{"line 2", "users[0].password_hash", "missing"}},
		{"unknown-field.yaml", []string{"line 3", "field password not found"}},
		{"duplicate.yaml", []string{"line 4", "users[1].username", `"Alice" is also users[0]`}},
		{"bad-duration.yaml", []string{"line 3", "policy.lockout_duration", "fifteen minutes"}},
		{"bad-min-length.yaml", []string{"line 3", "policy.min_length", "at least 1"}},
		{"bad-type.yaml", []string{"line 4", "many"}},
		{"bad-locked-until.yaml", []string{"line 4", "users[0].locked_until", "locked is not true"}},
		{"bad-time.yaml", []string{"line 4", "users[0].password_changed", "yesterday"}},
		{"empty-username.yaml", []string{"line 2", "users[0].username", "missing"}},
		{"empty.yaml", []string{"empty file"}},
		{"syntax.yaml", []string{"yaml: line"}},
		{"bad.json", []string{"line 5", "yes please"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "embedded", tc.file)
			_, err := directory.OpenEmbedded(path, directory.EmbeddedConfig{Argon2: testArgon2})
			if err == nil {
				t.Fatal("opened, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q: want %q (after the previous parts)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := directory.OpenEmbedded(filepath.Join(t.TempDir(), "none.yaml"), directory.EmbeddedConfig{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestEmbeddedConfigErrors(t *testing.T) {
	path := filepath.Join("testdata", "embedded", "users.yaml")
	for _, tc := range []struct {
		name string
		cfg  directory.EmbeddedConfig
		want string
	}{
		{"min length", directory.EmbeddedConfig{Policy: &directory.EmbeddedPolicy{}}, "Policy.MinLength"},
		{"history", directory.EmbeddedConfig{Policy: &directory.EmbeddedPolicy{MinLength: 8, History: -1}}, "Policy.History"},
		{"duration", directory.EmbeddedConfig{Policy: &directory.EmbeddedPolicy{MinLength: 8, LockoutDuration: -time.Second}}, "Policy.LockoutDuration"},
		{"memory", directory.EmbeddedConfig{Argon2: directory.Argon2Params{Memory: 4, Threads: 1}}, "Argon2.Memory"},
		{"memory high", directory.EmbeddedConfig{Argon2: directory.Argon2Params{Memory: 1 << 30}}, "Argon2.Memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := directory.OpenEmbedded(path, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestEmbeddedLockoutExpiry(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		duration time.Duration
	}{
		{"ten minutes", 10 * time.Minute},
		{"until unlocked", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			d, _ := newEmbedded(t, "users.yaml", &directory.EmbeddedPolicy{MinLength: 8, History: 3, LockoutThreshold: 3, LockoutDuration: tc.duration}, clk.Now)
			for range 3 {
				_, _ = d.Authenticate(ctx, "alice", "wrong-password")
			}
			lockedAt := clk.Now()
			u, err := d.Find(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			var wantUntil time.Time
			if tc.duration > 0 {
				wantUntil = lockedAt.Add(tc.duration)
			}
			if !u.Locked || !u.LockedUntil.Equal(wantUntil) {
				t.Fatalf("Find: Locked %v until %v, want until %v", u.Locked, u.LockedUntil, wantUntil)
			}
			steps := []struct {
				advance time.Duration
				want    directory.AuthReason
			}{
				{time.Minute, directory.LockedOut},
				{tc.duration - 2*time.Minute, directory.LockedOut},
				{time.Minute - time.Nanosecond, directory.LockedOut},
				{time.Nanosecond, ""}, // expired, if it expires
				{1000 * time.Hour, ""},
			}
			for _, st := range steps {
				clk.Advance(st.advance)
				want := string(st.want)
				if want == "" {
					want = "ok"
					if tc.duration == 0 {
						want = string(directory.LockedOut)
					}
				}
				if _, err := d.Authenticate(ctx, "alice", alicePassword); reasonOf(err) != want {
					t.Fatalf("%v after the lockout: %s, want %s", clk.Now().Sub(lockedAt), reasonOf(err), want)
				}
			}
			if tc.duration == 0 {
				if was, err := d.Unlock(ctx, "alice"); err != nil || !was {
					t.Fatalf("Unlock = %v, %v", was, err)
				}
			}
			// The count starts again from zero.
			for i := range 2 {
				if _, err := d.Authenticate(ctx, "alice", "wrong-password"); reasonOf(err) != string(directory.BadCredentials) {
					t.Fatalf("failure %d after the lockout ended: %s", i+1, reasonOf(err))
				}
			}
			if _, err := d.Authenticate(ctx, "alice", alicePassword); err != nil {
				t.Fatalf("after two new failures: %v", err)
			}
		})
	}
}

func TestEmbeddedPolicy(t *testing.T) {
	ctx := t.Context()
	type step struct {
		advance  time.Duration
		password string
		want     string
	}
	for _, tc := range []struct {
		name   string
		policy directory.EmbeddedPolicy
		steps  []step
	}{
		{"length counts characters", directory.EmbeddedPolicy{MinLength: 8}, []step{
			{0, "ééééééé", string(directory.TooShort)},
			{0, "éééééééé", "ok"},
		}},
		{"complexity", directory.EmbeddedPolicy{MinLength: 8, Complexity: true}, []step{
			{0, "alllowercase", string(directory.NotComplex)},
			{0, "lower-and-symbols", string(directory.NotComplex)},
			{0, "lower-and-digits-1", "ok"},
			{0, "Upper-and-lower", "ok"},
			{0, "xxAlice-1234", string(directory.NotComplex)}, // the username
		}},
		{"min age", directory.EmbeddedPolicy{MinLength: 8, MinAge: 24 * time.Hour}, []step{
			{0, "First-Change-1", "ok"}, // the seed was never changed
			{23 * time.Hour, "Second-Change-2", string(directory.TooRecent)},
			{time.Hour, "Second-Change-2", "ok"},
		}},
		{"history of three", directory.EmbeddedPolicy{MinLength: 8, History: 3}, []step{
			{0, alicePassword, string(directory.InHistory)}, // the current one
			{0, "Password-Two-2", "ok"},
			{0, "Password-Three-3", "ok"},
			{0, alicePassword, string(directory.InHistory)},
			{0, "Password-Four-4", "ok"},
			{0, "Password-Two-2", string(directory.InHistory)},
			{0, alicePassword, "ok"}, // fourth from last
		}},
		{"history of one", directory.EmbeddedPolicy{MinLength: 8, History: 1}, []step{
			{0, alicePassword, string(directory.InHistory)},
			{0, "Password-Two-2", "ok"},
			{0, alicePassword, "ok"},
		}},
		{"no history", directory.EmbeddedPolicy{MinLength: 8}, []step{
			{0, alicePassword, "ok"},
			{0, alicePassword, "ok"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			d, _ := newEmbedded(t, "users.yaml", &tc.policy, clk.Now)
			current := alicePassword
			for i, st := range tc.steps {
				clk.Advance(st.advance)
				err := d.SetPassword(ctx, "alice", st.password)
				if got := policyReasonOf(err); got != st.want {
					t.Fatalf("step %d: %s, want %s", i, got, st.want)
				}
				if err == nil {
					current = st.password
				} else {
					var pe *directory.PolicyError
					if errors.As(err, &pe) && pe.Err == nil {
						t.Errorf("step %d: PolicyError without the cause", i)
					}
				}
				if _, err := d.Authenticate(ctx, "alice", current); err != nil {
					t.Fatalf("step %d: the current password: %v", i, err)
				}
			}
		})
	}
}

func TestEmbeddedHashFormat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params directory.Argon2Params
		want   string
	}{
		{"production default", directory.Argon2Params{}, "m=65536,t=1,p=2"},
		{"test cost", testArgon2, "m=64,t=1,p=1"},
		{"custom", directory.Argon2Params{Memory: 1024, Time: 2, Threads: 4}, "m=1024,t=2,p=4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.yaml")
			users := []directory.EmbeddedUser{{Username: "alice", Password: alicePassword}}
			if err := directory.WriteEmbedded(path, users, directory.EmbeddedConfig{Argon2: tc.params}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), alicePassword) {
				t.Fatal("the file holds the password in clear")
			}
			re := regexp.MustCompile(`password_hash: (\$argon2id\$v=19\$(m=\d+,t=\d+,p=\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43}))\n`)
			m := re.FindStringSubmatch(string(data))
			if m == nil {
				t.Fatalf("no argon2id PHC hash in:\n%s", data)
			}
			if m[2] != tc.want {
				t.Errorf("parameters %s, want %s", m[2], tc.want)
			}
			// It is argon2id of the password, as any implementation
			// computes it.
			p := tc.params
			if p == (directory.Argon2Params{}) {
				p = directory.Argon2Params{Memory: 65536, Time: 1, Threads: 2}
			}
			salt, err := base64.RawStdEncoding.DecodeString(m[3])
			if err != nil {
				t.Fatal(err)
			}
			key, err := base64.RawStdEncoding.DecodeString(m[4])
			if err != nil {
				t.Fatal(err)
			}
			got := argon2.IDKey([]byte(alicePassword), salt, p.Time, p.Memory, p.Threads, 32)
			if subtle.ConstantTimeCompare(got, key) != 1 {
				t.Error("the hash is not argon2id of the password")
			}
		})
	}
	t.Run("salted", func(t *testing.T) {
		d, path := newEmbedded(t, "users.yaml", &directory.EmbeddedPolicy{MinLength: 8}, nil)
		for _, u := range []string{"alice", "bob"} {
			if err := d.SetPassword(t.Context(), u, "The-Same-Password-1"); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		hashes := regexp.MustCompile(`password_hash: (\S+)`).FindAllStringSubmatch(string(data), -1)
		if len(hashes) != 3 || hashes[0][1] == hashes[1][1] {
			t.Errorf("hashes of one password for two users: %q", hashes)
		}
	})
}

func TestEmbeddedConcurrent(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	d, path := newEmbedded(t, "users.yaml", &directory.EmbeddedPolicy{MinLength: 8, History: 3, LockoutThreshold: 5}, clk.Now)

	var wg sync.WaitGroup
	const workers = 8
	results := make([]error, workers)
	// Bad passwords for bob from every worker: he locks exactly once.
	for w := range workers {
		wg.Go(func() {
			for range 5 {
				_, err := d.Authenticate(ctx, "bob", "wrong-password")
				var ae *directory.AuthError
				if !errors.As(err, &ae) || (ae.Reason != directory.BadCredentials && ae.Reason != directory.LockedOut) {
					results[w] = fmt.Errorf("bob: %v", err)
				}
			}
		})
	}
	// Password changes for alice from every worker, with reads between.
	passwords := make([]string, workers)
	for w := range workers {
		passwords[w] = fmt.Sprintf("Concurrent-%d-Password", w)
		wg.Go(func() {
			if err := d.SetPassword(ctx, "alice", passwords[w]); err != nil {
				results[w] = errors.Join(results[w], fmt.Errorf("alice: %w", err))
			}
			if _, err := d.Find(ctx, "alice"); err != nil {
				results[w] = errors.Join(results[w], err)
			}
			_, _ = d.Authenticate(ctx, "carol", "Carol-Password-3")
			_, _ = d.Unlock(ctx, "carol")
			if err := d.Check(ctx); err != nil {
				results[w] = errors.Join(results[w], err)
			}
		})
	}
	wg.Wait()
	for w, err := range results {
		if err != nil {
			t.Errorf("worker %d: %v", w, err)
		}
	}

	e, err := directory.OpenEmbedded(path, directory.EmbeddedConfig{Argon2: testArgon2, Now: clk.Now})
	if err != nil {
		t.Fatalf("reopen after concurrent use: %v", err)
	}
	for _, dir := range []*directory.Embedded{d, e} {
		if u, err := dir.Find(ctx, "bob"); err != nil || !u.Locked {
			t.Errorf("bob after %d concurrent failures: %+v, %v; want locked", workers*5, u, err)
		}
		// Exactly one of the passwords is alice's now.
		ok := 0
		for _, p := range passwords {
			if _, err := dir.Authenticate(ctx, "alice", p); err == nil {
				ok++
			} else if _, err := dir.Unlock(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Errorf("alice authenticates with %d of the concurrent passwords, want 1", ok)
		}
	}
}

func TestEmbeddedWriteEmbedded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	cfg := directory.EmbeddedConfig{Argon2: testArgon2}
	if err := directory.WriteEmbedded(path, seedUsers(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := directory.WriteEmbedded(path, seedUsers(), cfg); !errors.Is(err, fs.ErrExist) {
		t.Errorf("over an existing file: %v, want fs.ErrExist", err)
	}
	for _, tc := range []struct {
		name  string
		users []directory.EmbeddedUser
		want  string
	}{
		{"empty username", []directory.EmbeddedUser{{Password: "x"}}, "users[0].username"},
		{"duplicate", []directory.EmbeddedUser{{Username: "a", Password: "x"}, {Username: "A", Password: "y"}}, "users[1].username"},
		{"no password", []directory.EmbeddedUser{{Username: "a"}}, "users[0].password"},
		{"control character", []directory.EmbeddedUser{{Username: "a\x00", Password: "x"}}, "users[0].username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			err := directory.WriteEmbedded(p, tc.users, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("file written despite the error: %v", err)
			}
		})
	}
}

func TestEmbeddedCheck(t *testing.T) {
	d, path := newEmbedded(t, "users.yaml", nil, nil)
	if err := d.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := d.Check(t.Context()); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Check without the file: %v, want ErrUnavailable", err)
	}
}

// TestEmbeddedUnsaved: a change the file cannot take is refused and
// forgotten; a failed authentication still counts.
func TestEmbeddedUnsaved(t *testing.T) {
	ctx := t.Context()
	d, path := newEmbedded(t, "users.yaml", &directory.EmbeddedPolicy{MinLength: 8, LockoutThreshold: 2}, nil)
	// Replace the file's directory by a file: no temporary file can be
	// created beside it, whoever we are.
	dir := filepath.Dir(path)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })

	if err := d.SetPassword(ctx, "alice", "Unsaved-Password-1"); err == nil {
		t.Fatal("SetPassword succeeded without a file")
	}
	if _, err := d.Authenticate(ctx, "alice", alicePassword); err != nil {
		t.Errorf("after a SetPassword that could not be saved, the old password: %v", err)
	}
	for range 2 {
		if _, err := d.Authenticate(ctx, "bob", "wrong-password"); reasonOf(err) != string(directory.BadCredentials) {
			t.Errorf("bob: %s", reasonOf(err))
		}
	}
	if _, err := d.Authenticate(ctx, "bob", bobPassword); reasonOf(err) != string(directory.LockedOut) {
		t.Errorf("bob after failures that could not be saved: %s, want locked-out", reasonOf(err))
	}
}

func TestEmbeddedCancelled(t *testing.T) {
	d, _ := newEmbedded(t, "users.yaml", nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.SetPassword(ctx, "alice", "Cancelled-Password-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("SetPassword: %v, want context.Canceled", err)
	}
	if _, err := d.Authenticate(ctx, "alice", alicePassword); !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate: %v, want context.Canceled", err)
	}
	if _, err := d.Unlock(ctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("Unlock: %v, want context.Canceled", err)
	}
}
