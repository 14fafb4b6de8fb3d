package media

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	e, reg := newEngine(t, testConfig())
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	s, p := negotiated(t, e, "0 101", "rtpmap:101 telephone-event/8000")
	if v := testutil.ToFloat64(e.m.active); v != 1 {
		t.Fatalf("sessions_active = %v, want 1", v)
	}
	p.sendAudio(PCMU, make([]int16, 2*frameSamples), 0)
	p.sendKey(101, '1', 60*time.Millisecond, 0, 0)
	p.send(99, false, 0, []byte{1})                                    // not negotiated
	newPeer(t, netip.Addr{}, s).sendAudio(PCMU, make([]int16, 160), 0) // another source
	p.send(101, false, 0, []byte{1, 2, 3})                             // malformed event
	time.Sleep(50 * time.Millisecond)
	s.InfoDigit('1', 0) // a duplicate
	s.InfoDigit('2', 0)
	if ds := collect(s, quiet); keysOf(ds) != "12" {
		t.Fatalf("keys %q", keysOf(ds))
	}
	p.record()
	if err := s.SendDigits(t.Context(), "3", RFC4733, 40*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"received", e.m.received, 2 + 5 + 1 + 1 + 1},
		{"dropped payload-type", e.m.dropped[dropPayloadType], 1},
		{"dropped source", e.m.dropped[dropSource], 1},
		{"dropped malformed", e.m.dropped[dropMalformed], 1},
		{"digits rfc4733", e.m.digits[RFC4733], 1},
		{"digits info", e.m.digits[Info], 1},
		{"suppressed duplicate", e.m.suppressed[suppressDuplicate], 1},
		{"sent", e.m.sent, 4}, // 2 updates and 2 more end copies
	} {
		if v := testutil.ToFloat64(c.c); v != c.want {
			t.Errorf("%s = %v, want %v", c.name, v, c.want)
		}
	}
	_ = s.Close()
	if v := testutil.ToFloat64(e.m.active); v != 0 {
		t.Fatalf("sessions_active after Close = %v, want 0", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	n, err := testutil.GatherAndCount(reg,
		"sspr_media_rtp_packets_received_total", "sspr_media_rtp_packets_dropped_total",
		"sspr_media_digits_total", "sspr_media_digits_suppressed_total",
		"sspr_media_sessions_active", "sspr_media_rtp_packets_sent_total")
	if err != nil || n != 1+3+3+2+1+1 {
		t.Fatalf("%d series (%v), want 11", n, err)
	}
	// A second engine on the same registry is refused, and leaves nothing
	// registered behind.
	if _, err := NewEngine(testConfig(), reg); err == nil {
		t.Fatal("a second engine registered the same metrics")
	}
	if _, err := NewEngine(testConfig(), nil); err != nil {
		t.Fatal(err)
	}
}
