package sip

// The example dispatcher of deploy/: Kamailio between several sspr nodes
// and several trunks, run with its site settings pointed at loopback.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/siptest"
)

// dispatcherConfig is the example configuration, relative to this package.
const dispatcherConfig = "../deploy/kamailio-dispatcher.cfg"

// sbinary returns the path of a program of Debian's kamailio package, or
// fails the test.
func sbinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	t.Fatalf("%s not found (Debian package kamailio): run `make test-deps` (or .ci/peers-deps)", name)
	return ""
}

// setDefines rewrites the "#!substdef" site settings of a Kamailio
// configuration; each one must be defined exactly once.
func setDefines(cfg string, defs map[string]string) (string, error) {
	for name, value := range defs {
		re := regexp.MustCompile(`(?m)^#!substdef "!` + regexp.QuoteMeta(name) + `!.*!g"$`)
		if n := len(re.FindAllStringIndex(cfg, -1)); n != 1 {
			return "", fmt.Errorf("%s is defined %d times, want 1", name, n)
		}
		if strings.ContainsAny(value, "!\"\n") {
			return "", fmt.Errorf("%s: value %q cannot be substituted", name, value)
		}
		cfg = re.ReplaceAllLiteralString(cfg, `#!substdef "!`+name+`!`+value+`!g"`)
	}
	return cfg, nil
}

