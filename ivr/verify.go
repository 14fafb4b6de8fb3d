package ivr

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrRequest is returned, wrapped with the field at fault, as the
	// Err of a Failed Outcome when Verify refuses a request without
	// dialling.
	ErrRequest = errors.New("ivr: invalid request")
	// ErrPrompt is returned, wrapped with the prompt's name and
	// language, when a prompt a mode needs is missing: by New for the
	// default language, by Verify (as a request error) for another.
	ErrPrompt = errors.New("ivr: missing prompt")
)

// endGrace is how long a failed Play waits for Keys to close: a call
// that ends mid-prompt fails the Play first, and its end shows on Keys
// a moment later.
const endGrace = time.Second

// promptSource is what the verifier needs of Prompts; tests give it
// prompts whose audio names them.
type promptSource interface {
	Get(lang string, name PromptName) (Prompt, bool)
}

// Verifier runs verification calls. It is safe for concurrent use; each
// call runs in the goroutine that calls Verify.
type Verifier struct {
	cfg Config // defaults applied
	// prompts holds the promptSource; SetPrompts swaps it while calls
	// run (each call resolves its prompts once, at its start).
	prompts atomic.Pointer[promptBox]
	log     *slog.Logger
	m       *metrics
}

// New returns a Verifier, its metrics registered on reg (none if nil).
// It fails on a negative setting and on a prompt missing from the
// default language.
func New(cfg Config, reg prometheus.Registerer) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Prompts == nil {
		p, err := DefaultPrompts()
		if err != nil {
			return nil, fmt.Errorf("ivr: default prompts: %w", err)
		}
		cfg.Prompts = p
	}
	return newVerifier(cfg, reg, cfg.Prompts)
}

// newVerifier is New with the prompts taken from src.
func newVerifier(cfg Config, reg prometheus.Registerer, src promptSource) (*Verifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	v := &Verifier{cfg: cfg, log: cfg.Logger}
	if err := v.setSource(src); err != nil {
		return nil, err
	}
	v.m = newMetrics(reg)
	return v, nil
}

// promptBox holds a promptSource for an atomic.Pointer.
type promptBox struct{ src promptSource }

// SetPrompts replaces the prompts of the calls that start from now on
// (a configuration reload); calls in progress keep the prompts they
// started with. It fails, keeping the old set, if p lacks a prompt of the
// default language that some mode needs. A nil p means DefaultPrompts().
func (v *Verifier) SetPrompts(p *Prompts) error {
	if p == nil {
		d, err := DefaultPrompts()
		if err != nil {
			return fmt.Errorf("ivr: default prompts: %w", err)
		}
		p = d
	}
	return v.setSource(p)
}

// setSource checks that src has every prompt each mode needs in the
// default language, then makes it the verifier's.
func (v *Verifier) setSource(src promptSource) error {
	check := &Verifier{cfg: v.cfg}
	check.prompts.Store(&promptBox{src: src})
	for _, mode := range Modes {
		if _, err := check.resolve(mode, ""); err != nil {
			return err
		}
	}
	v.prompts.Store(&promptBox{src: src})
	return nil
}

func (c *Config) validate() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"FirstKeyTimeout", c.FirstKeyTimeout},
		{"InterDigitTimeout", c.InterDigitTimeout},
		{"HangupTimeout", c.HangupTimeout},
	} {
		if f.d < 0 {
			return fmt.Errorf("ivr: Config.%s is negative (%v)", f.name, f.d)
		}
	}
	if c.MaxEntry < 0 {
		return fmt.Errorf("ivr: Config.MaxEntry is negative (%d)", c.MaxEntry)
	}
	if c.Repeats < 0 {
		return fmt.Errorf("ivr: Config.Repeats is negative (%d)", c.Repeats)
	}
	return nil
}

