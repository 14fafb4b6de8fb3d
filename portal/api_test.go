package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/store"
)

const (
	mimToken = "mim-token-0123456789abcdef0123456789"
	pwmToken = "pwm-token-0123456789abcdef0123456789"
	// aliceNumber is alice's registered number (a UK fixed line).
	aliceNumber = "+442079460958"
)

// apiConfig is testConfig with two API clients.
func apiConfig() Config {
	cfg := testConfig()
	cfg.APIClients = []APIClient{{Name: "mim", Token: mimToken}, {Name: "pwm", Token: pwmToken}}
	return cfg
}

// apiResponse is one API answer.
type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// str returns the body's field k as a string ("" if absent).
func (r apiResponse) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

// api sends a request to the API as a product would (no Sec-Fetch-Site
// header); token "" sends no Authorization header.
func (e *env) api(method, path, token, contentType, body string) apiResponse {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := apiResponse{status: res.StatusCode, header: res.Header, raw: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &out.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return out
}

// create posts a verification request as mim and wants 202.
func (e *env) create(body string) apiResponse {
	e.t.Helper()
	r := e.api("POST", "/api/v1/verifications", mimToken, "application/json", body)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("POST %s: %d %s", body, r.status, r.raw)
	}
	if r.str("id") == "" || r.str("status") != "pending" || r.header.Get("Location") != "/api/v1/verifications/"+r.str("id") {
		e.t.Fatalf("POST %s: %s (Location %q)", body, r.raw, r.header.Get("Location"))
	}
	return r
}

