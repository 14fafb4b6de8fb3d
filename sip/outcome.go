package sip

import (
	"errors"
	"fmt"
)

// Outcome is how a call ended, from a closed set shared by the logs, the
// metrics and what the user is told.
type Outcome string

// The outcomes of placing a call. Once answered, the call's own end is
// one of the last three.
const (
	// Answered: the callee answered; the call goes on.
	Answered Outcome = "answered"
	// Busy: 486 Busy Here or 600 Busy Everywhere.
	Busy Outcome = "busy"
	// Rejected: the callee or the network refused the call (403, 603, 488,
	// ...).
	Rejected Outcome = "rejected"
	// NoAnswer: it rang until the ring timeout (we sent CANCEL), or the
	// network gave up (408, 480, 487).
	NoAnswer Outcome = "no-answer"
	// Unreachable: no trunk could place the call: transport errors, no
	// response, 5xx from every trunk, or a number that does not exist
	// (404, 484, 604).
	Unreachable Outcome = "unreachable"
	// Failed: anything else, including a trunk's refusal of our
	// credentials.
	Failed Outcome = "failed"
	// HungUp: the far end hung up (BYE) after answering.
	HungUp Outcome = "hung-up"
	// MediaTimeout: no RTP arrived from the far end for the media
	// inactivity timeout.
	MediaTimeout Outcome = "media-timeout"
	// Completed: we hung up.
	Completed Outcome = "completed"
)

// Outcomes lists every outcome, for metrics.
var Outcomes = []Outcome{Answered, Busy, Rejected, NoAnswer, Unreachable, Failed, HungUp, MediaTimeout, Completed}

// CallError is why Dial did not connect a call.
type CallError struct {
	// Outcome classifies the failure; never Answered.
	Outcome Outcome
	// Status is the final SIP status received, or 0 when none was.
	Status int
	// Reason is the final response's reason phrase.
	Reason string
	// Trunk is the trunk that gave the final answer.
	Trunk string
	// CallID is the Call-ID of the last INVITE sent, for the records
	// ("" when none was built).
	CallID string
	// Err is the underlying error, if any.
	Err error
}

func (e *CallError) Error() string {
	switch {
	case e.Status != 0:
		return fmt.Sprintf("sip: call %s: %d %s (trunk %s)", e.Outcome, e.Status, e.Reason, e.Trunk)
	case e.Err != nil:
		return fmt.Sprintf("sip: call %s (trunk %s): %v", e.Outcome, e.Trunk, e.Err)
	}
	return fmt.Sprintf("sip: call %s (trunk %s)", e.Outcome, e.Trunk)
}

func (e *CallError) Unwrap() error { return e.Err }

// OutcomeOf returns the outcome an error from Dial carries: its
// CallError's, or Failed.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Answered
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Outcome
	}
	return Failed
}

// classify maps a final failure status to an outcome, and reports whether
// the next trunk should be tried.
func classify(status int) (o Outcome, failover bool) {
	switch status {
	case 486, 600:
		return Busy, false
	case 408, 480, 487:
		return NoAnswer, status == 408
	case 404, 410, 484, 604:
		return Unreachable, false
	case 401, 407:
		return Failed, true
	case 403, 488, 603, 606:
		return Rejected, false
	}
	switch {
	case status >= 500 && status < 600:
		return Unreachable, true
	case status >= 300 && status < 400:
		return Failed, true
	}
	return Failed, false
}