func (c *Config) defaults() {
	if c.FirstKeyTimeout == 0 {
		c.FirstKeyTimeout = DefaultFirstKeyTimeout
	}
	if c.InterDigitTimeout == 0 {
		c.InterDigitTimeout = DefaultInterDigitTimeout
	}
	if c.MaxEntry == 0 {
		c.MaxEntry = DefaultMaxEntry
	}
	if c.Repeats == 0 {
		c.Repeats = DefaultRepeats
	}
	if c.HangupTimeout == 0 {
		c.HangupTimeout = DefaultHangupTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// modePrompt is the prompt that asks for a mode's entry.
func modePrompt(m Mode) PromptName {
	switch m {
	case ModeConfirm:
		return PromptConfirm
	case ModePIN:
		return PromptPIN
	case ModeCode:
		return PromptCodeIntro
	}
	return PromptMatch
}

// resolve looks up every prompt a mode may play in language lang.
func (v *Verifier) resolve(mode Mode, lang string) (map[PromptName]Prompt, error) {
	names := []PromptName{
		PromptIntro, modePrompt(mode), PromptFraudHint, PromptNotRight, PromptTryAgain,
		PromptNoInput, PromptFraud, PromptGoodbye,
	}
	if mode == ModeCode {
		names = append(names, PromptCodeIs, PromptCodeRepeat, PromptCodeDone)
		for d := byte('0'); d <= '9'; d++ {
			names = append(names, DigitPrompt(d))
		}
	} else {
		names = append(names, PromptConfirmed)
	}
	ps := make(map[PromptName]Prompt, len(names))
	for _, n := range names {
		p, ok := v.prompts.Load().src.Get(lang, n)
		if !ok {
			return nil, fmt.Errorf("%w: %q in language %q", ErrPrompt, n, lang)
		}
		ps[n] = p
	}
	return ps, nil
}

// prepare checks req, applying its defaults, and returns the prompts it
// needs.
func (v *Verifier) prepare(d Dialer, req *Request) (map[PromptName]Prompt, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: no Dialer", ErrRequest)
	}
	if req.Number == "" {
		return nil, fmt.Errorf("%w: Number is empty", ErrRequest)
	}
	mode, err := ParseMode(string(req.Mode))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	req.Mode = mode
	switch {
	case req.Attempts < 0:
		return nil, fmt.Errorf("%w: Attempts is negative", ErrRequest)
	case req.Attempts == 0:
		req.Attempts = DefaultAttempts
	}
	switch mode {
	case ModeMatch:
		if !digitsIn(req.Match, '1', v.cfg.MaxEntry) {
			return nil, fmt.Errorf("%w: Match must be 1 to %d digits from 1-9", ErrRequest, v.cfg.MaxEntry)
		}
	case ModePIN:
		if req.CheckPIN == nil {
			return nil, fmt.Errorf("%w: CheckPIN is nil in pin mode", ErrRequest)
		}
	case ModeCode:
		if !digitsIn(req.Code, '0', MaxCodeLength) {
			return nil, fmt.Errorf("%w: Code must be 1 to %d digits", ErrRequest, MaxCodeLength)
		}
	}
	ps, err := v.resolve(mode, req.Language)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRequest, err)
	}
	return ps, nil
}

// digitsIn reports whether s is 1 to max digits from lo to 9.
func digitsIn(s string, lo byte, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > '9' {
			return false
		}
	}
	return true
}

// Verify places the call, runs the conversation of req.Mode, hangs up,
// and returns how it went. progress, if not nil, receives the call's
// events from the calling goroutine (Ringing from within Dial); it should
// not block. Cancelling ctx abandons the call: Failed, with ctx's error.
func (v *Verifier) Verify(ctx context.Context, d Dialer, req Request, progress func(Event)) Outcome {
	start := time.Now()
	if progress == nil {
		progress = func(Event) {}
	}
	log := v.log
	if req.Log != nil {
		log = req.Log
	}
	prompts, err := v.prepare(d, &req)
	log = log.With("request", req)
	if err != nil {
		log.Error("verification refused", "err", redact(err.Error(), req.Number))
		progress(Event{Kind: Finished, At: time.Now(), Result: Failed})
		return Outcome{Result: Failed, Err: err, Duration: time.Since(start)}
	}
	v.m.active.Inc()
	defer v.m.active.Dec()

	s := &session{v: v, ctx: ctx, req: req, prompts: prompts, progress: progress, log: log, start: start}
	out := s.run(d)
	out.Duration = time.Since(start)
	v.m.ended(req.Mode, out.Result, out.Duration)
	attrs := []any{
		"result", string(out.Result), "status", out.Status, "keys", out.Keys,
		"setup", out.Setup, "key_latency", out.KeyLatency, "duration", out.Duration,
	}
	if out.Err != nil {
		attrs = append(attrs, "err", redact(out.Err.Error(), req.Number))
	}
	log.Info("verification ended", attrs...)
	return out
}

