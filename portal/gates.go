package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// enter prepares the session's current gate: a phone gate places its
// call, a questions gate picks its questions; when every gate has passed,
// the journey's end runs (an unlock, a registration saved).
func (s *Server) enter(ctx context.Context, id, addr string) error {
	st, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if st.ses.State != store.StateActive {
		return nil
	}
	g, ok := st.prog.Current(s.wf())
	if !ok {
		if st.prog.Passed(s.wf()) {
			return s.finish(ctx, st, addr)
		}
		return nil
	}
	idx := st.prog.Index
	switch g.Kind {
	case workflow.Phone:
		if st.ses.Kind == store.KindRegister && st.flow.Phone == "" {
			return nil // the number form comes first
		}
		return s.startCall(ctx, id, idx, g, addr)
	case workflow.Questions:
		if st.ses.Kind == store.KindRegister {
			return nil
		}
		_, err := s.update(ctx, id, func(st *sessionState) error {
			if len(st.flow.Asked) > 0 {
				return errStop
			}
			st.flow.Asked, err = s.pickQuestions(ctx, st, g.Asked)
			return err
		})
		return err
	}
	return nil
}

// pickQuestions chooses n of the user's registered questions; for a
// username without a registration, n of the administrator's list. Both
// choices are a shuffle keyed by a hash of the username with
// Config.Secret, so that every attempt, on every node, asks the same
// questions whether or not the username is registered: nothing tells the
// two apart.
func (s *Server) pickQuestions(ctx context.Context, st *sessionState, n int) ([]string, error) {
	var ids []string
	reg, err := s.st.Registration(ctx, st.ses.Username)
	switch {
	case err == nil && len(reg.Answers) >= n:
		for id := range reg.Answers {
			ids = append(ids, id)
		}
		slices.Sort(ids)
	case err == nil || errors.Is(err, store.ErrNotFound):
		for _, q := range s.cfg.Questions {
			ids = append(ids, q.ID)
		}
	default:
		return nil, err
	}
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte("questions:" + st.ses.Username))
	seed := mac.Sum(nil)
	r := rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed), binary.BigEndian.Uint64(seed[8:])))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	if len(ids) < n {
		return nil, fmt.Errorf("portal: %d questions to ask, %d available", n, len(ids))
	}
	return ids[:n], nil
}

// pass records that gate idx passed and enters the next one.
func (s *Server) pass(ctx context.Context, st *sessionState, idx int, g workflow.Gate, addr, callID string) error {
	if err := s.st.RecordGate(ctx, st.ses.ID, idx, workflow.Passed.String(), s.now()); err != nil {
		return err
	}
	s.m.gates.WithLabelValues(string(st.ses.Kind), string(g.Kind), "passed").Inc()
	s.auditGate(ctx, st, g, addr, "passed", callID)
	return s.enter(ctx, st.ses.ID, addr)
}

// auditGate records a gate's result: retried through a store that is
// slow or away (the gate's result itself is already recorded), within
// its own deadline.
func (s *Server) auditGate(ctx context.Context, st *sessionState, g workflow.Gate, addr, outcome, callID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directoryTimeout)
	defer cancel()
	s.auditRetrying(actx, "gate."+string(g.Kind), st.ses.Username, addr, outcome, callID, st.ses.ID)
}

// failGate records that gate idx failed, which ends the session; counted
// says the failure counts towards the reset-process lockout.
func (s *Server) failGate(ctx context.Context, st *sessionState, idx int, g workflow.Gate, addr, outcome, callID string, counted bool) error {
	if err := s.st.RecordGate(ctx, st.ses.ID, idx, workflow.Failed.String(), s.now()); err != nil {
		return err
	}
	s.m.gates.WithLabelValues(string(st.ses.Kind), string(g.Kind), "failed").Inc()
	s.auditGate(ctx, st, g, addr, outcome, callID)
	if err := s.st.Fail(ctx, st.ses.ID, s.now()); err != nil && !errors.Is(err, store.ErrClosed) {
		return err
	}
	s.publish(st.ses.ID) // the session's event streams end
	s.m.journeys.WithLabelValues(string(st.ses.Kind), "failed").Inc()
	if counted {
		return s.countFailure(ctx, st, addr)
	}
	return nil
}

