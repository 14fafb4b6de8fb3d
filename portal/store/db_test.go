package store

import (
	"path/filepath"
	"testing"
)

// TestAuditAppendOnlyInSQL checks that the database itself refuses to
// change or remove an audit record, whatever code runs against it.
func TestAuditAppendOnlyInSQL(t *testing.T) {
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	defer s.Close()
	if err := s.Append(t.Context(), Record{Event: "e", User: "u"}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	for _, stmt := range []string{`UPDATE audit SET username = 'x'`, `DELETE FROM audit`} {
		if _, err := s.db.ExecContext(t.Context(), stmt); err == nil {
			t.Errorf("%s: no error", stmt)
		}
	}
	if recs, _ := s.List(t.Context(), Filter{}); len(recs) != 1 || recs[0].User != "u" {
		t.Errorf("audit after refused changes: %+v", recs)
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		d    dialect
		in   string
		want string
	}{
		{sqliteDialect, "a = ? AND b = ?", "a = ? AND b = ?"},
		{postgresDialect, "a = ? AND b = ?", "a = $1 AND b = $2"},
		{postgresDialect, "no args", "no args"},
	}
	for _, tt := range tests {
		if got := tt.d.q(tt.in); got != tt.want {
			t.Errorf("%s.q(%q) = %q, want %q", tt.d.name, tt.in, got, tt.want)
		}
	}
}
