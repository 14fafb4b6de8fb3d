package sip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// testLog logs to the test's output when -v is given with SSPR_TEST_LOG=1.
func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("SSPR_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

var loopback = netip.MustParseAddr("127.0.0.1")

// startAgent runs an agent on a free loopback port with the given trunks
// and returns it with its metrics registry.
func startAgent(t *testing.T, trunks []Trunk, tune func(*Config)) (*Agent, *prometheus.Registry) {
	t.Helper()
	cfg := Config{
		Listen:       []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks:       trunks,
		RingTimeout:  5 * time.Second,
		TrunkTimeout: 2 * time.Second,
		Media:        media.Config{BindIP: loopback, Inactivity: 3 * time.Second},
	}
	if tune != nil {
		tune(&cfg)
	}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, testLog(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
		a.Close()
	})
	<-a.Ready()
	return a, reg
}

// startPhone runs a UDP test phone that hands each call to handle.
func startPhone(t *testing.T, handle func(*Incoming)) *Phone {
	t.Helper()
	return startPhoneOn(t, "udp", nil, handle)
}

func trunkTo(name string, p *Phone) Trunk {
	return Trunk{Name: name, Address: p.Addr().String(), KeepAlive: -1}
}

// answerAndPress is a phone handler: ring, answer, press keys, then wait
// for the caller to hang up.
func answerAndPress(keys string, m media.Method) func(*Incoming) {
	return func(r *Incoming) {
		_ = r.Ring()
		time.Sleep(100 * time.Millisecond) // a phone rings a while
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.SendDigits(ctx, keys, m, 100*time.Millisecond, 100*time.Millisecond)
		select {
		case <-c.Done():
		case <-ctx.Done():
		}
	}
}

// readKeys collects keys from call until want has arrived or the timeout.
func readKeys(t *testing.T, c *Call, want string, timeout time.Duration) (string, []media.Method) {
	t.Helper()
	var got strings.Builder
	var methods []media.Method
	deadline := time.After(timeout)
	for got.Len() < len(want) {
		select {
		case d, ok := <-c.Digits():
			if !ok {
				return got.String(), methods
			}
			got.WriteByte(d.Key)
			methods = append(methods, d.Method)
		case <-deadline:
			return got.String(), methods
		case <-c.Done():
			return got.String(), methods
		}
	}
	return got.String(), methods
}

func TestDialDigits(t *testing.T) {
	for _, m := range []media.Method{media.RFC4733, media.InBand, media.Info} {
		t.Run(m.String(), func(t *testing.T) {
			p := startPhone(t, answerAndPress("1#", m))
			a, reg := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
			var progress []Progress
			c, err := a.Dial(context.Background(), "+15551234567", DialOptions{OnProgress: func(p Progress) { progress = append(progress, p) }})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			got, methods := readKeys(t, c, "1#", 8*time.Second)
			if got != "1#" {
				t.Fatalf("keys %q, want 1#", got)
			}
			for _, gm := range methods {
				if gm != m {
					t.Errorf("key arrived by %v, want %v", gm, m)
				}
			}
			if len(progress) == 0 || progress[len(progress)-1] != Ringing {
				t.Errorf("progress %v, want ringing last", progress)
			}
			if err := c.Hangup(context.Background()); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			if c.Outcome() != Completed {
				t.Errorf("outcome %v, want completed", c.Outcome())
			}
			if n := testutil.ToFloat64(a.metrics.calls.WithLabelValues(string(Completed), "pbx")); n != 1 {
				t.Errorf("sspr_sip_calls_total{outcome=completed} = %v, want 1", n)
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("metrics lint: %v %v", err, problems)
			}
		})
	}
}

func TestDialRejected(t *testing.T) {
	cases := []struct {
		status int
		want   Outcome
	}{
		{486, Busy},
		{600, Busy},
		{603, Rejected},
		{403, Rejected},
		{404, Unreachable},
		{480, NoAnswer},
		{500, Unreachable},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			p := startPhone(t, func(r *Incoming) {
				_ = r.Ring()
				_ = r.Reject(tc.status, "Test")
			})
			a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
			_, err := a.Dial(context.Background(), "100", DialOptions{})
			var ce *CallError
			if !errors.As(err, &ce) || ce.Outcome != tc.want || ce.Status != tc.status || ce.Trunk != "pbx" {
				t.Fatalf("Dial: %v, want %s with %d from pbx", err, tc.want, tc.status)
			}
		})
	}
}

