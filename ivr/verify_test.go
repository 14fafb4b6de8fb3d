package ivr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The requests of the conversation tests, one per mode.
var (
	matchReq   = Request{Number: testNumber, Match: "35"}
	confirmReq = Request{Number: testNumber, Mode: ModeConfirm}
	codeReq    = Request{Number: testNumber, Mode: ModeCode, Code: "407"}
)

func pinReq(pin string) Request {
	return Request{Number: testNumber, Mode: ModePIN, CheckPIN: func(p string) bool { return p == pin }}
}

// with returns r with Attempts set.
func (r Request) with(attempts int) Request {
	r.Attempts = attempts
	return r
}

func join(ps ...[]press) []press {
	var all []press
	for _, p := range ps {
		all = append(all, p...)
	}
	return all
}

// convCase is a scripted answered call.
type convCase struct {
	name    string
	cfg     Config
	req     Request
	presses []press
	endAt   time.Duration // the far end ends the call then
	endAs   Result
	want    Result
	prompts string // what the call played, in order; "^" marks a prompt cut short
	keys    int
	late    int // keys pressed after the result: counted, not reported
}

// The timelines below follow testDurations. Match mode asks with intro
// (0-2 s), match (2-5 s) and fraud_hint (5-7 s); confirm, pin and code
// mode with intro, their question and fraud_hint, 0-6 s. A wrong entry
// adds not_right and try_again (1 s each) before the question; a
// silence, no_input (1 s). A code reading is code_is (1 s), the digits
// (500 ms each), twice, then code_repeat (2 s): 7 s for a 3-digit code.
var convCases = []convCase{
	// match
	{
		name: "match right", req: matchReq, presses: keys("8s", "35#"),
		want: Confirmed, keys: 3,
		prompts: "intro match fraud_hint confirmed goodbye",
	},
	{
		name: "match right, pause instead of pound", req: matchReq, presses: keys("8s", "35"),
		want: Confirmed, keys: 2,
		prompts: "intro match fraud_hint confirmed goodbye",
	},
	{
		name: "match wrong then right", req: matchReq, presses: join(keys("8s", "36#"), keys("16s", "35#")),
		want: Confirmed, keys: 6,
		prompts: "intro match fraud_hint not_right try_again match fraud_hint confirmed goodbye",
	},
	{
		name: "match retries exhausted", req: matchReq,
		presses: join(keys("8s", "36#"), keys("16s", "53#"), keys("24s", "3#")),
		want:    WrongInput, keys: 8,
		prompts: "intro match fraud_hint not_right try_again match fraud_hint not_right try_again match fraud_hint not_right goodbye",
	},
	{
		name: "match pound alone is wrong", req: matchReq.with(1), presses: keys("8s", "#"),
		want: WrongInput, keys: 1,
		prompts: "intro match fraud_hint not_right goodbye",
	},
	{
		name: "match inter-digit timeout ends a short entry", req: matchReq.with(1), presses: keys("8s", "3"),
		want: WrongInput, keys: 1,
		prompts: "intro match fraud_hint not_right goodbye",
	},
	{
		name: "match entry ends at MaxEntry keys", cfg: Config{MaxEntry: 4}, req: matchReq.with(1),
		presses: keys("8s", "3535"),
		want:    WrongInput, keys: 4,
		prompts: "intro match fraud_hint not_right goodbye",
	},
	{
		name: "match fraud", req: matchReq, presses: keys("8s", "0"),
		want: FraudReported, keys: 1,
		prompts: "intro match fraud_hint fraud goodbye",
	},
	{
		name: "match fraud by barge-in", req: matchReq, presses: keys("1s", "0"),
		want: FraudReported, keys: 1,
		prompts: "intro^ fraud goodbye",
	},
	{
		name: "match fraud after a wrong entry", req: matchReq, presses: join(keys("8s", "36#"), keys("16s", "0")),
		want: FraudReported, keys: 4,
		prompts: "intro match fraud_hint not_right try_again match fraud_hint fraud goodbye",
	},
	{
		name: "match no input", req: matchReq,
		want:    NoInput,
		prompts: "intro match fraud_hint no_input match fraud_hint no_input match fraud_hint no_input goodbye",
	},
	{
		name: "match wrong then silence", req: matchReq, presses: keys("8s", "36#"),
		want: WrongInput, keys: 3,
		prompts: "intro match fraud_hint not_right try_again match fraud_hint no_input match fraud_hint no_input goodbye",
	},
	{
		name: "match star repeats", req: matchReq, presses: join(keys("8s", "*"), keys("14s", "35#")),
		want: Confirmed, keys: 4,
		prompts: "intro match fraud_hint match fraud_hint confirmed goodbye",
	},
	{
		name: "match star discards the entry", req: matchReq, presses: join(keys("8s", "3*"), keys("14s", "35#")),
		want: Confirmed, keys: 5,
		prompts: "intro match fraud_hint match fraud_hint confirmed goodbye",
	},
	{
		name: "match star by barge-in", req: matchReq, presses: join(keys("3s", "*"), keys("9s", "35#")),
		want: Confirmed, keys: 4,
		prompts: "intro match^ match fraud_hint confirmed goodbye",
	},
	{
		name: "match repeats used up", req: matchReq.with(1),
		presses: join(keys("8s", "*"), keys("14s", "*"), keys("20s", "*"), keys("26s", "*")),
		want:    WrongInput, keys: 4,
		prompts: "intro match fraud_hint match fraud_hint match fraud_hint match fraud_hint not_right goodbye",
	},
	{
		name: "match barge-in", req: matchReq, presses: keys("3s", "35#"),
		want: Confirmed, keys: 3,
		prompts: "intro match^ confirmed goodbye",
	},
	{
		name: "match key during the goodbye is ignored", req: matchReq, presses: join(keys("8s", "35#"), keys("9s", "0")),
		want: Confirmed, keys: 4, late: 1,
		prompts: "intro match fraud_hint confirmed goodbye",
	},

	// confirm
	{
		name: "confirm pound", req: confirmReq, presses: keys("7s", "#"),
		want: Confirmed, keys: 1,
		prompts: "intro confirm fraud_hint confirmed goodbye",
	},
	{
		name: "confirm pound by barge-in", req: confirmReq, presses: keys("1s", "#"),
		want: Confirmed, keys: 1,
		prompts: "intro^ confirmed goodbye",
	},
	{
		name: "confirm other key then pound", req: confirmReq, presses: join(keys("7s", "5#"), keys("14s", "#")),
		want: Confirmed, keys: 3,
		prompts: "intro confirm fraud_hint not_right try_again confirm fraud_hint confirmed goodbye",
	},
	{
		name: "confirm wrong", req: confirmReq.with(1), presses: keys("7s", "5#"),
		want: WrongInput, keys: 2,
		prompts: "intro confirm fraud_hint not_right goodbye",
	},
	{
		name: "confirm fraud", req: confirmReq, presses: keys("7s", "0"),
		want: FraudReported, keys: 1,
		prompts: "intro confirm fraud_hint fraud goodbye",
	},
	{
		name: "confirm no input", req: confirmReq.with(2),
		want:    NoInput,
		prompts: "intro confirm fraud_hint no_input confirm fraud_hint no_input goodbye",
	},

	// pin
	{
		name: "pin right", req: pinReq("4827"), presses: keys("7s", "4827#"),
		want: Confirmed, keys: 5,
		prompts: "intro pin fraud_hint confirmed goodbye",
	},
	{
		name: "pin wrong", req: pinReq("4827").with(1), presses: keys("7s", "4828#"),
		want: WrongInput, keys: 5,
		prompts: "intro pin fraud_hint not_right goodbye",
	},
	{
		name: "pin wrong then right", req: pinReq("4827"), presses: join(keys("7s", "1111#"), keys("15s", "4827#")),
		want: Confirmed, keys: 10,
		prompts: "intro pin fraud_hint not_right try_again pin fraud_hint confirmed goodbye",
	},
	{
		name: "pin with a letter is wrong", req: pinReq("48A7").with(1), presses: keys("7s", "48A7#"),
		want: WrongInput, keys: 5,
		prompts: "intro pin fraud_hint not_right goodbye",
	},
	{
		name: "pin beginning with 0", req: pinReq("0427"), presses: keys("7s", "0427#"),
		want: Confirmed, keys: 5,
		prompts: "intro pin fraud_hint confirmed goodbye",
	},
	{
		name: "pin fraud: 0 then pound", req: pinReq("4827"), presses: keys("7s", "0#"),
		want: FraudReported, keys: 2,
		prompts: "intro pin fraud_hint fraud goodbye",
	},
	{
		name: "pin fraud: 0 then a pause", req: pinReq("0427"), presses: keys("7s", "0"),
		want: FraudReported, keys: 1,
		prompts: "intro pin fraud_hint fraud goodbye",
	},
	{
		name: "pin pause ends the entry", req: pinReq("4827"), presses: keys("7s", "4827"),
		want: Confirmed, keys: 4,
		prompts: "intro pin fraud_hint confirmed goodbye",
	},

	// code
	{
		name: "code delivered after pound", req: codeReq, presses: keys("7s", "#"),
		want: CodeDelivered, keys: 1,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code pound by barge-in", req: codeReq, presses: keys("1s", "#"),
		want: CodeDelivered, keys: 1,
		prompts: "intro^ code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code star repeats the code", req: codeReq, presses: join(keys("7s", "#"), keys("15s", "*")),
		want: CodeDelivered, keys: 2,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat " +
			"code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code star during the reading starts it again", req: codeReq, presses: join(keys("7s", "#"), keys("8.2s", "*")),
		want: CodeDelivered, keys: 2,
		prompts: "intro code_intro fraud_hint code_is digit_4^ " +
			"code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code repeats used up", cfg: Config{Repeats: 1}, req: codeReq,
		presses: join(keys("7s", "#"), keys("15s", "*"), keys("18s", "*"), keys("23s", "*")),
		want:    CodeDelivered, keys: 4,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat " +
			"code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code stray key does not cut the reading", req: codeReq, presses: join(keys("7s", "#"), keys("8.2s", "5")),
		want: CodeDelivered, keys: 2,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code key after the reading ends the call", req: codeReq, presses: join(keys("7s", "#"), keys("15s", "#")),
		want: CodeDelivered, keys: 2,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat code_done goodbye",
	},
	{
		name: "code no pound: no input and no code", req: codeReq,
		want:    NoInput,
		prompts: "intro code_intro fraud_hint no_input code_intro fraud_hint no_input code_intro fraud_hint no_input goodbye",
	},
	{
		name: "code other key: wrong and no code", req: codeReq.with(1), presses: keys("7s", "5"),
		want: WrongInput, keys: 1,
		prompts: "intro code_intro fraud_hint not_right goodbye",
	},
	{
		name: "code fraud before pound", req: codeReq, presses: keys("7s", "0"),
		want: FraudReported, keys: 1,
		prompts: "intro code_intro fraud_hint fraud goodbye",
	},
	{
		name: "code fraud after the code", req: codeReq, presses: join(keys("7s", "#"), keys("15s", "0")),
		want: FraudReported, keys: 2,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0 digit_7 code_repeat fraud goodbye",
	},
	{
		name: "code fraud during the reading", req: codeReq, presses: join(keys("7s", "#"), keys("8.2s", "0")),
		want: FraudReported, keys: 2,
		prompts: "intro code_intro fraud_hint code_is digit_4^ fraud goodbye",
	},
	{
		name: "code hung up after one full reading", req: codeReq, presses: keys("7s", "#"),
		endAt: 11200 * time.Millisecond, endAs: HungUp,
		want: CodeDelivered, keys: 1,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0 digit_7 code_is digit_4 digit_0^",
	},
	{
		name: "code hung up before one full reading", req: codeReq, presses: keys("7s", "#"),
		endAt: 8700 * time.Millisecond, endAs: HungUp,
		want: HungUp, keys: 1,
		prompts: "intro code_intro fraud_hint code_is digit_4 digit_0^",
	},

	// the call ends by itself
	{
		name: "hung up mid-prompt", req: matchReq, endAt: 3 * time.Second, endAs: HungUp,
		want: HungUp, prompts: "intro match^",
	},
	{
		name: "hung up mid-entry", req: matchReq, presses: keys("8s", "3"), endAt: 9 * time.Second, endAs: HungUp,
		want: HungUp, keys: 1, prompts: "intro match fraud_hint",
	},
	{
		name: "media timeout while waiting", req: confirmReq, endAt: 12 * time.Second, endAs: MediaTimeout,
		want: MediaTimeout, prompts: "intro confirm fraud_hint",
	},
	{
		name: "hung up during the goodbye keeps the result", req: matchReq, presses: keys("8s", "35#"),
		endAt: 9 * time.Second, endAs: HungUp,
		want: Confirmed, keys: 3, prompts: "intro match fraud_hint confirmed^",
	},
	{
		name: "an end the call cannot name is failed", req: matchReq, endAt: 3 * time.Second, endAs: "dropped",
		want: Failed, prompts: "intro match^",
	},
}

