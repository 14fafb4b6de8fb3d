package ivr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// testNumber is the number the tests call.
const testNumber = "+442079460958"

// testDurations are the lengths of the test prompts; a prompt not listed
// lasts 1 s, a digit 500 ms.
var testDurations = map[PromptName]time.Duration{
	PromptIntro:      2 * time.Second,
	PromptMatch:      3 * time.Second,
	PromptConfirm:    2 * time.Second,
	PromptPIN:        2 * time.Second,
	PromptCodeIntro:  2 * time.Second,
	PromptFraudHint:  2 * time.Second,
	PromptCodeRepeat: 2 * time.Second,
}

// testPrompts is a prompt source whose audio names its prompt: µ-law
// bytes, as long as the prompt lasts, beginning with the name and a NUL.
// It has English only.
type testPrompts struct{}

func (testPrompts) Get(lang string, name PromptName) (Prompt, bool) {
	if lang != "" && lang != "en" || !slices.Contains(PromptNames, name) {
		return Prompt{}, false
	}
	d, ok := testDurations[name]
	switch {
	case ok:
	case strings.HasPrefix(string(name), "digit_"):
		d = 500 * time.Millisecond
	default:
		d = time.Second
	}
	audio := make([]byte, int(d*dtmf.SampleRate/time.Second))
	copy(audio, name+"\x00")
	return Prompt{Name: name, Language: "en", Audio: audio, Encoding: dtmf.EncodingULaw, Duration: d}, true
}

// press is a key the fake call's far end presses, at a time after the
// answer.
type press struct {
	at  time.Duration
	key byte
}

// keys returns presses of each of ks in turn, 200 ms apart, the first at
// the time at ("8s", "1.5s").
func keys(at string, ks string) []press {
	d, err := time.ParseDuration(at)
	if err != nil {
		panic(err)
	}
	var ps []press
	for i := 0; i < len(ks); i++ {
		ps = append(ps, press{d + time.Duration(i)*200*time.Millisecond, ks[i]})
	}
	return ps
}

// errCallEnded is what the fake's Play returns once the call has ended.
var errCallEnded = errors.New("fake: call ended")

// playedPrompt is a prompt the fake call played.
type playedPrompt struct {
	name string        // its name, or "?" for audio that does not say
	at   time.Duration // when it began, after the answer
	cut  bool          // stopped before its end
}

// fakeCall is a Call whose far end presses scripted keys at given times
// and may end the call itself. It plays each prompt for as long as its
// audio lasts, in the synctest bubble's time, and records it.
type fakeCall struct {
	presses []press
	endAt   time.Duration // when positive, the far end ends the call then
	endAs   Result        // what End reports then
	playErr error         // when set, every Play fails with it at once

	start   time.Time
	keys    chan Key
	done    chan struct{}
	endOnce sync.Once

	mu      sync.Mutex
	played  []playedPrompt
	sent    []press // the keys sent, when
	hangups int
}

var _ Call = (*fakeCall)(nil)

// begin answers the call.
func (f *fakeCall) begin() {
	f.start = time.Now()
	f.keys = make(chan Key, 16)
	f.done = make(chan struct{})
	go f.run()
}

// run is the far end: it presses the keys, perhaps ends the call, and
// closes Keys once the call has ended.
func (f *fakeCall) run() {
	defer close(f.keys)
	for _, p := range f.presses {
		if !f.sleepUntil(p.at) {
			return
		}
		select {
		case f.keys <- Key{Key: p.key, At: time.Now(), Method: "rfc4733"}:
			f.mu.Lock()
			f.sent = append(f.sent, press{time.Since(f.start), p.key})
			f.mu.Unlock()
		case <-f.done:
			return
		}
	}
	if f.endAt > 0 && f.sleepUntil(f.endAt) {
		f.end()
		return
	}
	<-f.done
}

// sleepUntil waits until at after the answer, or the call's end.
func (f *fakeCall) sleepUntil(at time.Duration) bool {
	t := time.NewTimer(time.Until(f.start.Add(at)))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.done:
		return false
	}
}

func (f *fakeCall) end() { f.endOnce.Do(func() { close(f.done) }) }

func (f *fakeCall) Play(ctx context.Context, audio io.Reader, enc dtmf.Encoding) error {
	b, err := io.ReadAll(audio)
	if err != nil {
		return err
	}
	name := "?"
	if i := bytes.IndexByte(b, 0); i > 0 && slices.Contains(PromptNames, PromptName(b[:i])) {
		name = string(b[:i])
	}
	rate := dtmf.SampleRate
	if enc == dtmf.EncodingPCM16 {
		rate *= 2
	}
	d := time.Duration(len(b)) * time.Second / time.Duration(rate)

	f.mu.Lock()
	i := len(f.played)
	f.played = append(f.played, playedPrompt{name: name, at: time.Since(f.start)})
	f.mu.Unlock()
	cut := func() {
		f.mu.Lock()
		f.played[i].cut = true
		f.mu.Unlock()
	}
	if f.playErr != nil {
		cut()
		return f.playErr
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		cut()
		return ctx.Err()
	case <-f.done:
		cut()
		return errCallEnded
	}
}

func (f *fakeCall) Keys() <-chan Key { return f.keys }

func (f *fakeCall) Hangup(ctx context.Context) error {
	f.mu.Lock()
	f.hangups++
	f.mu.Unlock()
	f.end()
	return nil
}

func (f *fakeCall) End() Result { return f.endAs }

// prompts returns the prompts played, in order, a cut one marked "^".
func (f *fakeCall) prompts() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, p := range f.played {
		if p.cut {
			names = append(names, p.name+"^")
		} else {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, " ")
}

// fakeDialer answers with its call after ring, or fails with err.
type fakeDialer struct {
	call    *fakeCall
	ring    time.Duration
	err     error
	nilCall bool // return no call and no error

	dials  int
	number string
}

var _ Dialer = (*fakeDialer)(nil)

func (d *fakeDialer) Dial(ctx context.Context, number string, progress func(Event)) (Call, error) {
	d.dials++
	d.number = number
	// Verify must pass on one Ringing and nothing else.
	progress(Event{Kind: Ringing})
	progress(Event{Kind: Ringing})
	progress(Event{Kind: Answered})
	t := time.NewTimer(d.ring)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, &DialError{Result: NoAnswer, Status: 487, Err: ctx.Err()}
	}
	switch {
	case d.err != nil:
		return nil, d.err
	case d.nilCall:
		return nil, nil
	}
	d.call.begin()
	return d.call, nil
}