// redact masks number wherever it appears in s: a Dialer's error may
// quote its request URI.
func redact(s, number string) string {
	masked := MaskNumber(number)
	for _, n := range []string{number, strings.TrimPrefix(number, "+")} {
		if len(n) >= 5 {
			s = strings.ReplaceAll(s, n, masked)
		}
	}
	return s
}

// session is one verification call, owned by the goroutine of Verify.
type session struct {
	v        *Verifier
	ctx      context.Context
	req      Request
	prompts  map[PromptName]Prompt
	progress func(Event)
	log      *slog.Logger
	start    time.Time

	call     Call
	keys     <-chan Key
	answered time.Time
	nkeys    int
	firstKey time.Time
	repeats  int   // * repeats used
	finished bool  // Finished has been reported
	err      error // why the conversation broke off (stopped, broken)
}

// status is how waiting for the person ended.
type status int

const (
	played   status = iota // the prompts played to their end
	keyed                  // a key came
	timedOut               // no key came in time
	ended                  // Keys closed: the call ended by itself
	stopped                // the context was cancelled
	broken                 // a prompt failed to play, and the call went on
)

// entryEnd is what ended an entry.
type entryEnd int

const (
	endSilence entryEnd = iota // no key at all
	endPound                   // #
	endPause                   // the inter-digit timeout
	endFull                    // MaxEntry keys
	endStar                    // * (a repeat was asked for)
	endFraud                   // 0 as the first key (every mode but pin)
)

// emit reports e unless Finished has been.
func (s *session) emit(e Event) {
	if !s.finished {
		s.progress(e)
	}
}

// finish reports the result, once.
func (s *session) finish(r Result) {
	if !s.finished {
		s.progress(Event{Kind: Finished, At: time.Now(), Result: r})
		s.finished = true
	}
}

// run dials and, once answered, converses and hangs up.
func (s *session) run(d Dialer) Outcome {
	s.emit(Event{Kind: Dialing, At: s.start})
	s.log.Debug("dialling")
	progress, closeProgress := s.dialProgress()
	call, err := d.Dial(s.ctx, s.req.Number, progress)
	closeProgress()
	if err != nil || call == nil {
		out := Outcome{Result: Failed, Err: err}
		var de *DialError
		switch {
		case errors.As(err, &de):
			out.Result, out.Status = dialResult(de.Result), de.Status
		case err == nil:
			out.Err = errors.New("ivr: Dialer returned no call and no error")
		}
		s.finish(out.Result)
		return out
	}
	s.call, s.keys, s.answered = call, call.Keys(), time.Now()
	s.emit(Event{Kind: Answered, At: s.answered})
	s.log.Debug("answered")

	r := s.converse()
	s.finish(r)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.v.cfg.HangupTimeout)
	if err := call.Hangup(hctx); err != nil {
		s.log.Warn("hang-up failed", "err", redact(err.Error(), s.req.Number))
	}
	cancel()

	out := Outcome{Result: r, Status: 200, Keys: s.nkeys, Setup: s.answered.Sub(s.start)}
	if !s.firstKey.IsZero() {
		out.KeyLatency = max(0, s.firstKey.Sub(s.answered))
	}
	if r == Failed {
		out.Err = s.err
	}
	return out
}

// dialProgress returns the progress function handed to the Dialer, which
// passes on the first Ringing only, and a function that closes it.
func (s *session) dialProgress() (func(Event), func()) {
	var (
		mu   sync.Mutex
		open = true
		rang bool
	)
	report := func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if !open || rang || e.Kind != Ringing {
			return
		}
		rang = true
		if e.At.IsZero() {
			e.At = time.Now()
		}
		s.progress(Event{Kind: Ringing, At: e.At})
	}
	return report, func() {
		mu.Lock()
		open = false
		mu.Unlock()
	}
}

// askPrompts is what the person hears before an entry: prefix, the
// mode's question, and how to report fraud.
func (s *session) askPrompts(prefix ...PromptName) []PromptName {
	return append(prefix, modePrompt(s.req.Mode), PromptFraudHint)
}