// ringTime is how long the fake dialer rings before the answer.
const ringTime = 3 * time.Second

func TestConversation(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				v, err := newVerifier(tc.cfg, reg, testPrompts{})
				if err != nil {
					t.Fatal(err)
				}
				call := &fakeCall{presses: tc.presses, endAt: tc.endAt, endAs: tc.endAs}
				d := &fakeDialer{call: call, ring: ringTime}
				var events []Event
				out := v.Verify(t.Context(), d, tc.req, func(e Event) { events = append(events, e) })

				if out.Result != tc.want {
					t.Errorf("result %s, want %s (err %v)", out.Result, tc.want, out.Err)
				}
				if got := call.prompts(); got != tc.prompts {
					t.Errorf("prompts played:\n got %s\nwant %s", got, tc.prompts)
				}
				if out.Keys != tc.keys {
					t.Errorf("%d keys, want %d", out.Keys, tc.keys)
				}
				if call.hangups != 1 {
					t.Errorf("%d hang-ups, want 1", call.hangups)
				}
				if d.number != testNumber {
					t.Errorf("dialled %q, want %q", d.number, testNumber)
				}
				if out.Status != 200 || out.Setup != ringTime {
					t.Errorf("status %d, setup %v; want 200, %v", out.Status, out.Setup, ringTime)
				}
				if (out.Err != nil) != (out.Result == Failed) {
					t.Errorf("err %v with result %s", out.Err, out.Result)
				}
				checkLatency(t, call, out)
				checkEvents(t, events, out.Result, out.Keys-tc.late, true)
				checkCodeAfterPound(t, tc.req, call)
				if got := testutil.ToFloat64(v.m.verifications.WithLabelValues(string(modeOf(tc.req)), string(tc.want))); got != 1 {
					t.Errorf("sspr_ivr_verifications_total{result=%q} = %v, want 1", tc.want, got)
				}
				if got := testutil.ToFloat64(v.m.keys.WithLabelValues("rfc4733")); got != float64(tc.keys) {
					t.Errorf("sspr_ivr_keys_total{method=rfc4733} = %v, want %d", got, tc.keys)
				}
			})
		})
	}
}

