package media

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// dropReason is why a received packet was dropped: a closed set, used as a
// metric label and to index Stats.Dropped.
type dropReason uint8

const (
	// dropSource: the packet came from an address other than the
	// negotiated (or latched) source, or, before latching, from another IP
	// than the signalling peer's.
	dropSource dropReason = iota
	// dropMalformed: not an RTP version 2 packet, a header or padding
	// running past the end, or a telephone-event payload the receiver
	// rejects.
	dropMalformed
	// dropPayloadType: a payload type that was not negotiated.
	dropPayloadType
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"source", "malformed", "payload-type"}

// String returns the metric label of the reason.
func (r dropReason) String() string { return dropReasonNames[r] }

// suppressReason is why a detected digit was not delivered: a closed set,
// used as a metric label.
type suppressReason uint8

const (
	// suppressDuplicate: the same key arrived by another method within
	// the de-duplication window.
	suppressDuplicate suppressReason = iota
	// suppressOverflow: the Digits channel was full.
	suppressOverflow
	numSuppressReasons
)

var suppressReasonNames = [numSuppressReasons]string{"duplicate", "overflow"}

// metrics are the engine's Prometheus collectors. The labelled children are
// resolved once, so the packet path only does atomic adds.
type metrics struct {
	received   prometheus.Counter
	dropped    [numDropReasons]prometheus.Counter
	digits     [numMethods]prometheus.Counter
	suppressed [numSuppressReasons]prometheus.Counter
	active     prometheus.Gauge
	sent       prometheus.Counter
}

// newMetrics builds the collectors and registers them on reg; a nil reg
// registers nothing.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	received := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sspr_media_rtp_packets_received_total",
		Help: "UDP datagrams received on RTP ports, including those dropped.",
	})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sspr_media_rtp_packets_dropped_total",
		Help: "Received RTP packets dropped, by reason: source (not the negotiated or latched far end), malformed, payload-type (not negotiated).",
	}, []string{"reason"})
	digits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sspr_media_digits_total",
		Help: "DTMF keys delivered to the call, by method: rfc4733, inband, info.",
	}, []string{"method"})
	suppressed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sspr_media_digits_suppressed_total",
		Help: "DTMF keys detected but not delivered, by reason: duplicate (same key by another method within 200 ms), overflow (digit buffer full).",
	}, []string{"reason"})
	active := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sspr_media_sessions_active",
		Help: "RTP sessions open (a port bound).",
	})
	sent := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sspr_media_rtp_packets_sent_total",
		Help: "RTP packets sent: audio frames and telephone-events.",
	})
	m := &metrics{received: received, active: active, sent: sent}
	for r := range numDropReasons {
		m.dropped[r] = dropped.WithLabelValues(r.String())
	}
	for k := range numMethods {
		m.digits[k] = digits.WithLabelValues(k.String())
	}
	for r := range numSuppressReasons {
		m.suppressed[r] = suppressed.WithLabelValues(suppressReasonNames[r])
	}
	if reg != nil {
		var done []prometheus.Collector
		for _, c := range []prometheus.Collector{received, dropped, digits, suppressed, active, sent} {
			if err := reg.Register(c); err != nil {
				for _, d := range done {
					reg.Unregister(d)
				}
				return nil, fmt.Errorf("media: registering metrics: %w", err)
			}
			done = append(done, c)
		}
	}
	return m, nil
}
