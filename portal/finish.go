package portal

import (
	"context"
	"errors"
	"time"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/portal/store"
)

// finish runs the end of a journey whose gates have all passed: an unlock
// unlocks the account, a registration is saved. A reset waits for the
// new password.
func (s *Server) finish(ctx context.Context, st *sessionState, addr string) error {
	if st.ses.Kind != store.KindRegister {
		// Only a journey that passed every gate forgets the failures
		// counted towards the lockout: passing the call and failing the
		// questions, again and again, must lock.
		if err := s.st.RecordSuccess(ctx, st.ses.Username); err != nil {
			return err
		}
	}
	switch st.ses.Kind {
	case store.KindUnlock:
		return s.unlock(ctx, st, addr, "unlock")
	case store.KindRegister:
		if st.flow.Saved {
			return nil
		}
		return s.saveRegistration(ctx, st, addr)
	}
	return nil
}

// directoryTimeout bounds one password write or unlock.
const directoryTimeout = 30 * time.Second

// unlock unlocks the account and completes the session; done says which
// done page follows ("unlock"). A directory that fails leaves the session
// active with a notice, for another try.
func (s *Server) unlock(ctx context.Context, st *sessionState, addr, done string) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout)
	defer cancel()
	user := st.ses.Username
	_, err := s.dir.Unlock(dctx, user)
	if err != nil {
		s.audit(ctx, "unlock.account", user, addr, "error", "", st.ses.ID)
		s.m.unlocks.WithLabelValues("error").Inc()
		s.log.Error("portal: unlock failed", "user", user, "reset_id", st.ses.ID, "err", err)
		_, uerr := s.update(ctx, st.ses.ID, func(st *sessionState) error {
			st.flow.Notice = "error.directory"
			return nil
		})
		return uerr
	}
	if _, err := s.update(ctx, st.ses.ID, func(st *sessionState) error {
		st.flow.Done, st.flow.Notice = done, ""
		return nil
	}); err != nil {
		return err
	}
	if err := s.st.Complete(ctx, st.ses.ID, s.now()); err != nil {
		return err
	}
	s.audit(ctx, "unlock.account", user, addr, "ok", "", st.ses.ID)
	s.m.unlocks.WithLabelValues("ok").Inc()
	s.m.journeys.WithLabelValues(string(st.ses.Kind), "completed").Inc()
	s.log.Info("portal: account unlocked", "user", user, "reset_id", st.ses.ID)
	return nil
}

// passedAll reports whether the session has passed every gate and is
// still active (the password form or the unlock may go ahead).
func (a *action) passedAll() bool {
	return a.st.ses.State == store.StateActive && a.st.prog.Passed(a.s.wf()) && a.st.flow.Done == ""
}

// password sets the new password at the end of a reset, and unlocks the
// account. The directory's policy refusal is shown in plain words with
// the form kept; a directory that fails leaves the session for a retry.
func (a *action) password() error {
	if a.st.ses.Kind != store.KindReset || !a.passedAll() {
		return nil
	}
	p1, p2 := a.r.PostFormValue("password"), a.r.PostFormValue("password2")
	switch {
	case p1 == "":
		return a.show([]fieldError{{"password", "password.missing"}})
	case len([]rune(p1)) < a.s.cfg.PasswordMin:
		return a.show([]fieldError{{"password", "password.min_length"}})
	case p1 != p2:
		return a.show([]fieldError{{"password2", "password.mismatch"}})
	}
	ctx := a.ctx()
	user := a.st.ses.Username
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout)
	defer cancel()
	err := a.s.dir.SetPassword(dctx, user, p1)
	// A refusal's or a failure's record is retried through a store that
	// is slow or away, within its own deadline, like a success's.
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout)
	defer acancel()
	var pe *directory.PolicyError
	switch {
	case errors.As(err, &pe):
		a.s.auditRetrying(actx, "reset.password", user, a.addr, "refused-"+string(pe.Reason), "", a.st.ses.ID)
		a.s.m.resets.WithLabelValues("refused").Inc()
		a.s.log.Info("portal: new password refused by the directory", "user", user, "reset_id", a.st.ses.ID, "reason", string(pe.Reason))
		a.st.flow.Policy = string(pe.Reason)
		return a.show([]fieldError{{"password", "password.refused"}})
	case err != nil:
		a.s.auditRetrying(actx, "reset.password", user, a.addr, "error", "", a.st.ses.ID)
		a.s.m.resets.WithLabelValues("error").Inc()
		a.s.log.Error("portal: password write failed", "user", user, "reset_id", a.st.ses.ID, "err", err)
		a.st.flow.Notice = "error.directory"
		return a.show(nil)
	}
	// The password is changed: its record in the session and the audit
	// log is retried through a store failure rather than left half-written.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout)
	defer rcancel()
	if _, err := a.s.updateRetrying(rctx, a.st.ses.ID, func(st *sessionState) error {
		st.flow.Done, st.flow.Notice, st.flow.Policy = "reset", "", ""
		return nil
	}); err != nil {
		a.s.log.Warn("portal: session changed concurrently", "reset_id", a.st.ses.ID, "err", err)
	}
	if err := a.s.retryStore(rctx, a.st.ses.ID, func() error { return a.s.st.Complete(rctx, a.st.ses.ID, a.s.now()) }); err != nil {
		// The password is set; the session was finished by a concurrent
		// request. Show where it is.
		a.s.log.Warn("portal: session finished concurrently", "reset_id", a.st.ses.ID, "err", err)
	}
	a.s.publish(a.st.ses.ID) // the session's event streams end
	a.s.auditRetrying(rctx, "reset.password", user, a.addr, "ok", "", a.st.ses.ID)
	a.s.m.resets.WithLabelValues("ok").Inc()
	a.s.m.journeys.WithLabelValues("reset", "completed").Inc()
	a.s.log.Info("portal: password reset", "user", user, "reset_id", a.st.ses.ID)
	if _, err := a.s.dir.Unlock(dctx, user); err != nil {
		a.s.log.Warn("portal: unlock after reset failed", "user", user, "reset_id", a.st.ses.ID, "err", err)
	}
	return nil
}

// unlockOnly is "Unlock only" at the end of a reset, and "Try again"
// after an unlock the directory refused.
func (a *action) unlockOnly() error {
	if (a.st.ses.Kind != store.KindReset && a.st.ses.Kind != store.KindUnlock) || !a.passedAll() {
		return nil
	}
	return a.s.unlock(a.ctx(), a.st, a.addr, "unlock")
}