func TestSetDefines(t *testing.T) {
	cfg := "#!substdef \"!A!1!g\"\n#!substdef \"!AB!2!g\"\nlisten=A\n"
	cases := []struct {
		name string
		defs map[string]string
		want string // "" when an error is expected
	}{
		{name: "one", defs: map[string]string{"A": "udp:127.0.0.1:5"}, want: "#!substdef \"!A!udp:127.0.0.1:5!g\"\n#!substdef \"!AB!2!g\"\nlisten=A\n"},
		{name: "prefix-is-another", defs: map[string]string{"AB": "x"}, want: "#!substdef \"!A!1!g\"\n#!substdef \"!AB!x!g\"\nlisten=A\n"},
		{name: "missing", defs: map[string]string{"C": "1"}},
		{name: "bad-value", defs: map[string]string{"A": "a!b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setDefines(cfg, tc.defs)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("no error, got %q", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// sipRequest sends one out-of-dialog request from a socket on ip and
// returns the status line of the first final response, or "" if none came
// within wait.
func sipRequest(t *testing.T, ip net.IP, method, ruri, addr string, wait time.Duration) string {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().String()
	id := strconv.FormatUint(rand.Uint64(), 16)
	req := method + " " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:stranger@" + local + ">;tag=" + id + "\r\n" +
		"To: <" + ruri + ">\r\n" +
		"Call-ID: " + id + "@dispatcher-test\r\n" +
		"CSeq: 1 " + method + "\r\n" +
		"Contact: <sip:stranger@" + local + ">\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.WriteToUDP([]byte(req), to); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 4096)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			return ""
		}
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		if !bytes.HasPrefix(line, []byte("SIP/2.0 1")) {
			return string(line)
		}
	}
}

// TestKamailioDispatcher runs deploy/kamailio-dispatcher.cfg (after
// `kamailio -c`) in front of four trunks, by priority: a dead one that
// never answers, which the OPTIONS probes must mark down before the calls;
// one that refuses every call with 503; one that answers 408 Request
// Timeout (a trunk whose own next hop timed out); one that answers and
// sends '#' as SIP INFO, which only reaches the caller through the
// proxy's Record-Route. Two agents, two "nodes" with the proxy as their
// only trunk (their keep-alives answered by it), call at the same time:
// both calls must skip the dead trunk, fail over in Kamailio from the 503
// and then the 408 to the last trunk, get their own '#', and end
// cleanly, one by the node's BYE and one by the trunk's. Then the dead
// trunk, set active again, makes a call time out on it and fail over, and
// is marked down again. Strangers get 403, and are banned when they flood.
func TestKamailioDispatcher(t *testing.T) {
	kamailio, kamcmd := sbinary(t, "kamailio"), sbinary(t, "kamcmd")
	shipped, err := os.ReadFile(dispatcherConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("syntax", func(t *testing.T) {
		out, err := exec.Command(kamailio, "-c", "-f", dispatcherConfig).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("config file ok")) {
			t.Fatalf("kamailio -c: %v\n%s", err, out)
		}
	})

	refuse := siptest.SIPpReject(t, 503, "Service Unavailable")
	timeout := siptest.SIPpReject(t, 408, "Request Timeout")
	refusing := []struct {
		answer string
		peer   *siptest.SIPpPeer
	}{{"503 Service Unavailable", refuse}, {"408 Request Timeout", timeout}}
	// The callee waits 2 s for the caller's BYE after its '#', then hangs
	// up itself.
	answer := siptest.SIPp(t, siptest.UAS{Mode: siptest.Info, Digits: "#", Delay: 500 * time.Millisecond, CallTimeout: 2 * time.Second})
	base := siptest.PortBlock(t)
	nodeSide, trunkSide := fmt.Sprintf("127.0.0.1:%d", base), fmt.Sprintf("127.0.0.1:%d", base+1)
	// The first trunk is dead: it reads and never answers.
	dead := startBlackhole(t, fmt.Sprintf("127.0.0.1:%d", base+2))
	ctl := "unix:" + filepath.Join(t.TempDir(), "ctl.sock")
	cfg, err := setDefines(string(shipped), map[string]string{
		"NODE_LISTEN":  "udp:" + nodeSide,
		"TRUNK_LISTEN": "udp:" + trunkSide,
		"DS_LIST":      "dispatcher.list",
		"ADDRESS_LIST": "address.list",
		"CTL_SOCKET":   ctl,
		"WORKERS":      "2",
		// Probe every second; a trunk silent for 1 s has failed.
		"DS_PING_INTERVAL": "1",
		"TRUNK_REPLY_MS":   "1000",
	})
	if err != nil {
		t.Fatalf("%s: %v", dispatcherConfig, err)
	}
	k := siptest.KamailioFromFiles(t, siptest.KamailioFiles{
		Config: cfg,
		Files: map[string]string{
			"dispatcher.list": fmt.Sprintf("1 sip:%s 0 30 duid=dead\n1 sip:%s 0 20 duid=refuse\n1 sip:%s 0 15 duid=timeout\n1 sip:%s 0 10 duid=answer\n",
				dead.addr, refuse.Addr, timeout.Addr, answer.Addr),
			// Only 127.0.0.1 is a node; 127.0.0.2 plays a stranger.
			"address.list": "1 127.0.0.1 32 0 node\n",
		},
		Addr: nodeSide,
	})

	// The probes find the dead trunk and mark it inactive; the others
	// answer them and stay active.
	want := map[string]string{dead.addr: "IP", refuse.Addr: "AP", timeout.Addr: "AP", answer.Addr: "AP"}
	var states map[string]string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if states = trunkStates(t, kamcmd, ctl); maps.Equal(states, want) {
			break
		}
	}
	if !maps.Equal(states, want) {
		t.Fatalf("trunk states %v, want %v", states, want)
	}

	var nodes []*Agent
	for range 2 {
		a, _ := startAgent(t, []Trunk{{Name: "dispatcher", Address: k.Addr, KeepAlive: 200 * time.Millisecond}}, nil)
		nodes = append(nodes, a)
	}
	// The nodes' OPTIONS keep-alives are answered by Kamailio.
	deadline := time.Now().Add(5 * time.Second)
	for !(nodes[0].Healthy() && nodes[1].Healthy()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !nodes[0].Healthy() || !nodes[1].Healthy() {
		t.Fatal("the nodes' keep-alives were not answered")
	}

	// Node 0 hangs up after the key; node 1 waits for the trunk's BYE.
	errs := make(chan error, len(nodes))
	for i, a := range nodes {
		go func() { errs <- dispatchedCall(a, i == 0) }()
	}
	for i := range nodes {
		if err := <-errs; err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}

	// The probes make SIPp count calls that never end (it answers an
	// OPTIONS outside a call, then waits for an INVITE with its Call-ID),
	// so the test waits for the finished ones rather than for none in
	// progress.
	for _, tc := range []struct {
		name string
		peer *siptest.SIPpPeer
	}{{"the 503 trunk", refuse}, {"the 408 trunk", timeout}, {"the answering trunk", answer}} {
		st, err := waitFinished(tc.peer, 2, 5*time.Second)
		if err != nil || st.Successful != 2 || st.Failed != 0 {
			t.Errorf("%s: %+v, %v; want 2 calls run to their end", tc.name, st, err)
		}
		if st.Fields["AutoAnswered(C)"] == "0" {
			t.Errorf("%s was never probed", tc.name)
		}
	}
	for _, r := range refusing {
		if n := strings.Count(r.peer.Messages(), "SIP/2.0 "+r.answer); n != 2 {
			t.Errorf("the trunk answering %s refused %d INVITEs, want 2", r.answer, n)
		}
		// The log names the trunk that failed, not the first one tried.
		code, _, _ := strings.Cut(r.answer, " ")
		if line := "trunk sip:" + r.peer.Addr + " answered " + code + ": next trunk"; strings.Count(k.Log(), line) != 2 {
			t.Errorf("Kamailio logged %q %d times, want 2", line, strings.Count(k.Log(), line))
		}
	}
	if n := dead.count("INVITE "); n != 0 {
		t.Errorf("the dead trunk got %d INVITEs after it was marked down", n)
	}
	if n := dead.count("OPTIONS "); n < 2 {
		t.Errorf("the dead trunk got %d probes, want 2 or more", n)
	}

	// The operator sets the dead trunk active again: the next call tries
	// it first, gets no answer within TRUNK_REPLY_MS, marks it down and
	// goes on to the next trunks.
	if out, err := exec.Command(kamcmd, "-s", ctl, "dispatcher.set_state", "ap", "1", "sip:"+dead.addr).CombinedOutput(); err != nil {
		t.Fatalf("kamcmd dispatcher.set_state: %v: %s", err, out)
	}
	if err := dispatchedCall(nodes[0], true); err != nil {
		t.Errorf("call through the revived dead trunk: %v", err)
	}
	if n := dead.count("INVITE "); n == 0 {
		t.Error("the trunk set active again got no INVITE")
	}
	if !strings.Contains(k.Log(), "trunk sip:"+dead.addr+" did not answer: marked down") {
		t.Error("Kamailio did not log the dead trunk's timeout")
	}
	if st := trunkStates(t, kamcmd, ctl); st[dead.addr] != "IP" {
		t.Errorf("after its timeout the dead trunk is %q, want IP", st[dead.addr])
	}
	for _, r := range refusing {
		if st, err := waitFinished(r.peer, 3, 5*time.Second); err != nil || st.Successful != 3 {
			t.Errorf("the trunk answering %s: %+v, %v; want 3 calls refused", r.answer, st, err)
		}
	}

	t.Run("stranger", func(t *testing.T) {
		stranger := net.IPv4(127, 0, 0, 2)
		for _, m := range []string{"OPTIONS", "INVITE"} {
			if got := sipRequest(t, stranger, m, "sip:+15551234567@"+nodeSide, nodeSide, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 403 ") {
				t.Errorf("%s from a stranger: %q, want 403", m, got)
			}
		}
		// Nodes place calls and nothing else.
		if got := sipRequest(t, net.IPv4(127, 0, 0, 1), "MESSAGE", "sip:+15551234567@"+nodeSide, nodeSide, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 405 ") {
			t.Errorf("MESSAGE from a node: %q, want 405", got)
		}
	})

	// A stranger flooding the proxy is banned (no more answers at all);
	// the nodes are still served.
	t.Run("flood", func(t *testing.T) {
		flooder := net.IPv4(127, 0, 0, 3)
		if got := sipRequest(t, flooder, "OPTIONS", "sip:"+nodeSide, nodeSide, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 403 ") {
			t.Fatalf("a stranger's first OPTIONS: %q, want 403", got)
		}
		answered := 1
		for range 59 {
			if sipRequest(t, flooder, "OPTIONS", "sip:"+nodeSide, nodeSide, 20*time.Millisecond) != "" {
				answered++
			}
		}
		t.Logf("%d of 60 flooding requests answered", answered)
		if answered >= 60 {
			t.Errorf("%d of 60 flooding requests answered, want the first ones only", answered)
		}
		if got := sipRequest(t, flooder, "OPTIONS", "sip:"+nodeSide, nodeSide, time.Second); got != "" {
			t.Errorf("the banned flooder got %q", got)
		}
		if got := sipRequest(t, net.IPv4(127, 0, 0, 1), "OPTIONS", "sip:"+nodeSide, nodeSide, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 200 ") {
			t.Errorf("a node's OPTIONS during the ban: %q, want 200", got)
		}
		if !strings.Contains(k.Log(), "flood from 127.0.0.3") {
			t.Error("Kamailio did not log the flood")
		}
	})
}

// dispatchedCall dials through the dispatcher and checks the call: '#' by
// SIP INFO, then the node's BYE (hangup) or the trunk's.
func dispatchedCall(a *Agent, hangup bool) error {
	c, err := a.Dial(context.Background(), "+15551234567", DialOptions{})
	if err != nil {
		return fmt.Errorf("Dial: %w", err)
	}
	defer c.Hangup(context.Background())
	var keys []byte
	timeout := time.After(10 * time.Second)
	for len(keys) == 0 {
		select {
		case d, ok := <-c.Digits():
			if !ok {
				return fmt.Errorf("the call ended without a key (outcome %v)", c.Outcome())
			}
			if d.Method != media.Info {
				return fmt.Errorf("key %q by %v, want by SIP INFO", d.Key, d.Method)
			}
			keys = append(keys, d.Key)
		case <-timeout:
			return fmt.Errorf("no key within 10 s")
		}
	}
	if string(keys) != "#" {
		return fmt.Errorf("keys %q, want #", keys)
	}
	if hangup {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Hangup(ctx); err != nil {
			return fmt.Errorf("BYE through the dispatcher: %w", err)
		}
		return nil
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the trunk's BYE did not end the call")
	}
	if c.Outcome() != HungUp {
		return fmt.Errorf("outcome %v, want %v", c.Outcome(), HungUp)
	}
	return nil
}

// blackhole is a UDP socket that reads SIP requests and never answers: a
// dead trunk.
type blackhole struct {
	addr string
	mu   sync.Mutex
	got  []string // first line of each datagram
}

// startBlackhole listens on addr until the test ends.
func startBlackhole(t *testing.T, addr string) *blackhole {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", ua)
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{addr: addr}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
			b.mu.Lock()
			b.got = append(b.got, string(line))
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return b
}

// count returns how many requests starting with prefix arrived.
func (b *blackhole) count(prefix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.got {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// dsLine matches a destination and its flags in kamcmd's dispatcher.list.
var dsLine = regexp.MustCompile(`URI: sip:(\S+)\s+FLAGS: (\w+)`)

// trunkStates asks Kamailio (kamcmd over its control socket) for the state
// flags of each trunk, by address: "AP" active, "IP" inactive, both
// probed.
func trunkStates(t *testing.T, kamcmd, ctl string) map[string]string {
	t.Helper()
	out, err := exec.Command(kamcmd, "-s", ctl, "dispatcher.list").CombinedOutput()
	if err != nil {
		t.Logf("kamcmd dispatcher.list: %v: %s", err, out)
		return nil
	}
	states := map[string]string{}
	for _, m := range dsLine.FindAllStringSubmatch(string(out), -1) {
		states[m[1]] = m[2]
	}
	return states
}

// waitFinished waits until SIPp counts n calls that ended, successfully or
// not, and returns its statistics.
func waitFinished(p *siptest.SIPpPeer, n int, timeout time.Duration) (siptest.SIPpStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := p.Stats()
		if err == nil && st.Successful+st.Failed >= n {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%d of %d calls ended after %v: %v", st.Successful+st.Failed, n, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