// converse runs the entries of the mode until the result is known.
func (s *session) converse() Result {
	ask := s.askPrompts(PromptIntro)
	failures, wrong := 0, false
	for {
		k, _, st := s.play(anyKey, ask...)
		if st == played {
			k, st = s.waitKey(s.v.cfg.FirstKeyTimeout)
		}
		var (
			keys string
			end  entryEnd
		)
		if st == keyed {
			keys, end, st = s.entry(k)
		}
		switch st {
		case ended:
			return s.ended()
		case stopped, broken:
			return Failed
		}
		switch {
		case end == endFraud, s.req.Mode == ModePIN && keys == "0":
			return s.conclude(FraudReported, PromptFraud, PromptGoodbye)
		case end == endStar:
			s.repeats++
			ask = s.askPrompts()
			continue
		case end == endSilence:
			if failures++; failures >= s.req.Attempts {
				r := NoInput
				if wrong {
					r = WrongInput
				}
				return s.conclude(r, PromptNoInput, PromptGoodbye)
			}
			ask = s.askPrompts(PromptNoInput)
			continue
		case s.right(keys, end):
			if s.req.Mode == ModeCode {
				return s.deliver()
			}
			return s.conclude(Confirmed, PromptConfirmed, PromptGoodbye)
		}
		wrong = true
		if failures++; failures >= s.req.Attempts {
			return s.conclude(WrongInput, PromptNotRight, PromptGoodbye)
		}
		ask = s.askPrompts(PromptNotRight, PromptTryAgain)
	}
}

// entry reads one entry that began with key first. keys is what was
// keyed, without the #.
func (s *session) entry(first Key) (keys string, end entryEnd, st status) {
	var b []byte
	for k := first; ; {
		switch {
		case k.Key == '#':
			return string(b), endPound, keyed
		case k.Key == '*' && s.repeats < s.v.cfg.Repeats:
			return "", endStar, keyed
		case k.Key == '0' && len(b) == 0 && s.req.Mode != ModePIN:
			return "", endFraud, keyed
		}
		b = append(b, k.Key)
		if len(b) >= s.v.cfg.MaxEntry {
			return string(b), endFull, keyed
		}
		next, st := s.waitKey(s.v.cfg.InterDigitTimeout)
		switch st {
		case keyed:
			k = next
		case timedOut:
			return string(b), endPause, keyed
		default:
			return "", endSilence, st
		}
	}
}

// right reports whether an entry is what the mode asks for.
func (s *session) right(keys string, end entryEnd) bool {
	switch s.req.Mode {
	case ModeConfirm, ModeCode:
		return keys == "" && end == endPound
	case ModeMatch:
		return subtle.ConstantTimeCompare([]byte(keys), []byte(s.req.Match)) == 1
	case ModePIN:
		return digitsIn(keys, '0', len(keys)) && s.req.CheckPIN(keys)
	}
	return false
}

// deliver speaks the code, twice, and lets * repeat it. The result is
// CodeDelivered once it has been heard in full, unless the person then
// presses 0.
func (s *session) deliver() Result {
	code := s.req.Code
	seq := make([]PromptName, 0, 2*len(code)+3)
	for range 2 {
		seq = append(seq, PromptCodeIs)
		for i := 0; i < len(code); i++ {
			seq = append(seq, DigitPrompt(code[i]))
		}
	}
	seq = append(seq, PromptCodeRepeat)
	once := 1 + len(code) // the prompts of one full reading
	heard := false
	// Only 0 and a repeat cut the code short: a stray key does not.
	stop := func(k byte) bool { return k == '0' || k == '*' && s.repeats < s.v.cfg.Repeats }
	for {
		k, n, st := s.play(stop, seq...)
		heard = heard || n >= once
		if st == played {
			k, st = s.waitKey(s.v.cfg.FirstKeyTimeout)
		}
		switch st {
		case timedOut:
			return s.conclude(CodeDelivered, PromptCodeDone, PromptGoodbye)
		case ended:
			if heard {
				return CodeDelivered
			}
			return s.ended()
		case stopped, broken:
			if heard {
				return CodeDelivered
			}
			return Failed
		}
		switch {
		case k.Key == '0':
			return s.conclude(FraudReported, PromptFraud, PromptGoodbye)
		case k.Key == '*' && s.repeats < s.v.cfg.Repeats:
			s.repeats++
			continue
		}
		return s.conclude(CodeDelivered, PromptCodeDone, PromptGoodbye)
	}
}

