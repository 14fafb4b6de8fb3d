package directory

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// result labels an operation's outcome in metrics: a closed set.
type result string

const (
	resultOK          result = "ok"
	resultNotFound    result = "not-found"
	resultRefused     result = "refused"
	resultPolicy      result = "policy"
	resultUnavailable result = "unavailable"
	resultError       result = "error"
)

// The operation labels.
const (
	opFind         = "find"
	opAuthenticate = "authenticate"
	opSetPassword  = "set-password"
	opUnlock       = "unlock"
	opCheck        = "check"
)

type metrics struct {
	ops     *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// newMetrics builds the directory metrics and registers them on reg (nil:
// not registered).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_directory_operations_total",
			Help: "Directory operations by kind and result.",
		}, []string{"op", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sspr_directory_operation_seconds",
			Help:    "Directory operation latency by kind.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"op"}),
	}
	for _, op := range []string{opFind, opAuthenticate, opSetPassword, opUnlock, opCheck} {
		m.latency.WithLabelValues(op)
		for _, r := range []result{resultOK, resultNotFound, resultRefused, resultPolicy, resultUnavailable, resultError} {
			m.ops.WithLabelValues(op, string(r))
		}
	}
	if reg != nil {
		reg.MustRegister(m.ops, m.latency)
	}
	return m
}

// observe records one operation that started at start and ended in err.
func (m *metrics) observe(op string, start time.Time, err error) {
	m.ops.WithLabelValues(op, string(classify(err))).Inc()
	m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