// countFailure counts a failure towards the user's reset-process lockout.
func (s *Server) countFailure(ctx context.Context, st *sessionState, addr string) error {
	if st.ses.Kind == store.KindRegister {
		return nil // registration is behind the password, with its own limits
	}
	lo, locked, err := s.recordFailure(ctx, st.ses.Username)
	if err != nil {
		return err
	}
	if locked {
		s.lockedOut(ctx, st, addr, lo, "failures")
	}
	return nil
}

// recordFailure counts a failure towards user's reset-process lockout and
// reports whether this very failure locked it (failures that end together,
// on any node, make one lockout record, not one each: the store says which
// started it).
func (s *Server) recordFailure(ctx context.Context, user string) (store.Lockout, bool, error) {
	lo, err := s.st.RecordFailure(ctx, user, s.cfg.Lockout, s.now())
	if err != nil {
		return store.Lockout{}, false, err
	}
	return lo, lo.Started, nil
}

func (s *Server) lockedOut(ctx context.Context, st *sessionState, addr string, lo store.Lockout, reason string) {
	outcome := "temporary"
	if lo.Permanent {
		outcome = "permanent"
	}
	s.m.lockouts.WithLabelValues(reason).Inc()
	s.audit(ctx, "lockout", st.ses.Username, addr, outcome+"-"+reason, "", st.ses.ID)
	s.log.Warn("portal: reset process locked", "user", st.ses.Username, "reset_id", st.ses.ID, "reason", reason, "permanent", lo.Permanent)
}

// capCall counts a call against every cap and reports the message key of
// the first exceeded, or "" when the call may go. number is the key of
// the number called (a keyed hash: the store never sees it whole).
func (s *Server) capCall(ctx context.Context, user, number, addr string) (string, string, error) {
	l := s.cfg.Limits
	now := s.now()
	caps := []struct {
		key, name string
		r         Rate
	}{
		{"call:user:" + user, "call_user", l.CallsPerUser},
		{"call:number:" + number, "call_number", l.CallsPerNumber},
		{"call:client:" + addr, "call_client", l.CallsPerClient},
		{"call:global", "call_global", Rate{N: l.CallsPerMinute, Per: time.Minute}},
	}
	refused := ""
	for _, c := range caps {
		n, err := s.st.Hit(ctx, c.key, c.r.Per, now)
		if err != nil {
			return "", "", err
		}
		if n > c.r.N && refused == "" {
			refused = c.name
		}
	}
	if refused != "" {
		return "limit.calls", refused, nil
	}
	return "", "", nil
}

