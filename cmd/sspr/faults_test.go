package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/directory/dirtest"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/sip/siptest"
)

// The faults of issue 8, each against the real `sspr serve` wiring: a
// trunk that refuses or swallows the call, every trunk down, a callee
// that vanishes, a directory URL that is down.

// faultYAML is opsYAML with the trunks, the directory's URLs and a few
// settings left to each test.
const faultYAML = `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  ring_timeout: 10s
  trunk_timeout: {{trunk_timeout}}
  trunks:
{{trunks}}  media:
    bind_ip: 127.0.0.1
    inactivity: {{inactivity}}
ivr:
  first_key_timeout: 15s
directory:
  type: openldap
  urls: [{{ldap}}]
  ca_file: {{ca}}
  bind_dn: {{binddn}}
  bind_password: ${SSPR_FAULT_LDAP_PASSWORD}
  base_dn: {{base}}
  dial_timeout: 1s
store:
  sqlite: {{db}}
portal:
  listen: 127.0.0.1:0
  phone:
    countries: [GB]
  decoy_ring: 1s
  workflow:
    reset:
      - gate: phone
        mode: confirm
`

// faultRig is what a fault test runs against: slapd, a SQLite store in
// which every slapd user has opsNumber registered, and the configuration.
type faultRig struct {
	ldap *dirtest.Server
	db   string
	file string
}

// faultSetup is what a test chooses of faultYAML.
type faultSetup struct {
	trunks       []string      // trunk entries, from trunkYAML
	trunkTimeout time.Duration // zero: 5 s
	inactivity   time.Duration // zero: 10 s
	ldapURLs     []string      // before slapd's own LDAPS URL
	ldap         *dirtest.Server
}

// trunkYAML is one entry of sip.trunks; a negative keepalive turns the
// OPTIONS off.
func trunkYAML(name, addr string, keepalive time.Duration) string {
	return fmt.Sprintf("    - name: %s\n      address: sip:%s\n      keepalive: %s\n", name, addr, keepalive)
}

