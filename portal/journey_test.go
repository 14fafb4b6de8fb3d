package portal

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// TestResetMatch walks a reset with the default workflow: the username, a
// match call keyed right, a password the policy refuses, then one it
// takes.
func TestResetMatch(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.get("/reset").must(e.msg("reset.title"))
	b.post("/reset", "username", "Alice ").must(e.msg("phone.not_registered"), e.msg("phone.match.instructions"))
	if !strings.HasPrefix(b.url, "/flow/") {
		t.Fatalf("after the username: %s", b.url)
	}
	digits := b.match()
	if len(digits) != 2 || strings.Contains(digits, "0") {
		t.Fatalf("match digits %q", digits)
	}
	// Next before the key keeps waiting, and says so.
	b.post("", "action", "next").must(e.msg("phone.still_waiting"), digits)
	e.press(digits + "#")
	b.waitFor(e.msg("password.title"))
	calls := e.ver.placed()
	if len(calls) != 1 || calls[0].Number != "+447700900123" || calls[0].Mode != ivr.ModeMatch || calls[0].Match != digits {
		t.Fatalf("calls placed: %v", calls)
	}
	// The form checks on the server too.
	b.post("", "action", "password", "password", "short", "password2", "short").must(e.msg("password.min_length", "min", "8"))
	b.post("", "action", "password", "password", "Long-enough-1", "password2", "Long-enough-2").must(e.msg("password.mismatch"))
	b.post("", "action", "password", "password", "Used-Before-1", "password2", "Used-Before-1").
		must(e.msg("password.refused"), e.msg("policy.in-history"))
	if got := e.dir.password("alice"); got != "alice-old-pw" {
		t.Fatalf("password changed to a refused one: %q", got)
	}
	b.post("", "action", "password", "password", "Brand-New-Pass-7", "password2", "Brand-New-Pass-7").
		must(e.msg("done.reset.title"))
	if got := e.dir.password("alice"); got != "Brand-New-Pass-7" {
		t.Fatalf("directory password = %q", got)
	}
	// Single use: posting again changes nothing.
	b.post("", "action", "password", "password", "Another-Pass-8", "password2", "Another-Pass-8").must(e.msg("done.reset.title"))
	if got := e.dir.password("alice"); got != "Brand-New-Pass-7" {
		t.Fatalf("a completed session set the password again: %q", got)
	}
	// The call's record is written once the call is over, which may be
	// after the page moved on and the password was posted.
	waitFor(t, func() bool { return slices.Contains(e.audit("alice"), "call:confirmed") })
	recs, err := e.st.List(t.Context(), store.Filter{User: "alice", Event: "call"})
	if err != nil || len(recs) != 1 || recs[0].CallID != "call-1" || recs[0].ResetID == "" || recs[0].Outcome != "confirmed" {
		t.Fatalf("call records = %+v, %v; want one, confirmed, with the call's ID and the reset's", recs, err)
	}
	want := []string{"reset.start:ok", "gate.phone:passed", "reset.password:refused-in-history", "reset.password:ok"}
	got := slices.DeleteFunc(e.audit("alice"), func(r string) bool { return strings.HasPrefix(r, "call:") })
	if !slices.Equal(got, want) {
		t.Fatalf("audit without the call's record = %v, want %v", got, want)
	}
}

// TestUnlockConfirm walks an unlock in confirm mode: no password form,
// the account is unlocked as soon as the call confirms.
func TestUnlockConfirm(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow.Unlock = gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeConfirm})
	e := newEnv(t, cfg)
	e.register("bob", "+447700900456", "", nil)
	e.dir.locked["bob"] = true
	b := e.browser()
	b.post("/unlock", "username", "bob").must(e.msg("phone.confirm.instructions")).mustNot(`id="match"`)
	e.press("#")
	b.waitFor(e.msg("done.unlock.title"))
	if e.dir.locked["bob"] {
		t.Fatal("account still locked")
	}
	if e.dir.password("bob") != "bob-old-pw" {
		t.Fatal("unlock changed the password")
	}
}

