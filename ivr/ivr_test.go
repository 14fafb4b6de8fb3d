package ivr

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		err  bool
	}{
		{"", ModeMatch, false},
		{"match", ModeMatch, false},
		{"confirm", ModeConfirm, false},
		{"pin", ModePIN, false},
		{"code", ModeCode, false},
		{"PIN", "", true},
		{"press-pound", "", true},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, ErrMode) {
				t.Errorf("error %v is not ErrMode", err)
			}
		})
	}
}

func TestResults(t *testing.T) {
	seen := map[Result]bool{}
	for _, r := range Results {
		if seen[r] || !r.Valid() {
			t.Errorf("%q repeated or invalid", r)
		}
		seen[r] = true
	}
	if len(Results) != 12 {
		t.Errorf("%d results, want the 12 of the issue", len(Results))
	}
	for _, r := range []Result{"", "answered", "Confirmed"} {
		if r.Valid() {
			t.Errorf("%q is valid", r)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+442079460958", "+***58"},
		{"442079460958", "***58"},
		{"+44 20 7946 0958", "+***58"},
		{"+1234", "+***"},
		{"", "***"},
		{"sip:+4915112345678@trunk", "***78"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := MaskNumber(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDialErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *DialError
		want string
	}{
		{"status", &DialError{Result: Busy, Status: 486}, "ivr: dial: busy (486)"},
		{"cause", &DialError{Result: Unreachable, Err: errors.New("no route")}, "ivr: dial: unreachable: no route"},
		{"both", &DialError{Result: Failed, Status: 407, Err: errors.New("bad password")}, "ivr: dial: failed (407): bad password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestRedacts(t *testing.T) {
	req := Request{Number: testNumber, Mode: ModeCode, Code: "918273", Match: "64", Language: "de",
		CheckPIN: func(string) bool { return true }}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("x", "request", req)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", req), "%+v": fmt.Sprintf("%+v", req), "%#v": fmt.Sprintf("%#v", req),
		"%s": fmt.Sprintf("%s", req), "slog": logs.String(),
	} {
		for _, secret := range []string{"918273", "2079460958", "64"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows %q: %s", name, secret, s)
			}
		}
		if !strings.Contains(s, "+***58") || !strings.Contains(s, "code") {
			t.Errorf("%s lacks the masked number or the mode: %s", name, s)
		}
	}
}

// noTime drops the time from log lines, so that its digits cannot look
// like a secret.
func noTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestNewMatch(t *testing.T) {
	seen := map[byte]int{}
	for range 2000 {
		m := NewMatch()
		if len(m) != DefaultMatchLength || !digitsIn(m, '1', DefaultMatchLength) {
			t.Fatalf("NewMatch() = %q, want %d digits from 1-9", m, DefaultMatchLength)
		}
		for i := range len(m) {
			seen[m[i]]++
		}
	}
	for d := byte('1'); d <= '9'; d++ {
		// 4000 digits: each about 444 times; 300 is 7 standard deviations off.
		if seen[d] < 300 {
			t.Errorf("digit %c drawn %d times in 4000", d, seen[d])
		}
	}
}

func TestNewCode(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, DefaultCodeLength}, {-1, DefaultCodeLength}, {1, 1}, {8, 8},
		{MaxCodeLength, MaxCodeLength}, {MaxCodeLength + 1, MaxCodeLength}, {1000, MaxCodeLength},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			c := NewCode(tc.n)
			if len(c) != tc.want || !digitsIn(c, '0', MaxCodeLength) {
				t.Errorf("NewCode(%d) = %q, want %d digits", tc.n, c, tc.want)
			}
		})
	}
	seen := map[byte]bool{}
	for range 200 {
		c := NewCode(0)
		for i := range len(c) {
			seen[c[i]] = true
		}
	}
	if len(seen) != 10 {
		t.Errorf("1200 code digits used only %d of the 10", len(seen))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"first-key timeout", Config{FirstKeyTimeout: -time.Second}, "FirstKeyTimeout"},
		{"inter-digit timeout", Config{InterDigitTimeout: -1}, "InterDigitTimeout"},
		{"hang-up timeout", Config{HangupTimeout: -1}, "HangupTimeout"},
		{"max entry", Config{MaxEntry: -1}, "MaxEntry"},
		{"repeats", Config{Repeats: -2}, "Repeats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %v does not name %s", err, tc.field)
			}
		})
	}
}

// missingPrompt is testPrompts without one prompt.
type missingPrompt struct {
	testPrompts
	name PromptName
}

func (m missingPrompt) Get(lang string, name PromptName) (Prompt, bool) {
	if name == m.name {
		return Prompt{}, false
	}
	return m.testPrompts.Get(lang, name)
}

