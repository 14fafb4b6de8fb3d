package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to count sessions

	"github.com/sspr-project/sspr/directory/dirtest"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/store/pgtest"
	"github.com/sspr-project/sspr/sip/siptest"
)

// The load benchmarks run the real sspr binary (`sspr serve`, built for
// the run) as a separate process against PostgreSQL, OpenLDAP slapd and
// a SIPp callee, and drive it over HTTP as browsers and API clients do.
// They are run by make bench-load, not by make test:
//
//	go test -run '^$' -bench 'Load' -benchtime 1x -timeout 60m ./cmd/sspr/
//
// SSPR_LOAD_RESETS sets the sizes (default 250,500,1000,2000),
// SSPR_LOAD_RATE the journeys started per second (default 50: the
// keys then come at 50 a second too, see docs/scaling.md),
// SSPR_LOAD_NODES the number of sspr nodes sharing the database
// (default 1; requests then go to the nodes in turn, as a load balancer
// without sticky sessions sends them), SSPR_LOAD_PROFILE a directory for
// a CPU profile of the first node, SSPR_LOAD_LOGS one to keep the nodes'
// logs in.

// loadYAML is a node's configuration: resets in confirm mode (the callee
// presses #), limits raised to let one test client start thousands of
// journeys, the first-key timeout long enough for every call of a run to
// be up together before the keys come.
const loadYAML = `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  ring_timeout: 30s
  trunks:
    - name: sipp
      address: sip:{{trunk}}
      keepalive: -1s
  media:
    bind_ip: 127.0.0.1
    port_min: {{port_min}}
    port_max: {{port_max}}
    inactivity: 60s
ivr:
  first_key_timeout: 120s
directory:
  type: openldap
  urls: [{{ldap}}]
  ca_file: {{ca}}
  bind_dn: {{binddn}}
  bind_password: ${SSPR_LOAD_LDAP_PASSWORD}
  base_dn: {{base}}
  pool_size: 8
store:
  postgres: ${SSPR_LOAD_DSN}
portal:
  listen: 127.0.0.1:0
  secret: load-test-secret-shared-by-every-node-0123456789
  call_timeout: 5m
  session_ttl: 30m
  decoy_ring: 1s
  phone:
    countries: [GB]
  limits:
    calls_per_user: {n: 5, per: 1h}
    calls_per_number: {n: 5, per: 1h}
    calls_per_client: {n: 1000000, per: 1h}
    calls_per_minute: 1000000
    starts_per_client: {n: {{starts}}, per: 10m}
    signins_per_user: {n: 10, per: 15m}
  api:
    tokens:
      - name: load
        token: ${SSPR_LOAD_API_TOKEN}
  workflow:
    reset:
      - gate: phone
        mode: confirm
`

const loadAPIToken = "load-test-api-token-0123456789abcdefghij"

// loadNode is one running `sspr serve` process.
type loadNode struct {
	cmd           *exec.Cmd
	portal, admin string
	stderr        *os.File
}

// loadBed is what every run shares: the binary, slapd, PostgreSQL.
type loadBed struct {
	bin  string
	ldap *dirtest.Server
	pg   *pgtest.Server
	dir  string
}

func newLoadBed(b testing.TB) *loadBed {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "sspr")
	build := exec.Command(goTool(), "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("building sspr: %v", err)
	}
	return &loadBed{bin: bin, ldap: dirtest.Slapd(b), pg: pgtest.Start(b), dir: dir}
}