// ended returns how the call ended by itself.
func (s *session) ended() Result {
	r := s.call.End()
	switch r {
	case HungUp, MediaTimeout:
		return r
	}
	s.err = fmt.Errorf("ivr: the call ended: %q", r)
	return Failed
}

// conclude reports the result r, then plays its prompts to the end, a
// key cutting nothing short.
func (s *session) conclude(r Result, names ...PromptName) Result {
	s.finish(r)
	s.play(noKey, names...)
	return r
}

func anyKey(byte) bool { return true }
func noKey(byte) bool  { return false }

// playResult is what the player goroutine reports.
type playResult struct {
	n   int // prompts played to their end
	err error
}

// play plays the prompts names in order. A key for which stop returns
// true cuts them short (barge-in) and is returned with keyed; other keys
// are counted and ignored. n is how many prompts played to their end.
func (s *session) play(stop func(byte) bool, names ...PromptName) (k Key, n int, st status) {
	pctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	done := make(chan playResult, 1)
	go s.player(pctx, names, done)
	var (
		res   playResult
		grace <-chan time.Time
	)
	join := func() {
		if done != nil {
			cancel()
			res = <-done
			done = nil
		}
	}
	for {
		select {
		case res = <-done:
			done = nil
			switch {
			case res.err == nil:
				return Key{}, res.n, played
			case s.ctx.Err() != nil:
				s.err = s.ctx.Err()
				return Key{}, res.n, stopped
			}
			// A call that ends mid-prompt fails the Play first.
			t := time.NewTimer(endGrace)
			defer t.Stop()
			grace = t.C
		case k, ok := <-s.keys:
			if !ok {
				join()
				return Key{}, res.n, ended
			}
			s.key(k)
			if done != nil && stop(k.Key) {
				join()
				return k, res.n, keyed
			}
		case <-grace:
			s.err = fmt.Errorf("ivr: playing %s: %w", names[res.n], res.err)
			return Key{}, res.n, broken
		case <-s.ctx.Done():
			join()
			s.err = s.ctx.Err()
			return Key{}, res.n, stopped
		}
	}
}

// player plays names until one fails or ctx is cancelled, and reports.
func (s *session) player(ctx context.Context, names []PromptName, done chan<- playResult) {
	var r playResult
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			r.err = err
			break
		}
		p := s.prompts[name]
		if err := s.call.Play(ctx, bytes.NewReader(p.Audio), p.Encoding); err != nil {
			r.err = err
			break
		}
		r.n++
	}
	done <- r
}

// waitKey waits up to d for a key.
func (s *session) waitKey(d time.Duration) (Key, status) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case k, ok := <-s.keys:
		if !ok {
			return Key{}, ended
		}
		s.key(k)
		return k, keyed
	case <-t.C:
		return Key{}, timedOut
	case <-s.ctx.Done():
		s.err = s.ctx.Err()
		return Key{}, stopped
	}
}

// key counts a key, and reports it without its value.
func (s *session) key(k Key) {
	at := k.At
	if at.IsZero() {
		at = time.Now()
	}
	s.nkeys++
	if s.firstKey.IsZero() {
		s.firstKey = at
	}
	s.v.m.key(k.Method)
	s.emit(Event{Kind: KeyReceived, At: at})
}

// NewMatch returns DefaultMatchLength random digits from 1-9 (0 is the
// fraud key), from crypto/rand, for the page to show in match mode.
func NewMatch() string { return randomDigits(DefaultMatchLength, '1') }

// NewCode returns a one-time code of n random digits from crypto/rand,
// for the call to speak in code mode. n of 0 or less means
// DefaultCodeLength; more than MaxCodeLength means MaxCodeLength.
func NewCode(n int) string {
	if n <= 0 {
		n = DefaultCodeLength
	}
	return randomDigits(min(n, MaxCodeLength), '0')
}

// randomDigits returns n uniformly random digits from lo to 9.
func randomDigits(n int, lo byte) string {
	span := int('9'-lo) + 1
	limit := 256 - 256%span // rejecting bytes above it keeps them uniform
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails: crypto/rand crashes the program instead
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, lo+byte(int(b)%span))
			}
		}
	}
	return string(out)
}
