package ivr

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// keyMethods are the values of the method label of sspr_ivr_keys_total.
var keyMethods = []string{"rfc4733", "inband", "info", "other"}

// metrics are the verifier's Prometheus metrics.
type metrics struct {
	verifications *prometheus.CounterVec   // by mode and result
	duration      *prometheus.HistogramVec // by mode
	keys          *prometheus.CounterVec   // by method
	active        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_ivr_verifications_total",
			Help: "Verification calls, counted when they end, by mode and result.",
		}, []string{"mode", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sspr_ivr_verification_duration_seconds",
			Help:    "Time from dialling to the end of the hang-up of verification calls, by mode.",
			Buckets: []float64{1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180},
		}, []string{"mode"}),
		keys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_ivr_keys_total",
			Help: "Keys pressed during verification calls, by how they arrived (rfc4733, inband, info, other).",
		}, []string{"method"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sspr_ivr_verifications_active",
			Help: "Verification calls in progress, from dialling to hang-up.",
		}),
	}
	for _, mode := range Modes {
		for _, r := range Results {
			m.verifications.WithLabelValues(string(mode), string(r))
		}
		m.duration.WithLabelValues(string(mode))
	}
	for _, k := range keyMethods {
		m.keys.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(m.verifications, m.duration, m.keys, m.active)
	}
	return m
}

// ended counts a verification that has ended.
func (m *metrics) ended(mode Mode, r Result, d time.Duration) {
	m.verifications.WithLabelValues(string(mode), string(r)).Inc()
	m.duration.WithLabelValues(string(mode)).Observe(d.Seconds())
}

// key counts a key that arrived by method.
func (m *metrics) key(method string) {
	switch method {
	case "rfc4733", "inband", "info":
	default:
		method = "other"
	}
	m.keys.WithLabelValues(method).Inc()
}
