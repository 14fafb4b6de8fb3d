package dtmf

import (
	"fmt"
	"math"
)

// Tone is one key heard in the audio, reported once, when it has ended.
type Tone struct {
	// Key is the key, one of Keys.
	Key byte
	// Start and End are the positions, in samples since the detector was
	// created or reset, of the first sample of the tone and of the sample
	// just after it, to within about 8 ms.
	Start, End int64
}

// Defaults of DetectorConfig.
const (
	// DefaultMinLevel is the quietest tone detected, in dBm0 per tone:
	// Q.24 asks for -36 dBm0 to be accepted and -45 rejected.
	DefaultMinLevel = -42.0
	// DefaultMaxTwist is how far, in dB, the high-group tone may lie below
	// the low-group one (Q.24: accept 8 dB; 2 dB more allows for the
	// leakage of the strong tone into the weak one's filter, which can
	// change the weak one's apparent level by that much).
	DefaultMaxTwist = 10.0
	// DefaultMaxReverseTwist is how far, in dB, the high-group tone may lie
	// above the low-group one (Q.24: accept 4 dB, and as above, 2 dB for
	// leakage).
	DefaultMaxReverseTwist = 6.0
)

// DetectorConfig tunes a [Detector]. The zero value meets ITU-T Q.24.
type DetectorConfig struct {
	// MinLevel is the quietest tone detected, in dBm0 per tone, from -60
	// to 0. Zero means DefaultMinLevel.
	MinLevel float64
	// MaxTwist is how far, in dB, the high-group tone may lie below the
	// low-group tone. Zero means DefaultMaxTwist.
	MaxTwist float64
	// MaxReverseTwist is how far, in dB, the high-group tone may lie above
	// the low-group tone. Zero means DefaultMaxReverseTwist.
	MaxReverseTwist float64
}

// The analysis runs on windows of winLen samples (12.75 ms, a bin width of
// 78 Hz, fine enough to tell 697 from 770 Hz), hopping by half a window.
// Each half is filtered once; a window's spectrum is the sum of its two
// halves' spectra, the second rotated by the hop. Halving the hop doubles
// the time resolution at almost no cost, which is what lets one detector
// meet both duration bounds of Q.24: a tone of 40 ms always yields at
// least four passing windows and one under 20 ms at most two, a pause of
// 40 ms at least seven failing windows and a drop-out under 20 ms at most
// five.
const (
	hopLen = 51
	winLen = 2 * hopLen

	// hitsToStart is how many consecutive windows, each agreeing in
	// frequency with the one before, confirm a key (with the first window,
	// four windows: 44 ms of audio at the earliest).
	hitsToStart = 3
	// missesToEnd is how many consecutive windows without the key end it.
	missesToEnd = 6

	// relPeak: every other filter of a group must lie this far (6 dB)
	// below the group's peak. Detectors without a frequency check use
	// 8 dB; with one, 6 dB leaves room for the leakage of a strong tone
	// into the filters of a weak one 8 dB below it.
	relPeak = 3.981072
	// energyFraction: the two tones must hold this share (-2 dB) of the
	// window's energy; speech and music spread theirs. Two tones each
	// 1.5 % off nominal lose up to 1.5 dB in their filters.
	energyFraction = 0.6309573
	// startFraction is the share (-0.7 dB) the two tones must hold to
	// start a key, once their filters' loss from the measured frequency
	// error is made good. Sustained vowels whose harmonics fall near a row
	// and a column hold less; real keys hold more than 0.9 even at a
	// signal-to-noise ratio of 15 dB.
	startFraction = 0.85
	// freqTolerance is the largest frequency error, as a fraction of
	// nominal, accepted when a key starts. Q.24: accept 1.5 %, reject
	// 3.5 %.
	freqTolerance = 0.025
)

// bin holds the constants of one Goertzel filter.
type bin struct {
	coef       float32 // 2 cos ω
	cos, sin   float32 // cos ω, sin ω: the filter's complex output
	hopR, hopI float32 // e^{-jω·hopLen}: rotates the later half of a window
	maxPhase   float64 // the largest phase error per hop allowed at a key's start
}