// TestRegisterThenResetWithPINAndQuestions registers a user through every
// register gate, then resets with a PIN call and a questions gate.
func TestRegisterThenResetWithPINAndQuestions(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow = workflow.Config{
		Register: gates(workflow.Gate{Kind: workflow.Password}, workflow.Gate{Kind: workflow.Phone},
			workflow.Gate{Kind: workflow.PIN}, workflow.Gate{Kind: workflow.Questions, Count: 3}, workflow.Gate{Kind: workflow.Language}),
		Reset:  gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModePIN}, workflow.Gate{Kind: workflow.Questions, Asked: 2}),
		Unlock: gates(workflow.Gate{Kind: workflow.Phone}),
	}
	e := newEnv(t, cfg)
	b := e.browser()
	b.get("/register").must(e.msg("signin.title"))
	b.post("/register", "username", "carol", "password", "wrong").must(e.msg("signin.failed"))
	b.post("/register", "username", "nobody", "password", "whatever").must(e.msg("signin.failed"))
	b.post("/register", "username", "carol", "password", "carol-old-pw").must(e.msg("register.phone.label"))
	b.post("", "action", "phone", "phone", "+1 900 555 0123").must(e.msg("register.phone.premium"))
	b.post("", "action", "phone", "phone", "+33 6 12 34 56 78").must(e.msg("register.phone.country"))
	b.post("", "action", "phone", "phone", "44 20 7946 0958").must(e.msg("phone.match.instructions"))
	e.press(b.match() + "#")
	b.waitFor(e.msg("register.pin.title"))
	b.post("", "action", "pin", "pin", "1234", "pin2", "1234").must(e.msg("register.pin.weak"))
	b.post("", "action", "pin", "pin", "4827", "pin2", "4828").must(e.msg("register.pin.mismatch"))
	b.post("", "action", "pin", "pin", "4827", "pin2", "4827").must(e.msg("register.questions.title"))
	b.post("", "action", "questions", "question0", "pet", "answer0", "Rex", "question1", "pet", "answer1", "Paris", "question2", "school", "answer2", "Hill Road").
		must(e.msg("register.questions.duplicate"))
	b.post("", "action", "questions", "question0", "pet", "answer0", "Rex", "question1", "city", "answer1", "Paris", "question2", "school", "answer2", "Hill Road").
		must(e.msg("register.language.title"))
	b.post("", "action", "language", "language", "en").must(e.msg("register.review.title"), "•• •••• 0958", e.msg("register.saved"))
	reg, err := e.st.Registration(t.Context(), "carol")
	if err != nil || reg.Phone != "+442079460958" || reg.PINHash == "" || len(reg.Answers) != 3 || reg.Language != "en" {
		t.Fatalf("registration = %+v, %v", reg, err)
	}
	if strings.Contains(reg.PINHash, "4827") || !strings.HasPrefix(reg.PINHash, "$argon2id$") {
		t.Fatalf("PIN stored as %q", reg.PINHash)
	}

	// Reset: the PIN on the phone, then two of the three questions.
	r := e.browser()
	r.post("/reset", "username", "carol").must(e.msg("phone.pin.instructions"))
	e.press("4827#")
	r.waitFor(e.msg("questions.title"))
	answers := map[string]string{"Name of your first pet?": "  REX!", "City you were born in?": "paris", "Your first school?": "hill-road"}
	form := []string{"action", "questions"}
	for i := range 2 {
		m := regexp.MustCompile(`<label for="answer` + strconv.Itoa(i) + `">([^<]+)</label>`).FindStringSubmatch(r.body)
		if m == nil || answers[m[1]] == "" {
			t.Fatalf("question %d: %v not one carol answered:\n%s", i, m, mainOf(r.body))
		}
		form = append(form, "answer"+strconv.Itoa(i), answers[m[1]])
	}
	r.post("", form...).must(e.msg("password.title"))
	r.post("", "action", "unlock-only").must(e.msg("done.unlock.title"))
	if e.dir.password("carol") != "carol-old-pw" {
		t.Fatal("unlock only changed the password")
	}
}

// TestCodeMode: the call speaks a code; the person types it on the page.
func TestCodeMode(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow.Reset = gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeCode})
	e := newEnv(t, cfg)
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice").must(e.msg("phone.code.instructions"))
	e.press("#")
	code := <-e.ver.codes
	b.waitFor(e.msg("phone.code.label"))
	b.post("", "action", "code", "code", "000000").must(e.msg("phone.code.wrong"))
	b.post("", "action", "code", "code", code[:3]+" "+code[3:]).must(e.msg("password.title"))
}

// TestWrongKeysThenCallAgain: a wrong entry fails the call; "Call me
// again" places another, within the gate's attempts, and the last
// failure ends the session.
func TestWrongKeysThenCallAgain(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice")
	e.press("999#")
	b.waitFor(e.msg("phone.call_again")).must(e.msg("phone.result.wrong-input"))
	b.post("", "action", "call-again").must(e.msg("phone.match.instructions"))
	e.press("no-answer")
	b.waitFor(e.msg("phone.result.no-answer")).must(e.msg("common.start_again")).mustNot(e.msg("phone.call_again"))
	b.post("", "action", "call-again")
	if n := len(e.ver.placed()); n != 2 {
		t.Fatalf("%d calls placed, want 2 (the gate allows 2)", n)
	}
}

// TestFraudKeyLocksTheProcess: 0 on the phone ends the reset and locks
// the reset process for the user at once; the directory account is not
// touched.
func TestFraudKeyLocksTheProcess(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice")
	e.press("0")
	b.waitFor(e.msg("phone.result.fraud-reported"))
	lo, err := e.st.Lockout(t.Context(), "alice")
	if err != nil || lo.Lockouts != 1 || !lo.Locked(e.s.now()) {
		t.Fatalf("lockout after fraud = %+v, %v", lo, err)
	}
	e.browser().post("/reset", "username", "alice").must(e.msg("limit.locked"))
	if e.dir.locked["alice"] {
		t.Fatal("the directory account was locked")
	}
	if n := len(e.ver.placed()); n != 1 {
		t.Fatalf("%d calls, want 1 (none while locked)", n)
	}
	if got := e.audit("alice"); !slices.Contains(got, "lockout:temporary-fraud") || !slices.Contains(got, "gate.phone:fraud-reported") {
		t.Fatalf("audit = %v", got)
	}
}

