package siptest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// Short timings keep the calls of the self-test brief.
const (
	testDelay = 300 * time.Millisecond
	testGap   = 100 * time.Millisecond
)

// waitFor polls cond every 50 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// answered places a call, checks the 200 OK and its SDP, and returns the
// answer.
func answered(ctx context.Context, t *testing.T, c *caller, ruri string, offer []int, user, password string) (sdp, []*msg) {
	t.Helper()
	r, prov := c.call(ctx, ruri, c.offer(offer...), user, password)
	if r.code != 200 {
		t.Fatalf("INVITE answered %d %s, want 200", r.code, r.reason)
	}
	ans, err := parseSDP(r.body)
	if err != nil {
		t.Fatalf("200 OK SDP: %v", err)
	}
	return ans, prov
}

// wantCalls waits for SIPp to count n successful calls and no failure.
func wantCalls(ctx context.Context, t *testing.T, p *SIPpPeer, n int) {
	t.Helper()
	st, err := p.WaitCalls(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if st.Successful != n || st.Failed != 0 {
		t.Errorf("SIPp counted %d successful and %d failed calls, want %d and 0\n%s", st.Successful, st.Failed, n, p.Errors())
	}
}

// telephoneEvents is the shared check of the modes that press keys as RFC
// 4733 events: the answer's PTs, the keys, one clean stream.
func telephoneEvents(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller, ans sdp, codecPT, wantEventPT int) {
	t.Helper()
	if got := ans.formats[0]; got != codecPT {
		t.Errorf("answer's first format %d, want %d (%v)", got, codecPT, ans.rtpmap)
	}
	if got := ans.pt("telephone-event"); got != wantEventPT {
		t.Errorf("answer's telephone-event PT %d, want %d", got, wantEventPT)
	}
	if ans.addr != p.MediaAddr {
		t.Errorf("answer's media address %s, want %s", ans.addr, p.MediaAddr)
	}
	ok := waitFor(ctx, func() bool { return eventKeys(t, c.packets(), wantEventPT) == p.Digits })
	time.Sleep(100 * time.Millisecond) // the last key's 2 repeated end packets
	c.bye(ctx)
	pkts := c.packets()
	if !ok {
		t.Fatalf("keys %q received as telephone-events, want %q (%d packets)", eventKeys(t, pkts, wantEventPT), p.Digits, len(pkts))
	}
	checkStream(t, pkts, true)
	t.Logf("keys %q: %d telephone-event packets (PT %d), %d audio packets (PT %d)", p.Digits, countPT(pkts, wantEventPT), wantEventPT, countPT(pkts, codecPT), codecPT)
	// 200 ms keys: 10 updates every 20 ms, the last with the E bit, and 2
	// more copies of it.
	if n, want := countPT(pkts, wantEventPT), 12*len(p.Digits); n != want {
		t.Errorf("%d telephone-event packets, want %d", n, want)
	}
	if n := countPT(pkts, codecPT); n < 10 {
		t.Errorf("%d audio packets of PT %d, want the stream around the events", n, codecPT)
	}
	if got := pkts[0].from.String(); got != p.MediaAddr {
		t.Errorf("RTP from %s, want %s (symmetric RTP)", got, p.MediaAddr)
	}
}

func TestSIPpCallee(t *testing.T) {
	cases := []struct {
		name  string
		uas   UAS
		offer []int
		check func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller)
	}{
		{
			name: "dtmf offered PT 101", uas: UAS{Mode: DTMF, Digits: "1234#"}, offer: []int{0, 101},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, prov := answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				if len(prov) < 2 || prov[0].code != 100 || prov[1].code != 180 {
					t.Errorf("provisional responses %v, want 100 and 180", codes(prov))
				}
				telephoneEvents(ctx, t, p, c, ans, 0, 101)
			},
		},
		{
			name: "dtmf offered PT 96", uas: UAS{Mode: DTMF, Digits: "0"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, _ := answered(ctx, t, c, p.URI, []int{0, 96}, "", "")
				telephoneEvents(ctx, t, p, c, ans, 0, 96)
			},
		},
		{
			name: "dtmf fixed PT 110", uas: UAS{Mode: DTMF, Digits: "9*", EventPT: 110},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, _ := answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				telephoneEvents(ctx, t, p, c, ans, 0, 110)
			},
		},
		{
			name: "dtmf then silence", uas: UAS{Mode: DTMF, Digits: "1"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				// The keys' pcap lasts 300 + 240 + 100 ms; the stream
				// must go on (tail.pcap) for as long as the call does.
				time.Sleep(1500 * time.Millisecond)
				c.bye(ctx)
				pkts := c.packets()
				if keys := eventKeys(t, pkts, 101); keys != "1" {
					t.Errorf("keys %q, want \"1\"", keys)
				}
				checkStream(t, pkts, true)
				if n := countPT(pkts, 0); n < 40 {
					t.Errorf("%d audio packets in 1.5 s, want about 62", n)
				}
			},
		},
		{
			name: "inband", uas: UAS{Mode: Inband, Digits: "1234#"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, _ := answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				if pt := ans.pt("telephone-event"); pt != -1 || len(ans.formats) != 1 || ans.formats[0] != 0 {
					t.Errorf("answer formats %v (telephone-event %d), want PCMU only", ans.formats, pt)
				}
				ok := waitFor(ctx, func() bool { return toneKeys(t, c.packets()) == p.Digits })
				c.bye(ctx)
				pkts := c.packets()
				if !ok {
					t.Fatalf("tones heard %q, want %q", toneKeys(t, pkts), p.Digits)
				}
				checkStream(t, pkts, true)
				if n := countPT(pkts, 101); n != 0 {
					t.Errorf("%d telephone-event packets, want none", n)
				}
			},
		},
		{
			name: "info", uas: UAS{Mode: Info, Digits: "1234#"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				var keys []byte
				for len(keys) < len(p.Digits) {
					select {
					case m := <-c.requests:
						if m.method != "INFO" {
							t.Fatalf("unexpected %s from the callee", m.method)
						}
						in, err := dtmf.ParseInfo(m.header("Content-Type"), m.body)
						if err != nil {
							t.Fatalf("INFO body %q: %v", m.body, err)
						}
						if in.Duration != 200*time.Millisecond {
							t.Errorf("INFO duration %v, want 200ms", in.Duration)
						}
						keys = append(keys, in.Key)
					case <-ctx.Done():
						t.Fatalf("INFO keys %q, want %q", keys, p.Digits)
					}
				}
				if string(keys) != p.Digits {
					t.Errorf("INFO keys %q, want %q", keys, p.Digits)
				}
				c.bye(ctx)
				if toneKeys(t, c.packets()) != "" || countPT(c.packets(), 0) < 10 {
					t.Errorf("want a silent PCMU stream alongside the INFOs")
				}
			},
		},
		{
			name: "busy", uas: UAS{Mode: Busy},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				r, prov := c.call(ctx, p.URI, c.offer(0, 101), "", "")
				if r.code != 486 || len(prov) == 0 || prov[len(prov)-1].code != 180 {
					t.Errorf("got %d after %v, want 486 after 180", r.code, codes(prov))
				}
			},
		},
		{
			name: "decline", uas: UAS{Mode: Decline, Ring: -1},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				r, _ := c.call(ctx, p.URI, c.offer(0, 101), "", "")
				if r.code != 603 {
					t.Errorf("got %d, want 603", r.code)
				}
			},
		},
		{
			name: "noanswer", uas: UAS{Mode: NoAnswer},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				c.sendInvite(p.URI, c.offer(0, 101), "")
				for r := c.nextResponse(ctx, "INVITE"); r.code != 180; r = c.nextResponse(ctx, "INVITE") {
					if r.code >= 200 {
						t.Fatalf("got %d, want 180", r.code)
					}
				}
				time.Sleep(500 * time.Millisecond)
				if r := c.cancel(ctx); r.code != 200 {
					t.Errorf("CANCEL answered %d", r.code)
				}
				r := c.final(ctx, "INVITE")
				c.ackFailure(r)
				if r.code != 487 {
					t.Errorf("INVITE answered %d after CANCEL, want 487", r.code)
				}
			},
		},
		{
			name: "silent", uas: UAS{Mode: Silent},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				time.Sleep(time.Second)
				c.bye(ctx)
				if n := len(c.packets()); n != 0 {
					t.Errorf("%d RTP packets from the silent callee", n)
				}
			},
		},
		{
			name: "bye", uas: UAS{Mode: Bye, ByeAfter: time.Second},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				t0 := time.Now()
				select {
				case m := <-c.requests:
					if m.method != "BYE" {
						t.Fatalf("got %s, want BYE", m.method)
					}
					if d := time.Since(t0); d < 800*time.Millisecond || d > 2*time.Second {
						t.Errorf("BYE after %v, want about 1 s", d)
					}
				case <-ctx.Done():
					t.Fatal("no BYE from the callee")
				}
				if n := countPT(c.packets(), 0); n < 30 {
					t.Errorf("%d PCMU packets before the BYE, want about 50", n)
				}
			},
		},
		{
			name: "early", uas: UAS{Mode: Early, Digits: "12"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, prov := answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				var early *msg
				for _, r := range prov {
					if r.code == 183 {
						early = r
					}
				}
				if early == nil {
					t.Fatalf("no 183 before the 200 (%v)", codes(prov))
				}
				if es, err := parseSDP(early.body); err != nil || es.addr != ans.addr {
					t.Errorf("183 SDP %+v (%v), want the 200's %+v", es, err, ans)
				}
				if n := countPT(c.packets(), 0); n < 30 {
					t.Errorf("%d early media packets before the 200, want about 50", n)
				}
				telephoneEvents(ctx, t, p, c, ans, 0, 101)
				if keys := toneKeys(t, c.packets()); keys != "" {
					t.Errorf("ringback detected as keys %q", keys)
				}
			},
		},
		{
			name: "pcma", uas: UAS{Mode: PCMA, Digits: "5"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, _ := answered(ctx, t, c, p.URI, []int{0, 8, 101}, "", "")
				if ans.rtpmap[8] != "PCMA/8000" || ans.pt("PCMU") != -1 {
					t.Errorf("answer %v, want PCMA only", ans.rtpmap)
				}
				telephoneEvents(ctx, t, p, c, ans, 8, 101)
			},
		},
		{
			name: "pcma not offered", uas: UAS{Mode: PCMA},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				r, _ := c.call(ctx, p.URI, c.offer(0, 101), "", "")
				if r.code != 488 {
					t.Errorf("got %d, want 488", r.code)
				}
			},
		},
		{
			name: "auth", uas: UAS{Mode: Auth, Digits: "7"},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, _ := answered(ctx, t, c, p.URI, []int{0, 101}, DefaultUsername, DefaultPassword)
				if !strings.Contains(p.Messages(), "401 Unauthorized") {
					t.Error("no 401 challenge in SIPp's trace")
				}
				telephoneEvents(ctx, t, p, c, ans, 0, 101)
			},
		},
		{
			name: "auth wrong password", uas: UAS{Mode: Auth},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				r, _ := c.call(ctx, p.URI, c.offer(0, 101), DefaultUsername, "wrong")
				if r.code != 403 {
					t.Errorf("got %d, want 403", r.code)
				}
			},
		},
		{
			name: "echo", uas: UAS{Mode: Echo},
			check: func(ctx context.Context, t *testing.T, p *SIPpPeer, c *caller) {
				ans, _ := answered(ctx, t, c, p.URI, []int{0, 101}, "", "")
				payload := []byte(strings.Repeat("\x55", 160))
				for i := range 10 {
					c.sendRTP(ans.addr, 0, uint16(100+i), uint32(i*160), 0x1234, payload)
					time.Sleep(20 * time.Millisecond)
				}
				ok := waitFor(ctx, func() bool { return len(c.packets()) == 10 })
				c.bye(ctx)
				pkts := c.packets()
				if !ok {
					t.Fatalf("%d packets echoed, want 10", len(pkts))
				}
				for i, pk := range pkts {
					if pk.seq != uint16(100+i) || pk.ssrc != 0x1234 || string(pk.payload) != string(payload) {
						t.Errorf("echo %d: seq %d ssrc %x, payload differs: %v", i, pk.seq, pk.ssrc, string(pk.payload) != string(payload))
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			uas := tc.uas
			uas.Delay, uas.Gap = testDelay, testGap
			t0 := time.Now()
			p := SIPp(t, uas)
			t.Logf("SIPp %s ready in %v", uas.Mode, time.Since(t0).Round(time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c := newCaller(t, p.Addr, "alice")
			tc.check(ctx, t, p, c)
			if !t.Failed() {
				wantCalls(ctx, t, p, 1)
			}
		})
	}
}

// codes lists the status codes of responses.
func codes(rs []*msg) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.code)
	}
	return out
}
