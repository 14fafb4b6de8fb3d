package sip

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/siptest"
)

// floodResult is what one flood of out-of-dialog requests saw.
type floodResult struct {
	sent     int           // requests sent
	answered int           // requests that got at least one final response
	retrans  int           // final responses beyond the first per request (the agent's retransmissions)
	elapsed  time.Duration // from the first send to the last answer (or the wait's end)
}

// flood sends n out-of-dialog requests, INVITEs without a To tag and
// OPTIONS in turn, each with a Call-ID and branch of its own, from one UDP
// socket on 127.0.0.1 to the agent at addr, as fast as the socket takes
// them; at most window are unanswered at once, a request that has had no
// answer for 20 ms no longer counting (so a flood the agent drops still
// goes on at full speed). It then waits up to linger for the last answers.
func flood(tb testing.TB, addr string, n, window int, linger time.Duration) floodResult {
	tb.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, raddr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	local := conn.LocalAddr().String()

	seen := make([]atomic.Bool, n)
	var answered, retrans atomic.Int64
	kick := make(chan struct{}, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 64<<10)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			i, final := floodAnswer(buf[:k])
			if i < 0 || i >= n || !final {
				continue
			}
			if seen[i].Swap(true) {
				retrans.Add(1)
				continue
			}
			answered.Add(1)
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}()

	start := time.Now()
	lost := 0
	msg := make([]byte, 0, 1024)
	for i := range n {
		for i-lost-int(answered.Load()) >= window {
			select {
			case <-kick:
			case <-time.After(20 * time.Millisecond):
				lost += window / 4
			}
		}
		msg = floodRequest(msg[:0], i, local, addr)
		if _, err := conn.Write(msg); err != nil {
			tb.Fatalf("flood: send %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(linger)
	for int(answered.Load()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r := floodResult{sent: n, answered: int(answered.Load()), elapsed: time.Since(start)}
	conn.Close()
	<-readDone
	r.retrans = int(retrans.Load())
	return r
}

// floodRequest appends the i-th flood request, from local to the agent at
// addr: even ones an INVITE outside any dialog, odd ones an OPTIONS.
func floodRequest(b []byte, i int, local, addr string) []byte {
	method := "INVITE"
	if i%2 == 1 {
		method = "OPTIONS"
	}
	id := strconv.Itoa(i)
	b = fmt.Appendf(b, "%s sip:+15550000000@%s SIP/2.0\r\n", method, addr)
	b = fmt.Appendf(b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-flood-%s;rport\r\n", local, id)
	b = fmt.Appendf(b, "Max-Forwards: 70\r\n")
	b = fmt.Appendf(b, "From: <sip:flood@%s>;tag=f%s\r\n", local, id)
	b = fmt.Appendf(b, "To: <sip:+15550000000@%s>\r\n", addr)
	b = fmt.Appendf(b, "Call-ID: flood-%s@127.0.0.1\r\n", id)
	b = fmt.Appendf(b, "CSeq: 1 %s\r\n", method)
	b = fmt.Appendf(b, "Contact: <sip:flood@%s>\r\n", local)
	b = fmt.Appendf(b, "Content-Length: 0\r\n\r\n")
	return b
}

// floodAnswer returns the index of the flood request a response answers
// (from its Call-ID), and whether it is final; -1 for anything else.
func floodAnswer(res []byte) (int, bool) {
	if !bytes.HasPrefix(res, []byte("SIP/2.0 ")) || len(res) < 9 {
		return -1, false
	}
	final := res[8] != '1'
	_, rest, ok := bytes.Cut(res, []byte("Call-ID: flood-"))
	if !ok {
		return -1, false
	}
	id, _, ok := bytes.Cut(rest, []byte("@"))
	if !ok {
		return -1, false
	}
	i, err := strconv.Atoi(string(id))
	if err != nil {
		return -1, false
	}
	return i, final
}

// callsResult is what K calls to a SIPp DTMF callee saw.
type callsResult struct {
	completed int
	errors    []string
	latencies []time.Duration // from the # packet's arrival to Digits
}

func (r callsResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	return l[min(len(l)-1, max(0, int(math.Ceil(float64(len(l))*p))-1))]
}

// floodRig is an agent calling a SIPp DTMF callee, with its registry.
type floodRig struct {
	a   *Agent
	reg *prometheus.Registry
	p   *siptest.SIPpPeer
}

// newFloodRig starts a SIPp callee that presses # delay after answering
// and an agent whose trunk is that callee.
func newFloodRig(tb testing.TB, delay time.Duration) *floodRig {
	tb.Helper()
	p := siptest.SIPp(tb, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: delay, Ring: -1, Sparse: true, CallTimeout: delay + 30*time.Second})
	cfg := Config{
		Listen:       []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks:       []Trunk{sippTrunk(p)},
		RingTimeout:  10 * time.Second,
		TrunkTimeout: 5 * time.Second,
		Media:        media.Config{BindIP: loopback, Inactivity: delay + 20*time.Second},
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, testLog(tb), reg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("Run did not return")
		}
		a.Close()
	})
	<-a.Ready()
	return &floodRig{a: a, reg: reg, p: p}
}

// addr returns the agent's UDP address.
func (r *floodRig) addr() string {
	return strings.TrimPrefix(r.a.Addrs()[0], "udp:")
}

// calls places k calls, then runs during(), while each call waits for its
// # and hangs up.
func (r *floodRig) calls(tb testing.TB, k int, during func()) callsResult {
	tb.Helper()
	var (
		mu  sync.Mutex
		res callsResult
		wg  sync.WaitGroup
	)
	fail := func(s string) {
		mu.Lock()
		res.errors = append(res.errors, s)
		mu.Unlock()
	}
	var up sync.WaitGroup
	up.Add(k)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.a.Dial(context.Background(), "+15551234567", DialOptions{})
			up.Done()
			if err != nil {
				fail("dial: " + err.Error())
				return
			}
			timeout := time.After(30 * time.Second)
			for {
				select {
				case d, ok := <-c.Digits():
					if !ok {
						fail("call ended before #: " + string(c.Outcome()))
						return
					}
					lat := time.Since(d.At)
					if d.Key != '#' {
						fail("wrong key " + string(d.Key))
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := c.Hangup(ctx)
					cancel()
					if err != nil {
						fail("hangup: " + err.Error())
						return
					}
					mu.Lock()
					res.completed++
					res.latencies = append(res.latencies, lat)
					mu.Unlock()
					return
				case <-timeout:
					fail("no # in time")
					_ = c.Hangup(context.Background())
					return
				}
			}
		}()
	}
	up.Wait()
	if during != nil {
		during()
	}
	wg.Wait()
	return res
}