// goTool is the go command that runs this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// addUsers adds n users named prefix0000... to slapd, each with an
// initial password, and registers a number for each in the store.
func (bed *loadBed) addUsers(b testing.TB, st store.Store, prefix string, n int) []string {
	b.Helper()
	l, err := ldap.DialURL(bed.ldap.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(bed.ldap.AdminDN, bed.ldap.AdminPassword); err != nil {
		b.Fatal(err)
	}
	users := make([]string, n)
	for i := range n {
		u := fmt.Sprintf("%s%04d", prefix, i)
		users[i] = u
		add := ldap.NewAddRequest(bed.ldap.UserDN(u), nil)
		add.Attribute("objectClass", []string{"inetOrgPerson"})
		add.Attribute("uid", []string{u})
		add.Attribute("cn", []string{"Load " + u})
		add.Attribute("sn", []string{u})
		add.Attribute("userPassword", []string{"Initial-Load-Passw0rd"})
		if err := l.Add(add); err != nil {
			b.Fatalf("adding %s: %v", u, err)
		}
		// Distinct numbers: the per-number cap counts each alone.
		num := fmt.Sprintf("+44207%07d", i)
		if err := st.PutRegistration(context.Background(), store.Registration{Username: u, Phone: num}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	return users
}

// start runs `sspr serve` with the configuration for trunk and dsn.
func (bed *loadBed) start(b testing.TB, name, trunk, dsn string, portMin, starts int) *loadNode {
	b.Helper()
	cfg := strings.NewReplacer("{{trunk}}", trunk, "{{ldap}}", bed.ldap.LDAPSURL, "{{ca}}", bed.ldap.CAFile,
		"{{binddn}}", bed.ldap.BindDN, "{{base}}", bed.ldap.BaseDN,
		"{{port_min}}", strconv.Itoa(portMin), "{{port_max}}", strconv.Itoa(portMin+9998),
		"{{starts}}", strconv.Itoa(starts)).Replace(loadYAML)
	file := filepath.Join(bed.dir, name+".yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	logDir := bed.dir
	if d := os.Getenv("SSPR_LOAD_LOGS"); d != "" {
		logDir = d // kept after the run
	}
	stderr, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bed.bin, "serve", "--config", file, "--admin", "127.0.0.1:0", "--log-level", "warn", "--drain-timeout", "5s")
	cmd.Env = append(os.Environ(), "SSPR_LOAD_LDAP_PASSWORD="+bed.ldap.BindPassword, "SSPR_LOAD_DSN="+dsn, "SSPR_LOAD_API_TOKEN="+loadAPIToken)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	n := &loadNode{cmd: cmd, stderr: stderr}
	b.Cleanup(func() { n.stop(b) })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(30 * time.Second)
	for n.portal == "" || n.admin == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				b.Fatalf("sspr serve ended before listening:\n%s", n.log())
			}
			if m := listeningLine.FindStringSubmatch(l); m != nil {
				if m[1] == "portal" {
					n.portal = m[2]
				} else {
					n.admin = m[2]
				}
			}
		case <-timeout:
			b.Fatalf("sspr serve did not listen in 30 s:\n%s", n.log())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return n
}

// stop ends the node by its PID: SIGTERM, then SIGKILL after 15 s.
func (n *loadNode) stop(b testing.TB) {
	if n.cmd.Process == nil || n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
		b.Errorf("sspr serve (pid %d) did not stop on SIGTERM within 15 s", n.cmd.Process.Pid)
	}
	n.stderr.Close()
}

func (n *loadNode) log() string {
	b, _ := os.ReadFile(n.stderr.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// procUsage is a process's CPU time so far and its resident memory.
type procUsage struct {
	cpu time.Duration
	rss int64 // bytes
}

// usage reads /proc/PID/stat (utime, stime in clock ticks of 1/100 s on
// Linux) and /proc/PID/statm (resident pages).
func usage(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	// The command name may hold spaces: the fields follow the last ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return procUsage{}, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	statm, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return procUsage{}, err
	}
	m := strings.Fields(string(statm))
	pages, _ := strconv.ParseInt(m[1], 10, 64)
	return procUsage{cpu: time.Duration(ut+st) * 10 * time.Millisecond, rss: pages * int64(os.Getpagesize())}, nil
}

// sampler follows the nodes' memory while a run goes on.
type sampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Int64 // the largest sum of the nodes' RSS seen
}

func sample(nodes []*loadNode) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			var sum int64
			for _, n := range nodes {
				if u, err := usage(n.cmd.Process.Pid); err == nil {
					sum += u.rss
				}
			}
			if sum > s.peak.Load() {
				s.peak.Store(sum)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) end() int64 {
	close(s.stop)
	<-s.done
	return s.peak.Load()
}

func nodesUsage(b testing.TB, nodes []*loadNode) procUsage {
	var sum procUsage
	for _, n := range nodes {
		u, err := usage(n.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		sum.cpu += u.cpu
		sum.rss += u.rss
	}
	return sum
}

// loadReport is one run's figures.
type loadReport struct {
	n, completed, failed int
	elapsed              time.Duration // first start to last end
	cpuPerCall           time.Duration
	rssPerCall           float64 // bytes
	keyP50, keyP99       float64 // seconds, from the nodes' histograms
	keySamples           int
	errors               []string
}

func (r *loadReport) fail(mu *sync.Mutex, err string) {
	mu.Lock()
	defer mu.Unlock()
	r.failed++
	if len(r.errors) < 5 {
		r.errors = append(r.errors, err)
	}
}

func loadSizes(b *testing.B) []int {
	sizes := []int{250, 500, 1000, 2000}
	if s := os.Getenv("SSPR_LOAD_RESETS"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("SSPR_LOAD_RESETS=%q: want sizes like 500,1000", s)
			}
			sizes = append(sizes, n)
		}
	}
	return sizes
}

func loadEnvInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// TestServeNodesAlternate runs two `sspr serve` processes on one
// PostgreSQL database with a dozen resets at once whose requests go to
// the nodes in turn (the start to one, the event stream to the other, the
// password to the first, the done page to the second), as a load
// balancer without sticky sessions sends them: every reset completes, the
// audit log has one complete record set per reset and no session is left
// active. It is the load benchmark's harness, small.
func TestServeNodesAlternate(t *testing.T) {
	bed := newLoadBed(t)
	const n = 12
	r := bed.runResets(t, "alt", n, 10, 2)
	if r.completed != n || r.failed != 0 {
		t.Fatalf("%d of %d resets completed, %d failed: %v", r.completed, n, r.failed, r.errors)
	}
	if r.keySamples != n {
		t.Errorf("sspr_portal_key_to_page_seconds: %d samples over both nodes, want %d", r.keySamples, n)
	}
}

// BenchmarkLoadResets drives N concurrent end-to-end resets: a browser-
// like client posts the username, follows the page's event stream while
// sspr calls the SIPp callee, which answers and presses # once every
// call of the run is up; the stream tells the page, the client posts the
// new password, sspr writes it to slapd. It reports completed and failed
// resets, resets per second, the nodes' CPU time and memory per reset,
// and the key-to-page latency (from the # packet's arrival at the node
// that owns the call to the event stream writing the result: the
// sspr_portal_key_to_page_seconds histogram). After each run the audit
// log must hold exactly one complete record set per reset and no session
// may be left active.
func BenchmarkLoadResets(b *testing.B) {
	bed := newLoadBed(b)
	rate := loadEnvInt(b, "SSPR_LOAD_RATE", 50)
	nodes := loadEnvInt(b, "SSPR_LOAD_NODES", 1)
	for i, n := range loadSizes(b) {
		b.Run(fmt.Sprintf("resets=%d/nodes=%d", n, nodes), func(b *testing.B) {
			for b.Loop() {
				r := bed.runResets(b, fmt.Sprintf("r%d", i), n, rate, nodes)
				reportLoad(b, r)
			}
		})
	}
}

// BenchmarkLoadAPI does the same through the verification API: N
// verifications (confirm mode) created at the rate, then polled every
// 500 ms until each has its verdict.
func BenchmarkLoadAPI(b *testing.B) {
	bed := newLoadBed(b)
	rate := loadEnvInt(b, "SSPR_LOAD_RATE", 50)
	for i, n := range loadSizes(b) {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			for b.Loop() {
				r := bed.runAPI(b, fmt.Sprintf("a%d", i), n, rate)
				reportLoad(b, r)
			}
		})
	}
}

func reportLoad(b *testing.B, r loadReport) {
	b.ReportMetric(float64(r.completed), "completed")
	b.ReportMetric(float64(r.failed), "failed")
	b.ReportMetric(float64(r.completed)/r.elapsed.Seconds(), "done/s")
	b.ReportMetric(r.cpuPerCall.Seconds()*1000, "cpu-ms/call")
	b.ReportMetric(r.rssPerCall/1024, "rss-KiB/call")
	if r.keySamples > 0 {
		b.ReportMetric(r.keyP50*1000, "key-to-page-p50-ms")
		b.ReportMetric(r.keyP99*1000, "key-to-page-p99-ms")
	}
	if r.failed > 0 {
		b.Errorf("%d of %d failed; first errors: %v", r.failed, r.n, r.errors)
	}
}

// round is what one run sets up: a fresh database, users, SIPp, nodes.
type round struct {
	st    store.Store
	dsn   string
	users []string
	nodes []*loadNode
	sipp  *siptest.SIPpPeer
}