// newFaultRig starts slapd (unless given), registers the users' phone and
// writes the configuration.
func newFaultRig(t *testing.T, fs faultSetup) *faultRig {
	t.Helper()
	ldap := fs.ldap
	if ldap == nil {
		ldap = dirtest.Slapd(t)
	}
	dir := t.TempDir()
	r := &faultRig{ldap: ldap, db: filepath.Join(dir, "sspr.db"), file: filepath.Join(dir, "sspr.yaml")}
	st, err := store.OpenSQLite(t.Context(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ldap.Users {
		if err := st.PutRegistration(t.Context(), store.Registration{Username: u, Phone: opsNumber}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	t.Setenv("SSPR_FAULT_LDAP_PASSWORD", ldap.BindPassword)
	orDefault := func(d, def time.Duration) string {
		if d == 0 {
			d = def
		}
		return d.String()
	}
	cfg := strings.NewReplacer(
		"{{trunks}}", strings.Join(fs.trunks, ""),
		"{{trunk_timeout}}", orDefault(fs.trunkTimeout, 5*time.Second),
		"{{inactivity}}", orDefault(fs.inactivity, 10*time.Second),
		"{{ldap}}", strings.Join(append(append([]string{}, fs.ldapURLs...), ldap.LDAPSURL), ", "),
		"{{ca}}", ldap.CAFile, "{{binddn}}", ldap.BindDN, "{{base}}", ldap.BaseDN, "{{db}}", r.db,
	).Replace(faultYAML)
	if err := os.WriteFile(r.file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// completeReset waits for the password form after the call, sets
// password, and checks that it binds.
func (r *faultRig) completeReset(t *testing.T, c *http.Client, flow, user, password string, within time.Duration) {
	t.Helper()
	eventually(t, within, "the password form after the call", func() bool {
		_, body := get(t, c, flow)
		return strings.Contains(body, `name="password2"`)
	})
	res := postForm(t, c, flow, url.Values{"action": {"password"}, "password": {password}, "password2": {password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST the new password: %d", res.StatusCode)
	}
	if _, body := get(t, c, flow); !strings.Contains(body, "Your password is changed") {
		t.Fatalf("no done page:\n%s", body)
	}
	d, err := directory.NewLDAP(directory.Config{Type: directory.OpenLDAP, URLs: []string{r.ldap.LDAPSURL}, CAFile: r.ldap.CAFile,
		BindDN: r.ldap.BindDN, BindPassword: directory.Secret(r.ldap.BindPassword), BaseDN: r.ldap.BaseDN}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Authenticate(t.Context(), user, password); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
}

// waitMetrics polls /metrics until every series has its value, and
// returns the last scrape.
func waitMetrics(t *testing.T, s *served, within time.Duration, want map[string]string) string {
	t.Helper()
	var text string
	eventually(t, within, fmt.Sprintf("the metrics %v", want), func() bool {
		_, text = get(t, client(t), s.admin+"/metrics")
		for series, v := range want {
			if metric(text, series) != v {
				return false
			}
		}
		return true
	})
	return text
}

// swallower is a UDP port that reads everything and answers nothing: a
// trunk gone silent. It returns its address and how many datagrams it
// has read.
func swallower(t *testing.T) (addr string, read *atomic.Int32) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	read = new(atomic.Int32)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			read.Add(1)
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
	return pc.LocalAddr().String(), read
}

// closedUDP returns a loopback UDP address nothing listens on.
func closedUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// TestFaultFirstTrunk503: the first trunk answers 503 → the call goes
// out on the second, the reset completes, and the metrics show both.
func TestFaultFirstTrunk503(t *testing.T) {
	bad := siptest.SIPpReject(t, 503, "Service Unavailable")
	uas := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: 500 * time.Millisecond})
	r := newFaultRig(t, faultSetup{trunks: []string{
		trunkYAML("first", bad.Addr, -time.Second),
		trunkYAML("second", uas.Addr, -time.Second),
	}})
	s := startServe(t, r.file)
	c := client(t)
	user := r.ldap.Users[0]
	flow := startReset(t, c, s, user)
	r.completeReset(t, c, flow, user, "Fault-503-Passw0rd!", 15*time.Second)
	m := waitMetrics(t, s, 15*time.Second, map[string]string{
		`sspr_sip_trunk_failovers_total{outcome="unreachable",trunk="first"}`: "1",
		`sspr_sip_calls_total{outcome="completed",trunk="second"}`:            "1",
		`sspr_portal_resets_total{result="ok"}`:                               "1",
	})
	for _, series := range []string{
		`sspr_sip_calls_total{outcome="unreachable",trunk="first"}`,
		`sspr_sip_calls_total{outcome="completed",trunk="first"}`,
	} {
		if v := metric(m, series); v != "0" {
			t.Errorf("%s = %q, want 0", series, v)
		}
	}
}

// TestFaultFirstTrunkTimeout: the first trunk swallows the INVITE → the
// call goes out on the second once the trunk timeout passes.
func TestFaultFirstTrunkTimeout(t *testing.T) {
	const trunkTimeout = time.Second
	silent, read := swallower(t)
	uas := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: 500 * time.Millisecond})
	r := newFaultRig(t, faultSetup{trunkTimeout: trunkTimeout, trunks: []string{
		trunkYAML("silent", silent, -time.Second),
		trunkYAML("second", uas.Addr, -time.Second),
	}})
	s := startServe(t, r.file)
	c := client(t)
	user := r.ldap.Users[0]
	flow := startReset(t, c, s, user)
	r.completeReset(t, c, flow, user, "Fault-Timeout-Passw0rd!", 15*time.Second)
	if read.Load() == 0 {
		t.Error("the silent trunk got no INVITE")
	}
	m := waitMetrics(t, s, 15*time.Second, map[string]string{
		`sspr_sip_trunk_failovers_total{outcome="unreachable",trunk="silent"}`: "1",
		`sspr_sip_calls_total{outcome="completed",trunk="second"}`:             "1",
	})
	if v := metric(m, `sspr_sip_calls_total{outcome="unreachable",trunk="silent"}`); v != "0" {
		t.Errorf("the silent trunk's calls_total unreachable = %q, want 0: the call did not end there", v)
	}
	if !strings.Contains(s.stderr.String(), "trunk did not respond") {
		t.Error("the silent trunk's timeout was not logged")
	}
}

// TestFaultAllTrunksDown: no trunk answers → the page says we cannot
// call, /readyz is 503 naming the trunks, /healthz stays 200.
func TestFaultAllTrunksDown(t *testing.T) {
	silent, _ := swallower(t)
	r := newFaultRig(t, faultSetup{trunkTimeout: 500 * time.Millisecond, trunks: []string{
		trunkYAML("closed", closedUDP(t), 200*time.Millisecond),
		trunkYAML("silent", silent, 200*time.Millisecond),
	}})
	s := startServe(t, r.file)
	c := client(t)
	var body string
	eventually(t, 10*time.Second, "/readyz answers 503 naming both trunks", func() bool {
		var code int
		code, body = get(t, c, s.admin+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "sip: no trunk answers OPTIONS") &&
			strings.Contains(body, "closed") && strings.Contains(body, "silent")
	})
	if strings.Contains(body, "store:") || strings.Contains(body, "directory:") {
		t.Errorf("/readyz blames more than the trunks: %q", body)
	}
	if code, _ := get(t, c, s.admin+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: %d", code)
	}

	flow := startReset(t, c, s, r.ldap.Users[0])
	eventually(t, 15*time.Second, "the page says we cannot call", func() bool {
		_, body = get(t, c, flow)
		return strings.Contains(body, "We cannot call you right now.")
	})
	if strings.Contains(body, `name="password2"`) {
		t.Errorf("the password form after a call that was not placed:\n%s", body)
	}
	// Both down, so tried in configured order: the first fails over,
	// the second gives the final answer.
	waitMetrics(t, s, 15*time.Second, map[string]string{
		`sspr_portal_calls_total{result="unreachable"}`:                        "1",
		`sspr_sip_trunk_failovers_total{outcome="unreachable",trunk="closed"}`: "1",
		`sspr_sip_calls_total{outcome="unreachable",trunk="silent"}`:           "1",
		`sspr_sip_calls_total{outcome="unreachable",trunk="closed"}`:           "0",
	})
}

// TestFaultCalleeVanishes: the callee answers and then sends nothing,
// not even a BYE → the media timeout ends the call; the page offers to
// call again; the audit log and the metrics say media-timeout.
func TestFaultCalleeVanishes(t *testing.T) {
	uas := siptest.SIPp(t, siptest.UAS{Mode: siptest.Silent})
	r := newFaultRig(t, faultSetup{inactivity: 2 * time.Second, trunks: []string{trunkYAML("sipp", uas.Addr, -time.Second)}})
	s := startServe(t, r.file)
	c := client(t)
	user := r.ldap.Users[0]
	flow := startReset(t, c, s, user)
	start := time.Now()
	var body string
	eventually(t, 15*time.Second, "the page shows the lost call", func() bool {
		_, body = get(t, c, flow)
		return strings.Contains(body, "We lost the sound on the call.")
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the call ended %v after the reset began; the media timeout is 2 s", d)
	}
	if !strings.Contains(body, "Call me again") {
		t.Errorf("the page does not offer another call:\n%s", body)
	}
	waitMetrics(t, s, 15*time.Second, map[string]string{
		`sspr_sip_calls_total{outcome="media-timeout",trunk="sipp"}`: "1",
		`sspr_portal_calls_total{result="media-timeout"}`:            "1",
		"sspr_sip_calls_active":                                      "0",
	})
	st, err := store.OpenSQLite(t.Context(), r.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []store.Record
	eventually(t, 5*time.Second, "the call's audit record", func() bool {
		recs, err = st.List(t.Context(), store.Filter{User: user, Event: "call"})
		return err == nil && len(recs) == 1
	})
	if recs[0].Outcome != "media-timeout" || recs[0].CallID == "" || recs[0].ResetID == "" {
		t.Errorf("call audit record %+v, want outcome media-timeout with its call and reset IDs", recs[0])
	}
}

// silentTCP returns the address of a loopback TCP port that accepts
// connections and never says anything.
func silentTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			if ctx.Err() != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// closedTCP returns a loopback TCP address nothing listens on.
func closedTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestFaultFirstLDAPDown: the first directory URL is down (a closed port,
// or a port that accepts and never answers, cut off by dial_timeout) →
// the second serves: the reset completes and the new password binds.
func TestFaultFirstLDAPDown(t *testing.T) {
	ldap := dirtest.Slapd(t)
	if len(ldap.Users) < 2 {
		t.Fatalf("slapd has %d test users, want 2", len(ldap.Users))
	}
	uas := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: 500 * time.Millisecond})
	cases := []struct {
		name, first, user string
	}{
		{"closed port", "ldaps://" + closedTCP(t), ldap.Users[0]},
		{"silent port", "ldaps://" + silentTCP(t), ldap.Users[1]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newFaultRig(t, faultSetup{ldap: ldap, ldapURLs: []string{tc.first}, trunks: []string{trunkYAML("sipp", uas.Addr, -time.Second)}})
			s := startServe(t, r.file)
			c := client(t)
			flow := startReset(t, c, s, tc.user)
			r.completeReset(t, c, flow, tc.user, "Fault-LDAP-Passw0rd!", 20*time.Second)
			m := waitMetrics(t, s, 15*time.Second, map[string]string{
				`sspr_directory_operations_total{op="set-password",result="ok"}`: "1",
				`sspr_portal_resets_total{result="ok"}`:                          "1",
			})
			for _, op := range []string{"find", "set-password"} {
				if v := metric(m, `sspr_directory_operations_total{op="`+op+`",result="unavailable"}`); v != "0" {
					t.Errorf("%s unavailable = %q, want 0: the second URL should have served", op, v)
				}
			}
			if !strings.Contains(s.stderr.String(), "directory server unavailable") {
				t.Error("the first URL's failure was not logged")
			}
			if strings.Contains(s.stderr.String(), "Fault-LDAP-Passw0rd!") {
				t.Error("a password reached the log")
			}
		})
	}
}
