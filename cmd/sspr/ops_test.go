package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/directory/dirtest"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/sip/siptest"
)

// opsNumber is the registered number the SIPp callee answers for (it
// answers any).
const opsNumber = "+442079460958"

// opsYAML is a configuration for slapd and a SIPp callee, resets in
// confirm mode (the callee presses #).
const opsYAML = `
sip:
  listen:
    - transport: udp
      addr: 127.0.0.1:0
  ring_timeout: 10s
  trunks:
    - name: sipp
      address: sip:{{trunk}}
      keepalive: -1s
  media:
    bind_ip: 127.0.0.1
directory:
  type: openldap
  urls: [{{ldap}}]
  ca_file: {{ca}}
  bind_dn: {{binddn}}
  bind_password: ${SSPR_OPS_LDAP_PASSWORD}
  base_dn: {{base}}
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

// postForm posts a form as a browser on the portal's page does.
func postForm(t *testing.T, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// eventually polls cond every 100 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startReset starts a reset for user and returns its flow's URL.
func startReset(t *testing.T, c *http.Client, s *served, user string) string {
	t.Helper()
	res := postForm(t, c, s.portal+"/reset", url.Values{"username": {user}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow/") {
		t.Fatalf("POST /reset: %d, Location %q", res.StatusCode, loc)
	}
	return s.portal + loc
}

// metric returns the value of the series line (name{labels}) in the
// exposition text, or "".
func metric(text, series string) string {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestOpsEndToEnd runs the real run() with `serve --config` against slapd
// and a SIPp callee: readiness goes green, a reset completes and the new
// password binds, the metrics count it, and a signal during a call lets
// the call finish before run returns 0.
func TestOpsEndToEnd(t *testing.T) {
	ldap := dirtest.Slapd(t)
	// The callee waits 3 s after answering before it presses #: long
	// enough to signal serve in the middle of the call.
	uas := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: "#", Delay: 3 * time.Second})
	dir := t.TempDir()
	db := filepath.Join(dir, "sspr.db")
	user := ldap.Users[0]
	st, err := store.OpenSQLite(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutRegistration(t.Context(), store.Registration{Username: user, Phone: opsNumber}, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	t.Setenv("SSPR_OPS_LDAP_PASSWORD", ldap.BindPassword)
	file := filepath.Join(dir, "sspr.yaml")
	cfg := strings.NewReplacer("{{trunk}}", uas.Addr, "{{ldap}}", ldap.LDAPSURL, "{{ca}}", ldap.CAFile,
		"{{binddn}}", ldap.BindDN, "{{base}}", ldap.BaseDN, "{{db}}", db).Replace(opsYAML)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, file, "--log-format", "json")
	c := client(t)

	eventually(t, 20*time.Second, "/readyz answers 200", func() bool {
		code, _ := get(t, c, s.admin+"/readyz")
		return code == http.StatusOK
	})

	// A reset: the call confirms, the password form follows.
	flow := startReset(t, c, s, user)
	eventually(t, 30*time.Second, "the password form after the call", func() bool {
		_, body := get(t, c, flow)
		return strings.Contains(body, `name="password2"`)
	})
	const newPassword = "Ops-New-Passw0rd!"
	res := postForm(t, c, flow, url.Values{"action": {"password"}, "password": {newPassword}, "password2": {newPassword}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST the new password: %d", res.StatusCode)
	}
	if _, body := get(t, c, flow); !strings.Contains(body, "Your password is changed") {
		t.Fatalf("no done page:\n%s", body)
	}
	d, err := directory.NewLDAP(directory.Config{Type: directory.OpenLDAP, URLs: []string{ldap.LDAPSURL}, CAFile: ldap.CAFile,
		BindDN: ldap.BindDN, BindPassword: directory.Secret(ldap.BindPassword), BaseDN: ldap.BaseDN}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Authenticate(t.Context(), user, newPassword); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
	var metrics string
	eventually(t, 10*time.Second, "the reset and its call in the metrics", func() bool {
		_, metrics = get(t, c, s.admin+"/metrics")
		return metric(metrics, `sspr_portal_resets_total{result="ok"}`) == "1" &&
			metric(metrics, `sspr_sip_calls_total{outcome="completed",trunk="sipp"}`) == "1"
	})
	if metric(metrics, `sspr_portal_calls_total{result="confirmed"}`) != "1" {
		t.Errorf("sspr_portal_calls_total{result=\"confirmed\"} is not 1")
	}

	// Another reset, signalled while its call is in progress.
	startReset(t, c, s, user)
	eventually(t, 20*time.Second, "the second call answered", func() bool {
		_, m := get(t, c, s.admin+"/metrics")
		return metric(m, "sspr_sip_calls_active") == "1"
	})
	signalled := time.Now()
	code := s.wait(t, 30*time.Second)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, s.stderr)
	}
	if d := time.Since(signalled); d < time.Second {
		t.Errorf("run returned %v after the signal: the call in progress cannot have finished", d)
	}
	st, err = store.OpenSQLite(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.List(context.Background(), store.Filter{User: user, Event: "call"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Outcome != "confirmed" {
		t.Errorf("call audit records %+v, want 2, the last confirmed", recs)
	}
	if strings.Contains(s.stderr.String(), newPassword) || strings.Contains(s.stderr.String(), opsNumber) {
		t.Error("a password or a full number reached the log")
	}
	// The JSON log: every line is an object; the SIP lines of a
	// verification call carry the reset's ID and user beside the call's
	// ID, and one portal line has all three.
	var sipLines, together int
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		has := func(k string) bool { v, ok := rec[k].(string); return ok && v != "" }
		if rec["msg"] == "call answered" || rec["msg"] == "call ended" {
			sipLines++
			if !has("reset_id") || !has("user") || !has("call_id") {
				t.Errorf("a SIP line of a verification call lacks reset_id, user or call_id: %s", line)
			}
		}
		if has("reset_id") && has("call_id") && has("user") {
			together++
		}
	}
	if sipLines == 0 || together == 0 {
		t.Errorf("%d SIP call lines, %d lines with reset_id, call_id and user together; want some of each", sipLines, together)
	}
}

// TestReadyzNotReady: /readyz is 503, naming what is not ready, when no
// trunk answers OPTIONS and when the directory is unreachable; /healthz
// stays 200.
func TestReadyzNotReady(t *testing.T) {
	t.Setenv("SSPR_TEST_LDAP_PASSWORD", "not-a-real-password")
	cases := []struct {
		name string
		edit func(string) string
		want string
	}{
		{name: "trunk down", want: "sip: no trunk answers OPTIONS", edit: func(s string) string {
			return strings.Replace(s, "keepalive: -1s", "keepalive: 200ms", 1)
		}},
		{name: "directory unreachable", want: "directory: ", edit: func(s string) string {
			return regexp.MustCompile(`(?s)\ndirectory:\n.*?\nstore:`).ReplaceAllLiteralString(s, ldapDirectoryYAML+"store:")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeServeConfig(t, "")
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(tc.edit(string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
			s := startServe(t, file)
			c := client(t)
			// Past the first OPTIONS.
			time.Sleep(time.Second)
			code, body := get(t, c, s.admin+"/readyz")
			if code != http.StatusServiceUnavailable || !strings.Contains(body, tc.want) {
				t.Fatalf("GET /readyz: %d %q, want 503 and %q", code, body, tc.want)
			}
			if strings.Contains(body, "store:") {
				t.Errorf("the store is reported not ready: %q", body)
			}
			if code, _ := get(t, c, s.admin+"/healthz"); code != http.StatusOK {
				t.Errorf("GET /healthz: %d", code)
			}
			if code := s.wait(t, 10*time.Second); code != exitOK {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// TestServeSIGHUP: SIGHUP reloads the file; a bad file is logged and the
// configuration in force stays.
func TestServeSIGHUP(t *testing.T) {
	file := writeServeConfig(t, "")
	s := startServe(t, file)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"good", "  workflow:\n    unlock:\n      - gate: phone\n        mode: confirm\n", "reload: prompts and workflow reloaded"},
		{"bad", "  workflow:\n    unlock:\n      - gate: retina\n", "portal.workflow.unlock[0].gate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(file, append(append([]byte{}, good...), tc.extra...), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the reload logged", func() bool { return strings.Contains(s.stderr.String(), tc.want) })
		})
	}
	if code, _ := get(t, client(t), s.portal+"/"); code != http.StatusOK {
		t.Errorf("GET / after the reloads: %d", code)
	}
	if code := s.wait(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