// binFreq returns the frequency of filter i: the rows, then the columns.
func binFreq(i int) float64 {
	if i < 4 {
		return LowFreqs[i]
	}
	return HighFreqs[i-4]
}

// half is one half-window of audio and, once computed, its spectrum.
type half struct {
	x        [hopLen]float32
	energy   float32
	re, im   [8]float32
	filtered bool
}

// window is the analysis of one window.
type window struct {
	key    byte // 0 when the window holds no key
	start  int64
	re, im [2]float32 // row and column outputs, for the phase check
	pow    [2]float32 // and their powers
	energy float32
}

// Detector finds DTMF keys in 8 kHz 16-bit PCM, fed in frames of any
// size. It does not allocate after NewDetector, and is not safe for
// concurrent use: give each call its own.
type Detector struct {
	bins      [8]bin
	kern      kernel
	s1, s2    [8]float32 // the kernel's results
	threshold float32    // least power in a window for a tone at MinLevel
	gate      float32    // least window energy that can hold such a tone
	twist     float32    // power ratios low/high and high/low allowed
	revTwist  float32

	halves [2]half
	cur    int   // index in halves of the half being filled
	fill   int   // samples in it
	pos    int64 // samples fed so far
	begun  bool  // a previous half exists

	prev window // the window before, if it held a key

	cand    byte // key of the current run of agreeing windows, or 0
	candRun int
	candPos int64

	active  byte // key sounding, or 0
	actPos  int64
	actEnd  int64
	misses  int
	pending Tone // a tone that ended and is waiting to be appended
}

// NewDetector returns a detector, or an error naming the field of cfg
// that is out of range.
func NewDetector(cfg DetectorConfig) (*Detector, error) {
	if cfg.MinLevel == 0 {
		cfg.MinLevel = DefaultMinLevel
	}
	if cfg.MaxTwist == 0 {
		cfg.MaxTwist = DefaultMaxTwist
	}
	if cfg.MaxReverseTwist == 0 {
		cfg.MaxReverseTwist = DefaultMaxReverseTwist
	}
	switch {
	case cfg.MinLevel < -60 || cfg.MinLevel > 0:
		return nil, fmt.Errorf("dtmf: DetectorConfig.MinLevel %.1f dBm0 is outside -60 to 0", cfg.MinLevel)
	case cfg.MaxTwist < 0 || cfg.MaxTwist > 20:
		return nil, fmt.Errorf("dtmf: DetectorConfig.MaxTwist %.1f dB is outside 0 to 20", cfg.MaxTwist)
	case cfg.MaxReverseTwist < 0 || cfg.MaxReverseTwist > 20:
		return nil, fmt.Errorf("dtmf: DetectorConfig.MaxReverseTwist %.1f dB is outside 0 to 20", cfg.MaxReverseTwist)
	}
	d := &Detector{}
	for i := range d.bins {
		f := binFreq(i)
		w := 2 * math.Pi * f / SampleRate
		maxPhase := 2 * math.Pi * f * freqTolerance * hopLen / SampleRate
		d.bins[i] = bin{
			coef:     float32(2 * math.Cos(w)),
			cos:      float32(math.Cos(w)),
			sin:      float32(math.Sin(w)),
			hopR:     float32(math.Cos(w * hopLen)),
			hopI:     float32(-math.Sin(w * hopLen)),
			maxPhase: maxPhase,
		}
	}
	for i := range d.bins {
		w := 2 * math.Pi * binFreq(i) / SampleRate
		u := func(n int) float32 { return float32(math.Sin(float64(n+1)*w) / math.Sin(w)) }
		d.kern.c[i] = d.bins[i].coef
		d.kern.u25[i], d.kern.u24[i], d.kern.u23[i] = u(25), u(24), u(23)
	}
	a := DBm0ToAmplitude(cfg.MinLevel) * winLen / 2
	d.threshold = float32(a * a)
	// A window's spectrum can hold no more power in one bin than winLen
	// times its energy (Cauchy-Schwarz), so quieter windows are skipped
	// unfiltered: the silences between keys cost almost nothing.
	d.gate = d.threshold / winLen
	d.twist = float32(math.Pow(10, cfg.MaxTwist/10))
	d.revTwist = float32(math.Pow(10, cfg.MaxReverseTwist/10))
	return d, nil
}