func TestMissingPrompt(t *testing.T) {
	for _, name := range []PromptName{PromptIntro, PromptCodeRepeat, PromptDigit7, PromptConfirmed} {
		t.Run(string(name), func(t *testing.T) {
			_, err := newVerifier(Config{}, nil, missingPrompt{name: name})
			if !errors.Is(err, ErrPrompt) || !strings.Contains(err.Error(), string(name)) {
				t.Errorf("error %v, want ErrPrompt naming %s", err, name)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	ok := func(string) bool { return true }
	for _, tc := range []struct {
		name string
		req  Request
		nilD bool
	}{
		{"no dialer", Request{Number: testNumber, Mode: ModeConfirm}, true},
		{"no number", Request{Mode: ModeConfirm}, false},
		{"unknown mode", Request{Number: testNumber, Mode: "press"}, false},
		{"negative attempts", Request{Number: testNumber, Mode: ModeConfirm, Attempts: -1}, false},
		{"match empty", Request{Number: testNumber}, false},
		{"match with 0", Request{Number: testNumber, Match: "30"}, false},
		{"match not digits", Request{Number: testNumber, Match: "3#"}, false},
		{"match too long", Request{Number: testNumber, Match: strings.Repeat("3", DefaultMaxEntry+1)}, false},
		{"pin without CheckPIN", Request{Number: testNumber, Mode: ModePIN}, false},
		{"code empty", Request{Number: testNumber, Mode: ModeCode}, false},
		{"code not digits", Request{Number: testNumber, Mode: ModeCode, Code: "12a4"}, false},
		{"code too long", Request{Number: testNumber, Mode: ModeCode, Code: strings.Repeat("1", MaxCodeLength+1)}, false},
		{"unknown language", Request{Number: testNumber, Mode: ModePIN, CheckPIN: ok, Language: "xx"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := newVerifier(Config{}, nil, testPrompts{})
			if err != nil {
				t.Fatal(err)
			}
			d := &fakeDialer{}
			var dialer Dialer = d
			if tc.nilD {
				dialer = nil
			}
			var events []Event
			out := v.Verify(t.Context(), dialer, tc.req, func(e Event) { events = append(events, e) })
			if out.Result != Failed || !errors.Is(out.Err, ErrRequest) {
				t.Errorf("got %s (%v), want failed (ErrRequest)", out.Result, out.Err)
			}
			if d.dials != 0 {
				t.Error("dialled")
			}
			if len(events) != 1 || events[0].Kind != Finished || events[0].Result != Failed {
				t.Errorf("events %v, want finished failed alone", events)
			}
		})
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newVerifier(Config{}, reg, testPrompts{}); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(reg, "sspr_ivr_verifications_total"); n != len(Modes)*len(Results) {
		t.Errorf("%d verification series, want every mode and result", n)
	}
}

func TestMetricsCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		v, err := newVerifier(Config{}, reg, testPrompts{})
		if err != nil {
			t.Fatal(err)
		}
		call := &fakeCall{presses: keys("7s", "#")}
		d := &fakeDialer{call: call, ring: ringTime}
		v.Verify(t.Context(), d, confirmReq, func(e Event) {
			if e.Kind == Answered && testutil.ToFloat64(v.m.active) != 1 {
				t.Error("sspr_ivr_verifications_active is not 1 during the call")
			}
		})
		// Answered at 3 s, # at 10 s, confirmed and goodbye: 12 s.
		want := `
# HELP sspr_ivr_verification_duration_seconds Time from dialling to the end of the hang-up of verification calls, by mode.
# TYPE sspr_ivr_verification_duration_seconds histogram
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="1"} 0
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="2.5"} 0
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="5"} 0
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="10"} 0
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="15"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="20"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="30"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="45"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="60"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="90"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="120"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="180"} 1
sspr_ivr_verification_duration_seconds_bucket{mode="confirm",le="+Inf"} 1
sspr_ivr_verification_duration_seconds_sum{mode="confirm"} 12
sspr_ivr_verification_duration_seconds_count{mode="confirm"} 1
`
		h := v.m.duration.WithLabelValues("confirm").(prometheus.Histogram)
		if err := testutil.CollectAndCompare(h, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
		if got := testutil.ToFloat64(v.m.verifications.WithLabelValues("confirm", "confirmed")); got != 1 {
			t.Errorf("confirmed count %v, want 1", got)
		}
		if got := testutil.ToFloat64(v.m.active); got != 0 {
			t.Errorf("active %v after the call, want 0", got)
		}
	})
}

func TestKeyMethods(t *testing.T) {
	m := newMetrics(nil)
	for _, method := range []string{"rfc4733", "inband", "inband", "info", "", "carrier pigeon"} {
		m.key(method)
	}
	for method, want := range map[string]float64{"rfc4733": 1, "inband": 2, "info": 1, "other": 2} {
		if got := testutil.ToFloat64(m.keys.WithLabelValues(method)); got != want {
			t.Errorf("keys{method=%q} = %v, want %v", method, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.keys); n != len(keyMethods) {
		t.Errorf("%d method series, want %d", n, len(keyMethods))
	}
}

// TestLogsKeepSecrets runs a call of each mode that keys its secret, and
// a failed dial whose error quotes the number, with debug logs, and
// looks for the secrets in the logs.
func TestLogsKeepSecrets(t *testing.T) {
	const pin, code, match = "48273", "918273", "64"
	secrets := []string{pin, code, "2079460958", "442079460958"}
	for _, tc := range []struct {
		name    string
		req     Request
		presses []press
		dialErr error
	}{
		{"pin", Request{Mode: ModePIN, CheckPIN: func(p string) bool { return p == pin }}, keys("7s", pin+"#"), nil},
		{"wrong pin", Request{Mode: ModePIN, CheckPIN: func(p string) bool { return false }}, keys("7s", pin+"#"), nil},
		{"code", Request{Mode: ModeCode, Code: code}, keys("7s", "#"), nil},
		{"match", Request{Match: match}, keys("8s", match+"#"), nil},
		{"dial error quoting the number", Request{Mode: ModeConfirm}, nil,
			&DialError{Result: Unreachable, Status: 404, Err: errors.New("no route to sip:" + testNumber + "@trunk")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime}))
				v, err := newVerifier(Config{Logger: log}, nil, testPrompts{})
				if err != nil {
					t.Fatal(err)
				}
				tc.req.Number = testNumber
				out := v.Verify(t.Context(), &fakeDialer{call: &fakeCall{presses: tc.presses}, err: tc.dialErr}, tc.req, nil)
				if logs.Len() == 0 || !strings.Contains(logs.String(), string(out.Result)) {
					t.Fatalf("no log of the result %s:\n%s", out.Result, logs.String())
				}
				for _, s := range secrets {
					if strings.Contains(logs.String(), s) {
						t.Errorf("logs show %q:\n%s", s, logs.String())
					}
				}
				if !strings.Contains(logs.String(), "+***58") {
					t.Errorf("logs lack the masked number:\n%s", logs.String())
				}
			})
		})
	}
}