// waitStatus reads verification id as mim until its status is want.
func (e *env) waitStatus(id, want string) apiResponse {
	e.t.Helper()
	var r apiResponse
	for range 250 {
		r = e.api("GET", "/api/v1/verifications/"+id, mimToken, "", "")
		if r.status != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", id, r.status, r.raw)
		}
		if r.str("status") == want {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("verification %s never reached %q: %s", id, want, r.raw)
	return r
}

// waitCalls waits until n calls were placed.
func (e *env) waitCalls(n int) []ivr.Request {
	e.t.Helper()
	for range 250 {
		if p := e.ver.placed(); len(p) >= n {
			return p
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("fewer than %d calls placed: %v", n, e.ver.placed())
	return nil
}

// records returns the audit records of every user.
func (e *env) records() []store.Record {
	e.t.Helper()
	recs, err := e.st.List(e.t.Context(), store.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func TestAPIUserMatch(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnvWith(t, apiConfig(), func(d *Deps) { d.Registerer = reg })
	e.register("alice", aliceNumber, "", nil)
	r := e.create(`{"user": "Alice", "mode": "match"}`)
	id, match := r.str("id"), r.str("match")
	if len(match) != ivr.DefaultMatchLength || r.str("mode") != "match" {
		t.Fatalf("response %s: want %d match digits", r.raw, ivr.DefaultMatchLength)
	}
	calls := e.waitCalls(1)
	if calls[0].Number != aliceNumber || calls[0].Mode != ivr.ModeMatch || calls[0].Match != match {
		t.Fatalf("call %v, match %q: want alice's number, match mode, the same digits", calls[0], calls[0].Match)
	}
	e.waitStatus(id, "ringing")
	e.press(match + "#")
	got := e.waitStatus(id, "confirmed")
	if got.str("result") != "confirmed" || got.str("ended") == "" || got.str("created") == "" {
		t.Fatalf("GET: %s", got.raw)
	}

	// Audit: accepted, then the call, with the client's name as the
	// client address; no number anywhere. (The call's record follows its
	// result.)
	waitFor(t, func() bool { return len(e.audit("alice")) >= 2 })
	var events []string
	for _, rec := range e.records() {
		if rec.ResetID != id {
			continue
		}
		events = append(events, rec.Event+":"+rec.Outcome)
		if rec.ClientAddr != "api:mim" || rec.User != "alice" {
			t.Errorf("record %+v: want client api:mim, user alice", rec)
		}
		for _, secret := range []string{"7946", aliceNumber} {
			if strings.Contains(rec.Event+rec.Outcome+rec.CallID+rec.User+rec.ClientAddr, secret) {
				t.Errorf("record %+v holds %q", rec, secret)
			}
		}
	}
	if want := []string{"api.verification:accepted", "call:confirmed"}; !slices.Equal(events, want) {
		t.Errorf("audit %v, want %v", events, want)
	}

	// Metrics: the requests by route and code, the verification, the call.
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"POST 202", webRequests(t, reg, "api_verifications", "202"), 1},
		{"accepted", e.s.m.api.WithLabelValues("accepted"), 1},
		{"confirmed", e.s.m.api.WithLabelValues("confirmed"), 1},
		{"call confirmed", e.s.m.calls.WithLabelValues("confirmed"), 1},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if got := testutil.ToFloat64(webRequests(t, reg, "api_verification", "200")); got < 2 {
		t.Errorf("GET 200 counted %v times", got)
	}
	if n, err := testutil.GatherAndCount(reg, "sspr_portal_api_verifications_total"); err != nil || n != 4 {
		t.Errorf("sspr_portal_api_verifications_total: %d series, %v", n, err)
	}
	if problems, err := testutil.GatherAndLint(reg, "sspr_portal_api_verifications_total"); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// webRequests returns the request counter of route and code.
func webRequests(t *testing.T, reg *prometheus.Registry, route, code string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != "sspr_portal_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["route"] == route && l["code"] == code {
				g.Set(m.GetCounter().GetValue())
			}
		}
	}
	return g
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 250 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPINumberConfirm(t *testing.T) {
	e := newEnv(t, apiConfig())
	r := e.create(`{"number": "+44 20 7946 0958", "mode": "confirm", "language": "en"}`)
	if r.str("match") != "" {
		t.Fatalf("confirm mode shows match digits: %s", r.raw)
	}
	calls := e.waitCalls(1)
	if calls[0].Number != aliceNumber || calls[0].Mode != ivr.ModeConfirm || calls[0].Language != "en" {
		t.Fatalf("call %v", calls[0])
	}
	e.press("#")
	e.waitStatus(r.str("id"), "confirmed")

	// A wrong key fails it, with the call's result.
	r = e.create(`{"number": "+442079460958", "mode": "confirm"}`)
	e.waitCalls(2)
	e.press("5#")
	if got := e.waitStatus(r.str("id"), "failed"); got.str("result") != "wrong-input" {
		t.Fatalf("GET: %s", got.raw)
	}
}

func TestAPICode(t *testing.T) {
	e := newEnv(t, apiConfig())
	e.register("alice", aliceNumber, "", nil)
	path := func(id string) string { return "/api/v1/verifications/" + id + "/code" }
	r := e.create(`{"user": "alice", "mode": "code"}`)
	id := r.str("id")
	if strings.Contains(r.raw, "code\":") {
		t.Fatalf("the response holds a code: %s", r.raw)
	}
	// Too early: the code is not spoken yet.
	if c := e.api("POST", path(id), mimToken, "application/json", `{"code": "123456"}`); c.status != http.StatusConflict {
		t.Fatalf("code before the call: %d %s", c.status, c.raw)
	}
	e.waitCalls(1)
	e.press("#")
	code := <-e.ver.codes
	e.waitStatus(id, "awaiting-code")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	c := e.api("POST", path(id), mimToken, "application/json", `{"code": "`+wrong+`"}`)
	if c.status != http.StatusUnprocessableEntity || c.str("status") != "awaiting-code" || c.body["tries_left"] != 2.0 || !strings.Contains(c.str("error"), "code") {
		t.Fatalf("wrong code: %d %s", c.status, c.raw)
	}
	if c := e.api("POST", path(id), pwmToken, "application/json", `{"code": "`+code+`"}`); c.status != http.StatusNotFound {
		t.Fatalf("another client's code: %d %s", c.status, c.raw)
	}
	c = e.api("POST", path(id), mimToken, "application/json", `{"code": "`+code[:3]+" "+code[3:]+`"}`)
	if c.status != http.StatusOK || c.str("status") != "confirmed" || c.str("result") != "code-delivered" {
		t.Fatalf("right code: %d %s", c.status, c.raw)
	}
	e.waitStatus(id, "confirmed")
	if c := e.api("POST", path(id), mimToken, "application/json", `{"code": "`+code+`"}`); c.status != http.StatusConflict {
		t.Fatalf("code used twice: %d %s", c.status, c.raw)
	}
	for _, rec := range e.records() {
		if strings.Contains(rec.Event+rec.Outcome+rec.CallID, code) {
			t.Errorf("record %+v holds the code", rec)
		}
	}
	if got := e.audit("alice"); !slices.Contains(got, "api.verification.code:wrong") || !slices.Contains(got, "api.verification.code:right") {
		t.Errorf("audit %v", got)
	}

	// Three wrong codes fail it.
	r = e.create(`{"user": "alice", "mode": "code"}`)
	e.waitCalls(2)
	e.press("#")
	code = <-e.ver.codes
	e.waitStatus(r.str("id"), "awaiting-code")
	wrong = "9" + code[1:]
	if code[0] == '9' {
		wrong = "8" + code[1:]
	}
	for i, want := range []string{"awaiting-code", "awaiting-code", "failed"} {
		c := e.api("POST", path(r.str("id")), mimToken, "application/json", `{"code": "`+wrong+`"}`)
		if c.status != http.StatusUnprocessableEntity || c.str("status") != want {
			t.Fatalf("wrong code %d: %d %s", i, c.status, c.raw)
		}
	}
	e.waitStatus(r.str("id"), "failed")
	if c := e.api("POST", path(r.str("id")), mimToken, "application/json", `{"code": "`+code+`"}`); c.status != http.StatusConflict {
		t.Fatalf("right code after the tries: %d %s", c.status, c.raw)
	}
}

func TestAPIAuth(t *testing.T) {
	e := newEnv(t, apiConfig())
	r := e.create(`{"number": "+442079460958", "mode": "confirm"}`)
	id := r.str("id")
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/verifications", `{"number": "+442079460958"}`},
		{"GET", "/api/v1/verifications/" + id, ""},
		{"POST", "/api/v1/verifications/" + id + "/code", `{"code": "123456"}`},
	}
	for _, c := range []struct {
		name, auth, wantErr string
	}{
		{"none", "", ""},
		{"basic", "Basic bWltOnB3", ""},
		{"empty bearer", "Bearer ", ""},
		{"wrong token", "Bearer " + strings.Repeat("x", 40), `error="invalid_token"`},
		{"prefix of a token", "Bearer " + mimToken[:20], `error="invalid_token"`},
		{"token plus", "Bearer " + mimToken + "x", `error="invalid_token"`},
	} {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				req, _ := http.NewRequest(rt.method, e.srv.URL+rt.path, strings.NewReader(rt.body))
				req.Header.Set("Content-Type", "application/json")
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				wa := res.Header.Get("WWW-Authenticate")
				if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(wa, "Bearer") || !strings.Contains(wa, c.wantErr) {
					t.Fatalf("%d, WWW-Authenticate %q", res.StatusCode, wa)
				}
			})
		}
	}
	if n := len(e.ver.placed()); n > 1 {
		t.Fatalf("%d calls placed, want 1", n)
	}

	// A token reads its own verifications only; a browser's session is
	// no verification.
	if g := e.api("GET", "/api/v1/verifications/"+id, pwmToken, "", ""); g.status != http.StatusNotFound || g.str("error") == "" {
		t.Fatalf("another client's verification: %d %s", g.status, g.raw)
	}
	if g := e.api("GET", "/api/v1/verifications/"+id, mimToken, "", ""); g.status != http.StatusOK {
		t.Fatalf("own verification: %d %s", g.status, g.raw)
	}
	e.register("bob", aliceNumber, "", nil)
	b := e.browser().get("/reset").post("/reset", "username", "bob")
	sid := strings.TrimPrefix(b.url, "/flow/")
	for _, bad := range []string{sid, "nope", strings.Repeat("a", 100)} {
		if g := e.api("GET", "/api/v1/verifications/"+bad, mimToken, "", ""); g.status != http.StatusNotFound {
			t.Fatalf("GET %s: %d %s", bad, g.status, g.raw)
		}
	}
	// And a browser cannot open a verification as a page.
	if b.get("/flow/" + id); b.status != http.StatusGone {
		t.Fatalf("browser on a verification: %d", b.status)
	}

	// No clients configured: every request is refused.
	off := newEnv(t, testConfig())
	if g := off.api("POST", "/api/v1/verifications", mimToken, "application/json", `{"number": "+442079460958"}`); g.status != http.StatusUnauthorized {
		t.Fatalf("API without clients: %d", g.status)
	}
}