// Reset returns the detector to its state after NewDetector.
func (d *Detector) Reset() {
	d.halves = [2]half{}
	d.cur, d.fill, d.pos, d.begun = 0, 0, 0, false
	d.prev = window{}
	d.cand, d.candRun, d.candPos = 0, 0, 0
	d.active, d.actPos, d.actEnd, d.misses = 0, 0, 0, 0
	d.pending = Tone{}
}

// Detect feeds pcm, the next frame of audio of any length, and appends to
// dst each tone that ended within it.
func (d *Detector) Detect(pcm []int16, dst []Tone) []Tone {
	for len(pcm) > 0 {
		h := &d.halves[d.cur]
		n := copy16(h.x[d.fill:], pcm, &h.energy)
		pcm = pcm[n:]
		d.fill += n
		d.pos += int64(n)
		if d.fill < hopLen {
			break
		}
		if d.analyse() {
			dst = append(dst, d.pending)
		}
		d.cur ^= 1
		d.fill = 0
		next := &d.halves[d.cur]
		next.energy, next.filtered = 0, false
	}
	return dst
}

// Flush ends the stream: a key still sounding is appended to dst as ending
// at its last window. Audio fed after Flush continues the same timeline.
func (d *Detector) Flush(dst []Tone) []Tone {
	if d.active != 0 {
		dst = append(dst, Tone{Key: d.active, Start: d.actPos, End: d.actEnd})
		d.active = 0
	}
	d.cand, d.candRun = 0, 0
	return dst
}

// Active reports the key sounding now, if one has been confirmed and has
// not yet ended, and where it started. The media path uses it to act on a
// key before the caller lets go of it.
func (d *Detector) Active() (key byte, start int64, ok bool) {
	return d.active, d.actPos, d.active != 0
}

// copy16Generic converts src into dst as float32, adds the samples' energy to
// *energy, and returns how many it copied. Four partial sums keep the
// additions from waiting on each other.
func copy16Generic(dst []float32, src []int16, energy *float32) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	var e0, e1, e2, e3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s := src[i : i+4 : i+4]
		f0, f1, f2, f3 := float32(s[0]), float32(s[1]), float32(s[2]), float32(s[3])
		d := dst[i : i+4 : i+4]
		d[0], d[1], d[2], d[3] = f0, f1, f2, f3
		e0 += f0 * f0
		e1 += f1 * f1
		e2 += f2 * f2
		e3 += f3 * f3
	}
	for ; i < n; i++ {
		f := float32(src[i])
		dst[i] = f
		e0 += f * f
	}
	*energy += (e0 + e1) + (e2 + e3)
	return n
}

// analyse runs when a half is full: it judges the window made of the
// previous half and this one, and reports whether a tone ended (in
// d.pending).
func (d *Detector) analyse() bool {
	cur := &d.halves[d.cur]
	if !d.begun {
		d.begun = true
		return false
	}
	prev := &d.halves[d.cur^1]
	w := window{start: d.pos - winLen}
	if prev.energy+cur.energy >= d.gate {
		if !prev.filtered {
			d.filter(prev)
		}
		d.filter(cur)
		d.judge(prev, cur, &w)
	}
	return d.step(&w)
}

// filter computes the spectrum of h at the eight DTMF frequencies.
func (d *Detector) filter(h *half) {
	goertzel(&h.x, &d.kern, &d.s1, &d.s2)
	for k := range d.bins {
		b := &d.bins[k]
		h.re[k] = d.s1[k] - b.cos*d.s2[k]
		h.im[k] = b.sin * d.s2[k]
	}
	h.filtered = true
}

