package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// FuzzFormPost posts what a hostile client might to every form the portal
// takes, with a valid browser cookie and a live session: whatever the
// body, the answer is never a server error, a panic, or a password change
// the gates did not allow.
func FuzzFormPost(f *testing.F) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(f.TempDir(), "sspr.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	cfg := testConfig()
	cfg.Workflow = workflow.Config{
		Register: gates(workflow.Gate{Kind: workflow.Password}, workflow.Gate{Kind: workflow.Phone},
			workflow.Gate{Kind: workflow.PIN}, workflow.Gate{Kind: workflow.Questions, Count: 2}, workflow.Gate{Kind: workflow.Language}),
		Reset: gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeCode}, workflow.Gate{Kind: workflow.Questions, Asked: 2}),
	}
	cfg.Limits.StartsPerClient = Rate{N: 1 << 30, Per: time.Hour}
	dir := newFakeDir()
	s, err := New(cfg, Deps{Store: st, Directory: dir, Verifier: newFakeVerifier()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	h := s.Handler()
	cookie := &http.Cookie{Name: browserCookie, Value: strings.Repeat("c", 43)}
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// Two live sessions: a reset at its code gate, a registration at its
	// number form.
	reset := post("/reset", "username=alice").Header().Get("Location")
	register := post("/register", "username=bob&password=bob-old-pw").Header().Get("Location")
	if !strings.HasPrefix(reset, "/flow/") || !strings.HasPrefix(register, "/flow/") {
		f.Fatalf("no sessions to fuzz: %q %q", reset, register)
	}
	targets := []string{"/reset", "/unlock", "/register", reset, register}
	for i, seed := range []string{
		"username=alice", "username=%00", "username=" + strings.Repeat("a", 300),
		"action=code&code=123456", "action=code&code=%FF%FE", "action=phone&phone=%2B44+20+7946+0958",
		"action=phone&phone=+1+900+555+0123", "action=pin&pin=4827&pin2=4827", "action=pin&pin=1%00&pin2=1%00",
		"action=questions&question0=pet&answer0=Rex&question1=pet&answer1=x", "action=language&language=..%2F..%2Fetc",
		"action=password&password=New-Pass-1234&password2=New-Pass-1234", "action=unlock-only", "action=change&what=password",
		"action=next", "action=call-again", "action=%zz", "a=b&a=c&action=questions&answer0=", "",
	} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, target uint8, body string) {
		rec := post(targets[int(target)%len(targets)], body)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: %d\n%s", targets[int(target)%len(targets)], body, rec.Code, rec.Body.String())
		}
		if dir.password("alice") != "alice-old-pw" || dir.password("bob") != "bob-old-pw" {
			t.Fatalf("POST %q changed a password without passing the gates", body)
		}
	})
}
