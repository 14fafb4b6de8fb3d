package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// browserCookie names the cookie that binds sessions to a browser.
const browserCookie = "sspr_browser"

// maxUsername bounds a username as typed, in bytes.
const maxUsername = 256

func (s *Server) routes() {
	mux := http.NewServeMux()
	h := func(pattern, route string, fn http.HandlerFunc) { mux.Handle(pattern, s.web.Wrap(route, fn)) }
	h("GET /{$}", "home", s.home)
	h("GET /reset", "reset", s.startPage(store.KindReset))
	h("POST /reset", "reset", s.start(store.KindReset))
	h("GET /unlock", "unlock", s.startPage(store.KindUnlock))
	h("POST /unlock", "unlock", s.start(store.KindUnlock))
	h("GET /register", "register", s.startPage(store.KindRegister))
	h("POST /register", "register", s.signIn)
	h("GET /flow/{id}", "flow", s.flowPage)
	h("POST /flow/{id}", "flow", s.flowAction)
	h("GET /flow/{id}/events", "events", s.events)
	mux.Handle("GET /static/{file}", s.web.Wrap("static", http.HandlerFunc(s.static)))
	s.apiRoutes(h)
	h("/", "other", s.notFound)
	s.mux = mux
}

// lang is the page language for r.
func (s *Server) lang(r *http.Request) string { return s.cat.Match(r.Header.Get("Accept-Language")) }

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "home", "home.title")
	s.render(w, http.StatusOK, v)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "message", "error.not_found.title")
	v.Body = v.T("error.not_found.body")
	s.render(w, http.StatusNotFound, v)
}

// fail shows the generic error page, and logs err.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, lang string) {
	s.log.Error("portal: request failed", "route", r.URL.Path, "err", err)
	v := s.view(r, "message", "error.title")
	if lang != "" {
		v.Lang = lang
		v.Title = v.T("error.title")
	}
	v.Body = v.T("error.body")
	// What fails here is a dependency (the store, the directory) being
	// away for a while: 503 with a hint of when to come back, which load
	// balancers and clients treat as "retry", not as a bug.
	w.Header().Set("Retry-After", "5")
	s.render(w, http.StatusServiceUnavailable, v)
}

// limitPage shows a limit's message (rate or lockout) with status.
func (s *Server) limitPage(w http.ResponseWriter, r *http.Request, key string, status int) {
	v := s.view(r, "message", "error.title")
	v.Body = v.T(key)
	v.StartAgain = true
	s.render(w, status, v)
}

func (s *Server) startPage(kind store.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.startView(r, kind)
		s.render(w, http.StatusOK, v)
	}
}

func (s *Server) startView(r *http.Request, kind store.Kind) *view {
	switch kind {
	case store.KindReset:
		return s.view(r, "start", "reset.title").with(func(v *view) { v.Kind = "reset" })
	case store.KindUnlock:
		return s.view(r, "start", "unlock.title").with(func(v *view) { v.Kind = "unlock" })
	}
	return s.view(r, "signin", "signin.title")
}

// CanonicalUsername returns username as the portal and its store key it
// (trimmed, lower case), or false if it is not a username the portal
// accepts. Tools that look a user up in the store use it too.
func CanonicalUsername(username string) (string, bool) { return canonicalUser(username) }