func (bed *loadBed) setup(b testing.TB, prefix string, n, rate, nodes int) *round {
	b.Helper()
	ramp := time.Duration(n) * time.Second / time.Duration(rate)
	dsn := bed.pg.NewDatabase(b)
	st, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	r := &round{st: st, dsn: dsn, users: bed.addUsers(b, st, prefix, n)}
	// The callee answers at once and presses # after every call of the
	// run is up, so that all n are up together.
	r.sipp = siptest.SIPp(b, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: ramp + 5*time.Second, Ring: -1,
		CallTimeout: ramp + 60*time.Second, Sparse: true})
	for i := range nodes {
		r.nodes = append(r.nodes, bed.start(b, fmt.Sprintf("%s-node%d", prefix, i), r.sipp.Addr, dsn, 20000+i*10000, 10*n+100))
	}
	return r
}

// loadClient is an HTTP client for many journeys at once: no redirects
// followed, a connection per journey's stream.
func loadClient() *http.Client {
	tr := &http.Transport{MaxIdleConns: 10000, MaxIdleConnsPerHost: 10000, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: tr, CheckRedirect: noRedirect}
}

// noRedirect makes a client return redirects rather than follow them.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// drive runs one journey per user of the round, started at rate per
// second, each in its own goroutine, and reports how they went and what
// the nodes spent on them, once every call is over.
func drive(b testing.TB, r *round, rate int, journey func(i int, user string) error) loadReport {
	n := len(r.users)
	base := nodesUsage(b, r.nodes)
	mem := sample(r.nodes)
	rep := loadReport{n: n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	var lastEnd atomic.Int64
	for i, user := range r.users {
		<-tick.C
		wg.Go(func() {
			if err := journey(i, user); err != nil {
				rep.fail(&mu, user+": "+err.Error())
				return
			}
			mu.Lock()
			rep.completed++
			mu.Unlock()
			lastEnd.Store(int64(time.Since(start)))
		})
	}
	tick.Stop()
	wg.Wait()
	rep.elapsed = time.Duration(lastEnd.Load())
	peak := mem.end()
	end := nodesUsage(b, r.nodes)
	rep.cpuPerCall = (end.cpu - base.cpu) / time.Duration(n)
	rep.rssPerCall = float64(peak-base.rss) / float64(n)
	waitCallsOver(b, r.nodes)
	return rep
}

func (bed *loadBed) runResets(b testing.TB, prefix string, n, rate, nodes int) loadReport {
	r := bed.setup(b, prefix, n, rate, nodes)
	keys0 := keyHistogram(b, r.nodes)
	tr := loadClient().Transport
	profiled := profile(b, r.nodes[0], time.Duration(n)*time.Second/time.Duration(rate), prefix)
	defer profiled()
	rep := drive(b, r, rate, func(i int, user string) error {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Transport: tr, Jar: jar, CheckRedirect: noRedirect}
		// Each request of the reset to the next node in turn.
		node := func(k int) string { return r.nodes[(i+k)%len(r.nodes)].portal }
		return resetOnce(c, node, user, "Load-New-Passw0rd-"+user)
	})
	keepMetrics(b, r.nodes, prefix)
	keys := keyHistogram(b, r.nodes).minus(keys0)
	rep.keySamples = int(keys.count)
	rep.keyP50, rep.keyP99 = keys.quantile(0.5), keys.quantile(0.99)
	// One complete record set per reset, and no session left active.
	checkAudit(b, r, []string{"call:confirmed", "gate.phone:passed", "reset.password:ok", "reset.start:ok"}, true)
	return rep
}

// resetOnce is one reset as a browser with JavaScript does it.
func resetOnce(c *http.Client, node func(int) string, user, password string) error {
	res, err := loadPost(c, node(0)+"/reset", url.Values{"username": {user}})
	if err != nil {
		return err
	}
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow/") {
		return fmt.Errorf("POST /reset: %d, Location %q", res.StatusCode, loc)
	}
	// The page's event stream, until the call's result.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node(1)+loc+"/events", nil)
	sres, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	var last struct {
		Gate    int    `json:"gate"`
		Running bool   `json:"running"`
		Result  string `json:"result"`
		Done    bool   `json:"done"`
	}
	sc := bufio.NewScanner(sres.Body)
	passed := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(line), &last); err != nil {
			break
		}
		// The gate passes just after the result shows: wait for it.
		if last.Done || last.Gate == -1 || (!last.Running && last.Result != "" && last.Result != "confirmed") {
			passed = last.Gate == -1 && !last.Done
			break
		}
	}
	sres.Body.Close()
	if !passed {
		return fmt.Errorf("the call ended with %+v (stream error %v)", last, sc.Err())
	}
	res, err = loadPost(c, node(2)+loc, url.Values{"action": {"password"}, "password": {password}, "password2": {password}})
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("POST the password: %d", res.StatusCode)
	}
	res, err = c.Get(node(3) + loc)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(body, []byte("Your password is changed")) {
		return fmt.Errorf("no done page after the password: %d", res.StatusCode)
	}
	return nil
}