// judge applies the tests of one window to the spectra of its halves and
// fills w.key when the window holds a key.
func (d *Detector) judge(prev, cur *half, w *window) {
	var re, im, pow [8]float32
	for k := range d.bins {
		b := &d.bins[k]
		r := prev.re[k] + b.hopR*cur.re[k] - b.hopI*cur.im[k]
		i := prev.im[k] + b.hopR*cur.im[k] + b.hopI*cur.re[k]
		re[k], im[k], pow[k] = r, i, r*r+i*i
	}
	row := peak(pow[0:4])
	col := 4 + peak(pow[4:8])
	pr, pc := pow[row], pow[col]
	switch {
	case pr < d.threshold || pc < d.threshold:
		return
	case pc > pr*d.revTwist || pr > pc*d.twist:
		return
	case pr+pc < energyFraction*winLen/2*(prev.energy+cur.energy):
		return
	}
	// Every other tone of each group must lie 8 dB below the group's peak.
	for k := range 4 {
		if k != row && pow[k]*relPeak > pr {
			return
		}
		if k+4 != col && pow[k+4]*relPeak > pc {
			return
		}
	}
	w.key = Keys[row*4+col-4]
	w.re = [2]float32{re[row], re[col]}
	w.im = [2]float32{im[row], im[col]}
	w.pow = [2]float32{pr, pc}
	w.energy = prev.energy + cur.energy
}

// peak returns the index of the largest of p.
func peak(p []float32) int {
	m := 0
	for i := 1; i < len(p); i++ {
		if p[i] > p[m] {
			m = i
		}
	}
	return m
}

// step advances the key state machine by one window and reports whether a
// tone ended, leaving it in d.pending.
func (d *Detector) step(w *window) bool {
	ended := false
	if d.active != 0 {
		if w.key == d.active {
			d.misses = 0
			d.actEnd = w.start + winLen
			d.prev = *w
			d.cand, d.candRun = 0, 0
			return false
		}
		d.misses++
		if d.misses >= missesToEnd {
			d.pending = Tone{Key: d.active, Start: d.actPos, End: d.actEnd}
			d.active = 0
			ended = true
		}
	}
	switch {
	case w.key == 0:
		d.cand, d.candRun = 0, 0
	case w.key == d.cand && d.prev.key == w.key && d.inTune(&d.prev, w):
		d.candRun++
	default:
		d.cand, d.candRun, d.candPos = w.key, 0, w.start
	}
	d.prev = *w
	if d.cand != 0 && d.candRun >= hitsToStart {
		if d.active != 0 {
			// A different key followed without a pause: the windows
			// overlap, so the first ends where the second starts.
			d.pending = Tone{Key: d.active, Start: d.actPos, End: min(d.actEnd, d.candPos)}
			ended = true
		}
		d.active, d.actPos, d.actEnd, d.misses = d.cand, d.candPos, w.start+winLen, 0
		d.cand, d.candRun = 0, 0
	}
	return ended
}

// inTune reports whether w, a window holding the same key as p one hop
// earlier, confirms it: both tones advanced in phase by what their nominal
// frequencies predict, to within freqTolerance, and, once their powers are
// corrected for the filter loss that frequency error causes, the two tones
// hold startFraction of w's energy. Speech fails one or the other.
func (d *Detector) inTune(p, w *window) bool {
	i := keyIndex(w.key)
	var power float64
	for g, k := range [2]int{i / 4, 4 + i%4} {
		b := &d.bins[k]
		// z = w · conj(p) · e^{-jωH}: its angle δ is 2π·Δf·H/fs.
		zr := w.re[g]*p.re[g] + w.im[g]*p.im[g]
		zi := w.im[g]*p.re[g] - w.re[g]*p.im[g]
		delta := math.Abs(math.Atan2(float64(zr*b.hopI+zi*b.hopR), float64(zr*b.hopR-zi*b.hopI)))
		if delta > b.maxPhase {
			return false
		}
		// A tone Δf from a filter's centre keeps sinc²(π·Δf·N/fs) of
		// its power, and with N = 2H that argument is δ.
		loss := 1.0
		if delta > 1e-6 {
			loss = math.Sin(delta) / delta
			loss *= loss
		}
		power += float64(w.pow[g]) / loss
	}
	return power >= startFraction*winLen/2*float64(w.energy)
}
