package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// storeOps are the values of the op label: one per DB method that goes
// to the database.
var storeOps = []string{
	"put_registration", "registration", "delete_registration",
	"new_session", "session", "record_gate", "save_data", "complete", "fail",
	"hit", "record_failure", "lock", "record_success", "lockout", "clear_lockout",
	"append", "list", "sweep", "publish", "ping", "beat", "node_seen",
}

// metrics are the store's Prometheus metrics.
type metrics struct {
	duration *prometheus.HistogramVec
}

// Instrument registers the store's metrics on reg and times every
// operation from then on: sspr_store_operation_duration_seconds{op}. Call
// it once, before the store is shared.
func (s *DB) Instrument(reg prometheus.Registerer) error {
	m := &metrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sspr_store_operation_duration_seconds",
		Help:    "Time taken by store operations, by operation.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"op"})}
	for _, op := range storeOps {
		m.duration.WithLabelValues(op)
	}
	if err := reg.Register(m.duration); err != nil {
		return err
	}
	s.m.Store(m)
	return nil
}

// observe records how long the operation op, started at start, took.
func (s *DB) observe(op string, start time.Time) {
	if m := s.m.Load(); m != nil {
		m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

// Ping checks that the database answers, as a readiness probe does.
func (s *DB) Ping(ctx context.Context) error {
	defer s.observe("ping", time.Now())
	return s.db.PingContext(ctx)
}
