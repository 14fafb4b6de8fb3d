package e2e

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sspr-project/sspr/portal/store"
)

// TestKillMidCall: `sspr serve` is killed (SIGKILL) while the phone is
// answered and waits for the key; serve started again on the same store
// shows the same browser a clean failure within seconds, "Call me again"
// places a new call that passes, and the reset completes. Nothing is left
// running, and the audit log records the lost call once.
func TestKillMidCall(t *testing.T) {
	s := newSetup(t)
	user := s.ldap.Users[0]
	s.preregister(t, user, "+447700900123")
	cfg := s.config(`    reset:
      - gate: phone
        mode: match
`, "  first_key_timeout: 60s\n")
	jar, _ := cookiejar.New(nil) // it ignores ports: the restarted server gets the cookie
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}

	first := s.serve(cfg)
	res := killPost(t, c, first.URL+"/reset", url.Values{"username": {user}})
	flowPath := res.Request.URL.Path
	if !strings.HasPrefix(flowPath, "/flow/") || !strings.Contains(res.body, "Confirm it is you") {
		t.Fatalf("POST /reset ended on %s:\n%s", flowPath, res.body)
	}
	id := strings.TrimPrefix(flowPath, "/flow/")
	// Answered; the person never keys. Not hung up at the end either: a
	// BYE to the killed process would wait for its SIP timeout.
	select {
	case <-s.person.calls:
	case <-time.After(30 * time.Second):
		t.Fatal("the phone never rang")
	}

	// Killed mid-call: no drain, no hang-up, nothing recorded.
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	killed := time.Now()

	second := s.serve(cfg)
	page := ""
	for deadline := killed.Add(20 * time.Second); ; {
		page = killGet(t, c, second.URL+flowPath).body
		if strings.Contains(page, "The call did not work.") && strings.Contains(page, "Call me again") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clean failure 20 s after the kill:\n%s", page)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the failure showed %v after the kill", time.Since(killed).Round(100*time.Millisecond))

	// Call me again: a new call from the new process, answered and keyed.
	page = killPost(t, c, second.URL+flowPath, url.Values{"action": {"call-again"}}).body
	m := regexp.MustCompile(`id="match">(\d+)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no match digits after Call me again:\n%s", page)
	}
	call := s.person.answer()
	s.person.key(call, m[1]+"#")
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(page, "Choose a new password"); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the second call never passed:\n%s", page)
		}
		page = killGet(t, c, second.URL+flowPath).body
	}
	pw := "Kill-Proof-2026"
	page = killPost(t, c, second.URL+flowPath, url.Values{"action": {"password"}, "password": {pw}, "password2": {pw}}).body
	if !strings.Contains(page, "Your password is changed") {
		t.Fatalf("the password was not changed:\n%s", page)
	}
	if err := s.binds(user, pw); err != nil {
		t.Errorf("the new password does not bind: %v", err)
	}
	second.stop(t)

	// No stuck rows: no active session with a call marked running.
	db, err := sql.Open("sqlite", "file:"+s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stuck int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM sessions WHERE state = 'active' AND data LIKE '%"running":true%'`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 0 {
		t.Errorf("%d active sessions with a call still running", stuck)
	}
	st, err := store.OpenSQLite(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ses, err := st.Session(t.Context(), id, time.Now())
	if err != nil || ses.State != store.StateCompleted {
		t.Fatalf("session after the reset: %s, %v; want completed", ses.State, err)
	}
	var f struct {
		Call struct {
			Running bool
			Attempt int
		}
	}
	if err := json.Unmarshal(ses.Data, &f); err != nil || f.Call.Running || f.Call.Attempt != 2 {
		t.Errorf("call state %+v (%v); want attempt 2, not running", f.Call, err)
	}
	recs, err := st.List(t.Context(), store.Filter{ResetID: id, Event: "call"})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, r := range recs {
		outcomes = append(outcomes, r.Outcome)
	}
	if strings.Join(outcomes, ",") != "node-lost,confirmed" {
		t.Errorf("call records %v; want the lost call once, then the confirmed one", outcomes)
	}
}

// killPage is a response read whole.
type killPage struct {
	*http.Response
	body string
}

func killGet(t *testing.T, c *http.Client, u string) killPage {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return killRead(t, res)
}

func killPost(t *testing.T, c *http.Client, u string, form url.Values) killPage {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return killRead(t, res)
}

func killRead(t *testing.T, res *http.Response) killPage {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return killPage{res, string(b)}
}
