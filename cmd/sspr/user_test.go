package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/portal/store"
)

// TestUserCommands: the helpdesk sees a user's registration (masked) and
// reset-process lockout, reopens a permanently locked process and deletes
// a registration; each change is audited.
func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sspr.db")
	cfg := filepath.Join(dir, "sspr.yaml")
	if err := os.WriteFile(cfg, []byte("store:\n  sqlite: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.PutRegistration(ctx, store.Registration{Username: "alice", Phone: "+442079460958", PINHash: "$argon2id$x", Language: "en"}, now); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := st.Lock(ctx, "alice", store.LockoutPolicy{}, now); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	out, _, code := runSSPR(t, nil, "user", "show", "--config", cfg, " Alice ")
	if code != exitOK || !strings.Contains(out, "+44 •• •••• 0958") || !strings.Contains(out, "PIN set") ||
		!strings.Contains(out, "locked until cleared (3 lockouts)") || strings.Contains(out, "2079460958") {
		t.Fatalf("user show: exit %d\n%s", code, out)
	}
	if out, _, code = runSSPR(t, nil, "user", "reopen", "--config", cfg, "alice"); code != exitOK {
		t.Fatalf("user reopen: exit %d %s", code, out)
	}
	if out, _, _ = runSSPR(t, nil, "user", "show", "--config", cfg, "alice"); !strings.Contains(out, "reset process: open (0 failures, 0 lockouts)") ||
		!strings.Contains(out, "admin.clear-lockout ok") {
		t.Fatalf("after reopen:\n%s", out)
	}
	if out, _, code = runSSPR(t, nil, "user", "forget", "--config", cfg, "alice"); code != exitOK {
		t.Fatalf("user forget: exit %d %s", code, out)
	}
	if out, _, code = runSSPR(t, nil, "user", "forget", "--config", cfg, "alice"); code != exitFail || !strings.Contains(out, "no registration") {
		t.Fatalf("user forget twice: exit %d %s", code, out)
	}
	if out, _, _ = runSSPR(t, nil, "user", "show", "--config", cfg, "alice"); !strings.Contains(out, "registration: none") ||
		!strings.Contains(out, "admin.delete-registration ok") {
		t.Fatalf("after forget:\n%s", out)
	}
	// Usage errors.
	for _, args := range [][]string{{"user", "show", "alice"}, {"user", "show", "--config", cfg}, {"user", "reopen", "--config", cfg, "a", "b"}} {
		if _, _, code := runSSPR(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