// numberKey is the rate-limit key of a number: a keyed hash, so that the
// store holds no number in clear outside registrations.
func (s *Server) numberKey(e164 string) string {
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte("number:" + e164))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// startCall places the call of phone gate idx of session id: to the
// registered number, to the number being registered, or, for a username
// without a registration, nowhere (a decoy that shows the same steps and
// ends unanswered).
func (s *Server) startCall(ctx context.Context, id string, idx int, g workflow.Gate, addr string) error {
	st, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	user := st.ses.Username
	var number, lang, pinHash string
	switch st.ses.Kind {
	case store.KindRegister:
		number, lang = st.flow.Phone, st.flow.Lang
	default:
		reg, err := s.st.Registration(ctx, user)
		switch {
		case err == nil:
			number, lang, pinHash = reg.Phone, reg.Language, reg.PINHash
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if lo, err := s.st.Lockout(ctx, user); err != nil {
			return err
		} else if lo.Locked(s.now()) {
			return s.failGate(ctx, st, idx, g, addr, "locked", "", false)
		}
	}
	if lang == "" {
		lang = st.flow.Lang
	}
	if c := st.flow.Call; c != nil && c.Gate == idx && ((c.Running && !s.stale(c)) || c.Attempt >= g.Attempts) {
		return nil // a call is running, or no attempt is left: nothing to count
	}
	numKey := s.numberKey(number)
	if number == "" {
		numKey = s.numberKey("user:" + user)
	}
	limit, capName, err := s.capCall(ctx, user, numKey, addr)
	if err != nil {
		return err
	}
	mode := ivr.Mode(g.Mode)
	req := ivr.Request{Number: number, Mode: mode, Language: lang}
	var attempt int
	st, err = s.update(ctx, id, func(st *sessionState) error {
		c := st.flow.Call
		if c == nil || c.Gate != idx {
			c = &callState{Gate: idx, Mode: g.Mode}
		}
		if (c.Running && !s.stale(c)) || c.Attempt >= g.Attempts || st.ses.State != store.StateActive {
			return errStop
		}
		if limit != "" {
			c.Result, c.Limit, c.Step = "refused", limit, ""
			st.flow.Call = c
			return nil
		}
		c.Attempt++
		c.Running, c.Node, c.Started = true, s.node, s.now()
		c.Step, c.Result, c.Limit, c.CallID, c.CodeTries = string(ivr.Dialing), "", "", "", 0
		c.Match, c.CodeHash = "", ""
		switch mode {
		case ivr.ModeMatch:
			c.Match = ivr.NewMatch()
			req.Match = c.Match
		case ivr.ModeCode:
			req.Code = ivr.NewCode(s.cfg.CodeLength)
			c.CodeHash = codeHash(st.ses.ID, req.Code)
		case ivr.ModePIN:
			req.CheckPIN = func(pin string) bool { return s.hash.check(pin, pinHash) }
		}
		attempt = c.Attempt
		st.flow.Call = c
		return nil
	})
	if err != nil {
		return err
	}
	if limit != "" {
		s.m.refused(capName)
		s.audit(ctx, "call.refused", user, addr, capName, "", id)
		s.publish(id)
		return nil
	}
	if attempt == 0 {
		return nil // a call is already running, or no attempt is left
	}
	s.publish(id)
	s.runCall(id, user, addr, number, req, callHooks{
		progress: func(k ivr.EventKind) { s.progress(id, idx, attempt, k) },
		ended: func(r ivr.Result, keyAt time.Time) {
			if err := s.callEnded(id, idx, attempt, g, addr, r, keyAt); err != nil {
				s.log.Error("portal: recording the call's end failed", "reset_id", id, "err", err)
			}
		},
		over: func(ctx context.Context, callID string) {
			_, _ = s.update(ctx, id, func(st *sessionState) error {
				if c := st.flow.Call; c != nil && c.Gate == idx && c.Attempt == attempt {
					c.CallID = callID
					return nil
				}
				return errStop
			})
		},
	})
	return nil
}

// callHooks are what a session does as its verification call goes on.
type callHooks struct {
	// progress records a step before the result (dialing, ringing...).
	progress func(ivr.EventKind)
	// ended acts on the result, once, as soon as it is known (the
	// Finished event), so that the page moves on while the call plays
	// its last prompt and hangs up. keyAt is when the call's last key
	// arrived (zero if none).
	ended func(r ivr.Result, keyAt time.Time)
	// over keeps the call's ID once the call is over.
	over func(ctx context.Context, callID string)
}

// runCall places the verification call req to number in its own
// goroutine, tracked for Close; for an empty number, a decoy. The call's
// audit record, with its ID, follows when the call is over.
func (s *Server) runCall(id, user, addr, number string, req ivr.Request, h callHooks) {
	req.Log = s.log.With("reset_id", id, "user", user)
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		cctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
		defer cancel()
		var once sync.Once
		var keyAt time.Time // written and read by the progress callback's goroutine, then this one
		// Steps are written by a goroutine of their own, the latest only,
		// so that a store write never delays the call (the result right
		// after a key, above all). A step that arrives after the result is
		// dropped by progress itself (the call is no longer running).
		steps := make(chan ivr.EventKind, 1)
		stepsDone := make(chan struct{})
		var over atomic.Bool // the result is known: steps are moot
		go func() {
			defer close(stepsDone)
			for k := range steps {
				if !over.Load() {
					h.progress(k)
				}
			}
		}()
		step := func(k ivr.EventKind) {
			if k == ivr.Dialing {
				return // the call's state says so from the start
			}
			for {
				select {
				case steps <- k:
					return
				default:
					select { // replace the step not yet written
					case <-steps:
					default:
					}
				}
			}
		}
		decided := func(r ivr.Result) {
			once.Do(func() {
				over.Store(true)
				h.ended(r, keyAt)
			})
		}
		var v Verification
		if number == "" {
			v = s.decoy(cctx, func() { step(ivr.Ringing) })
		} else {
			v = s.ver.Verify(cctx, req, func(e ivr.Event) {
				switch e.Kind {
				case ivr.Finished:
					decided(e.Result)
					return
				case ivr.KeyReceived:
					keyAt = e.At
				}
				step(e.Kind)
			})
		}
		close(steps)
		<-stepsDone
		decided(v.Result)
		// The call's record waits out a store that is slow or away for as
		// long as a password write would.
		actx, acancel := context.WithTimeout(context.WithoutCancel(s.ctx), directoryTimeout)
		defer acancel()
		res := string(validResult(v.Result))
		s.auditRetrying(actx, "call", user, addr, res, v.CallID, id)
		s.log.Info("portal: call over", "reset_id", id, "call_id", v.CallID, "user", user, "result", res)
		if v.CallID != "" {
			h.over(actx, v.CallID)
		}
	}()
}

