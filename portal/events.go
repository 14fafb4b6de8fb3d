package portal

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/store"
)

// heartbeat is how often an idle event stream sends a comment, so that
// proxies keep it open.
const heartbeat = 15 * time.Second

// status is one server-sent event: the call's status in words, and what
// the page needs to know to reload itself when the gate moves on.
type status struct {
	// Text is the status in the page's language.
	Text string `json:"text"`
	// Gate is the index of the current gate (-1 when the journey ended).
	Gate int `json:"gate"`
	// Running says a call is in progress.
	Running bool `json:"running"`
	// Attempt is the call attempt the status belongs to.
	Attempt int `json:"attempt"`
	// Result is set once the call ended (an ivr result, or "refused").
	Result string `json:"result,omitempty"`
	// Done says the session has ended (completed, failed or expired).
	Done bool `json:"done,omitempty"`
	// Stage is how far the journey's end has got: "" until then, then
	// "saved" for a registration, or how it ended ("unlock", "reset").
	Stage string `json:"stage,omitempty"`
}

// events streams the session's status as server-sent events: one at
// once, then one after every change, until the session ends or the
// browser goes. The page reloads itself when the gate or the call
// changes; without JavaScript it refreshes instead.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	st, ok := s.session(w, r)
	if !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "Streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	ch, cancel, err := s.st.Subscribe(ctx, st.ses.ID)
	if err != nil {
		s.fail(w, r, err, st.flow.Lang)
		return
	}
	defer cancel()
	// Re-read after subscribing, so that no change falls in between.
	if st, err = s.load(ctx, st.ses.ID); err != nil {
		s.fail(w, r, err, "")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var last []byte
	// sawRunning: this stream showed a call running, so the page learns
	// the result from it and the time since the key is worth measuring.
	var sawRunning bool
	send := func(st *sessionState) bool {
		b, _ := json.Marshal(s.status(r, st))
		if string(b) != string(last) {
			last = b
			if c := st.flow.Call; c != nil {
				if c.Running {
					sawRunning = true
				} else if sawRunning && !c.KeyAt.IsZero() {
					s.m.keyToPage.Observe(time.Since(c.KeyAt).Seconds())
					sawRunning = false
				}
			}
			if _, err := w.Write([]byte("retry: 2000\ndata: " + string(b) + "\n\n")); err != nil {
				return false
			}
			fl.Flush()
		}
		return st.ses.State == store.StateActive
	}
	if !send(st) {
		return
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	// A call running on another node is checked every beat, so that the
	// page soon learns if that node was lost (liveness.go).
	watch := time.NewTicker(beatEvery)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-watch.C:
			if c := st.flow.Call; c == nil || !c.Running || c.Node == s.node {
				continue
			}
			if st, err = s.load(ctx, st.ses.ID); err != nil {
				return
			}
			if st = s.settleLost(ctx, st); !send(st) {
				return
			}
		case _, ok := <-ch:
			if !ok {
				return
			}
			if st, err = s.load(ctx, st.ses.ID); err != nil {
				return
			}
			if !send(st) {
				return
			}
		case <-t.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			fl.Flush()
			if st, err = s.load(ctx, st.ses.ID); err != nil || !send(st) {
				return
			}
		}
	}
}

// status is the session's state as an event.
func (s *Server) status(r *http.Request, st *sessionState) status {
	v := s.view(r, "message", "phone.title")
	if st.flow.Lang != "" {
		v.Lang = st.flow.Lang
	}
	out := status{Gate: st.prog.Index, Done: st.ses.State != store.StateActive, Stage: st.flow.Done}
	if st.ses.Kind == store.KindRegister && st.flow.Saved {
		out.Stage = "saved"
	}
	if out.Done || st.prog.Done(s.wf()) {
		out.Gate = -1
	}
	c := st.flow.Call
	if c == nil {
		return out
	}
	if s.stale(c) {
		cc := *c
		cc.Running, cc.Result = false, string(ivr.Failed)
		c = &cc
	}
	out.Running, out.Attempt, out.Result = c.Running, c.Attempt, c.Result
	out.Text = s.statusText(v, c)
	if st.prog.Index > c.Gate && !out.Done {
		// The call's gate has passed: the journey has moved on.
		out.Text = v.T("phone.status.confirmed")
	}
	return out
}