func TestAPIBadInput(t *testing.T) {
	e := newEnv(t, apiConfig())
	for _, c := range []struct {
		name, ctype, body string
		status            int
		// want is in the error message (it names the field).
		want string
	}{
		{"form content type", "application/x-www-form-urlencoded", `user=alice`, 415, "application/json"},
		{"no content type", "", `{"user":"alice"}`, 415, "application/json"},
		{"json with charset", "application/json; charset=utf-8", `{"user": ""}`, 422, "user"},
		{"not JSON", "application/json", `user=alice`, 400, "syntax"},
		{"empty", "application/json", ` `, 400, "empty"},
		{"truncated", "application/json", `{"user": "al`, 400, "JSON"},
		{"array", "application/json", `["alice"]`, 400, "object"},
		{"two objects", "application/json", `{"user":"alice"}{"user":"bob"}`, 400, "more than one"},
		{"unknown field", "application/json", `{"user":"alice","pin":"1234"}`, 400, `unknown field "pin"`},
		{"user not a string", "application/json", `{"user": 7}`, 400, "user"},
		{"mode not a string", "application/json", `{"user": "alice", "mode": true}`, 400, "mode"},
		{"too large", "application/json", `{"user": "` + strings.Repeat("a", 5000) + `"}`, 413, "4096"},
		{"neither", "application/json", `{"mode": "match"}`, 422, "user, number"},
		{"both", "application/json", `{"user": "alice", "number": "+442079460958"}`, 422, "user, number"},
		{"null user", "application/json", `{"user": null}`, 422, "user, number"},
		{"empty user", "application/json", `{"user": "  "}`, 422, "user"},
		{"control in user", "application/json", `{"user": "al\u0000ice"}`, 422, "user"},
		{"bad number", "application/json", `{"number": "12"}`, 422, "number: not a valid"},
		{"letters in number", "application/json", `{"number": "tel:+442079460958"}`, 422, "number"},
		{"empty number", "application/json", `{"number": ""}`, 422, "number: empty"},
		{"premium number", "application/json", `{"number": "+44 909 879 0000"}`, 422, "number: line type premium-rate"},
		{"country", "application/json", `{"number": "+33 1 42 68 53 00"}`, 422, "number: country FR"},
		{"bad mode", "application/json", `{"user": "alice", "mode": "sms"}`, 422, "mode"},
		{"pin with number", "application/json", `{"number": "+442079460958", "mode": "pin"}`, 422, "mode: pin"},
		{"bad language", "application/json", `{"user": "alice", "language": "xx"}`, 422, "language"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.api("POST", "/api/v1/verifications", mimToken, c.ctype, c.body)
			if r.status != c.status || !strings.Contains(r.str("error"), c.want) {
				t.Fatalf("%d %s: want %d with %q", r.status, r.raw, c.status, c.want)
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
	if n := len(e.ver.placed()); n != 0 {
		t.Fatalf("%d calls placed for bad requests", n)
	}
	if r := e.api("POST", "/api/v1/verifications/x/code", mimToken, "application/json", `{"code": 1}`); r.status != 400 || !strings.Contains(r.str("error"), "code") {
		t.Fatalf("code not a string: %d %s", r.status, r.raw)
	}
	if r := e.api("GET", "/api/v2/things", mimToken, "", ""); r.status != 404 || r.str("error") == "" {
		t.Fatalf("unknown API path: %d %s", r.status, r.raw)
	}
	// A browser posting from another site is refused before the token is
	// looked at.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/verifications", strings.NewReader(`{"user":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+mimToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", res.StatusCode)
	}
}

func TestAPICaps(t *testing.T) {
	cfg := apiConfig()
	cfg.Limits.CallsPerClient = Rate{N: 2, Per: time.Hour}
	cfg.Limits.CallsPerNumber = Rate{N: 4, Per: 30 * time.Minute} // a refused call counts too
	e := newEnv(t, cfg)
	body := `{"number": "+442079460958", "mode": "confirm"}`
	e.create(body)
	e.create(body)
	r := e.api("POST", "/api/v1/verifications", mimToken, "application/json", body)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3600" || r.str("id") != "" {
		t.Fatalf("over the client cap: %d %s (Retry-After %q)", r.status, r.raw, r.header.Get("Retry-After"))
	}
	// The cap is per client (token), not per address: pwm may still
	// call, until the number's cap.
	if r := e.api("POST", "/api/v1/verifications", pwmToken, "application/json", body); r.status != http.StatusAccepted {
		t.Fatalf("pwm: %d %s", r.status, r.raw)
	}
	r = e.api("POST", "/api/v1/verifications", pwmToken, "application/json", body)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1800" {
		t.Fatalf("over the number cap: %d %s (Retry-After %q)", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if got := testutil.ToFloat64(e.s.m.refusals.WithLabelValues("call_client")); got != 1 {
		t.Errorf("call_client refusals: %v", got)
	}
	if got := testutil.ToFloat64(e.s.m.api.WithLabelValues("refused")); got != 2 {
		t.Errorf("API refusals: %v", got)
	}
	var refused []string
	for _, rec := range e.records() {
		if rec.Event == "api.verification" && strings.HasPrefix(rec.Outcome, "refused") {
			refused = append(refused, rec.ClientAddr+":"+rec.Outcome)
		}
	}
	if want := []string{"api:mim:refused-call_client", "api:pwm:refused-call_number"}; !slices.Equal(refused, want) {
		t.Errorf("audit %v, want %v", refused, want)
	}
	if n := len(e.waitCalls(3)); n != 3 {
		t.Errorf("%d calls placed, want 3", n)
	}

	// Numbers have no user: each number is its own user bucket, so
	// that one cap per user does not cap every number together.
	one := apiConfig()
	one.Limits.CallsPerUser = Rate{N: 1, Per: time.Hour}
	e1 := newEnv(t, one)
	e1.create(`{"number": "+442079460958", "mode": "confirm"}`)
	e1.create(`{"number": "+442079460959", "mode": "confirm"}`)

	// Draining: no new verification.
	e.s.Drain()
	if r := e.api("POST", "/api/v1/verifications", pwmToken, "application/json", `{"user": "x"}`); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("draining: %d %s", r.status, r.raw)
	}
}

func TestAPIDecoy(t *testing.T) {
	e := newEnv(t, apiConfig())
	e.register("alice", aliceNumber, "", nil) // no PIN
	e.ver.ring = make(chan struct{})          // alice's call rings until released
	real := e.create(`{"user": "alice"}`)
	e.waitCalls(1)
	for _, c := range []struct{ name, body string }{
		{"unknown user", `{"user": "nobody"}`},
		{"pin without a PIN", `{"user": "alice", "mode": "pin"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.create(c.body)
			if keys(r.body) != keys(real.body) && c.name == "unknown user" {
				t.Fatalf("decoy %s, real %s: different shapes", r.raw, real.raw)
			}
			got := e.waitStatus(r.str("id"), "failed")
			if got.str("result") != "no-answer" {
				t.Fatalf("decoy ended %s", got.raw)
			}
		})
	}
	if n := len(e.ver.placed()); n != 1 {
		t.Fatalf("%d calls placed, want alice's only", n)
	}
	var calls []string
	for _, rec := range e.records() {
		if rec.Event == "call" {
			calls = append(calls, rec.User+":"+rec.Outcome)
		}
	}
	if !slices.Contains(calls, "nobody:no-answer") {
		t.Errorf("call records %v", calls)
	}
	close(e.ver.ring)
	e.press("busy")
	e.waitStatus(real.str("id"), "failed")
}

// keys lists m's keys, sorted.
func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func TestAPIClientsConfig(t *testing.T) {
	for _, c := range []struct {
		name    string
		clients []APIClient
		want    string
	}{
		{"ok", []APIClient{{"mim", mimToken}, {"pwm", pwmToken}}, ""},
		{"short token", []APIClient{{"mim", "short"}}, "token of mim"},
		{"bad name", []APIClient{{"MIM!", mimToken}}, "api.tokens[0]: name \"MIM!\""},
		{"duplicate name", []APIClient{{"mim", mimToken}, {"mim", pwmToken}}, "api.tokens[1].name: duplicate name"},
		{"same token", []APIClient{{"mim", mimToken}, {"pwm", mimToken}}, "same token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.APIClients = c.clients
			err := cfg.withDefaults().check()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), mimToken) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
	c := APIClient{Name: "mim", Token: mimToken}
	var buf bytes.Buffer
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		buf.WriteString(s)
	}
	if strings.Contains(buf.String(), mimToken) || !strings.Contains(buf.String(), "mim") {
		t.Fatalf("a client prints as %q", buf.String())
	}
}

// TestAPIOpenAPI checks that docs/openapi.yaml describes exactly the
// routes the portal serves.
func TestAPIOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	var inDoc, inCode []string
	for p, ops := range doc.Paths {
		for m, op := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				inDoc = append(inDoc, strings.ToUpper(m)+" "+p)
				if _, ok := op["responses"].(map[string]any)["401"]; !ok {
					t.Errorf("%s %s: no 401 response documented", m, p)
				}
			}
		}
	}
	for _, r := range apiRoutes {
		inCode = append(inCode, r.pattern)
	}
	slices.Sort(inDoc)
	slices.Sort(inCode)
	if !slices.Equal(inDoc, inCode) {
		t.Fatalf("docs/openapi.yaml has\n%s\nthe code serves\n%s", strings.Join(inDoc, "\n"), strings.Join(inCode, "\n"))
	}
}

// FuzzAPIRequest feeds the JSON decoding and checking of the POST body
// anything: it never panics, fails only with errAPIBody, and what it
// accepts is valid.
func FuzzAPIRequest(f *testing.F) {
	for _, s := range []string{
		`{"user": "alice", "mode": "match"}`,
		`{"number": "+44 20 7946 0958", "mode": "confirm", "language": "en"}`,
		`{"user": "bob", "mode": "pin"}`,
		`{"number": "+44 909 879 0000"}`,
		`{"user": 7}`, `{"pin": "1"}`, `[]`, `{"user":"a"}{}`, `{"user": "\u0000"}`, ``, `null`, `{"user": null}`,
	} {
		f.Add([]byte(s))
	}
	s := &Server{cfg: testConfig().withDefaults()}
	s.cfg.Languages = []string{"en", "de"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req apiRequest
		if err := decodeStrict(body, &req); err != nil {
			if !errors.Is(err, errAPIBody) {
				t.Fatalf("error %v does not wrap errAPIBody", err)
			}
			return
		}
		tg, err := s.validate(req)
		if err != nil {
			return
		}
		if (tg.user == "") == (tg.number == "") || !slices.Contains(ivr.Modes, tg.mode) {
			t.Fatalf("accepted %+v from %q", tg, body)
		}
		if tg.number != "" && !strings.HasPrefix(tg.number, "+") {
			t.Fatalf("number %q not E.164", tg.number)
		}
	})
}

// TestAPIFraudLocks: the fraud key in an API verification of a registered
// user locks that user's reset process at once, as in the portal.
func TestAPIFraudLocks(t *testing.T) {
	e := newEnvWith(t, apiConfig(), nil)
	e.register("alice", aliceNumber, "", nil)
	r := e.create(`{"user": "alice", "mode": "match"}`)
	id := r.str("id")
	e.waitCalls(1)
	e.waitStatus(id, "ringing")
	e.press("0")
	if got := e.waitStatus(id, "failed"); got.str("result") != "fraud-reported" {
		t.Fatalf("GET: %s", got.raw)
	}
	waitFor(t, func() bool {
		lo, err := e.st.Lockout(t.Context(), "alice")
		return err == nil && lo.Locked(time.Now()) && lo.Lockouts == 1
	})
	waitFor(t, func() bool { return slices.Contains(e.audit("alice"), "lockout:temporary-fraud") })
	// The portal now refuses alice's reset.
	e.browser().post("/reset", "username", "alice").must(e.msg("limit.locked"))
}
