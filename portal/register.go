package portal

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// signIn is the password gate of registration: one generic refusal for
// every failure, and a limit on attempts per username and per client.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, password := r.PostFormValue("username"), r.PostFormValue("password")
	user, ok := canonicalUser(raw)
	if !ok || password == "" {
		v := s.startView(r, store.KindRegister)
		v.Username = raw
		if !ok {
			v.addError("username", v.T("form.username_missing"))
		}
		if password == "" {
			v.addError("password", v.T("form.password_missing"))
		}
		s.render(w, http.StatusUnprocessableEntity, v)
		return
	}
	if !s.allowStart(w, r, "register.signin", user) {
		return
	}
	addr := s.web.ClientAddr(r).String()
	lim := s.cfg.Limits.SignInsPerUser
	n, err := s.st.Hit(ctx, "signin:user:"+user, lim.Per, s.now())
	if err != nil {
		s.fail(w, r, err, "")
		return
	}
	if n > lim.N {
		s.m.refused("signin_user")
		s.audit(ctx, "register.signin", user, addr, "rate-limited", "", "")
		s.limitPage(w, r, "limit.rate", http.StatusTooManyRequests)
		return
	}
	u, err := s.dir.Authenticate(ctx, user, password)
	if err != nil || u == nil {
		s.audit(ctx, "register.signin", user, addr, "refused", "", "")
		s.m.journeys.WithLabelValues("register", "refused").Inc()
		s.log.Info("portal: sign-in refused", "user", user, "err", err)
		v := s.startView(r, store.KindRegister)
		v.Username = raw
		v.addError("username", v.T("signin.failed"))
		s.render(w, http.StatusUnprocessableEntity, v)
		return
	}
	cookie := s.browser(w, r)
	ses, err := s.st.NewSession(ctx, store.NewSession{Kind: store.KindRegister, Username: user, Binding: store.BindingOf(cookie), TTL: s.cfg.SessionTTL}, s.now())
	if err != nil {
		s.fail(w, r, err, "")
		return
	}
	s.m.journeys.WithLabelValues("register", "started").Inc()
	s.audit(ctx, "register.signin", user, addr, "ok", "", ses.ID)
	_, regErr := s.st.Registration(ctx, user)
	if regErr != nil && !errors.Is(regErr, store.ErrNotFound) {
		s.fail(w, r, regErr, "")
		return
	}
	lang := s.lang(r)
	if _, err := s.update(ctx, ses.ID, func(st *sessionState) error {
		st.flow = flow{Lang: lang, Saved: regErr == nil}
		return nil
	}); err != nil {
		s.fail(w, r, err, lang)
		return
	}
	if err := s.st.RecordGate(ctx, ses.ID, 0, workflow.Passed.String(), s.now()); err != nil {
		s.fail(w, r, err, lang)
		return
	}
	s.m.gates.WithLabelValues("register", "password", "passed").Inc()
	http.Redirect(w, r, "/flow/"+ses.ID, http.StatusSeeOther)
}

// editing reports whether the session is changing one item of an existing
// registration (what), rather than walking the gates.
func (a *action) editing(what string) bool {
	return a.st.ses.Kind == store.KindRegister && a.st.ses.State == store.StateActive && a.st.flow.Editing == what
}

// registerGate returns the register gate of kind k with its index, if the
// session is at it (a new registration) or is changing it.
func (a *action) registerGate(k workflow.GateKind) (workflow.Gate, int, bool) {
	if a.st.ses.Kind != store.KindRegister || a.st.ses.State != store.StateActive {
		return workflow.Gate{}, 0, false
	}
	if a.st.flow.Editing != "" {
		if a.st.flow.Editing != string(k) {
			return workflow.Gate{}, 0, false
		}
		for i, g := range a.s.wf().Gates(workflow.Register) {
			if g.Kind == k {
				return g, i, true
			}
		}
		return workflow.Gate{}, 0, false
	}
	return a.current(k)
}