func loadPost(c *http.Client, u string, form url.Values) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// checkAudit: the audit log holds exactly one record set, want, per
// user, each with its session, and every call record has its call's ID;
// with sessionsEnded, every session has ended.
func checkAudit(b testing.TB, r *round, want []string, sessionsEnded bool) {
	b.Helper()
	n := len(r.users)
	recs, err := r.st.List(context.Background(), store.Filter{})
	if err != nil {
		b.Fatal(err)
	}
	sets := map[string][]string{}
	users := map[string]map[string]bool{}
	for _, rec := range recs {
		if rec.ResetID == "" {
			b.Errorf("a record without its session: %s %s:%s", rec.User, rec.Event, rec.Outcome)
			continue
		}
		sets[rec.ResetID] = append(sets[rec.ResetID], rec.Event+":"+rec.Outcome)
		if users[rec.User] == nil {
			users[rec.User] = map[string]bool{}
		}
		users[rec.User][rec.ResetID] = true
		if rec.Event == "call" && rec.CallID == "" {
			b.Errorf("%s: a call record without the call's ID", rec.User)
		}
	}
	bad := 0
	for id, got := range sets {
		slices.Sort(got)
		if !slices.Equal(got, want) {
			if bad++; bad <= 5 {
				b.Errorf("session %s: audit %v, want %v", id, got, want)
			}
		}
	}
	if len(sets) != n || len(users) != n {
		b.Errorf("audit: %d record sets for %d users, want %d and %d", len(sets), len(users), n, n)
	}
	if !sessionsEnded {
		return
	}
	db, err := sql.Open("pgx", r.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var total, active int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM sessions`).Scan(&total, &active); err != nil {
		b.Fatal(err)
	}
	if total != n || active != 0 {
		b.Errorf("sessions: %d, %d active; want %d, none active", total, active, n)
	}
}

func (bed *loadBed) runAPI(b testing.TB, prefix string, n, rate int) loadReport {
	r := bed.setup(b, prefix, n, rate, 1)
	c := loadClient()
	rep := drive(b, r, rate, func(_ int, user string) error { return apiOnce(c, r.nodes[0].portal, user) })
	// A verification stays active until it expires: the API reads the
	// verdict from it. Only the records are checked.
	checkAudit(b, r, []string{"api.verification:accepted", "call:confirmed"}, false)
	return rep
}

func apiOnce(c *http.Client, base, user string) error {
	body, _ := json.Marshal(map[string]string{"user": user, "mode": "confirm"})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/verifications", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+loadAPIToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	var v struct{ ID, Status, Result string }
	err = json.NewDecoder(res.Body).Decode(&v)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || err != nil || v.ID == "" {
		return fmt.Errorf("POST: %d, %v", res.StatusCode, err)
	}
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/verifications/"+v.ID, nil)
		req.Header.Set("Authorization", "Bearer "+loadAPIToken)
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		err = json.NewDecoder(res.Body).Decode(&v)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err != nil {
			return fmt.Errorf("GET: %d, %v", res.StatusCode, err)
		}
		switch v.Status {
		case "confirmed":
			return nil
		case "failed", "expired":
			return fmt.Errorf("verification %s (%s)", v.Status, v.Result)
		}
	}
	return errors.New("no verdict within 4 minutes")
}

// profile, when SSPR_LOAD_PROFILE names a directory, takes a 15 s CPU
// profile of node from after (when the keys start coming) into it. The
// returned function waits for it.
func profile(b testing.TB, node *loadNode, after time.Duration, name string) func() {
	dir := os.Getenv("SSPR_LOAD_PROFILE")
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(after)
		res, err := http.Get(node.admin + "/debug/pprof/profile?seconds=15")
		if err != nil {
			b.Error(err)
			return
		}
		defer res.Body.Close()
		f, err := os.Create(filepath.Join(dir, name+".pprof"))
		if err != nil {
			b.Error(err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, res.Body)
	}()
	return func() { <-done }
}

// keepMetrics saves the nodes' metrics beside their logs when
// SSPR_LOAD_LOGS is set.
func keepMetrics(b testing.TB, nodes []*loadNode, prefix string) {
	dir := os.Getenv("SSPR_LOAD_LOGS")
	if dir == "" {
		return
	}
	for i, n := range nodes {
		res, err := http.Get(n.admin + "/metrics")
		if err != nil {
			b.Error(err)
			return
		}
		text, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-node%d.metrics", prefix, i)), text, 0o644); err != nil {
			b.Error(err)
		}
	}
}

// waitCallsOver waits until no node has a call up: the page moves on
// while the call plays its goodbye, and the call's audit record follows
// the hang-up.
func waitCallsOver(b testing.TB, nodes []*loadNode) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, n := range nodes {
		for {
			res, err := http.Get(n.admin + "/metrics")
			if err != nil {
				b.Fatal(err)
			}
			text, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if metric(string(text), "sspr_sip_calls_active") == "0" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("calls still up a minute after the last reset")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// histogram is a scraped Prometheus histogram: cumulative bucket counts.
type histogram struct {
	bounds []float64
	counts []float64
	count  float64
}

var bucketLine = regexp.MustCompile(`(?m)^sspr_portal_key_to_page_seconds_bucket\{le="([^"]+)"\} (\S+)$`)

// keyHistogram sums the nodes' sspr_portal_key_to_page_seconds.
func keyHistogram(b testing.TB, nodes []*loadNode) histogram {
	b.Helper()
	var h histogram
	for _, n := range nodes {
		res, err := http.Get(n.admin + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		text, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ms := bucketLine.FindAllStringSubmatch(string(text), -1)
		if len(ms) == 0 {
			b.Fatal("no sspr_portal_key_to_page_seconds in /metrics")
		}
		if h.bounds == nil {
			h.counts = make([]float64, len(ms))
			for _, m := range ms {
				le, _ := strconv.ParseFloat(m[1], 64)
				h.bounds = append(h.bounds, le)
			}
		}
		for i, m := range ms {
			v, _ := strconv.ParseFloat(m[2], 64)
			h.counts[i] += v
		}
	}
	h.count = h.counts[len(h.counts)-1]
	return h
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{bounds: h.bounds, counts: slices.Clone(h.counts), count: h.count - o.count}
	for i := range out.counts {
		out.counts[i] -= o.counts[i]
	}
	return out
}

// quantile interpolates linearly inside the bucket that holds q, as
// PromQL's histogram_quantile does.
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if math.IsInf(h.bounds[i], 1) {
				return lower
			}
			return lower + (h.bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}

// BenchmarkLoadFlood floods one node with reset requests from one client
// address (unknown usernames, from many connections at once) under the
// default start limit (30 per 10 minutes): exactly the limit's worth are
// accepted, every other request is refused with 429 and Retry-After, and
// the report gives the rate the node answered at and its CPU time per
// request.
func BenchmarkLoadFlood(b *testing.B) {
	bed := newLoadBed(b)
	const limit, requests, workers = 30, 20000, 64
	b.Run(fmt.Sprintf("resets=%d", requests), func(b *testing.B) {
		for b.Loop() {
			sipp := siptest.SIPp(b, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Ring: -1, Sparse: true})
			node := bed.start(b, "flood", sipp.Addr, bed.pg.NewDatabase(b), 20000, limit)
			base := nodesUsage(b, []*loadNode{node})
			c := loadClient()
			var accepted, refused, other, noRetry atomic.Int64
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for range workers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > requests {
							return
						}
						res, err := loadPost(c, node.portal+"/reset", url.Values{"username": {fmt.Sprintf("flood%06d", i)}})
						switch {
						case err != nil:
							other.Add(1)
						case res.StatusCode == http.StatusSeeOther:
							accepted.Add(1)
						case res.StatusCode == http.StatusTooManyRequests:
							refused.Add(1)
							if res.Header.Get("Retry-After") == "" {
								noRetry.Add(1)
							}
						default:
							other.Add(1)
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			end := nodesUsage(b, []*loadNode{node})
			b.ReportMetric(float64(accepted.Load()), "accepted")
			b.ReportMetric(float64(refused.Load()), "refused")
			b.ReportMetric(float64(requests)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64((end.cpu-base.cpu).Microseconds())/requests, "cpu-µs/req")
			if accepted.Load() != limit || refused.Load() != requests-limit || other.Load() != 0 || noRetry.Load() != 0 {
				b.Errorf("accepted %d (want %d), refused %d, other %d, refusals without Retry-After %d",
					accepted.Load(), limit, refused.Load(), other.Load(), noRetry.Load())
			}
		}
	})
}
