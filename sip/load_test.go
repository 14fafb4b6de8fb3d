package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/siptest"
)

// BenchmarkConcurrentCalls holds N calls at once against one SIPp callee
// that answers each and presses # after a delay long enough for all N to
// be up together, while sspr plays each a prompt. It reports calls
// completed and failed, sspr's CPU time and resident memory per call, and
// the time from the # packet's arrival at the call's socket to the key
// reaching the goroutine that called Dial (p50, p99).
//
// Run it with make bench, or:
//
//	go test -run '^$' -bench ConcurrentCalls -benchtime 1x ./sip/
//
// SSPR_LOAD_CALLS sets the sizes (default 500,1000,2000); SSPR_LOAD_RATE
// the calls started per second (default 200).
func BenchmarkConcurrentCalls(b *testing.B) {
	sizes := []int{500, 1000, 2000}
	if s := os.Getenv("SSPR_LOAD_CALLS"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("SSPR_LOAD_CALLS=%q: want sizes like 500,1000", s)
			}
			sizes = append(sizes, n)
		}
	}
	rate := 200
	if s := os.Getenv("SSPR_LOAD_RATE"); s != "" {
		var err error
		if rate, err = strconv.Atoi(s); err != nil || rate <= 0 {
			b.Fatalf("SSPR_LOAD_RATE=%q: want calls per second", s)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			for b.Loop() {
				r := runLoad(b, n, rate)
				b.ReportMetric(float64(r.completed), "completed")
				b.ReportMetric(float64(r.failed), "failed")
				b.ReportMetric(float64(r.peak), "peak-concurrent")
				b.ReportMetric(r.cpuPerCall.Seconds()*1000, "cpu-ms/call")
				b.ReportMetric(r.rssPerCall/1024, "rss-KiB/call")
				b.ReportMetric(r.heapPerCall/1024, "heap-KiB/call")
				b.ReportMetric(float64(r.p50.Microseconds())/1000, "key-p50-ms")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "key-p99-ms")
				if r.failed > 0 {
					b.Logf("%d of %d calls failed; first errors: %v", r.failed, n, r.errors)
				}
			}
		})
	}
}

type loadResult struct {
	completed, failed, peak int
	cpuPerCall              time.Duration
	rssPerCall, heapPerCall float64
	p50, p99                time.Duration
	errors                  []string
}

func runLoad(b *testing.B, n, rate int) loadResult {
	ramp := time.Duration(n) * time.Second / time.Duration(rate)
	p := siptest.SIPp(b, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: ramp + 3*time.Second, Ring: -1, CallTimeout: ramp + 30*time.Second, Sparse: os.Getenv("SSPR_LOAD_AUDIO") == ""})
	cfg := Config{
		Listen:       []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks:       []Trunk{{Name: "sipp", Address: p.Addr, KeepAlive: -1}},
		RingTimeout:  20 * time.Second,
		TrunkTimeout: 10 * time.Second,
		Media:        media.Config{BindIP: loopback, PortMin: 34000, PortMax: 34000 + 2*(n+200), Inactivity: 30 * time.Second},
	}
	a, err := New(cfg, testLog(b), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
		a.Close()
	}()
	<-a.Ready()
	prompt := loadPrompt()

	runtime.GC()
	rss0, heap0, cpu0 := rss(), heapInuse(), cpuTime()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      []string
		completed atomic.Int32
		up        atomic.Int32
		peak      atomic.Int32
		rssPeak   atomic.Int64
		heapPeak  atomic.Uint64
		wg        sync.WaitGroup
	)
	fail := func(err string) {
		mu.Lock()
		if len(errs) < 5 {
			errs = append(errs, err)
		}
		mu.Unlock()
	}
	// Sample memory while the calls are up.
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if int(up.Load()) >= n*9/10 {
					if r := rss(); r > rssPeak.Load() {
						rssPeak.Store(r)
					}
					if h := heapInuse(); h > heapPeak.Load() {
						heapPeak.Store(h)
					}
				}
			}
		}
	}()
	start := time.Now()
	for i := range n {
		// Start calls at the rate, against the clock.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.Dial(context.Background(), "+15551234567", DialOptions{})
			if err != nil {
				fail(err.Error())
				return
			}
			if now := up.Add(1); now > peak.Load() {
				peak.Store(now)
			}
			defer up.Add(-1)
			playCtx, stop := context.WithCancel(context.Background())
			defer stop()
			go func() { _ = c.Play(playCtx, bytes.NewReader(prompt), dtmf.EncodingPCM16) }()
			timeout := time.After(ramp + 20*time.Second)
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
					stop()
					mu.Lock()
					latencies = append(latencies, lat)
					mu.Unlock()
					hctx, hc := context.WithTimeout(context.Background(), 10*time.Second)
					err := c.Hangup(hctx)
					hc()
					if err != nil {
						fail("hangup: " + err.Error())
						return
					}
					completed.Add(1)
					return
				case <-timeout:
					fail("no # in time")
					_ = c.Hangup(context.Background())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	cpu := cpuTime() - cpu0
	slices.Sort(latencies)
	r := loadResult{
		completed:   int(completed.Load()),
		failed:      n - int(completed.Load()),
		peak:        int(peak.Load()),
		cpuPerCall:  cpu / time.Duration(n),
		rssPerCall:  float64(max(rssPeak.Load()-rss0, 0)) / float64(n),
		heapPerCall: float64(max(int64(heapPeak.Load())-int64(heap0), 0)) / float64(n),
		errors:      errs,
	}
	if len(latencies) > 0 {
		r.p50 = latencies[len(latencies)/2]
		r.p99 = latencies[min(len(latencies)-1, int(math.Ceil(float64(len(latencies))*0.99))-1)]
	}
	return r
}

// loadPrompt is two seconds of a 440 Hz tone, as PCM16.
func loadPrompt() []byte {
	b := make([]byte, 2*16000)
	for i := range 16000 {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(6000*math.Sin(2*math.Pi*440*float64(i)/8000))))
	}
	return b
}

// rss returns the process's resident memory in bytes.
func rss() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
