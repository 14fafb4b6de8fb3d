package portal

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

//go:embed templates static
var assets embed.FS

// pages holds one parsed template set per page, each the layout with the
// page's "content".
type pages struct {
	t map[string]*template.Template
}

func loadPages() (*pages, error) {
	base, err := template.ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(assets, n)
		if err != nil {
			return nil, err
		}
		p.t[name] = t
	}
	return p, nil
}

// fieldError is a form field's error: the field's name and the message key.
type fieldError struct {
	Field, Key string
}

// shownError is an error as the page shows it.
type shownError struct {
	Field, Text string
}

// view is what a page template sees.
type view struct {
	s    *Server
	page string
	// Lang is the page's language; Title its title, localised.
	Lang, Title string
	// Errors are the form's errors, for the summary and the fields.
	Errors []shownError
	// Notice is a message shown above the form.
	Notice string
	// Body is the text of a message page; StartAgain links to the start.
	Body       string
	StartAgain bool
	// Kind is "reset" or "unlock" on the start page.
	Kind string
	// Username refills the username field.
	Username string
	// ID is the session's ID: forms post to /flow/ID.
	ID string
	// Step and Total number the gates ("Step 2 of 3"); Total 0 hides it.
	Step, Total int
	// Refresh makes a page without JavaScript reload itself.
	Refresh bool

	// The phone gate.
	Call *callView
	// Questions asked (reset, unlock) or offered (register).
	Asked     []questionView
	Offered   []Question
	Languages []languageView
	// Registration review.
	Review *reviewView
	// ChangingPhone asks for the password again on the number form.
	ChangingPhone bool
	// Form refills fields after an error.
	Form map[string]string
	// PasswordMin, PINMin and PINMax are the form's bounds.
	PasswordMin, PINMin, PINMax int
	// Policy is the directory's reason for refusing the password, in words.
	Policy string
}

type callView struct {
	// Number is the masked number being proved (registration only: a
	// reset never says whether or where it calls).
	Number    string
	Mode      string
	Gate      int
	Running   bool
	Status    string
	Match     string
	Code      bool // the code field shows
	CallAgain bool
	NoMore    bool
	Other     bool // "use another number" shows (registration)
	Failed    bool
}

type questionView struct {
	// N counts from 0 (the field names), Num from 1 (the labels).
	N    int
	Num  string
	Text string
}

type languageView struct {
	Tag, Name string
	Selected  bool
}

type reviewView struct {
	Phone                         string
	PIN, HasPIN                   bool
	Questions, QuestionsEnabled   int
	Language                      string
	CanPIN, CanQuestions, CanLang bool
}

// T returns the message key in the page's language.
func (v *view) T(key string, args ...string) string { return v.s.cat.T(v.Lang, key, args...) }

// Err returns the error of field, or "".
func (v *view) Err(field string) string {
	for _, e := range v.Errors {
		if e.Field == field {
			return e.Text
		}
	}
	return ""
}

// Val returns the value a field is refilled with.
func (v *view) Val(field string) string { return v.Form[field] }

// Itoa formats n for the templates.
func (v *view) Itoa(n int) string { return strconv.Itoa(n) }

func (v *view) addError(field, text string) { v.Errors = append(v.Errors, shownError{field, text}) }

func (v *view) with(fn func(*view)) *view { fn(v); return v }

// view starts a page's view.
func (s *Server) view(r *http.Request, page, titleKey string) *view {
	v := &view{s: s, page: page, Lang: s.lang(r), PasswordMin: s.cfg.PasswordMin, PINMin: s.cfg.PINMin, PINMax: s.cfg.PINMax}
	v.Title = v.T(titleKey)
	return v
}