// phone takes the number to register (and, when changing it, the
// password again), then places the call that proves it.
func (a *action) phone() error {
	g, idx, ok := a.registerGate(workflow.Phone)
	if !ok || a.st.flow.Phone != "" {
		return nil
	}
	ctx := a.ctx()
	raw := a.r.PostFormValue("phone")
	var errs []fieldError
	if a.st.flow.Editing == "phone" {
		pw := a.r.PostFormValue("password")
		if pw == "" {
			errs = append(errs, fieldError{"password", "form.password_missing"})
		} else if u, err := a.s.dir.Authenticate(ctx, a.st.ses.Username, pw); err != nil || u == nil {
			a.s.audit(ctx, "register.signin", a.st.ses.Username, a.addr, "refused", "", a.st.ses.ID)
			errs = append(errs, fieldError{"password", "signin.failed"})
		}
	}
	n, err := a.s.cfg.Phone.Parse(raw)
	if err != nil {
		errs = append(errs, fieldError{"phone", phoneErrorKey(raw, err)})
	}
	if len(errs) > 0 {
		a.form = map[string]string{"phone": raw}
		return a.show(errs)
	}
	if _, err := a.s.update(ctx, a.st.ses.ID, func(st *sessionState) error {
		st.flow.Phone = n.E164
		st.flow.Call = nil
		return nil
	}); err != nil {
		return err
	}
	return a.s.startCall(ctx, a.st.ses.ID, idx, g, a.addr)
}

// phoneErrorKey is the message for a refused number.
func phoneErrorKey(raw string, err error) string {
	switch {
	case raw == "" || errors.Is(err, phone.ErrEmpty):
		return "register.phone.missing"
	case errors.Is(err, phone.ErrCountry):
		return "register.phone.country"
	case errors.Is(err, phone.ErrLineType):
		var lt *phone.LineTypeError
		if errors.As(err, &lt) && (lt.Type == "premium-rate" || lt.Type == "shared-cost") {
			return "register.phone.premium"
		}
		return "register.phone.line_type"
	}
	return "register.phone.invalid"
}

// otherNumber goes back to the number form, after a call that did not
// prove the number.
func (a *action) otherNumber() error {
	if _, _, ok := a.registerGate(workflow.Phone); !ok {
		return nil
	}
	_, err := a.s.update(a.ctx(), a.st.ses.ID, func(st *sessionState) error {
		if st.flow.Call != nil && st.flow.Call.Running {
			return errStop
		}
		st.flow.Phone = ""
		st.flow.Call = nil
		return nil
	})
	return err
}

// pin takes the PIN, twice.
func (a *action) pin() error {
	g, idx, ok := a.registerGate(workflow.PIN)
	if !ok {
		return nil
	}
	p1, p2 := a.r.PostFormValue("pin"), a.r.PostFormValue("pin2")
	c := a.s.cfg
	var key string
	switch {
	case p1 == "":
		key = "register.pin.missing"
	case !allDigits(p1) || len(p1) < c.PINMin || len(p1) > c.PINMax:
		key = "register.pin.invalid"
	case p1 != p2:
		key = "register.pin.mismatch"
	case weakPIN(p1):
		key = "register.pin.weak"
	}
	if key != "" {
		return a.show([]fieldError{{"pin", key}})
	}
	h, err := a.s.hash.hash(p1)
	if err != nil {
		return err
	}
	return a.collected(g, idx, func(f *flow) { f.PINHash = h })
}

// registerQuestions takes the chosen questions and their answers.
func (a *action) registerQuestions(g workflow.Gate, idx int) error {
	ids := make([]string, g.Count)
	answers := make([]string, g.Count)
	a.form = map[string]string{}
	var errs []fieldError
	seen := map[string]bool{}
	for i := range g.Count {
		ids[i] = a.r.PostFormValue("question" + strconv.Itoa(i))
		raw := a.r.PostFormValue("answer" + strconv.Itoa(i))
		a.form["question"+strconv.Itoa(i)] = ids[i]
		answers[i] = normaliseAnswer(raw)
		switch {
		case !slices.ContainsFunc(a.s.cfg.Questions, func(q Question) bool { return q.ID == ids[i] }) || answers[i] == "":
			errs = append(errs, fieldError{"answer" + strconv.Itoa(i), "register.questions.missing"})
		case seen[ids[i]]:
			errs = append(errs, fieldError{"question" + strconv.Itoa(i), "register.questions.duplicate"})
		case len([]rune(answers[i])) < a.s.cfg.AnswerMin:
			errs = append(errs, fieldError{"answer" + strconv.Itoa(i), "register.questions.short"})
		}
		seen[ids[i]] = true
	}
	if len(errs) > 0 {
		return a.show(errs)
	}
	hashed := map[string]string{}
	for i, id := range ids {
		h, err := a.s.hash.hash(answers[i])
		if err != nil {
			return err
		}
		hashed[id] = h
	}
	return a.collected(g, idx, func(f *flow) { f.Answers = hashed })
}