func modeOf(r Request) Mode {
	if r.Mode == "" {
		return ModeMatch
	}
	return r.Mode
}

// checkLatency checks KeyLatency against the first key sent.
func checkLatency(t *testing.T, call *fakeCall, out Outcome) {
	t.Helper()
	var want time.Duration
	if len(call.sent) > 0 {
		want = call.sent[0].at
	}
	if out.KeyLatency != want {
		t.Errorf("key latency %v, want %v", out.KeyLatency, want)
	}
}

// checkEvents checks the order of the events: Dialing, one Ringing,
// Answered if answered, keys KeyReceived, and Finished with the result
// r, last.
func checkEvents(t *testing.T, events []Event, r Result, keys int, answered bool) {
	t.Helper()
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, string(e.Kind))
		if e.At.IsZero() {
			t.Errorf("event %s without a time", e.Kind)
		}
		if e.Kind != Finished && e.Result != "" {
			t.Errorf("event %s carries result %s", e.Kind, e.Result)
		}
	}
	want := []string{"dialing", "ringing"}
	if answered {
		want = append(want, "answered")
	}
	for range keys {
		want = append(want, "key")
	}
	want = append(want, "finished")
	if got, w := strings.Join(kinds, " "), strings.Join(want, " "); got != w {
		t.Errorf("events\n got %s\nwant %s", got, w)
	}
	if last := events[len(events)-1]; last.Kind != Finished || last.Result != r {
		t.Errorf("last event %s %s, want finished %s", last.Kind, last.Result, r)
	}
}

