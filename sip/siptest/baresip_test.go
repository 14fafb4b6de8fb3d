package siptest

import (
	"context"
	"testing"
	"time"
)

// baresipCall calls a baresip phone at ruri (through next), checks that it
// answers and presses want as RFC 4733 events with the offered payload
// type, and hangs up.
func baresipCall(ctx context.Context, t *testing.T, c *caller, ruri, authUser, password, want string) {
	t.Helper()
	ans, _ := answered(ctx, t, c, ruri, []int{0, 101}, authUser, password)
	if pt := ans.pt("telephone-event"); pt != 101 {
		t.Errorf("answer's telephone-event PT %d, want 101 (%v)", pt, ans.rtpmap)
	}
	ok := waitFor(ctx, func() bool { return eventKeys(t, c.packets(), 101) == want })
	time.Sleep(100 * time.Millisecond) // the repeated end packets
	c.bye(ctx)
	pkts := c.packets()
	if !ok {
		t.Fatalf("keys %q received as telephone-events, want %q", eventKeys(t, pkts, 101), want)
	}
	checkStream(t, pkts, false)
	t.Logf("keys %q: %d telephone-event packets, %d PCMU packets", want, countPT(pkts, 101), countPT(pkts, 0))
}

func TestBaresip(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	b := Baresip(t, BaresipConfig{Digits: "#", Delay: 500 * time.Millisecond})
	t.Logf("baresip ready in %v at %s", time.Since(t0).Round(time.Millisecond), b.URI)
	c := newCaller(t, b.Addr, "alice")
	baresipCall(ctx, t, c, b.URI, "", "", "#")
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Error(err)
	}
	if calls, err := b.Command(ctx, "listcalls", ""); err != nil {
		t.Errorf("listcalls: %v", err)
	} else {
		t.Logf("listcalls: %q", calls)
	}
	if _, err := b.Command(ctx, "nosuchcommand", ""); err == nil {
		t.Error("an unknown command succeeded")
	}
}

func TestBaresipRegistered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k := Kamailio(t, KamailioConfig{Users: map[string]string{"trunkuser": "Trunk-Secret-1", "bob": "Bob-Secret-1"}})
	t0 := time.Now()
	b := Baresip(t, BaresipConfig{Digits: "12", Delay: 500 * time.Millisecond, Gap: 300 * time.Millisecond,
		User: "bob", Registrar: k.Addr, Password: "Bob-Secret-1"})
	t.Logf("baresip registered in %v as %s", time.Since(t0).Round(time.Millisecond), b.URI)
	c := newCaller(t, k.Addr, "trunkuser")
	baresipCall(ctx, t, c, k.TrunkURI("bob"), "trunkuser", "Trunk-Secret-1", "12")
}
