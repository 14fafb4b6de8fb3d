package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInstrument: the operations are timed by op, the metrics lint clean,
// and Ping answers.
func TestInstrument(t *testing.T) {
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "sspr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := prometheus.NewRegistry()
	if err := db.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Hit(t.Context(), "k", time.Minute, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Registration(t.Context(), "nobody"); err == nil {
		t.Fatal("a registration for nobody")
	}
	for op, want := range map[string]int{"ping": 1, "hit": 1, "registration": 1, "append": 0} {
		got := histogramCount(t, reg, op)
		if got != want {
			t.Errorf("%s: %d observations, want %d", op, got, want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, op string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "sspr_store_operation_duration_seconds") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == op {
					return int(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	t.Fatalf("no series for op %s", op)
	return 0
}
