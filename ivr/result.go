package ivr

// Result is how a verification ended: one word from a closed set that
// the portal, the logs and the metrics share.
type Result string

// The results. The first four are the person's answer; the next five
// say why the call was not answered; the last three why an answered
// call ended before an answer.
const (
	// Confirmed: the person keyed the right entry (match, confirm and pin
	// modes).
	Confirmed Result = "confirmed"
	// CodeDelivered: the person pressed # and heard the one-time code at
	// least once in full (code mode). It is not a verification by
	// itself: the code typed into the page is.
	CodeDelivered Result = "code-delivered"
	// FraudReported: the person pressed 0, "I did not request this".
	FraudReported Result = "fraud-reported"
	// WrongInput: every attempt was used and at least one entry was
	// wrong.
	WrongInput Result = "wrong-input"
	// NoInput: every attempt was used in silence.
	NoInput Result = "no-input"
	// NoAnswer: it rang until the ring timeout, or the network gave up.
	NoAnswer Result = "no-answer"
	// Busy: the line was busy.
	Busy Result = "busy"
	// Rejected: the phone or the network refused the call.
	Rejected Result = "rejected"
	// Unreachable: no route to the number, or it does not exist.
	Unreachable Result = "unreachable"
	// HungUp: the person hung up before the result was known.
	HungUp Result = "hung-up"
	// MediaTimeout: the call's audio stopped arriving before the result
	// was known.
	MediaTimeout Result = "media-timeout"
	// Failed: anything else: a dial error not otherwise classified, an
	// invalid request, a cancelled context, a prompt that would not play.
	Failed Result = "failed"
)

// Results lists every result, for metrics and for checking stored values.
var Results = []Result{
	Confirmed, CodeDelivered, FraudReported, WrongInput, NoInput,
	NoAnswer, Busy, Rejected, Unreachable,
	HungUp, MediaTimeout, Failed,
}

// Valid reports whether r is one of Results.
func (r Result) Valid() bool {
	for _, x := range Results {
		if r == x {
			return true
		}
	}
	return false
}

// dialResult returns the result of a dial failure: r if it is one a
// Dialer may report, else Failed.
func dialResult(r Result) Result {
	switch r {
	case NoAnswer, Busy, Rejected, Unreachable, Failed:
		return r
	}
	return Failed
}
