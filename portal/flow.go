package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/workflow"
)

// flow is what the portal keeps about a session beyond its gate results,
// as JSON in the store's session data: any node can serve the next
// request. It holds no secret in clear: the code is hashed, the PIN and
// answers of a registration in progress too.
type flow struct {
	// Lang is the language of the pages.
	Lang string `json:"lang"`
	// Call is the phone gate's state, when the current gate is one.
	Call *callState `json:"call,omitempty"`
	// Asked are the IDs of the security questions asked at the current
	// questions gate.
	Asked []string `json:"asked,omitempty"`

	// Register: the number being proved (E.164), and what the gates
	// collected, hashed, until the registration is saved.
	Phone    string            `json:"phone,omitempty"`
	PINHash  string            `json:"pin,omitempty"`
	Answers  map[string]string `json:"answers,omitempty"`
	Language string            `json:"language,omitempty"`
	// Editing names what an existing registration is changing: "phone",
	// "pin", "questions" or "language"; "" for none.
	Editing string `json:"editing,omitempty"`
	// Saved: the registration is saved (the review page shows).
	Saved bool `json:"saved,omitempty"`

	// Done is how the journey ended: "reset", "unlock", "registered".
	Done string `json:"done,omitempty"`
	// Notice is a message key to show once on the next page (an error
	// of the last action that is not about a form field).
	Notice string `json:"notice,omitempty"`
	// Policy is the directory's reason for refusing the last password.
	Policy string `json:"policy,omitempty"`
}

// callState is the state of the phone gate of one session.
type callState struct {
	// Gate is the index of the gate this state belongs to.
	Gate int `json:"gate"`
	// Mode is the gate's verification mode.
	Mode string `json:"mode"`
	// Attempt counts the calls placed at this gate.
	Attempt int `json:"attempt"`
	// Running: a call is in progress, owned by Node since Started.
	Running bool      `json:"running,omitempty"`
	Node    string    `json:"node,omitempty"`
	Started time.Time `json:"started,omitzero"`
	// Match is the number shown on the page in match mode.
	Match string `json:"match,omitempty"`
	// CodeHash is the SHA-256 of the session ID and the spoken code, in
	// code mode; CodeTries counts the wrong codes typed.
	CodeHash  string `json:"code,omitempty"`
	CodeTries int    `json:"code_tries,omitempty"`
	// Step is the call's last step (an ivr.EventKind, or "waiting" once
	// answered); Result its result (an ivr.Result) once it ended, or
	// "refused" when a cap refused the call, with Limit the message key.
	Step   string `json:"step,omitempty"`
	Result string `json:"result,omitempty"`
	Limit  string `json:"limit,omitempty"`
	// CallID is the last call's ID, for the audit log.
	CallID string `json:"call_id,omitempty"`
	// KeyAt is when the last key of the call arrived, at the node that
	// owns it (for sspr_portal_key_to_page_seconds).
	KeyAt time.Time `json:"key_at,omitzero"`
}

// sessionState is a session with its flow and progress, as read.
type sessionState struct {
	ses  store.Session
	flow flow
	prog workflow.Progress
	// form refills a form shown again with errors (never persisted).
	form map[string]string
}

// load reads session id with its flow and progress.
func (s *Server) load(ctx context.Context, id string) (*sessionState, error) {
	ses, err := s.st.Session(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	st := &sessionState{ses: ses}
	if len(ses.Data) > 0 {
		if err := json.Unmarshal(ses.Data, &st.flow); err != nil {
			return nil, fmt.Errorf("portal: session %s: bad data: %w", id, err)
		}
	}
	st.prog, err = workflow.Restore(workflow.Journey(ses.Kind), ses.Gates)
	if err != nil {
		return nil, fmt.Errorf("portal: session %s: %w", id, err)
	}
	return st, nil
}

// errStop is returned by an update function to leave the session as it is.
var errStop = errors.New("portal: no change")

// changeData makes one compare-and-set change of session id's data:
// change reads the session, changes what the portal keeps in it, and
// returns the version it read and the data to save. If the session
// changed in between (a conflict), change runs again. change returning
// errStop saves nothing (saved is false, err nil).
func (s *Server) changeData(ctx context.Context, id string, change func() (version int64, data []byte, err error)) (saved bool, version int64, data []byte, err error) {
	for range 20 {
		read, data, err := change()
		if errors.Is(err, errStop) {
			return false, 0, nil, nil
		}
		if err != nil {
			return false, 0, nil, err
		}
		v, err := s.st.SaveData(ctx, id, read, data, s.now())
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return false, 0, nil, err
		}
		return true, v, data, nil
	}
	return false, 0, nil, fmt.Errorf("portal: session %s: too many concurrent changes", id)
}

// update reads session id, lets fn change its flow, and saves it (see
// changeData). fn returning errStop saves nothing and update returns nil.
func (s *Server) update(ctx context.Context, id string, fn func(*sessionState) error) (*sessionState, error) {
	var st *sessionState
	saved, v, data, err := s.changeData(ctx, id, func() (int64, []byte, error) {
		var err error
		if st, err = s.load(ctx, id); err != nil {
			return 0, nil, err
		}
		if err := fn(st); err != nil {
			return 0, nil, err
		}
		data, err := json.Marshal(st.flow)
		return st.ses.Version, data, err
	})
	if err != nil {
		return st, err
	}
	if saved {
		st.ses.Version, st.ses.Data = v, data
	}
	return st, nil
}

// updateRetrying is update, tried again by retryStore: for the work no
// request will redo, such as recording how a call ended, without which
// the session would show a call running until it goes stale.
func (s *Server) updateRetrying(ctx context.Context, id string, fn func(*sessionState) error) (*sessionState, error) {
	var st *sessionState
	err := s.retryStore(ctx, id, func() error {
		var err error
		st, err = s.update(ctx, id, fn)
		return err
	})
	return st, err
}

// retryStore runs op, and again, a little later each time, while it fails
// for a reason other than the session's own (PostgreSQL restarting, say),
// until ctx ends.
func (s *Server) retryStore(ctx context.Context, id string, op func() error) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := op()
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired) ||
			errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrInvalid) {
			return err
		}
		s.log.Warn("portal: store failed; trying again", "reset_id", id, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// auditRetrying is audit for the records that must not be lost (a
// password changed): the append is tried again by retryStore.
func (s *Server) auditRetrying(ctx context.Context, event, user, addr, outcome, callID, resetID string) {
	err := s.retryStore(ctx, resetID, func() error {
		return s.st.Append(ctx, store.Record{
			Time: s.now(), Event: event, User: user, ClientAddr: addr, Outcome: outcome, CallID: callID, ResetID: resetID,
		})
	})
	if err != nil {
		s.log.Error("portal: audit record lost", "event", event, "reset_id", resetID, "err", err)
	}
}

// gates returns the gates of the session's journey.
func (s *Server) gates(st *sessionState) []workflow.Gate {
	return s.wf().Gates(st.prog.Journey)
}