// language takes the language of calls and pages.
func (a *action) language() error {
	g, idx, ok := a.registerGate(workflow.Language)
	if !ok {
		return nil
	}
	l := a.r.PostFormValue("language")
	if !slices.Contains(a.s.cfg.Languages, l) {
		return a.show([]fieldError{{"language", "register.language.label"}})
	}
	return a.collected(g, idx, func(f *flow) { f.Language = l; f.Lang = l })
}

// collected stores what a register gate collected, then passes the gate
// (a new registration) or saves the change (an existing one).
func (a *action) collected(g workflow.Gate, idx int, set func(*flow)) error {
	ctx := a.ctx()
	st, err := a.s.update(ctx, a.st.ses.ID, func(st *sessionState) error { set(&st.flow); return nil })
	if err != nil {
		return err
	}
	if st.flow.Editing != "" {
		return a.s.saveRegistration(ctx, st, a.addr)
	}
	return a.s.pass(ctx, st, idx, g, a.addr, "")
}

// change starts changing one item of an existing registration.
func (a *action) change() error {
	what := a.r.PostFormValue("what")
	if a.st.ses.Kind != store.KindRegister || a.st.ses.State != store.StateActive || !a.st.flow.Saved {
		return nil
	}
	found := false
	for _, g := range a.s.wf().Gates(workflow.Register) {
		found = found || (string(g.Kind) == what && g.Kind != workflow.Password)
	}
	if !found {
		return nil
	}
	_, err := a.s.update(a.ctx(), a.st.ses.ID, func(st *sessionState) error {
		st.flow.Editing, st.flow.Phone, st.flow.Call, st.flow.Notice = what, "", nil, ""
		return nil
	})
	return err
}

// cancelEdit goes back to the review page.
func (a *action) cancelEdit() error {
	_, err := a.s.update(a.ctx(), a.st.ses.ID, func(st *sessionState) error {
		if st.flow.Call != nil && st.flow.Call.Running {
			return errStop
		}
		st.flow.Editing, st.flow.Phone, st.flow.Call = "", "", nil
		return nil
	})
	return err
}

// saveRegistration saves what the session collected over the user's
// registration, and audits it.
func (s *Server) saveRegistration(ctx context.Context, st *sessionState, addr string) error {
	user := st.ses.Username
	reg, err := s.st.Registration(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	isNew := err != nil
	reg.Username = user
	f := st.flow
	var changed []string
	if f.Phone != "" && (f.Editing == "" || f.Editing == "phone") {
		reg.Phone = f.Phone
		changed = append(changed, "phone")
	}
	if f.PINHash != "" {
		reg.PINHash = f.PINHash
		changed = append(changed, "pin")
	}
	if f.Answers != nil {
		reg.Answers = f.Answers
		changed = append(changed, "questions")
	}
	if f.Language != "" {
		reg.Language = f.Language
		changed = append(changed, "language")
	}
	if reg.Phone == "" {
		return errors.New("portal: registration without a number")
	}
	if err := s.st.PutRegistration(ctx, reg, s.now()); err != nil {
		return err
	}
	event := "register.change"
	if isNew {
		event = "register.saved"
	}
	for _, c := range changed {
		s.audit(ctx, event, user, addr, c, "", st.ses.ID)
	}
	s.m.registrations.WithLabelValues(map[bool]string{true: "new", false: "changed"}[isNew]).Inc()
	s.log.Info("portal: registration saved", "user", user, "reset_id", st.ses.ID, "number", phone.Mask(reg.Phone), "new", isNew)
	_, err = s.update(ctx, st.ses.ID, func(st *sessionState) error {
		st.flow.Saved, st.flow.Editing = true, ""
		st.flow.Phone, st.flow.PINHash, st.flow.Answers, st.flow.Language, st.flow.Call = "", "", nil, "", nil
		st.flow.Notice = "register.saved"
		return nil
	})
	return err
}