// checkCodeAfterPound checks that no digit of the code was played
// before the far end pressed #.
func checkCodeAfterPound(t *testing.T, req Request, call *fakeCall) {
	t.Helper()
	pound := time.Duration(-1)
	for _, p := range call.sent {
		if p.key == '#' {
			pound = p.at
			break
		}
	}
	for _, p := range call.played {
		if strings.HasPrefix(p.name, "digit_") && (pound < 0 || p.at < pound) {
			t.Errorf("%s played at %v, before any # (%v)", p.name, p.at, pound)
		}
	}
}

func TestDialFailures(t *testing.T) {
	bye := errors.New("trunk said no")
	for _, tc := range []struct {
		name    string
		err     error
		nilCall bool
		want    Result
		status  int
	}{
		{"busy", &DialError{Result: Busy, Status: 486}, false, Busy, 486},
		{"rejected", &DialError{Result: Rejected, Status: 603}, false, Rejected, 603},
		{"no answer", &DialError{Result: NoAnswer, Status: 487}, false, NoAnswer, 487},
		{"unreachable", &DialError{Result: Unreachable, Status: 404}, false, Unreachable, 404},
		{"unreachable without a response", &DialError{Result: Unreachable, Err: bye}, false, Unreachable, 0},
		{"failed", &DialError{Result: Failed, Status: 407, Err: bye}, false, Failed, 407},
		{"not a dial result", &DialError{Result: Confirmed, Status: 500}, false, Failed, 500},
		{"wrapped dial error", fmt.Errorf("adapter: %w", &DialError{Result: Busy, Status: 600}), false, Busy, 600},
		{"plain error", bye, false, Failed, 0},
		{"no call and no error", nil, true, Failed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, err := newVerifier(Config{}, nil, testPrompts{})
				if err != nil {
					t.Fatal(err)
				}
				d := &fakeDialer{ring: ringTime, err: tc.err, nilCall: tc.nilCall}
				var events []Event
				out := v.Verify(t.Context(), d, confirmReq, func(e Event) { events = append(events, e) })
				if out.Result != tc.want || out.Status != tc.status {
					t.Errorf("got %s %d, want %s %d", out.Result, out.Status, tc.want, tc.status)
				}
				if out.Err == nil {
					t.Error("no error")
				}
				if tc.err != nil && !errors.Is(out.Err, tc.err) {
					t.Errorf("err %v, want %v", out.Err, tc.err)
				}
				if out.Setup != 0 || out.Keys != 0 || out.Duration != ringTime {
					t.Errorf("setup %v, keys %d, duration %v; want 0, 0, %v", out.Setup, out.Keys, out.Duration, ringTime)
				}
				checkEvents(t, events, out.Result, 0, false)
			})
		})
	}
}

