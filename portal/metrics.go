package portal

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/workflow"
)

// metrics are the portal's Prometheus metrics. Every label takes its
// values from a closed set fixed in code.
type metrics struct {
	journeys      *prometheus.CounterVec
	gates         *prometheus.CounterVec
	calls         *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	lockouts      *prometheus.CounterVec
	resets        *prometheus.CounterVec
	unlocks       *prometheus.CounterVec
	registrations *prometheus.CounterVec
	fraud         prometheus.Counter
	api           *prometheus.CounterVec
	// keyToPage is the time from the key's arrival at the node that
	// owns the call to the event stream telling the page the result.
	keyToPage prometheus.Histogram
}

// The limits a refusal names.
var limitNames = []string{"start_client", "signin_user", "call_user", "call_number", "call_client", "call_global"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		journeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_journeys_total",
			Help: "Journeys (register, reset, unlock) by what happened: started, refused (sign-in), locked (refused by the reset-process lockout), completed, failed.",
		}, []string{"journey", "event"}),
		gates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_gate_results_total",
			Help: "Gate results by journey, kind of gate and result (passed, failed).",
		}, []string{"journey", "gate", "result"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_calls_total",
			Help: "Verification calls the portal placed (or, for a username without a registration, pretended to place), by result.",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_limit_refusals_total",
			Help: "Requests and calls refused by a rate limit or call cap, by limit.",
		}, []string{"limit"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_lockouts_total",
			Help: "Reset-process lockouts, by reason (failures, fraud).",
		}, []string{"reason"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_resets_total",
			Help: "Password writes at the end of a reset, by result (ok, refused by policy, error).",
		}, []string{"result"}),
		unlocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_unlocks_total",
			Help: "Account unlocks, by result (ok, error).",
		}, []string{"result"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_registrations_total",
			Help: "Registrations saved, by kind (new, changed).",
		}, []string{"kind"}),
		fraud: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sspr_portal_fraud_reports_total",
			Help: "Verification calls in which the person pressed the fraud key.",
		}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sspr_portal_api_verifications_total",
			Help: "Verifications of the API, by outcome: accepted, refused (a call cap), confirmed, failed.",
		}, []string{"outcome"}),
		keyToPage: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sspr_portal_key_to_page_seconds",
			Help:    "Time from the arrival of the key that decided a verification call (the packet, at the node that owns the call) to the event stream that showed the call running writing the result to the page, on any node.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	// Every label value exists from the start, so that rates and alerts
	// see zeros rather than nothing.
	for _, l := range limitNames {
		m.refusals.WithLabelValues(l)
	}
	for _, r := range ivr.Results {
		m.calls.WithLabelValues(string(r))
	}
	for _, r := range []string{"ok", "refused", "error"} {
		m.resets.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.unlocks.WithLabelValues(r)
	}
	for _, r := range []string{"failures", "fraud"} {
		m.lockouts.WithLabelValues(r)
	}
	for _, j := range workflow.Journeys {
		for _, g := range workflow.GateKinds {
			for _, r := range []string{"passed", "failed"} {
				m.gates.WithLabelValues(string(j), string(g), r)
			}
		}
	}
	for _, o := range []string{"accepted", "refused", "confirmed", "failed"} {
		m.api.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.journeys, m.gates, m.calls, m.refusals, m.lockouts, m.resets, m.unlocks, m.registrations, m.fraud, m.api, m.keyToPage} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) refused(limit string) { m.refusals.WithLabelValues(limit).Inc() }
