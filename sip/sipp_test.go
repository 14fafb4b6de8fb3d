package sip

// Acceptance tests against real SIP peers: SIPp callees (package siptest
// starts them on loopback), Kamailio as a trunk that demands digest
// authentication, and baresip as a phone that answers and presses keys.

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/siptest"
)

// sippTrunk returns a trunk that reaches a SIPp callee.
func sippTrunk(p *siptest.SIPpPeer) Trunk {
	return Trunk{Name: "sipp", Address: p.Addr, KeepAlive: -1}
}

func TestSIPpCallees(t *testing.T) {
	cases := []struct {
		name    string
		uas     siptest.UAS
		user    string // trunk credentials
		pass    string
		want    string       // keys
		method  media.Method // how they must arrive
		outcome Outcome      // when the call is not answered
		status  int
	}{
		{name: "rfc4733-pound", uas: siptest.UAS{Mode: siptest.DTMF, Digits: "#"}, want: "#", method: media.RFC4733},
		{name: "rfc4733-pin", uas: siptest.UAS{Mode: siptest.DTMF, Digits: "1234#"}, want: "1234#", method: media.RFC4733},
		{name: "rfc4733-pt96", uas: siptest.UAS{Mode: siptest.DTMF, Digits: "9#", EventPT: 96}, want: "9#", method: media.RFC4733},
		{name: "inband", uas: siptest.UAS{Mode: siptest.Inband, Digits: "1234#"}, want: "1234#", method: media.InBand},
		{name: "info", uas: siptest.UAS{Mode: siptest.Info, Digits: "1234#"}, want: "1234#", method: media.Info},
		{name: "early-media", uas: siptest.UAS{Mode: siptest.Early, Digits: "#"}, want: "#", method: media.RFC4733},
		{name: "pcma", uas: siptest.UAS{Mode: siptest.PCMA, Digits: "5#"}, want: "5#", method: media.RFC4733},
		{name: "auth-401", uas: siptest.UAS{Mode: siptest.Auth, Digits: "#"}, user: siptest.DefaultUsername, pass: siptest.DefaultPassword, want: "#", method: media.RFC4733},
		{name: "auth-wrong-password", uas: siptest.UAS{Mode: siptest.Auth}, user: siptest.DefaultUsername, pass: "wrong", outcome: Rejected, status: 403},
		{name: "busy", uas: siptest.UAS{Mode: siptest.Busy}, outcome: Busy, status: 486},
		{name: "decline", uas: siptest.UAS{Mode: siptest.Decline}, outcome: Rejected, status: 603},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := siptest.SIPp(t, tc.uas)
			tr := sippTrunk(p)
			tr.Username, tr.Password = tc.user, tc.pass
			a, _ := startAgent(t, []Trunk{tr}, nil)
			c, err := a.Dial(context.Background(), "+15551234567", DialOptions{})
			if tc.outcome != "" {
				var ce *CallError
				if !errors.As(err, &ce) || ce.Outcome != tc.outcome || ce.Status != tc.status {
					t.Fatalf("Dial: %v, want %s with %d", err, tc.outcome, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Hangup(context.Background())
			got, methods := readKeys(t, c, tc.want, 10*time.Second)
			if got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
			for _, m := range methods {
				if m != tc.method {
					t.Errorf("a key arrived by %v, want %v", m, tc.method)
				}
			}
			if tc.uas.Mode == siptest.PCMA {
				if n, ok := c.Media().Negotiated(); !ok || n.Codec != media.PCMA {
					t.Errorf("negotiated %+v, want PCMA", n)
				}
			}
		})
	}
}

func TestSIPpNoAnswerCancels(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.NoAnswer})
	a, _ := startAgent(t, []Trunk{sippTrunk(p)}, nil)
	_, err := a.Dial(context.Background(), "100", DialOptions{RingTimeout: time.Second})
	if OutcomeOf(err) != NoAnswer {
		t.Fatalf("Dial: %v, want no-answer", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// SIPp's scenario ends the call successfully only after the CANCEL,
	// its 487 and our ACK.
	if _, err := p.WaitCalls(ctx, 1); err != nil {
		t.Fatalf("SIPp did not see the CANCEL through: %v", err)
	}
}

func TestSIPpSilentMediaTimeout(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.Silent})
	a, _ := startAgent(t, []Trunk{sippTrunk(p)}, func(c *Config) { c.Media.Inactivity = time.Second })
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(6 * time.Second):
		t.Fatal("no media timeout")
	}
	if c.Outcome() != MediaTimeout {
		t.Fatalf("outcome %v, want media-timeout", c.Outcome())
	}
}

func TestSIPpFarEndBye(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.Bye, ByeAfter: time.Second})
	a, _ := startAgent(t, []Trunk{sippTrunk(p)}, nil)
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(6 * time.Second):
		t.Fatal("the far end's BYE did not end the call")
	}
	if c.Outcome() != HungUp {
		t.Fatalf("outcome %v, want hung-up", c.Outcome())
	}
}

