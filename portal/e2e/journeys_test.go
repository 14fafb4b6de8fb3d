package e2e

import (
	"errors"
	"strings"
	"testing"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/portal/browsertest"
	"github.com/sspr-project/sspr/portal/store"
)

// The workflows of the two servers. A: register with every kind of gate,
// reset by match, unlock by confirm. B, on the same store: reset by PIN
// then two security questions, unlock by a spoken code.
const (
	registerGates = `    register:
      - gate: password
      - gate: phone
        mode: match
      - gate: pin
      - gate: questions
        count: 3
      - gate: language
`
	workflowA = registerGates + `    reset:
      - gate: phone
        mode: match
    unlock:
      - gate: phone
        mode: confirm
`
	workflowB = registerGates + `    reset:
      - gate: phone
        mode: pin
      - gate: questions
        asked: 2
    unlock:
      - gate: phone
        mode: code
`
)

// answers are alice's security answers, by question text.
var answers = map[string]string{
	"What was the name of your first pet?":    "Rex",
	"In which city were you born?":            "Paris",
	"What was the name of your first school?": "Hill Road",
}

// TestJourneys walks every journey of the portal as a person would, in
// Chromium, against slapd and a softphone answering real calls.
func TestJourneys(t *testing.T) {
	s := newSetup(t)
	a := s.serve(s.config(workflowA, "  first_key_timeout: 8s\n"))
	b := browsertest.Start(t)

	t.Run("register", func(t *testing.T) { register(t, s, b, a.URL) })
	if t.Failed() {
		return
	}
	t.Run("reset-match-policy-refused", func(t *testing.T) { resetMatch(t, s, b, a.URL) })
	t.Run("unlock-confirm-keyboard", func(t *testing.T) { unlockConfirm(t, s, b, a.URL) })
	t.Run("wrong-key", func(t *testing.T) { wrongKey(t, s, b, a.URL) })
	t.Run("fraud-key", func(t *testing.T) { fraudKey(t, s, b, a.URL) })
	a.stop(t)

	// Server B on the same store: alice's registration carries over.
	bb := s.serve(s.config(workflowB, "  first_key_timeout: 8s\n  prompts: "+digitPrompts(t)+"\n"))
	t.Run("reset-pin-questions", func(t *testing.T) { resetPINQuestions(t, s, b, bb.URL) })
	t.Run("unlock-code", func(t *testing.T) { unlockCode(t, s, b, bb.URL) })
	bb.stop(t)

	// Servers C and D: a reset by confirm, and a reset by spoken code.
	c := s.serve(s.config(registerGates+"    reset:\n      - gate: phone\n        mode: confirm\n", "  first_key_timeout: 8s\n"))
	t.Run("reset-confirm", func(t *testing.T) { resetConfirm(t, s, b, c.URL) })
	c.stop(t)
	d := s.serve(s.config(registerGates+"    reset:\n      - gate: phone\n        mode: code\n", "  first_key_timeout: 8s\n  prompts: "+digitPrompts(t)+"\n"))
	t.Run("reset-code", func(t *testing.T) { resetCode(t, s, b, d.URL) })
	d.stop(t)

	// The audit log links every call placed to its reset and its SIP
	// Call-ID, and holds a record of each journey's end.
	st, err := store.OpenSQLite(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	calls, err := st.List(t.Context(), store.Filter{Event: "call"})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 7 {
		t.Errorf("%d call records, want one per call placed (at least 7)", len(calls))
	}
	for _, r := range calls {
		if r.CallID == "" || r.ResetID == "" || r.User == "" {
			t.Errorf("call record without its links: %+v", r)
		}
	}
	for _, ev := range []string{"register.saved", "reset.password", "unlock.account", "lockout"} {
		if recs, err := st.List(t.Context(), store.Filter{Event: ev}); err != nil || len(recs) == 0 {
			t.Errorf("no %s record in the audit log (%v)", ev, err)
		}
	}
}

// register: alice signs in, proves her number with a match call, chooses
// a PIN, three questions and a language, and sees her registration.
func register(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	p := b.Page(t)
	p.Go(url + "/")
	p.WaitText("h1", "Password self-service")
	visit(t, p, "home")
	p.Click(`a[href="/register"]`)
	p.WaitText("h1", "Sign in")
	p.Fill("#username", "alice")
	p.Fill("#password", "wrong password")
	p.Click(`button[type=submit]`)
	p.WaitText("#errors", "could not sign you in")
	visit(t, p, "signin-refused")
	p.Fill("#password", s.ldap.UserPassword)
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Your phone number")
	p.Fill("#phone", "+1 900 555 0123")
	p.Click(`button[type=submit]`)
	p.WaitText("#errors", "Premium-rate")
	visit(t, p, "register-phone-refused")
	p.Fill("#phone", "44 20 7946 0958")
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Confirm it is you")
	digits := p.Text("#match")
	visit(t, p, "register-call")
	c := s.person.answer()
	p.WaitText("#call-status", "Waiting for your key")
	s.person.key(c, digits+"#")
	p.WaitText("h1", "Choose a PIN")
	visit(t, p, "register-pin")
	p.Fill("#pin", "4827")
	p.Fill("#pin2", "4827")
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Security questions")
	visit(t, p, "register-questions")
	ids := []string{"pet", "city", "school"}
	texts := []string{"Rex", "Paris", "Hill Road"}
	for i := range 3 {
		n := string(rune('0' + i))
		selectOption(t, p, "#question"+n, ids[i])
		p.Fill("#answer"+n, texts[i])
	}
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Your language")
	visit(t, p, "register-language")
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Your registration")
	if got := p.Text("#review-phone"); got != "+44 •• •••• 0958" {
		t.Errorf("the review shows the number as %q", got)
	}
	visit(t, p, "register-review")
	clean(t, p)
}

// selectOption picks an option of a select element by value.
func selectOption(t *testing.T, p *browsertest.Page, sel, value string) {
	t.Helper()
	p.Focus(sel)
	// Arrow keys on a focused, closed select move through its options,
	// as a keyboard user would.
	for range 8 {
		if p.Value(sel) == value {
			return
		}
		p.Press("ArrowDown")
	}
	t.Fatalf("%s: no option %q", sel, value)
}

// resetMatch: alice resets her password with a match call; the password
// the directory's policy refuses is explained, the form stays, and the
// next one binds.
func resetMatch(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	p := b.Page(t)
	p.Go(url + "/reset")
	p.WaitText("h1", "Reset your password")
	visit(t, p, "reset-start")
	p.Fill("#username", "alice")
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Confirm it is you")
	digits := p.Text("#match")
	c := s.person.answer()
	// Next before the key keeps waiting.
	p.Click("#next")
	p.WaitText(".notice", "still waiting")
	visit(t, p, "reset-waiting")
	s.person.key(c, digits+"#")
	p.WaitText("h1", "Choose a new password")
	visit(t, p, "reset-password")
	// The page checks the match itself.
	p.Fill("#password", "Fresh-Pass-2026")
	p.Fill("#password2", "Fresh-Pass-2027")
	p.Click(`#password-form button[type=submit]`)
	p.WaitText("#password2-client-error", "do not match")
	// The directory refuses the current password (in its history).
	p.Fill("#password", s.ldap.UserPassword)
	p.Fill("#password2", s.ldap.UserPassword)
	p.Click(`#password-form button[type=submit]`)
	p.WaitText("#errors", "not accepted")
	if !strings.Contains(p.Text("#policy"), "used it before") {
		t.Errorf("the policy reason shown: %q", p.Text("#policy"))
	}
	visit(t, p, "reset-policy-refused")
	p.Fill("#password", "Fresh-Pass-2026")
	p.Fill("#password2", "Fresh-Pass-2026")
	p.Click(`#password-form button[type=submit]`)
	p.WaitText("h1", "Your password is changed")
	visit(t, p, "reset-done")
	if err := s.binds("alice", "Fresh-Pass-2026"); err != nil {
		t.Errorf("the new password does not bind: %v", err)
	}
	clean(t, p)
}

// unlockConfirm: bob, locked out of the directory, unlocks by pressing #,
// using only the keyboard.
func unlockConfirm(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	s.preregister(t, "bob", "+12025550143")
	for range 3 {
		_ = s.binds("bob", "not his password")
	}
	var ae *directory.AuthError
	if err := s.binds("bob", s.ldap.UserPassword); !errors.As(err, &ae) {
		t.Fatalf("bob is not locked out after 3 bad binds: %v", err)
	}
	p := b.Page(t)
	p.Go(url + "/")
	p.WaitText("h1", "Password self-service")
	p.TabTo(`a[href="/unlock"]`, 10)
	p.Press("Enter")
	p.WaitText("h1", "Unlock your account")
	p.TabTo("#username", 10)
	p.Press("b", "o", "b", "Enter")
	p.WaitText("h1", "Confirm it is you")
	visit(t, p, "unlock-call")
	c := s.person.answer()
	s.person.key(c, "#")
	p.WaitText("h1", "Your account is unlocked")
	visit(t, p, "unlock-done")
	if err := s.binds("bob", s.ldap.UserPassword); err != nil {
		t.Errorf("bob still cannot bind: %v", err)
	}
	clean(t, p)
}

// wrongKey: carol keys the wrong number three times; the call fails, the
// page says why and offers another call.
func wrongKey(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	s.preregister(t, "carol", "+12025550144")
	p := b.Page(t)
	enter(p, url, "reset", "carol")
	p.WaitText("h1", "Confirm it is you")
	digits := p.Text("#match")
	wrong := "1"
	if digits[0] == '1' {
		wrong = "2"
	}
	c := s.person.answer()
	for range 3 {
		s.person.key(c, wrong+"#")
	}
	p.WaitText("#call-status", "not right")
	p.WaitVisible("#call-again")
	visit(t, p, "wrong-key")
	<-c.Done()
	clean(t, p)
}

// fraudKey: dave did not ask for a reset and presses 0; the reset is
// stopped and locked for him, and a new attempt is refused.
func fraudKey(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	s.preregister(t, "dave", "+12025550145")
	p := b.Page(t)
	enter(p, url, "reset", "dave")
	p.WaitText("h1", "Confirm it is you")
	c := s.person.answer()
	s.person.key(c, "0")
	p.WaitText("main", "did not ask for this")
	visit(t, p, "fraud-reported")
	enter(p, url, "reset", "dave")
	p.WaitText("main", "Too many attempts")
	visit(t, p, "fraud-locked")
	clean(t, p)
}

// resetPINQuestions: alice keys her PIN on the phone, answers two of her
// three questions, and sets a new password.
func resetPINQuestions(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	p := b.Page(t)
	enter(p, url, "reset", "alice")
	p.WaitText("h1", "Confirm it is you")
	c := s.person.answer()
	s.person.key(c, "4827#")
	p.WaitText("h1", "Answer your security questions")
	visit(t, p, "questions")
	for i := range 2 {
		n := string(rune('0' + i))
		label := p.Text(`label[for="answer` + n + `"]`)
		ans, ok := answers[label]
		if !ok {
			t.Fatalf("asked %q, which alice did not answer", label)
		}
		p.Fill("#answer"+n, "  "+strings.ToUpper(ans)+"!")
	}
	p.Click(`button[type=submit]`)
	newPassword(t, s, p, "alice", "Second-Pass-2026")
	clean(t, p)
}

// unlockCode: the call speaks a code after #; alice types it on the page.
func unlockCode(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	p := b.Page(t)
	enter(p, url, "unlock", "alice")
	p.WaitText("h1", "Confirm it is you")
	c := s.person.answer()
	s.person.key(c, "#")
	code := s.person.hear(c, 6)
	p.WaitVisible("#code")
	visit(t, p, "code")
	p.Fill("#code", code)
	p.Click(`button[type=submit]`)
	p.WaitText("h1", "Your account is unlocked")
	clean(t, p)
}

// newPassword sets password on the password page and checks it binds.
func newPassword(t *testing.T, s *setup, p *browsertest.Page, user, password string) {
	t.Helper()
	p.WaitText("h1", "Choose a new password")
	p.Fill("#password", password)
	p.Fill("#password2", password)
	p.Click(`#password-form button[type=submit]`)
	p.WaitText("h1", "Your password is changed")
	if err := s.binds(user, password); err != nil {
		t.Errorf("the new password does not bind: %v", err)
	}
}

// resetConfirm: alice presses # on the phone, then sets a new password.
func resetConfirm(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	p := b.Page(t)
	enter(p, url, "reset", "alice")
	p.WaitText("h1", "Confirm it is you")
	if !strings.Contains(p.Text("main"), "press # on your phone") {
		t.Errorf("the confirm page does not say to press #: %q", p.Text("main"))
	}
	visit(t, p, "reset-confirm-call")
	c := s.person.answer()
	s.person.key(c, "#")
	newPassword(t, s, p, "alice", "Third-Pass-2026")
	clean(t, p)
}

// resetCode: the call speaks a code after #; alice types it, then sets a
// new password.
func resetCode(t *testing.T, s *setup, b *browsertest.Browser, url string) {
	p := b.Page(t)
	enter(p, url, "reset", "alice")
	p.WaitText("h1", "Confirm it is you")
	c := s.person.answer()
	s.person.key(c, "#")
	code := s.person.hear(c, 6)
	p.WaitVisible("#code")
	// A wrong code first: the page says so and keeps the field.
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	p.Fill("#code", string(wrong))
	p.Click(`button[type=submit]`)
	p.WaitText("#errors", "not right")
	visit(t, p, "reset-code-wrong")
	p.Fill("#code", code)
	p.Click(`button[type=submit]`)
	newPassword(t, s, p, "alice", "Fourth-Pass-2026")
	clean(t, p)
}

// enter starts a journey ("reset" or "unlock") for user, as a person
// types the username and continues.
func enter(p *browsertest.Page, url, journey, user string) {
	p.Go(url + "/" + journey)
	p.Fill("#username", user)
	p.Click(`button[type=submit]`)
}