// TestChangeRegistration: a registered user signs in and sees the
// review; a new number needs the password again and a call to it; a new
// language is saved at once; each change is audited.
func TestChangeRegistration(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("bob", "+447700900456", "", nil)
	b := e.browser()
	b.post("/register", "username", "bob", "password", "bob-old-pw").must(e.msg("register.review.title"), "0456")
	b.post("", "action", "change", "what", "phone").must(e.msg("signin.again"), `name="password"`)
	// The password again, and a valid number: both are checked.
	b.post("", "action", "phone", "password", "not-bobs", "phone", "+44 20 7946 0958").must(e.msg("signin.failed"))
	if n := len(e.ver.placed()); n != 0 {
		t.Fatalf("%d calls placed before the password was given again", n)
	}
	b.post("", "action", "phone", "password", "bob-old-pw", "phone", "+44 20 7946 0958").must(e.msg("phone.match.instructions"))
	calls := e.ver.placed()
	if len(calls) != 1 || calls[0].Number != "+442079460958" {
		t.Fatalf("calls: %v", calls)
	}
	// Until the call confirms, the old number stays registered.
	if reg, _ := e.st.Registration(t.Context(), "bob"); reg.Phone != "+447700900456" {
		t.Fatalf("number changed before the call: %s", reg.Phone)
	}
	e.press(b.match() + "#")
	b.waitFor(e.msg("register.saved")).must("0958")
	if reg, _ := e.st.Registration(t.Context(), "bob"); reg.Phone != "+442079460958" {
		t.Fatalf("number after the call: %s", reg.Phone)
	}
	b.post("", "action", "change", "what", "language").must(e.msg("register.language.title"))
	b.post("", "action", "language", "language", "en").must(e.msg("register.saved"))
	got := e.audit("bob")
	for _, want := range []string{"register.signin:refused", "register.change:phone", "register.change:language"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit %v lacks %s", got, want)
		}
	}
}

// TestUnlockUnderWay: between the last gate passing and the account being
// unlocked, the page waits (following the session's events), rather than
// offering to try again; then it shows the result.
func TestUnlockUnderWay(t *testing.T) {
	cfg := testConfig()
	cfg.Workflow.Unlock = gates(workflow.Gate{Kind: workflow.Phone, Mode: workflow.ModeConfirm})
	e := newEnv(t, cfg)
	e.register("bob", "+447700900456", "", nil)
	hold := make(chan struct{})
	e.dir.mu.Lock()
	e.dir.unlockHold = hold
	e.dir.mu.Unlock()
	b := e.browser()
	b.post("/unlock", "username", "bob")
	e.press("#")
	b.waitFor(`data-stage=""`).must(e.msg("phone.status.confirmed"), `data-events="/flow/`).mustNot(`value="unlock"`)
	close(hold)
	b.waitFor(e.msg("done.unlock.title"))
}

// TestDirectoryDownAtPasswordWrite: the directory failing while the new
// password is written gives a clear message, changes nothing, and keeps
// the session for another try, which succeeds once the directory is back.
func TestDirectoryDownAtPasswordWrite(t *testing.T) {
	e := newEnv(t, testConfig())
	e.register("alice", "+447700900123", "", nil)
	b := e.browser()
	b.post("/reset", "username", "alice")
	e.press(b.match() + "#")
	b.waitFor(e.msg("password.title"))
	e.dir.mu.Lock()
	e.dir.down = true
	e.dir.mu.Unlock()
	b.post("", "action", "password", "password", "Brand-New-Pass-7", "password2", "Brand-New-Pass-7").
		must(e.msg("error.directory"), e.msg("password.title"))
	if got := e.dir.password("alice"); got != "alice-old-pw" {
		t.Fatalf("password changed to %q while the directory was down", got)
	}
	st, err := e.st.Session(t.Context(), strings.TrimPrefix(b.url, "/flow/"), time.Now())
	if err != nil || st.State != store.StateActive {
		t.Fatalf("session after the failed write: %v, %v; want active", st.State, err)
	}
	e.dir.mu.Lock()
	e.dir.down = false
	e.dir.mu.Unlock()
	b.post("", "action", "password", "password", "Brand-New-Pass-7", "password2", "Brand-New-Pass-7").must(e.msg("done.reset.title"))
	if got := e.dir.password("alice"); got != "Brand-New-Pass-7" {
		t.Fatalf("password after the retry: %q", got)
	}
	if got := e.audit("alice"); !slices.Contains(got, "reset.password:error") || !slices.Contains(got, "reset.password:ok") {
		t.Fatalf("audit %v", got)
	}
}