// TestRequestLog checks that Request.Log replaces Config.Logger.
func TestRequestLog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var base, own bytes.Buffer
		v, err := newVerifier(Config{Logger: slog.New(slog.NewTextHandler(&base, nil))}, nil, testPrompts{})
		if err != nil {
			t.Fatal(err)
		}
		req := confirmReq
		req.Log = slog.New(slog.NewTextHandler(&own, nil)).With("reset_id", "r-1")
		v.Verify(t.Context(), &fakeDialer{call: &fakeCall{presses: keys("7s", "#")}}, req, nil)
		if base.Len() != 0 || !strings.Contains(own.String(), "reset_id=r-1") {
			t.Errorf("config logger got %q; request logger got %q", base.String(), own.String())
		}
	})
}

// TestDefaultPrompts runs calls with the embedded prompts: every mode
// finds its prompts in every language they have, and a call plays them
// for as long as their audio lasts.
func TestDefaultPrompts(t *testing.T) {
	v, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DefaultPrompts()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range p.Languages() {
		for _, mode := range Modes {
			if _, err := v.resolve(mode, lang); err != nil {
				t.Errorf("%s, %s: %v", lang, mode, err)
			}
		}
	}
	synctest.Test(t, func(t *testing.T) {
		v, err := New(Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		intro, _ := p.Get("", PromptIntro)
		confirm, _ := p.Get("", PromptConfirm)
		hint, _ := p.Get("", PromptFraudHint)
		asked := intro.Duration + confirm.Duration + hint.Duration
		// # one second after the question.
		call := &fakeCall{presses: []press{{asked + time.Second, '#'}}}
		out := v.Verify(t.Context(), &fakeDialer{call: call}, confirmReq, nil)
		if out.Result != Confirmed {
			t.Fatalf("result %s (%v)", out.Result, out.Err)
		}
		if len(call.played) != 5 {
			t.Errorf("played %d prompts, want 5", len(call.played))
		}
		if out.KeyLatency != asked+time.Second {
			t.Errorf("key latency %v, want %v: the prompts did not last their duration", out.KeyLatency, asked+time.Second)
		}
	})
}