// render writes the page.
func (s *Server) render(w http.ResponseWriter, status int, v *view) {
	t := s.pages.t[v.page]
	if t == nil {
		s.log.Error("portal: no template", "page", v.page)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("portal: template failed", "page", v.page, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// static serves the embedded stylesheet and script.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	data, err := assets.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		s.notFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(data)
}

// renderFlow shows the page of where the session is.
func (s *Server) renderFlow(w http.ResponseWriter, r *http.Request, st *sessionState, errs []fieldError, status int) {
	v := s.view(r, "message", "error.title")
	if st.flow.Lang != "" {
		v.Lang = st.flow.Lang
	}
	v.ID = st.ses.ID
	v.Form = st.form
	for _, e := range errs {
		v.addError(e.Field, s.errorText(v, e.Key))
	}
	if st.flow.Notice != "" {
		v.Notice = v.T(st.flow.Notice)
	}
	titled := func(page, key string) { v.page, v.Title = page, v.T(key) }
	f := st.flow
	gates := s.gates(st)
	switch {
	case st.ses.State == store.StateExpired:
		s.expired(w, r)
		return
	case st.ses.State == store.StateCompleted || f.Done != "":
		done := f.Done
		if done == "" {
			done = string(st.ses.Kind)
		}
		if done == "register" || done == "registered" {
			break // a registration shows its review
		}
		titled("done", "done."+done+".title")
		v.Body = v.T("done." + done + ".body")
		v.Kind = done
		s.render(w, http.StatusOK, v)
		return
	case st.ses.State == store.StateFailed:
		titled("message", "phone.title")
		v.Body = s.failureText(v, st)
		v.StartAgain = true
		s.render(w, status, v)
		return
	}
	if st.ses.Kind == store.KindRegister {
		s.renderRegister(w, r, st, v, status)
		return
	}
	if st.prog.Passed(s.wf()) {
		if st.ses.Kind == store.KindUnlock {
			if f.Notice == "" {
				// The last gate has just passed and the unlock is under
				// way: wait for it on the page.
				s.renderFinishing(w, v, status)
				return
			}
			titled("retry", "unlock.title") // the unlock failed: offer another try
			s.render(w, status, v)
			return
		}
		titled("password", "password.title")
		if f.Policy != "" {
			v.Policy = v.T("policy." + f.Policy)
		}
		s.render(w, status, v)
		return
	}
	g, _ := st.prog.Current(s.wf())
	v.Step, v.Total = st.prog.Index+1, len(gates)
	s.renderGate(w, st, v, g, status)
}

// renderGate shows the current gate of a reset or an unlock, or of a new
// registration.
func (s *Server) renderGate(w http.ResponseWriter, st *sessionState, v *view, g workflow.Gate, status int) {
	switch g.Kind {
	case workflow.Phone:
		v.page, v.Title = "phone", v.T("phone.title")
		v.Call = s.callView(v, st, g)
		v.Refresh = v.Call.Running
	case workflow.Questions:
		if st.ses.Kind == store.KindRegister {
			v.page, v.Title = "register-questions", v.T("register.questions.title")
			v.Offered = s.cfg.Questions
			for i := range g.Count {
				v.Asked = append(v.Asked, questionView{N: i, Num: strconv.Itoa(i + 1)})
			}
			break
		}
		v.page, v.Title = "questions", v.T("questions.title")
		for i, id := range st.flow.Asked {
			v.Asked = append(v.Asked, questionView{N: i, Num: strconv.Itoa(i + 1), Text: s.questionText(id)})
		}
	case workflow.PIN:
		v.page, v.Title = "register-pin", v.T("register.pin.title")
	case workflow.Language:
		v.page, v.Title = "register-language", v.T("register.language.title")
		for _, l := range s.cfg.Languages {
			v.Languages = append(v.Languages, languageView{Tag: l, Name: s.cat.T(l, "language.name"), Selected: l == v.Lang})
		}
	}
	s.render(w, status, v)
}

func (s *Server) questionText(id string) string {
	for _, q := range s.cfg.Questions {
		if q.ID == id {
			return q.Text
		}
	}
	return id
}

// renderRegister shows a registration: the review of a saved one, the
// change in progress, or the current gate of a new one.
func (s *Server) renderRegister(w http.ResponseWriter, r *http.Request, st *sessionState, v *view, status int) {
	f := st.flow
	gates := s.gates(st)
	if f.Editing != "" {
		for _, g := range gates {
			if string(g.Kind) == f.Editing {
				if g.Kind == workflow.Phone && f.Phone == "" {
					v.page, v.Title, v.ChangingPhone = "register-phone", v.T("register.phone.title"), true
					s.render(w, status, v)
					return
				}
				s.renderGate(w, st, v, g, status)
				return
			}
		}
	}
	if f.Saved {
		reg, err := s.st.Registration(r.Context(), st.ses.Username)
		if err != nil {
			s.fail(w, r, err, v.Lang)
			return
		}
		rv := &reviewView{Phone: phone.Mask(reg.Phone), HasPIN: reg.PINHash != "", Questions: len(reg.Answers), Language: reg.Language}
		for _, g := range gates {
			switch g.Kind {
			case workflow.PIN:
				rv.CanPIN = true
			case workflow.Questions:
				rv.CanQuestions = true
			case workflow.Language:
				rv.CanLang = true
			}
		}
		if rv.Language != "" {
			rv.Language = s.cat.T(rv.Language, "language.name")
		}
		v.page, v.Title, v.Review = "review", v.T("register.review.title"), rv
		s.render(w, status, v)
		return
	}
	g, ok := st.prog.Current(s.wf())
	if !ok {
		// The last gate has just passed and the registration is being
		// saved: wait for it on the page.
		s.renderFinishing(w, v, status)
		return
	}
	v.Step, v.Total = st.prog.Index, len(gates)-1 // the sign-in is not a step
	if g.Kind == workflow.Phone && f.Phone == "" {
		v.page, v.Title = "register-phone", v.T("register.phone.title")
		s.render(w, status, v)
		return
	}
	s.renderGate(w, st, v, g, status)
}

// callView is the phone gate's state as the page shows it.
func (s *Server) callView(v *view, st *sessionState, g workflow.Gate) *callView {
	cv := &callView{Mode: g.Mode, Gate: st.prog.Index}
	if st.ses.Kind == store.KindRegister && st.flow.Phone != "" {
		cv.Number = phone.Mask(st.flow.Phone)
	}
	c := st.flow.Call
	if c == nil {
		cv.Status = v.T("phone.status.dialing")
		return cv
	}
	cv.Gate, cv.Running, cv.Match = c.Gate, c.Running, c.Match
	if s.stale(c) {
		// The node that owned the call stopped before it ended.
		cv.Running = false
		c.Result = string(ivr.Failed)
	}
	cv.Status = s.statusText(v, c)
	if !cv.Running {
		switch {
		case c.Result == string(ivr.CodeDelivered) && c.CodeHash != "":
			cv.Code = true
		case c.Result == "refused":
			cv.NoMore = true
		case c.Result != "" && c.Attempt < g.Attempts:
			cv.CallAgain, cv.Failed = true, true
		case c.Result != "":
			cv.Failed = true
		}
		cv.Other = st.ses.Kind == store.KindRegister && c.Result != "" && !cv.Code
	}
	return cv
}

// statusText is the call's status in words.
func (s *Server) statusText(v *view, c *callState) string {
	switch {
	case c.Result == "refused":
		return v.T(c.Limit)
	case c.Result != "":
		return v.T("phone.result." + c.Result)
	case c.Step == "":
		return v.T("phone.status.dialing")
	}
	return v.T("phone.status." + c.Step)
}

// failureText says why a session failed, in the same words whatever the
// username.
func (s *Server) failureText(v *view, st *sessionState) string {
	// The gate that failed is the current one: a questions gate after a
	// phone gate that passed is about the answers, not the call.
	if gs := s.gates(st); st.prog.Index < len(gs) && gs[st.prog.Index].Kind == workflow.Questions && len(st.flow.Asked) > 0 {
		return v.T("questions.wrong")
	}
	c := st.flow.Call
	if c != nil && c.Result != "" && c.Result != "refused" {
		if c.Result == string(ivr.CodeDelivered) {
			return v.T("phone.code.wrong")
		}
		if c.Result == string(ivr.FraudReported) && st.ses.Kind == store.KindRegister {
			return v.T("register.fraud")
		}
		return v.T("phone.result." + c.Result)
	}
	if len(st.flow.Asked) > 0 {
		return v.T("questions.wrong")
	}
	return v.T("limit.locked")
}

// errorText localises a field error's key, with the bounds it names.
func (s *Server) errorText(v *view, key string) string {
	return v.T(key, "min", strconv.Itoa(s.minFor(key)), "max", strconv.Itoa(s.cfg.PINMax))
}

func (s *Server) minFor(key string) int {
	switch {
	case strings.HasPrefix(key, "password."):
		return s.cfg.PasswordMin
	case strings.HasPrefix(key, "register.pin"):
		return s.cfg.PINMin
	}
	return s.cfg.AnswerMin
}

// renderFinishing shows a journey whose gates have all passed while its
// end (an unlock, a registration saved) is under way: the page follows
// the session's events, or refreshes itself without JavaScript, until
// the end is there.
func (s *Server) renderFinishing(w http.ResponseWriter, v *view, status int) {
	v.page, v.Title, v.Refresh = "finishing", v.T("phone.title"), true
	v.Body = v.T("phone.status.confirmed")
	s.render(w, status, v)
}