// canonicalUser returns the username as the store keys it: trimmed and
// lower case; false if it is empty, too long, not UTF-8 or holds a control
// character.
func canonicalUser(u string) (string, bool) {
	u = strings.TrimSpace(u)
	if u == "" || len(u) > maxUsername || !utf8.ValidString(u) {
		return "", false
	}
	for _, r := range u {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return strings.ToLower(u), true
}

// browser returns the browser's binding cookie, setting a new one if there
// is none.
func (s *Server) browser(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	v := randomToken(32)
	s.web.SetCookie(w, r, browserCookie, v, 0)
	return v
}

// allowStart counts a start by the client and reports whether it is within
// the limit; if not, it has answered the request.
func (s *Server) allowStart(w http.ResponseWriter, r *http.Request, event, user string) bool {
	if s.isDraining() {
		w.Header().Set("Retry-After", "30")
		s.limitPage(w, r, "limit.rate", http.StatusServiceUnavailable)
		return false
	}
	addr := s.web.ClientAddr(r).String()
	lim := s.cfg.Limits.StartsPerClient
	n, err := s.st.Hit(r.Context(), "start:client:"+addr, lim.Per, s.now())
	if err != nil {
		s.fail(w, r, err, "")
		return false
	}
	if n > lim.N {
		s.m.refused("start_client")
		s.audit(r.Context(), event, user, addr, "rate-limited", "", "")
		w.Header().Set("Retry-After", retryAfter(lim.Per))
		s.limitPage(w, r, "limit.rate", http.StatusTooManyRequests)
		return false
	}
	return true
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// start begins a reset or an unlock: the same work and the same answer
// whether or not the username exists or is registered.
func (s *Server) start(kind store.Kind) http.HandlerFunc {
	event := string(kind) + ".start"
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		user, ok := canonicalUser(r.PostFormValue("username"))
		if !ok {
			v := s.startView(r, kind)
			v.Username = r.PostFormValue("username")
			v.addError("username", v.T("form.username_missing"))
			s.render(w, http.StatusUnprocessableEntity, v)
			return
		}
		if !s.allowStart(w, r, event, user) {
			return
		}
		addr := s.web.ClientAddr(r).String()
		now := s.now()
		lo, err := s.st.Lockout(ctx, user)
		if err != nil {
			s.fail(w, r, err, "")
			return
		}
		// Read for every username, registered or not, so that the work is
		// the same; the phone gate reads it again when it places the call.
		_, err = s.st.Registration(ctx, user)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, err, "")
			return
		}
		if lo.Locked(now) {
			s.audit(ctx, event, user, addr, "locked", "", "")
			s.m.journeys.WithLabelValues(string(kind), "locked").Inc()
			s.lockedPage(w, r, lo)
			return
		}
		cookie := s.browser(w, r)
		ses, err := s.st.NewSession(ctx, store.NewSession{Kind: kind, Username: user, Binding: store.BindingOf(cookie), TTL: s.cfg.SessionTTL}, now)
		if err != nil {
			s.fail(w, r, err, "")
			return
		}
		s.m.journeys.WithLabelValues(string(kind), "started").Inc()
		s.audit(ctx, event, user, addr, "ok", "", ses.ID)
		lang := s.lang(r)
		if _, err := s.update(ctx, ses.ID, func(st *sessionState) error {
			st.flow = flow{Lang: lang}
			return nil
		}); err != nil {
			s.fail(w, r, err, lang)
			return
		}
		if err := s.enter(ctx, ses.ID, addr); err != nil {
			s.fail(w, r, err, lang)
			return
		}
		http.Redirect(w, r, "/flow/"+ses.ID, http.StatusSeeOther)
	}
}

// lockedPage says the reset process is locked, in the same words for
// every username.
func (s *Server) lockedPage(w http.ResponseWriter, r *http.Request, lo store.Lockout) {
	key := "limit.locked"
	if lo.Permanent {
		key = "limit.locked_permanent"
	}
	s.limitPage(w, r, key, http.StatusOK)
}

// session reads the session named in the URL and checks that it belongs
// to this browser; if not, it has answered the request.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*sessionState, bool) {
	id := r.PathValue("id")
	c, err := r.Cookie(browserCookie)
	if len(id) > 64 || err != nil {
		s.expired(w, r)
		return nil, false
	}
	st, err := s.load(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !st.ses.BoundTo(c.Value)) {
		s.expired(w, r)
		return nil, false
	}
	if err != nil {
		s.fail(w, r, err, "")
		return nil, false
	}
	return s.settleLost(r.Context(), st), true
}

func (s *Server) expired(w http.ResponseWriter, r *http.Request) {
	v := s.view(r, "message", "session.expired.title")
	v.Body = v.T("session.expired.body", "minutes", strconv.Itoa(int(s.cfg.SessionTTL/time.Minute)))
	v.StartAgain = true
	s.render(w, http.StatusGone, v)
}

