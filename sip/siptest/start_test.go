package siptest

import (
	"testing"
	"time"
)

// maxStart is the start time the peers are expected to keep well within
// (they take tens of milliseconds).
const maxStart = 2 * time.Second

// timed runs start and fails the test if it took longer than maxStart.
func timed(t *testing.T, what string, start func()) {
	t.Helper()
	t0 := time.Now()
	start()
	d := time.Since(t0)
	t.Logf("%s ready in %v", what, d.Round(time.Millisecond))
	if d > maxStart {
		t.Errorf("%s took %v to start, want under %v", what, d, maxStart)
	}
}

// TestStartEveryPeer checks that every SIPp mode's scenario is accepted by
// SIPp, and that every peer is ready quickly.
func TestStartEveryPeer(t *testing.T) {
	for _, m := range []Mode{DTMF, Inband, Info, Busy, Decline, NoAnswer, Silent, Bye, Early, PCMA, Auth, Echo} {
		t.Run("sipp "+string(m), func(t *testing.T) {
			timed(t, "SIPp "+string(m), func() { SIPp(t, UAS{Mode: m, Digits: "1234#"}) })
		})
	}
	t.Run("kamailio", func(t *testing.T) {
		timed(t, "Kamailio", func() { Kamailio(t, KamailioConfig{}) })
	})
	t.Run("baresip", func(t *testing.T) {
		timed(t, "baresip", func() { Baresip(t, BaresipConfig{}) })
	})
	t.Run("baresip registered", func(t *testing.T) {
		k := Kamailio(t, KamailioConfig{})
		timed(t, "baresip registered", func() {
			Baresip(t, BaresipConfig{User: DefaultTrunkUser, Registrar: k.Addr, Password: DefaultTrunkPassword})
		})
	})
}