// decoy shows, for a username without a registration, the steps a call
// that nobody answers shows: dialling, ringing (reported through
// ringing), then no answer after DecoyRing. Nothing is dialled.
func (s *Server) decoy(ctx context.Context, ringing func()) Verification {
	start := s.now()
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !wait(time.Duration(300+rand.IntN(900)) * time.Millisecond) {
		return Verification{Outcome: ivr.Outcome{Result: ivr.Failed, Err: ctx.Err()}}
	}
	ringing()
	if !wait(s.cfg.DecoyRing) {
		return Verification{Outcome: ivr.Outcome{Result: ivr.Failed, Err: ctx.Err()}}
	}
	return Verification{Outcome: ivr.Outcome{Result: ivr.NoAnswer, Status: 487, Duration: s.now().Sub(start)}}
}

// stale reports whether c is marked running for longer than any call
// lasts, or on another node that has stopped beating (liveness.go): the
// node that owned it stopped before it ended. It counts as a failed call.
func (s *Server) stale(c *callState) bool {
	if !c.Running {
		return false
	}
	if s.now().Sub(c.Started) > s.cfg.CallTimeout+time.Minute {
		return true
	}
	return c.Node != "" && c.Node != s.node && s.nodeLost(c.Node, c.Started)
}

// codeHash is what the store keeps of a spoken code.
func codeHash(sessionID, code string) string {
	sum := sha256.Sum256([]byte(sessionID + ":" + code))
	return hex.EncodeToString(sum[:])
}

