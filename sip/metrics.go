package sip

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's Prometheus metrics.
type metrics struct {
	calls       *prometheus.CounterVec // by outcome and trunk
	failovers   *prometheus.CounterVec // by outcome and trunk
	setup       prometheus.Histogram
	duration    prometheus.Histogram
	active      prometheus.Gauge
	dialling    prometheus.Gauge
	trunkUp     *prometheus.GaugeVec
	unsolicited prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, trunks []trunk) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_sip_calls_total",
			Help: "Calls placed, counted once when they end, by how they ended (outcome) and the trunk that gave the final answer.",
		}, []string{"outcome", "trunk"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_sip_trunk_failovers_total",
			Help: "Attempts on a trunk that failed and passed the call on to the next trunk, by how the attempt failed (outcome) and that trunk.",
		}, []string{"outcome", "trunk"}),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sspr_sip_call_setup_seconds",
			Help:    "Time from INVITE to answer of answered calls.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sspr_sip_call_duration_seconds",
			Help:    "Time from answer to hang-up of answered calls.",
			Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sspr_sip_calls_active",
			Help: "Answered calls in progress.",
		}),
		dialling: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sspr_sip_calls_dialling",
			Help: "Calls being placed and not yet answered.",
		}),
		trunkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sspr_sip_trunk_up",
			Help: "1 when the trunk answered its last OPTIONS keep-alive (or has keep-alive off, so is taken as up), else 0.",
		}, []string{"trunk"}),
		unsolicited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sspr_sip_unsolicited_invites_total",
			Help: "INVITEs received outside our calls, all declined.",
		}),
	}
	for _, t := range trunks {
		for _, o := range Outcomes {
			if o == Answered {
				continue // not an end: counted as how the call ended
			}
			m.calls.WithLabelValues(string(o), t.Name)
		}
		m.trunkUp.WithLabelValues(t.Name)
		for _, o := range []Outcome{Unreachable, NoAnswer, Failed} {
			m.failovers.WithLabelValues(string(o), t.Name)
		}
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.failovers, m.setup, m.duration, m.active, m.dialling, m.trunkUp, m.unsolicited)
	}
	return m
}

// answered counts an answered call in progress; calls_total counts it
// when it ends.
func (m *metrics) answered(trunk string, setup time.Duration) {
	m.setup.Observe(setup.Seconds())
	m.active.Inc()
}

// ended counts the end of an answered call.
func (m *metrics) ended(trunk string, o Outcome, d time.Duration) {
	m.calls.WithLabelValues(string(o), trunk).Inc()
	m.duration.Observe(d.Seconds())
	m.active.Dec()
}

// failed counts a call that was not answered.
func (m *metrics) failed(trunk string, o Outcome) {
	m.calls.WithLabelValues(string(o), trunk).Inc()
}