func TestDialRingTimeoutCancels(t *testing.T) {
	cancelled := make(chan struct{})
	p := startPhone(t, func(r *Incoming) {
		_ = r.Ring()
		select {
		case <-r.Cancelled():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	start := time.Now()
	_, err := a.Dial(context.Background(), "100", DialOptions{RingTimeout: 700 * time.Millisecond})
	if OutcomeOf(err) != NoAnswer {
		t.Fatalf("Dial: %v, want no-answer", err)
	}
	if d := time.Since(start); d < 700*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v, want about 700ms", d)
	}
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the phone never saw a CANCEL")
	}
}

func TestDialContextCancel(t *testing.T) {
	cancelled := make(chan struct{})
	p := startPhone(t, func(r *Incoming) {
		_ = r.Ring()
		<-r.Cancelled()
		close(cancelled)
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := a.Dial(ctx, "100", DialOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want the context's error", err)
	}
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("cancelling the context sent no CANCEL")
	}
}

func TestDialFailover(t *testing.T) {
	var tried atomic.Int32
	down := startPhone(t, func(r *Incoming) {
		tried.Add(1)
		_ = r.Reject(503, "Service Unavailable")
	})
	// A trunk that never answers: a socket nobody reads.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	up := startPhone(t, answerAndPress("#", media.RFC4733))
	a, _ := startAgent(t, []Trunk{
		trunkTo("down", down),
		{Name: "silent", Address: silent.LocalAddr().String(), KeepAlive: -1},
		trunkTo("up", up),
	}, func(c *Config) { c.TrunkTimeout = 400 * time.Millisecond })
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Hangup(context.Background())
	if c.Trunk() != "up" || tried.Load() != 1 {
		t.Fatalf("call went out on %q after %d tries of the 503 trunk, want up after 1", c.Trunk(), tried.Load())
	}
	if got, _ := readKeys(t, c, "#", 5*time.Second); got != "#" {
		t.Fatalf("keys %q, want #", got)
	}
}

func TestDialAllTrunksDown(t *testing.T) {
	down := startPhone(t, func(r *Incoming) { _ = r.Reject(503, "Service Unavailable") })
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.LocalAddr().String()
	closed.Close() // ICMP port unreachable, or nothing at all
	a, _ := startAgent(t, []Trunk{trunkTo("down", down), {Name: "gone", Address: addr, KeepAlive: -1}},
		func(c *Config) { c.TrunkTimeout = 400 * time.Millisecond })
	_, err = a.Dial(context.Background(), "100", DialOptions{})
	if OutcomeOf(err) != Unreachable {
		t.Fatalf("Dial: %v, want unreachable", err)
	}
}

func TestFarEndHangsUp(t *testing.T) {
	p := startPhone(t, func(r *Incoming) {
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
		_ = c.Hangup(context.Background())
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("far-end BYE did not end the call")
	}
	if c.Outcome() != HungUp {
		t.Fatalf("outcome %v, want hung-up", c.Outcome())
	}
}

func TestMediaTimeoutEndsCall(t *testing.T) {
	byed := make(chan struct{})
	p := startPhone(t, func(r *Incoming) {
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		// Send nothing; the caller's media timeout must hang up.
		select {
		case <-c.Done():
			close(byed)
		case <-time.After(10 * time.Second):
		}
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, func(c *Config) { c.Media.Inactivity = 500 * time.Millisecond })
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no media timeout")
	}
	if c.Outcome() != MediaTimeout {
		t.Fatalf("outcome %v, want media-timeout", c.Outcome())
	}
	select {
	case <-byed:
	case <-time.After(3 * time.Second):
		t.Fatal("the phone got no BYE after the media timeout")
	}
}

// sipClient returns a bare sipgo client on loopback, to send the agent
// requests it did not ask for.
func sipClient(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func agentURI(t *testing.T, a *Agent) sipmsg.Uri {
	t.Helper()
	addr := strings.TrimPrefix(a.Addrs()[0], "udp:")
	host, port, err := splitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return sipmsg.Uri{Scheme: "sip", User: "sspr", Host: host, Port: port}
}

func TestRefusesWhatItDidNotAskFor(t *testing.T) {
	p := startPhone(t, func(r *Incoming) { _ = r.Reject(486, "Busy") })
	a, reg := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	cli := sipClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	invite := sipmsg.NewRequest(sipmsg.INVITE, agentURI(t, a))
	invite.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}})
	res, err := cli.Do(ctx, invite)
	if err != nil || res.StatusCode != sipmsg.StatusGlobalDecline {
		t.Fatalf("INVITE: %v %v, want 603", res, err)
	}
	if n := testutil.ToFloat64(a.metrics.unsolicited); n != 1 {
		t.Errorf("unsolicited INVITEs counted %v, want 1", n)
	}

	res, err = cli.Do(ctx, sipmsg.NewRequest(sipmsg.OPTIONS, agentURI(t, a)))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %v %v, want 200", res, err)
	}

	info := sipmsg.NewRequest(sipmsg.INFO, agentURI(t, a))
	info.SetBody([]byte("Signal=#\r\nDuration=100\r\n"))
	info.AppendHeader(sipmsg.NewHeader("Content-Type", "application/dtmf-relay"))
	res, err = cli.Do(ctx, info)
	if err != nil || res.StatusCode != sipmsg.StatusCallTransactionDoesNotExists {
		t.Fatalf("INFO outside a call: %v %v, want 481", res, err)
	}
	_ = reg
}

