package main

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/sip"
	"github.com/sspr-project/sspr/sip/media"
	"github.com/sspr-project/sspr/sip/media/g711"
	"github.com/sspr-project/sspr/sip/siptest"
)

var loopback = media.Config{BindIP: mustAddr("127.0.0.1")}

// runAgent starts a sip.Agent whose one trunk is addr.
func runAgent(t *testing.T, addr string) *sip.Agent {
	t.Helper()
	a, err := sip.New(sip.Config{
		Listen: []sip.Listener{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Trunks: []sip.Trunk{{Name: "t", Address: addr, KeepAlive: -1}},
		Media:  loopback, RingTimeout: 10 * time.Second,
	}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	<-a.Ready()
	return a
}

func verifier(t *testing.T, firstKey time.Duration) *ivr.Verifier {
	t.Helper()
	v, err := ivr.New(ivr.Config{FirstKeyTimeout: firstKey, InterDigitTimeout: 2 * time.Second}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerifyAgainstSIPp drives each mode through the real call path: the
// agent calls a SIPp callee that presses keys as RFC 4733 events.
func TestVerifyAgainstSIPp(t *testing.T) {
	pin := func(want string) func(string) bool { return func(p string) bool { return p == want } }
	cases := []struct {
		name string
		keys string
		req  ivr.Request
		want ivr.Result
	}{
		{"confirm-pound", "#", ivr.Request{Mode: ivr.ModeConfirm}, ivr.Confirmed},
		{"pin-right", "4827#", ivr.Request{Mode: ivr.ModePIN, CheckPIN: pin("4827")}, ivr.Confirmed},
		{"pin-wrong", "1111#", ivr.Request{Mode: ivr.ModePIN, CheckPIN: pin("4827"), Attempts: 1}, ivr.WrongInput},
		{"match-right", "37#", ivr.Request{Mode: ivr.ModeMatch, Match: "37"}, ivr.Confirmed},
		{"match-wrong", "38#", ivr.Request{Mode: ivr.ModeMatch, Match: "37", Attempts: 1}, ivr.WrongInput},
		{"match-pound-only", "#", ivr.Request{Mode: ivr.ModeMatch, Match: "37", Attempts: 1}, ivr.WrongInput},
		{"fraud", "0", ivr.Request{Mode: ivr.ModeMatch, Match: "37"}, ivr.FraudReported},
		{"fraud-confirm", "0", ivr.Request{Mode: ivr.ModeConfirm}, ivr.FraudReported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := siptest.SIPp(t, siptest.UAS{Mode: siptest.DTMF, Digits: tc.keys, Delay: 1500 * time.Millisecond})
			a := runAgent(t, p.Addr)
			req := tc.req
			req.Number = "+15551234567"
			out := verifier(t, 5*time.Second).Verify(context.Background(), &dialer{agent: a}, req, nil)
			if out.Result != tc.want {
				t.Fatalf("result %s (err %v), want %s", out.Result, out.Err, tc.want)
			}
			if out.Status != 200 || out.Keys != len(tc.keys) {
				t.Errorf("status %d, %d keys; want 200 and %d", out.Status, out.Keys, len(tc.keys))
			}
		})
	}
	t.Run("silence-no-input", func(t *testing.T) {
		t.Parallel()
		p := siptest.SIPp(t, siptest.UAS{Mode: siptest.Silent})
		a := runAgent(t, p.Addr)
		out := verifier(t, time.Second).Verify(context.Background(), &dialer{agent: a},
			ivr.Request{Number: "+15551234567", Mode: ivr.ModeConfirm, Attempts: 1}, nil)
		if out.Result != ivr.NoInput {
			t.Fatalf("result %s (%v), want no-input", out.Result, out.Err)
		}
	})
}

// heard finds prompt audio in what a call heard: the digit prompts of a
// code, as the far end received them.
type heard struct {
	mu  sync.Mutex
	pcm []int16
}

func (h *heard) add(pcm []int16) {
	h.mu.Lock()
	h.pcm = append(h.pcm, pcm...)
	h.mu.Unlock()
}

// count returns how many times 400 samples of the prompt's speech (past
// its leading silence; µ-law, as sent) occur in what was heard.
func (h *heard) count(p ivr.Prompt) int {
	pcm := make([]int16, len(p.Audio))
	for i, b := range p.Audio {
		pcm[i] = g711.DecodeULaw(b)
	}
	start := slices.IndexFunc(pcm, func(s int16) bool { return s > 1000 || s < -1000 })
	if start < 0 || start+400 > len(pcm) {
		panic("prompt " + string(p.Name) + " has no 400 samples of speech")
	}
	want := pcm[start : start+400]
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i := 0; i+len(want) <= len(h.pcm); i++ {
		if slices.Equal(h.pcm[i:i+len(want)], want) {
			n++
			i += len(want) - 1
		}
	}
	return n
}

func digitPrompt(t *testing.T, d byte) ivr.Prompt {
	t.Helper()
	ps, err := ivr.DefaultPrompts()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ps.Get("", ivr.DigitPrompt(d))
	if !ok {
		t.Fatalf("no prompt for digit %c", d)
	}
	return p
}

// TestCodeNeverReachesVoicemail: the code mode speaks the code only after
// a key. SIPp's echo callee presses nothing and sends back every packet it
// gets, so what the agent hears back is what the callee heard: no digit of
// the code may be in it.
func TestCodeNeverReachesVoicemail(t *testing.T) {
	p := siptest.SIPp(t, siptest.UAS{Mode: siptest.Echo})
	a := runAgent(t, p.Addr)
	var h heard
	code := "246813"
	d := &dialer{agent: a, opts: sip.DialOptions{OnAudio: h.add}}
	out := verifier(t, 2*time.Second).Verify(context.Background(), d,
		ivr.Request{Number: "+15551234567", Mode: ivr.ModeCode, Code: code, Attempts: 1}, nil)
	if out.Result != ivr.NoInput {
		t.Fatalf("result %s (%v), want no-input", out.Result, out.Err)
	}
	// The echo works: the code's introduction came back.
	ps, _ := ivr.DefaultPrompts()
	intro, _ := ps.Get("", ivr.PromptCodeIntro)
	if h.count(intro) == 0 {
		t.Fatalf("the echo did not return the code prompt's introduction (%d samples heard)", len(h.pcm))
	}
	for i := 0; i < len(code); i++ {
		if n := h.count(digitPrompt(t, code[i])); n != 0 {
			t.Fatalf("digit %c of the code was played %d times with no key pressed", code[i], n)
		}
	}
}

// TestCodeDeliveredAndRepeated: after # the phone hears every digit of
// the code twice; * hears it twice more.
func TestCodeDeliveredAndRepeated(t *testing.T) {
	code := "5791"
	for _, keys := range []string{"#", "#*"} {
		t.Run(keys, func(t *testing.T) {
			var h heard
			ph, err := sip.NewPhone(sip.PhoneConfig{Media: loopback}, func(r *sip.Incoming) {
				r.OnAudio(h.add)
				c, err := r.Answer(context.Background())
				if err != nil {
					return
				}
				time.Sleep(time.Second)
				_ = c.SendDigits(context.Background(), "#", media.RFC4733, 100*time.Millisecond, 0)
				if keys == "#*" {
					// After the code has been spoken twice.
					time.Sleep(9 * time.Second)
					_ = c.SendDigits(context.Background(), "*", media.RFC4733, 100*time.Millisecond, 0)
				}
				<-c.Done()
			}, nil, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- ph.Run(ctx) }()
			defer func() { cancel(); <-done; ph.Close() }()
			<-ph.Ready()
			a := runAgent(t, ph.Addr().String())
			out := verifier(t, 5*time.Second).Verify(context.Background(), &dialer{agent: a},
				ivr.Request{Number: "+15551234567", Mode: ivr.ModeCode, Code: code}, nil)
			if out.Result != ivr.CodeDelivered {
				t.Fatalf("result %s (%v), want code-delivered", out.Result, out.Err)
			}
			want := 2
			if keys == "#*" {
				want = 4
			}
			for i := 0; i < len(code); i++ {
				if n := h.count(digitPrompt(t, code[i])); n != want {
					t.Errorf("digit %c heard %d times, want %d", code[i], n, want)
				}
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