func (s *Server) flowPage(w http.ResponseWriter, r *http.Request) {
	st, ok := s.session(w, r)
	if !ok {
		return
	}
	// A questions gate just reached may not have picked its questions
	// yet (pass records the gate, then enters the next): pick them now
	// rather than show an empty form.
	if g, ok := st.prog.Current(s.wf()); ok && st.ses.State == store.StateActive && g.Kind == workflow.Questions &&
		st.ses.Kind != store.KindRegister && len(st.flow.Asked) == 0 {
		if err := s.enter(r.Context(), st.ses.ID, s.web.ClientAddr(r).String()); err != nil {
			s.fail(w, r, err, st.flow.Lang)
			return
		}
		if st, ok = s.session(w, r); !ok {
			return
		}
	}
	s.renderFlow(w, r, st, nil, http.StatusOK)
}

// flowAction handles a form posted on a session's page, then shows the
// session again (a redirect, so that a refresh does not post again), or
// the same page with the form's errors.
func (s *Server) flowAction(w http.ResponseWriter, r *http.Request) {
	st, ok := s.session(w, r)
	if !ok {
		return
	}
	if st.ses.State == store.StateExpired {
		s.expired(w, r)
		return
	}
	a := &action{s: s, w: w, r: r, st: st, addr: s.web.ClientAddr(r).String()}
	var err error
	switch r.PostFormValue("action") {
	case "next":
		err = a.next()
	case "call-again":
		err = a.callAgain()
	case "code":
		err = a.code()
	case "questions":
		err = a.questions()
	case "phone":
		err = a.phone()
	case "other-number":
		err = a.otherNumber()
	case "pin":
		err = a.pin()
	case "language":
		err = a.language()
	case "change":
		err = a.change()
	case "cancel":
		err = a.cancelEdit()
	case "password":
		err = a.password()
	case "unlock-only", "unlock":
		err = a.unlockOnly()
	default:
		s.notFound(w, r)
		return
	}
	switch {
	case errors.Is(err, errShown):
		return
	case errors.Is(err, store.ErrExpired):
		s.expired(w, r)
		return
	case err != nil && !errors.Is(err, store.ErrClosed):
		s.fail(w, r, err, st.flow.Lang)
		return
	}
	http.Redirect(w, r, "/flow/"+st.ses.ID, http.StatusSeeOther)
}

// errShown: the action has answered the request itself (a form with
// errors).
var errShown = errors.New("portal: page shown")

// action is one form post on a session's page.
type action struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	st   *sessionState
	addr string
	// form refills the fields of a form shown again with errors.
	form map[string]string
}

func (a *action) ctx() context.Context { return a.r.Context() }

// current returns the current gate and its index, if the session is
// active and at a gate of kind k.
func (a *action) current(k workflow.GateKind) (workflow.Gate, int, bool) {
	if a.st.ses.State != store.StateActive {
		return workflow.Gate{}, 0, false
	}
	g, ok := a.st.prog.Current(a.s.wf())
	if !ok || g.Kind != k {
		return workflow.Gate{}, 0, false
	}
	return g, a.st.prog.Index, true
}

// show renders the session's page with the form errors in v.
func (a *action) show(errs []fieldError) error {
	a.st.form = a.form
	a.s.renderFlow(a.w, a.r, a.st, errs, http.StatusUnprocessableEntity)
	return errShown
}

// audit appends an audit record, logging (never failing on) an error: the
// person's journey goes on.
func (s *Server) audit(ctx context.Context, event, user, addr, outcome, callID, resetID string) {
	err := s.st.Append(context.WithoutCancel(ctx), store.Record{
		Time: s.now(), Event: event, User: user, ClientAddr: addr, Outcome: outcome, CallID: callID, ResetID: resetID,
	})
	if err != nil {
		s.log.Error("portal: audit record lost", "event", event, "reset_id", resetID, "err", err)
	}
}