// progress records a step of call attempt of gate idx and tells the
// session's event streams.
func (s *Server) progress(id string, idx, attempt int, k ivr.EventKind) {
	step := string(k)
	switch k {
	case ivr.Answered:
		step = "waiting"
	case ivr.Finished:
		return // callEnded records the result
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	_, err := s.update(ctx, id, func(st *sessionState) error {
		c := st.flow.Call
		if c == nil || c.Gate != idx || c.Attempt != attempt || !c.Running || c.Step == step {
			return errStop
		}
		c.Step = step
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrExpired) {
		s.log.Warn("portal: call progress not recorded", "reset_id", id, "err", err)
		return
	}
	s.publish(id)
}

// publish tells the session's event streams, on every node, that it
// changed.
func (s *Server) publish(id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	if err := s.st.Publish(ctx, id, []byte("changed")); err != nil {
		s.log.Warn("portal: progress not published", "reset_id", id, "err", err)
	}
}

// callEnded records how call attempt of gate idx ended, and what follows:
// the gate passes, waits for the code, offers another call, or fails.
func (s *Server) callEnded(id string, idx, attempt int, g workflow.Gate, addr string, res ivr.Result, keyAt time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
	defer cancel()
	res = validResult(res)
	s.m.calls.WithLabelValues(string(res)).Inc()
	st, err := s.updateRetrying(ctx, id, func(st *sessionState) error {
		c := st.flow.Call
		if c == nil || c.Gate != idx || c.Attempt != attempt {
			return errStop
		}
		c.Running, c.Result, c.Step, c.KeyAt = false, string(res), string(ivr.Finished), keyAt
		return nil
	})
	if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	user := st.ses.Username
	s.log.Info("portal: verification call ended", "reset_id", id, "user", user, "result", string(res))
	// The page learns the result with what follows from it (the gate's
	// record, a lockout), never before.
	defer s.publish(id)
	editing := st.ses.Kind == store.KindRegister && st.flow.Editing == string(workflow.Phone)
	if st.ses.State != store.StateActive || (!editing && st.prog.Index != idx) {
		return nil
	}
	if editing {
		// A change of number: no gate to record, the registration is saved
		// on success; the session ends when the attempts are used up.
		s.audit(ctx, "gate.phone", user, addr, string(res), "", id)
		switch {
		case res == ivr.Confirmed:
			return s.saveRegistration(ctx, st, addr)
		case res == ivr.FraudReported || attempt >= g.Attempts:
			if err := s.st.Fail(ctx, id, s.now()); err != nil && !errors.Is(err, store.ErrClosed) {
				return err
			}
		}
		return nil
	}
	switch res {
	case ivr.Confirmed:
		return s.pass(ctx, st, idx, g, addr, "")
	case ivr.CodeDelivered:
		return nil
	case ivr.FraudReported:
		s.m.fraud.Inc()
		// The lock first: the gate's failure ends the session, and the
		// page, which may then start again at once, must find it locked.
		if st.ses.Kind != store.KindRegister {
			lo, err := s.st.Lock(ctx, user, s.cfg.Lockout, s.now())
			if err != nil {
				return err
			}
			s.lockedOut(ctx, st, addr, lo, "fraud")
		}
		return s.failGate(ctx, st, idx, g, addr, string(res), "", false)
	}
	if res == ivr.WrongInput {
		if st.ses.Kind != store.KindRegister {
			lo, locked, err := s.recordFailure(ctx, user)
			if err != nil {
				return err
			}
			if lo.Locked(s.now()) {
				if locked {
					s.lockedOut(ctx, st, addr, lo, "failures")
				}
				return s.failGate(ctx, st, idx, g, addr, string(res), "", false)
			}
		}
	}
	if attempt >= g.Attempts {
		return s.failGate(ctx, st, idx, g, addr, string(res), "", false)
	}
	return nil
}

// validResult is r, or Failed for a value outside the closed set.
func validResult(r ivr.Result) ivr.Result {
	if !r.Valid() {
		return ivr.Failed
	}
	return r
}

// phoneGate returns the phone gate the session is at, if it is at one.
func (a *action) phoneGate() (workflow.Gate, int, bool) {
	if a.st.ses.Kind == store.KindRegister {
		return a.registerGate(workflow.Phone)
	}
	return a.current(workflow.Phone)
}

// next is "Next" on the phone gate page: it never fails the gate; before
// the key it keeps waiting, and says so.
func (a *action) next() error {
	if _, _, ok := a.phoneGate(); !ok {
		return nil // the gate has moved on: show where the session is
	}
	a.st.flow.Notice = "phone.still_waiting"
	a.s.renderFlow(a.w, a.r, a.st, nil, http.StatusOK)
	return errShown
}

// callAgain places another call at the phone gate, within its attempts
// and the caps.
func (a *action) callAgain() error {
	g, idx, ok := a.phoneGate()
	if !ok {
		return nil
	}
	return a.s.startCall(a.ctx(), a.st.ses.ID, idx, g, a.addr)
}

// code checks the code typed in code mode.
func (a *action) code() error {
	g, idx, ok := a.phoneGate()
	c := a.st.flow.Call
	if !ok || c == nil || c.Gate != idx || c.Mode != workflow.ModeCode || c.CodeHash == "" {
		return nil
	}
	typed := trimDigits(a.r.PostFormValue("code"))
	if typed == "" {
		return a.show([]fieldError{{"code", "phone.code.missing"}})
	}
	right := subtle.ConstantTimeCompare([]byte(codeHash(a.st.ses.ID, typed)), []byte(c.CodeHash)) == 1
	ctx := a.ctx()
	if right {
		st, err := a.s.update(ctx, a.st.ses.ID, func(st *sessionState) error {
			if st.flow.Call == nil || st.flow.Call.CodeHash != c.CodeHash {
				return errStop
			}
			st.flow.Call.CodeHash = "" // used
			return nil
		})
		if err != nil {
			return err
		}
		a.s.audit(ctx, "gate.phone.code", st.ses.Username, a.addr, "right", c.CallID, st.ses.ID)
		if st.flow.Editing == string(workflow.Phone) {
			return a.s.saveRegistration(ctx, st, a.addr)
		}
		return a.s.pass(ctx, st, idx, g, a.addr, c.CallID)
	}
	tries := 0
	st, err := a.s.update(ctx, a.st.ses.ID, func(st *sessionState) error {
		if st.flow.Call == nil {
			return errStop
		}
		st.flow.Call.CodeTries++
		tries = st.flow.Call.CodeTries
		return nil
	})
	if err != nil {
		return err
	}
	a.s.audit(ctx, "gate.phone.code", st.ses.Username, a.addr, "wrong", c.CallID, st.ses.ID)
	if tries >= a.s.cfg.CodeTries {
		return a.s.failGate(ctx, st, idx, g, a.addr, "wrong-code", c.CallID, true)
	}
	a.st = st
	return a.show([]fieldError{{"code", "phone.code.wrong"}})
}

// trimDigits returns the digits of s (people type codes with spaces), or
// "" if s holds anything else or is too long.
func trimDigits(s string) string {
	if len(s) > 64 {
		return ""
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			out = append(out, c)
		case c == ' ' || c == '-':
		default:
			return ""
		}
	}
	return string(out)
}

// questions checks the answers at a questions gate of reset or unlock, or
// takes the chosen questions and answers at registration.
func (a *action) questions() error {
	g, idx, ok := a.current(workflow.Questions)
	if !ok {
		return nil
	}
	if a.st.ses.Kind == store.KindRegister {
		return a.registerQuestions(g, idx)
	}
	if len(a.st.flow.Asked) == 0 {
		return nil // the questions are not picked yet: show them
	}
	ctx := a.ctx()
	answers := make([]string, len(a.st.flow.Asked))
	var errs []fieldError
	for i := range a.st.flow.Asked {
		answers[i] = normaliseAnswer(a.r.PostFormValue("answer" + strconv.Itoa(i)))
		if answers[i] == "" {
			errs = append(errs, fieldError{"answer" + strconv.Itoa(i), "questions.missing"})
		}
	}
	if len(errs) > 0 {
		return a.show(errs)
	}
	reg, err := a.s.st.Registration(ctx, a.st.ses.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	right := 0
	for i, id := range a.st.flow.Asked {
		if a.s.hash.check(answers[i], reg.Answers[id]) {
			right++
		}
	}
	if right >= g.MustBeRight {
		return a.s.pass(ctx, a.st, idx, g, a.addr, "")
	}
	return a.s.failGate(ctx, a.st, idx, g, a.addr, "wrong", "", true)
}