// TestSpoofedEventsIgnored: telephone-events sent to a call's media port
// from another address or port are never counted as keys.
func TestSpoofedEventsIgnored(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "1#", Delay: 2 * time.Second})
	a, _ := startAgent(t, []Trunk{sippTrunk(p)}, nil)
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(context.Background())
	target := net.UDPAddrFromAddrPort(c.Media().LocalAddr())
	spoofer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	// Before SIPp's own keys: press 7 and 9 from the wrong socket, with
	// the payload types a real sender would use.
	tx, err := dtmf.NewSender(dtmf.SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seq := uint16(1)
	for _, key := range []byte("79") {
		if err := tx.Start(key, 200*time.Millisecond, uint32(seq)*1000); err != nil {
			t.Fatal(err)
		}
		for {
			ev, ok := tx.Next()
			if !ok {
				break
			}
			for _, pt := range []uint8{101, 96} {
				pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ev.Timestamp,
					SSRC: 0x5BAD, Marker: ev.Marker}, Payload: ev.Payload}
				b, _ := pkt.Marshal()
				_, _ = spoofer.WriteToUDP(b, target)
				seq++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	got, _ := readKeys(t, c, "1#", 8*time.Second)
	if got != "1#" {
		t.Fatalf("keys %q, want only SIPp's 1#", got)
	}
	if st := c.Media().Stats(); st.DroppedSource == 0 {
		t.Errorf("spoofed packets were not counted as dropped: %+v", st)
	}
}

// TestKamailioTrunkToBaresip: the trunk demands digest authentication
// (407 on the INVITE), record-routes, and relays the call to baresip
// registered behind it, which answers and presses # as RFC 4733 events.
// ACK and BYE must follow the route set through the proxy.
func TestKamailioTrunkToBaresip(t *testing.T) {
	k := siptest.Kamailio(t, siptest.KamailioConfig{Users: map[string]string{
		siptest.DefaultTrunkUser: siptest.DefaultTrunkPassword, "bob": "Bob-Secret-1"}})
	b := siptest.Baresip(t, siptest.BaresipConfig{Digits: "#", Delay: 700 * time.Millisecond,
		User: "bob", Registrar: k.Addr, Password: "Bob-Secret-1"})
	_ = b
	a, _ := startAgent(t, []Trunk{{Name: "itsp", Address: k.Addr, KeepAlive: -1,
		Username: siptest.DefaultTrunkUser, Password: siptest.DefaultTrunkPassword, Realm: siptest.Realm}}, nil)
	c, err := a.Dial(context.Background(), "bob", DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	got, methods := readKeys(t, c, "#", 10*time.Second)
	if got != "#" || len(methods) != 1 || methods[0] != media.RFC4733 {
		t.Fatalf("keys %q by %v, want # by rfc4733", got, methods)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("BYE through the proxy: %v", err)
	}
}

// TestKamailioRegisterAndKeepAlive: a trunk with Register keeps a
// registration (401 answered), and OPTIONS keep-alives mark it up even
// though the proxy answers them 407.
func TestKamailioRegisterAndKeepAlive(t *testing.T) {
	k := siptest.Kamailio(t, siptest.KamailioConfig{})
	a, reg := startAgent(t, []Trunk{{Name: "itsp", Address: k.Addr, KeepAlive: 200 * time.Millisecond, Register: true,
		Username: siptest.DefaultTrunkUser, Password: siptest.DefaultTrunkPassword}}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for !a.Healthy() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !a.Healthy() {
		t.Fatal("the trunk never came up")
	}
	if v := testutil.ToFloat64(a.metrics.trunkUp.WithLabelValues("itsp")); v != 1 {
		t.Errorf("sspr_sip_trunk_up = %v, want 1", v)
	}
	_ = reg
	// The registration shows in Kamailio's log as a saved contact.
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(k.Log(), "REGISTER") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(k.Log(), "REGISTER") {
		t.Fatalf("Kamailio saw no REGISTER; log:\n%s", k.Log())
	}
	if l := k.Log(); strings.Contains(l, "wrong password") || strings.Contains(l, "unknown user") {
		t.Fatalf("Kamailio refused the REGISTER's credentials; log:\n%s", l)
	}
}

// TestSIPpThroughKamailio: a SIPp callee behind the authenticating trunk,
// with INFO keys relayed back through the proxy on the route set.
func TestSIPpThroughKamailio(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.Info, Digits: "42#"})
	k := siptest.Kamailio(t, siptest.KamailioConfig{Default: p.URI})
	a, _ := startAgent(t, []Trunk{{Name: "itsp", Address: k.Addr, KeepAlive: -1,
		Username: siptest.DefaultTrunkUser, Password: siptest.DefaultTrunkPassword}}, nil)
	c, err := a.Dial(context.Background(), "+442079460958", DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Hangup(context.Background())
	if got, _ := readKeys(t, c, "42#", 10*time.Second); got != "42#" {
		t.Fatalf("keys %q, want 42#", got)
	}
}