func TestCancel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cancelAt time.Duration // after the dial began
		want     Result
		prompts  string
	}{
		{"while ringing", time.Second, NoAnswer, ""},
		{"during a prompt", ringTime + time.Second, Failed, "intro^"},
		{"while waiting for a key", ringTime + 8*time.Second, Failed, "intro confirm fraud_hint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, err := newVerifier(Config{}, nil, testPrompts{})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				time.AfterFunc(tc.cancelAt, cancel)
				call := &fakeCall{}
				d := &fakeDialer{call: call, ring: ringTime}
				var last Event
				out := v.Verify(ctx, d, confirmReq, func(e Event) { last = e })
				if out.Result != tc.want || !errors.Is(out.Err, context.Canceled) {
					t.Errorf("got %s (%v), want %s (context canceled)", out.Result, out.Err, tc.want)
				}
				if last.Kind != Finished || last.Result != tc.want {
					t.Errorf("last event %s %s", last.Kind, last.Result)
				}
				if call.keys != nil {
					if got := call.prompts(); got != tc.prompts {
						t.Errorf("prompts %q, want %q", got, tc.prompts)
					}
					if call.hangups != 1 {
						t.Errorf("%d hang-ups, want 1", call.hangups)
					}
				}
				if out.Duration != tc.cancelAt {
					t.Errorf("duration %v, want %v", out.Duration, tc.cancelAt)
				}
			})
		})
	}
}

func TestPlayFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := newVerifier(Config{}, nil, testPrompts{})
		if err != nil {
			t.Fatal(err)
		}
		broken := errors.New("no codec")
		call := &fakeCall{playErr: broken}
		out := v.Verify(t.Context(), &fakeDialer{call: call}, confirmReq, nil)
		if out.Result != Failed || !errors.Is(out.Err, broken) {
			t.Errorf("got %s (%v), want failed (%v)", out.Result, out.Err, broken)
		}
		if call.hangups != 1 {
			t.Errorf("%d hang-ups, want 1", call.hangups)
		}
		if got := call.prompts(); got != "intro^" {
			t.Errorf("prompts %q, want the intro only", got)
		}
		if out.Duration != endGrace {
			t.Errorf("duration %v, want the grace of %v", out.Duration, endGrace)
		}
	})
}

func TestCheckPINSeesDigitsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, err := newVerifier(Config{}, nil, testPrompts{})
		if err != nil {
			t.Fatal(err)
		}
		var checked []string
		req := Request{Number: testNumber, Mode: ModePIN, Attempts: 4, CheckPIN: func(p string) bool {
			checked = append(checked, p)
			return false
		}}
		// A letter, an empty entry, a lone 0 (fraud) last: CheckPIN sees
		// the one entry of digits only.
		call := &fakeCall{presses: join(keys("7s", "4A#"), keys("15s", "#"), keys("23s", "12#"), keys("31s", "0#"))}
		out := v.Verify(t.Context(), &fakeDialer{call: call}, req, nil)
		if out.Result != FraudReported {
			t.Errorf("result %s, want fraud-reported", out.Result)
		}
		if fmt.Sprint(checked) != "[12]" {
			t.Errorf("CheckPIN saw %q, want [12]", checked)
		}
	})
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		presses  []press
		want     Result
		duration time.Duration // from the answer to the end of the goodbye
	}{
		// confirm asks for 6 s; one attempt; no_input or not_right and
		// goodbye take 2 s.
		{"default first-key timeout", Config{}, nil, NoInput, 6*time.Second + DefaultFirstKeyTimeout + 2*time.Second},
		{"first-key timeout", Config{FirstKeyTimeout: 3 * time.Second}, nil, NoInput, 11 * time.Second},
		{"default inter-digit timeout", Config{}, keys("7s", "5"), WrongInput, 7*time.Second + DefaultInterDigitTimeout + 2*time.Second},
		{"inter-digit timeout", Config{InterDigitTimeout: time.Second}, keys("7s", "5"), WrongInput, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, err := newVerifier(tc.cfg, nil, testPrompts{})
				if err != nil {
					t.Fatal(err)
				}
				out := v.Verify(t.Context(), &fakeDialer{call: &fakeCall{presses: tc.presses}}, confirmReq.with(1), nil)
				if out.Result != tc.want || out.Duration != tc.duration {
					t.Errorf("got %s after %v, want %s after %v", out.Result, out.Duration, tc.want, tc.duration)
				}
			})
		})
	}
}