// gathered sums the samples of the metric family name in reg whose labels
// include every pair of match.
func gathered(tb testing.TB, reg *prometheus.Registry, name string, match ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(match); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == match[i] && l.GetValue() == match[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// TestFloodKeepsCalls floods the agent with out-of-dialog INVITEs and
// OPTIONS from one source while calls wait for their keys: every call
// still gets its # and completes, no RTP is dropped, and the flood is
// answered, without retransmissions.
func TestFloodKeepsCalls(t *testing.T) {
	const (
		k = 20
		n = 20000
	)
	rig := newFloodRig(t, 2*time.Second)
	var fr floodResult
	cr := rig.calls(t, k, func() {
		fr = flood(t, rig.addr(), n, 256, 2*time.Second)
	})
	if cr.completed != k {
		t.Errorf("%d of %d calls completed under the flood; errors: %v", cr.completed, k, cr.errors)
	}
	if d := gathered(t, rig.reg, "sspr_media_rtp_packets_dropped_total"); d > 0 {
		t.Errorf("%v RTP packets dropped during the flood, want 0", d)
	}
	t.Logf("flood: %d sent in %v (%.0f/s), %d answered, %d response retransmissions; key latency p50 %v p99 %v",
		fr.sent, fr.elapsed.Round(time.Millisecond), float64(fr.sent)/fr.elapsed.Seconds(), fr.answered, fr.retrans,
		cr.percentile(0.5), cr.percentile(0.99))
	// The kernel may drop some datagrams of a flood on a loaded machine:
	// 90% answered is the bound. The agent answers statelessly: none of
	// its answers is retransmitted.
	if fr.answered < n*9/10 {
		t.Errorf("%d of %d flood requests answered, want at least 90%%", fr.answered, n)
	}
	if fr.retrans > 0 {
		t.Errorf("%d answers retransmitted, want 0 (no transaction state kept for the flood)", fr.retrans)
	}
	if u := testutil.ToFloat64(rig.a.metrics.unsolicited); u == 0 {
		t.Error("sspr_sip_unsolicited_invites_total = 0 after an INVITE flood")
	}
	// The agent still answers.
	if r := flood(t, rig.addr(), 2, 2, 2*time.Second); r.answered != 2 {
		t.Errorf("after the flood, %d of 2 requests answered", r.answered)
	}
}

// BenchmarkFlood measures a flood of out-of-dialog INVITEs and OPTIONS
// from one source: the flood alone (messages per second sent and
// answered, the agent's CPU per message, heap growth), then the key
// latency of K calls without and with the flood. Run it with make
// bench-load, or:
//
//	go test -run '^$' -bench Flood -benchtime 1x ./sip/
func BenchmarkFlood(b *testing.B) {
	const (
		k = 50
		n = 50000
	)
	for b.Loop() {
		rig := newFloodRig(b, 2*time.Second)

		runtime.GC()
		heap0, cpu0 := heapInuse(), cpuTime()
		fr := flood(b, rig.addr(), n, 256, time.Second)
		cpu := cpuTime() - cpu0
		heap1 := heapInuse()
		b.ReportMetric(float64(fr.sent)/fr.elapsed.Seconds(), "flood-sent/s")
		b.ReportMetric(float64(fr.answered)/fr.elapsed.Seconds(), "flood-answered/s")
		b.ReportMetric(float64(fr.retrans), "flood-retransmissions")
		b.ReportMetric(float64(cpu.Microseconds())/float64(fr.sent), "cpu-µs/msg")
		b.ReportMetric(float64(int64(heap1)-int64(heap0))/float64(fr.sent), "heap-B/msg")

		quiet := rig.calls(b, k, nil)
		var fr2 floodResult
		loud := rig.calls(b, k, func() { fr2 = flood(b, rig.addr(), n, 256, time.Second) })
		b.ReportMetric(float64(quiet.percentile(0.5).Microseconds())/1000, "key-p50-ms")
		b.ReportMetric(float64(quiet.percentile(0.99).Microseconds())/1000, "key-p99-ms")
		b.ReportMetric(float64(loud.percentile(0.5).Microseconds())/1000, "flood-key-p50-ms")
		b.ReportMetric(float64(loud.percentile(0.99).Microseconds())/1000, "flood-key-p99-ms")
		b.ReportMetric(float64(k-loud.completed), "flood-calls-failed")
		if len(quiet.errors)+len(loud.errors) > 0 {
			b.Logf("call errors: %v %v", quiet.errors, loud.errors)
		}
		b.Logf("flood during calls: %d sent in %v, %d answered", fr2.sent, fr2.elapsed.Round(time.Millisecond), fr2.answered)
	}
}
