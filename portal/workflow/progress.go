package workflow

import (
	"errors"
	"fmt"
)

// Result is how one gate ended: a closed set, [Passed] or [Failed]. The zero
// value is no result and is refused by [Progress.Record]. It encodes as its
// String in JSON and text ("passed", "failed"), which is what the store keeps.
type Result uint8

// The results of a gate.
const (
	// Passed: the gate was passed; the journey moves to the next gate.
	Passed Result = iota + 1
	// Failed: the gate was failed; the journey ends without passing.
	Failed
)

// String returns "passed", "failed", or "invalid" for any other value.
func (r Result) String() string {
	switch r {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	}
	return "invalid"
}

// Valid reports whether r is Passed or Failed.
func (r Result) Valid() bool { return r == Passed || r == Failed }

// ErrResult is returned, wrapped with the value, for a result that is
// neither Passed nor Failed.
var ErrResult = errors.New("workflow: invalid result")

// ParseResult returns the Result whose String is s.
func ParseResult(s string) (Result, error) {
	switch s {
	case "passed":
		return Passed, nil
	case "failed":
		return Failed, nil
	}
	return 0, fmt.Errorf("%w %q", ErrResult, s)
}

// MarshalText encodes r as its String; an invalid r is an error.
func (r Result) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("%w %d", ErrResult, uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText decodes what MarshalText encodes.
func (r *Result) UnmarshalText(b []byte) error {
	v, err := ParseResult(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Errors of Progress.
var (
	// ErrDone: a result was recorded for a journey that has already ended.
	ErrDone = errors.New("workflow: journey already done")
	// ErrJourney: the progress names no known journey.
	ErrJourney = errors.New("workflow: unknown journey")
	// ErrProgress: the progress is inconsistent (say, tampered with or
	// restored from bad data).
	ErrProgress = errors.New("workflow: inconsistent progress")
)

// Progress is where one session is in its journey: the results of the
// gates so far, in order, and the index of the current gate. It is a
// value; Record returns a new one. It is small and encodes to JSON.
//
// A consistent Progress has Index == len(Results), every result but the
// last Passed; anything else is never Done-and-Passed and Record refuses it.
type Progress struct {
	// Journey is the journey this session is on.
	Journey Journey `json:"journey"`
	// Index is the index of the current gate in Config.Gates(Journey).
	Index int `json:"index"`
	// Results holds the result of each gate reached so far, by index.
	Results []Result `json:"results,omitempty"`
}

// Start returns the progress of a session starting journey j, at its first
// gate.
func Start(j Journey) Progress { return Progress{Journey: j} }

// Restore rebuilds the progress of journey j from the results the store
// keeps, by gate index, as Result strings. The indices must run from 0
// without gaps, and nothing may follow a failed gate.
func Restore(j Journey, gates map[int]string) (Progress, error) {
	if !j.Valid() {
		return Progress{}, fmt.Errorf("%w %q", ErrJourney, j)
	}
	p := Start(j)
	for i := range len(gates) {
		s, ok := gates[i]
		if !ok {
			return Progress{}, fmt.Errorf("%w: no result for gate %d", ErrProgress, i)
		}
		r, err := ParseResult(s)
		if err != nil {
			return Progress{}, fmt.Errorf("%w: gate %d: %w", ErrProgress, i, err)
		}
		if p.failed() {
			return Progress{}, fmt.Errorf("%w: gate %d after a failed gate", ErrProgress, i)
		}
		p.Results = append(p.Results, r)
		if r == Passed {
			p.Index++
		}
	}
	return p, nil
}

// consistent reports whether p is a progress that Record could have made.
func (p Progress) consistent() bool {
	if !p.Journey.Valid() || p.Index < 0 {
		return false
	}
	n := len(p.Results)
	for i, r := range p.Results {
		if !r.Valid() || (r == Failed && i != n-1) {
			return false
		}
	}
	if p.failed() {
		return p.Index == n-1
	}
	return p.Index == n
}

// failed reports whether the last result recorded is Failed.
func (p Progress) failed() bool {
	return len(p.Results) > 0 && p.Results[len(p.Results)-1] == Failed
}

// Current returns the gate the session is at, with defaults filled in;
// false when the journey is done (all gates passed, one failed, or the
// progress is inconsistent).
func (p Progress) Current(c Config) (Gate, bool) {
	if p.Done(c) {
		return Gate{}, false
	}
	return c.Gates(p.Journey)[p.Index], true
}

// Record returns the progress after the current gate ended with r: the next
// gate on Passed, the end of the journey on Failed. It returns ErrDone if
// the journey has already ended, ErrResult for an invalid r, ErrJourney or
// ErrProgress for a progress it cannot trust. p is not changed.
func (p Progress) Record(c Config, r Result) (Progress, error) {
	if !p.Journey.Valid() {
		return p, fmt.Errorf("%w %q", ErrJourney, p.Journey)
	}
	if !p.consistent() {
		return p, ErrProgress
	}
	if !r.Valid() {
		return p, fmt.Errorf("%w %d", ErrResult, uint8(r))
	}
	if p.Done(c) {
		return p, ErrDone
	}
	next := Progress{Journey: p.Journey, Index: p.Index, Results: append(p.Results[:len(p.Results):len(p.Results)], r)}
	if r == Passed {
		next.Index++
	}
	return next, nil
}

// Done reports whether the journey has ended: every gate passed, or one
// failed. An inconsistent progress is done (and not passed).
func (p Progress) Done(c Config) bool {
	return !p.consistent() || p.failed() || p.Index >= len(c.Gates(p.Journey))
}

// Passed reports whether every gate of the journey has recorded Passed, so
// that what the journey leads to (the password form, the unlock, saving the
// registration) may proceed. A journey with no gates never passes.
func (p Progress) Passed(c Config) bool {
	n := len(c.Gates(p.Journey))
	if n == 0 || !p.consistent() || p.Index != n || len(p.Results) != n {
		return false
	}
	for _, r := range p.Results {
		if r != Passed {
			return false
		}
	}
	return true
}