func TestInfoBodies(t *testing.T) {
	type reply struct {
		status int
		err    error
	}
	replies := make(chan reply, 3)
	p := startPhone(t, func(r *Incoming) {
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
		for _, b := range []struct{ ct, body string }{
			{"text/plain", "hello"},
			{"application/dtmf-relay", "Signal=%\r\n"},
			{"application/dtmf", "5"},
		} {
			res, err := c.Info(context.Background(), b.ct, []byte(b.body))
			if err != nil {
				replies <- reply{err: err}
				continue
			}
			replies <- reply{status: res.StatusCode}
		}
		<-c.Done()
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(context.Background())
	for _, want := range []int{415, 400, 200} {
		select {
		case r := <-replies:
			if r.err != nil || r.status != want {
				t.Fatalf("INFO answered %d (%v), want %d", r.status, r.err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no answer to INFO")
		}
	}
	if got, _ := readKeys(t, c, "5", 3*time.Second); got != "5" {
		t.Fatalf("keys %q, want 5 from application/dtmf", got)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Trunk{Address: "127.0.0.1:5060"}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no trunks", Config{}, "Config.Trunks"},
		{"bad transport", Config{Trunks: []Trunk{{Address: "127.0.0.1:5060", Transport: "sctp"}}}, "Trunks[0]: Transport"},
		{"no address", Config{Trunks: []Trunk{{}}}, "Trunks[0]: Address"},
		{"bad uri", Config{Trunks: []Trunk{{Address: "sip:"}}}, "Trunks[0]: Address"},
		{"twice", Config{Trunks: []Trunk{{Name: "a", Address: "h:1"}, {Name: "a", Address: "h:2"}}}, "Trunks[1].Name"},
		{"password without user", Config{Trunks: []Trunk{{Address: "h:1", Password: "x"}}}, "Trunks[0].Username"},
		{"bad listener", Config{Listen: []Listener{{Addr: "nope"}}, Trunks: []Trunk{ok}}, "Listen[0].Addr"},
		{"two udp listeners", Config{Listen: []Listener{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:2"}}, Trunks: []Trunk{ok}}, "Listen[1]"},
		{"tls without cert", Config{Listen: []Listener{{Transport: "tls", Addr: "127.0.0.1:0"}}, Trunks: []Trunk{ok}}, "Listen[0].CertFile"},
		{"negative ring", Config{RingTimeout: -1, Trunks: []Trunk{ok}}, "RingTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	v, err := Config{Trunks: []Trunk{{Address: "sips:pbx.example.net"}, {Address: "sip:10.0.0.1:5080;transport=tcp"}}}.validate()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.trunks[0]; got.transport != "tls" || got.uri.Port != 5061 || got.Name != "trunk1" {
		t.Errorf("sips trunk: %+v", got)
	}
	if got := v.trunks[1]; got.transport != "tcp" || got.uri.Port != 5080 || got.uri.Host != "10.0.0.1" {
		t.Errorf("tcp trunk: %+v", got)
	}
}

func TestClassify(t *testing.T) {
	for status, want := range map[int]Outcome{486: Busy, 600: Busy, 603: Rejected, 403: Rejected, 408: NoAnswer,
		480: NoAnswer, 487: NoAnswer, 404: Unreachable, 484: Unreachable, 503: Unreachable, 502: Unreachable, 407: Failed, 415: Failed} {
		if got, _ := classify(status); got != want {
			t.Errorf("classify(%d) = %s, want %s", status, got, want)
		}
	}
	for status, want := range map[int]bool{503: true, 408: true, 500: true, 486: false, 603: false, 404: false, 480: false} {
		if _, got := classify(status); got != want {
			t.Errorf("classify(%d) failover = %v, want %v", status, got, want)
		}
	}
}

// TestPlayReachesFarEnd: a prompt played on the call arrives, sample for
// sample (through µ-law), at the phone, which records it.
func TestPlayReachesFarEnd(t *testing.T) {
	var (
		mu  sync.Mutex
		got []int16
	)
	answered := make(chan *PhoneCall, 1)
	p := startPhone(t, func(r *Incoming) {
		r.OnAudio(func(pcm []int16) {
			mu.Lock()
			got = append(got, pcm...)
			mu.Unlock()
		})
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		answered <- c
		<-c.Done()
	})
	a, _ := startAgent(t, []Trunk{trunkTo("pbx", p)}, nil)
	c, err := a.Dial(context.Background(), "100", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Hangup(context.Background())
	<-answered
	// 300 ms of a 1 kHz tone, as PCM16.
	pcm := make([]int16, 2400)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	raw := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	if err := c.Play(context.Background(), bytes.NewReader(raw), dtmf.EncodingPCM16); err != nil {
		t.Fatal(err)
	}
	want := make([]int16, len(pcm))
	for i, s := range pcm {
		want[i] = g711.DecodeULaw(g711.EncodeULaw(s))
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		found := containsRun(got, want)
		mu.Unlock()
		if found {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Fatalf("the phone heard %d samples, without the %d played", len(got), len(want))
}

// containsRun reports whether want occurs in got.
func containsRun(got, want []int16) bool {
	for i := 0; i+len(want) <= len(got); i++ {
		if slices.Equal(got[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

// TestStopHangsUp: stopping the agent hangs up the calls in progress.
func TestStopHangsUp(t *testing.T) {
	byes := make(chan struct{}, 2)
	p := startPhone(t, func(r *Incoming) {
		c, err := r.Answer(context.Background())
		if err != nil {
			return
		}
		<-c.Done()
		byes <- struct{}{}
	})
	cfg := Config{
		Listen: []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks: []Trunk{trunkTo("pbx", p)},
		Media:  media.Config{BindIP: loopback, Inactivity: 10 * time.Second},
	}
	a, err := New(cfg, testLog(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Ready()
	var calls []*Call
	for range 2 {
		c, err := a.Dial(context.Background(), "100", DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	for i := range 2 {
		select {
		case <-byes:
		case <-time.After(3 * time.Second):
			t.Fatalf("call %d not hung up when the agent stopped", i)
		}
		if o := calls[i].Outcome(); o != Completed {
			t.Errorf("call %d outcome %s, want completed", i, o)
		}
	}
}

// TestTrunkUpWithoutKeepAlive: a trunk whose keep-alive is off is not
// probed and is reported up, as readiness and the trunk order take it.
func TestTrunkUpWithoutKeepAlive(t *testing.T) {
	p := startPhone(t, func(r *Incoming) { _ = r.Reject(486, "Busy Here") })
	reg := prometheus.NewRegistry()
	a, err := New(Config{
		Listen: []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks: []Trunk{trunkTo("quiet", p)},
		Media:  media.Config{BindIP: loopback},
	}, testLog(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-a.Ready()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := testutil.ToFloat64(a.metrics.trunkUp.WithLabelValues("quiet"))
		if v == 1 && a.Healthy() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sspr_sip_trunk_up = %v, healthy %v; want 1 and true for a trunk with keep-alive off", v, a.Healthy())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
