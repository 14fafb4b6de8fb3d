package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/store/storetest"
)

// openSQLite opens a new SQLite store in t's temporary directory, closed
// when t ends.
func openSQLite(t testing.TB) *store.DB {
	t.Helper()
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "sspr.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLite(t) })
}

// TestSQLiteReopen checks that the state survives a restart and that the
// migrations run once.
func TestSQLiteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sspr.db")
	ctx := t.Context()
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	r := store.Registration{Username: "alice", Phone: "+447946000958"}
	if err := s.PutRegistration(ctx, r, time.Unix(1e9, 0)); err != nil {
		t.Fatalf("PutRegistration: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s, err = store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("OpenSQLite again: %v", err)
	}
	defer s.Close()
	got, err := s.Registration(ctx, "alice")
	if err != nil || got.Phone != r.Phone {
		t.Fatalf("Registration after reopen = %+v, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name string
		open func() error
	}{
		{"SQLite without a path", func() error { _, err := store.OpenSQLite(ctx, ""); return err }},
		{"PostgreSQL without a DSN", func() error { _, err := store.OpenPostgres(ctx, ""); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.open(); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")); err == nil {
		t.Fatal("OpenSQLite in a missing directory: no error")
	}
}
