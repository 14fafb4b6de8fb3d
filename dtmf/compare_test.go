//go:build spandsp

// This file holds dtmf.Detector up against spandsp's DTMF receiver (the C
// reference, through dtmf/internal/spandsp) on the same audio. It needs
// libspandsp-dev and pkg-config:
//
//	go test -tags spandsp -run CompareAccuracy -v ./dtmf/
//	go test -tags spandsp -run '^$' -bench DetectorCompare -benchtime 3s ./dtmf/

package dtmf_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/dtmf/internal/spandsp"
)

// frameSize is the frame both detectors are fed: 20 ms, one RTP packet.
const frameSize = 160

// decoder is one of the two detectors under comparison.
type decoder interface {
	// decode feeds pcm in frames of frameSize samples and appends the keys
	// found to dst. It keeps no per-call state besides the detector's.
	decode(dst []byte, pcm []int16) []byte
	// flush appends a key still sounding at the end of the stream.
	flush(dst []byte) []byte
	close()
}

// goDecoder is the Go detector.
type goDecoder struct {
	d     *dtmf.Detector
	tones []dtmf.Tone
}

func newGoDecoder(tb testing.TB) *goDecoder {
	tb.Helper()
	d, err := dtmf.NewDetector(dtmf.DetectorConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return &goDecoder{d: d, tones: make([]dtmf.Tone, 0, 16)}
}

func (g *goDecoder) decode(dst []byte, pcm []int16) []byte {
	for len(pcm) > 0 {
		n := min(frameSize, len(pcm))
		g.tones = g.d.Detect(pcm[:n], g.tones[:0])
		for _, t := range g.tones {
			dst = append(dst, t.Key)
		}
		pcm = pcm[n:]
	}
	return dst
}

func (g *goDecoder) flush(dst []byte) []byte {
	g.tones = g.d.Flush(g.tones[:0])
	for _, t := range g.tones {
		dst = append(dst, t.Key)
	}
	return dst
}

func (g *goDecoder) close() {}

// spDecoder is spandsp's receiver with its default parameters.
type spDecoder struct{ d *spandsp.Detector }

func newSpDecoder(testing.TB) *spDecoder { return &spDecoder{d: spandsp.New()} }

func (s *spDecoder) decode(dst []byte, pcm []int16) []byte {
	for len(pcm) > 0 {
		n := min(frameSize, len(pcm))
		dst = append(dst, s.d.Detect(pcm[:n])...)
		pcm = pcm[n:]
	}
	return dst
}

// flush has nothing to do: spandsp reports a key when it starts.
func (s *spDecoder) flush(dst []byte) []byte { return dst }

func (s *spDecoder) close() { s.d.Close() }

// detectors names the two columns of every comparison, Go first.
var detectors = []struct {
	name string
	new  func(testing.TB) decoder
}{
	{"go", func(tb testing.TB) decoder { return newGoDecoder(tb) }},
	{"spandsp", func(tb testing.TB) decoder { return newSpDecoder(tb) }},
}

// runCompare decodes pcm with a fresh detector of each kind and returns
// the keys each found, Go's first.
func runCompare(tb testing.TB, pcm []int16) (goKeys, spKeys string) {
	tb.Helper()
	var got [2]string
	for i, det := range detectors {
		d := det.new(tb)
		keys := d.flush(d.decode(nil, pcm))
		d.close()
		got[i] = string(keys)
	}
	return got[0], got[1]
}

// expect is what Q.24 (as summarised in telephony-notes §5.1) requires of
// a case.
type expect int

const (
	// either: between the must-accept and must-reject bounds; a right key
	// counts as correct, a wrong or extra one as false.
	either expect = iota
	// accept: every key must be decoded, once and right.
	accept
	// reject: nothing may be decoded; every key found is false.
	reject
	// info: audio without keys that may still hold valid DTMF-like
	// chords; every key found counts as false but is only logged.
	info
)

func (e expect) String() string {
	return [...]string{"either", "ACCEPT", "reject", "info"}[e]
}

// score counts one detector's result on one case.
type score struct{ correct, falseKeys int }

// scoreKeys scores got against the keys sent. Correct is the length of the
// longest common subsequence (order kept, misses and extras skipped);
// everything else found is false. When the case must be rejected, every key
// found is false.
func scoreKeys(sent, got string, e expect) score {
	if e == reject || e == info {
		return score{falseKeys: len(got)}
	}
	// prev and cur are two rows of the LCS table.
	prev := make([]int, len(got)+1)
	cur := make([]int, len(got)+1)
	for i := 1; i <= len(sent); i++ {
		for j := 1; j <= len(got); j++ {
			switch {
			case sent[i-1] == got[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	lcs := prev[len(got)]
	return score{correct: lcs, falseKeys: len(got) - lcs}
}

// compareCase is one signal of the accuracy grid.
type compareCase struct {
	group, name string
	expect      expect
	sent        string  // keys in the audio; empty for talk-off
	pcm         []int16 // the audio
}

// burst is the timing of most cases: 50 ms on, 50 ms off, as in spandsp's
// and Mitel's tests.
var burst = dtmf.ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond}

const all = dtmf.Keys

// compareGrid builds the accuracy grid. The must-accept and must-reject
// bounds are those of telephony-notes §5.1 (ITU-T Q.24, ETSI ES 201 235-3).
func compareGrid(tb testing.TB) []compareCase {
	tb.Helper()
	var cases []compareCase
	add := func(group, name string, e expect, sent string, pcm []int16) {
		cases = append(cases, compareCase{group, name, e, sent, pcm})
	}
	gen := func(keys string, cfg dtmf.ToneConfig) []int16 {
		pcm, err := dtmf.AppendTones(nil, keys, cfg)
		if err != nil {
			tb.Fatalf("AppendTones(%+v): %v", cfg, err)
		}
		return pcm
	}

	// Frequency offset of one group, the other nominal, at -17 dBm0 per
	// tone (spandsp's test 3): detect within ±1.5 %, reject beyond ±3.5 %.
	keys := strings.Repeat(all, 2)
	for _, group := range []string{"low", "high"} {
		for step := -10; step <= 10; step++ {
			off := float64(step) / 200 // 0.5 % steps
			cfg := burst
			cfg.Level = -17
			if group == "low" {
				cfg.LowOffset = off
			} else {
				cfg.HighOffset = off
			}
			e := either
			switch a := math.Abs(off); {
			case a <= 0.015+1e-9:
				e = accept
			case a >= 0.035-1e-9:
				e = reject
			}
			add("offset", fmt.Sprintf("%s %+.1f %%", group, 100*off), e, keys, gen(keys, cfg))
		}
	}

	// Twist: high group from 12 dB below to 8 dB above the low group, the
	// louder tone at -6 dBm0 so that the sum never clips. Accept -8..+4 dB.
	for tw := -12; tw <= 8; tw++ {
		cfg := burst
		cfg.Twist = float64(tw)
		cfg.Level = -6
		if tw > 0 {
			cfg.Level = -6 - float64(tw)
		}
		e := either
		if tw >= -8 && tw <= 4 {
			e = accept
		}
		add("twist", fmt.Sprintf("high %+d dB", tw), e, keys, gen(keys, cfg))
	}

	// Level of each tone: accept 0..-36 dBm0, reject below -55 dBm0. Above
	// about -2.9 dBm0 per tone the peaks of the sum clip at full scale.
	levels := []int{}
	for l := 0; l >= -50; l-- {
		levels = append(levels, l)
	}
	levels = append(levels, -56, -60)
	for _, l := range levels {
		cfg := burst
		cfg.Level = float64(l)
		if l == 0 {
			cfg.Level = -1e-9 // zero would mean the default level
		}
		e := either
		switch {
		case l >= -36:
			e = accept
		case l < -55:
			e = reject
		}
		add("level", fmt.Sprintf("%d dBm0", l), e, keys, gen(keys, cfg))
	}

	// Duration, 50 ms pauses, -10 dBm0: accept 40 ms and longer, reject
	// under 20 ms.
	for ms := 10; ms <= 60; ms += 5 {
		cfg := burst
		cfg.On = time.Duration(ms) * time.Millisecond
		e := either
		switch {
		case ms >= 40:
			e = accept
		case ms < 20:
			e = reject
		}
		add("duration", fmt.Sprintf("%d ms", ms), e, keys, gen(keys, cfg))
	}

	// White Gaussian noise, S/N = level of each tone (-10 dBm0) over the
	// noise power in the whole 0-4 kHz band: accept at 15 dB and above.
	// 128 bursts per step, as the misses are random.
	noisy := strings.Repeat(all, 8)
	clean := gen(noisy, burst)
	for snr := 6; snr <= 30; snr++ {
		pcm := addNoise(append([]int16(nil), clean...), dtmf.DefaultToneLevel-float64(snr), uint64(snr))
		e := either
		if snr >= 15 {
			e = accept
		}
		add("noise", fmt.Sprintf("S/N %d dB", snr), e, noisy, pcm)
	}

	// Talk-off: audio with no keys in it; every key found is false.
	for _, tk := range talkoffFiles(tb, "") {
		add("talk-off", tk.name, reject, "", tk.pcm)
	}
	for _, tk := range synthetic() {
		e := reject
		if strings.HasPrefix(tk.name, "music") {
			e = info
		}
		add("synthetic", tk.name, e, "", tk.pcm)
	}
	return cases
}

// namedPCM is a named stretch of audio.
type namedPCM struct {
	name string
	pcm  []int16
}

// synthetic returns key-free audio made here: crude synthetic voices,
// music in the DTMF band, and white noise.
func synthetic() []namedPCM {
	const seconds = 20
	out := []namedPCM{
		{"voice 85-155 Hz", speechLike(seconds*dtmf.SampleRate, 85, 155, 1)},
		{"voice 160-280 Hz", speechLike(seconds*dtmf.SampleRate, 160, 280, 2)},
		{"voice 240-400 Hz", speechLike(seconds*dtmf.SampleRate, 240, 400, 3)},
		{"white noise -20 dBm0", addNoise(make([]int16, 10*dtmf.SampleRate), -20, 4)},
	}
	for seed := range uint64(4) {
		out = append(out, namedPCM{fmt.Sprintf("music %d", seed+1), musicLike(30*dtmf.SampleRate, seed+1)})
	}
	return out
}

// talkoffFiles reads the talk-off corpus, testdata/talkoff/*.wav (see its
// MANIFEST.tsv), whose names start with prefix. None is fine.
func talkoffFiles(tb testing.TB, prefix string) []namedPCM {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "talkoff", prefix+"*.wav"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []namedPCM
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			tb.Fatal(err)
		}
		pcm, _, err := dtmf.ReadWAV(f)
		f.Close()
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out = append(out, namedPCM{strings.TrimSuffix(filepath.Base(name), ".wav"), pcm})
	}
	return out
}

// addNoise adds white Gaussian noise of the given power in dBm0 to pcm, in
// place, and returns it. The noise is the same for the same seed.
func addNoise(pcm []int16, dbm0 float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sigma := dtmf.DBm0ToAmplitude(dbm0) / math.Sqrt2 // a sine's RMS
	for i, s := range pcm {
		pcm[i] = clip16(float64(s) + sigma*rng.NormFloat64())
	}
	return pcm
}

// speechLike returns n samples of a crude synthetic voice: syllables of a
// pulse train gliding in pitch between f0lo and f0hi Hz through three
// formant resonators that move from vowel to vowel, with hiss for the
// consonants and pauses between words, at about -18 dBm0 while speaking.
// Steady harmonics landing on a row and a column frequency are what makes
// speech talk off a DTMF receiver; this gives both detectors plenty of
// chances without copyrighted recordings.
func speechLike(n int, f0lo, f0hi float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 0x7a1c))
	// Formant targets (F1, F2, F3 in Hz) of a few vowels.
	vowels := [][3]float64{
		{730, 1090, 2440}, {270, 2290, 3010}, {530, 1840, 2480}, {570, 840, 2410},
		{300, 870, 2240}, {660, 1720, 2410}, {490, 1350, 1690}, {440, 1020, 2240},
	}
	bw := [3]float64{80, 110, 160}
	var (
		y      = make([]float64, n)
		res    [3][2]float64 // resonator memories
		phase  float64       // glottal phase, in periods
		tilt   float64       // spectral tilt memory
		form   = vowels[0]
		target = vowels[0]
		f0     = (f0lo + f0hi) / 2
		f0goal = f0
		amp    float64
		ampTo  float64
		left   int  // samples left in the current segment
		voiced bool // the segment is voiced
		hiss   bool // the segment is a fricative
	)
	for i := range y {
		if left == 0 {
			// Next segment: a vowel (most), a fricative, or a pause.
			switch r := rng.Float64(); {
			case r < 0.65:
				voiced, hiss = true, false
				left = 600 + rng.IntN(1800) // 75-300 ms
				target = vowels[rng.IntN(len(vowels))]
				f0goal = f0lo + (f0hi-f0lo)*rng.Float64()
				ampTo = 0.5 + rng.Float64()
			case r < 0.85:
				voiced, hiss = false, true
				left = 400 + rng.IntN(800)
				ampTo = 0.3 + 0.4*rng.Float64()
			default:
				voiced, hiss = false, false
				left = 400 + rng.IntN(2400)
				ampTo = 0
			}
		}
		left--
		// Glide pitch, formants and loudness towards their targets.
		f0 += (f0goal - f0) * 0.0008
		for k := range form {
			form[k] += (target[k] - form[k]) * 0.002
		}
		amp += (ampTo - amp) * 0.004
		var x float64
		if voiced {
			phase += f0 / dtmf.SampleRate
			if phase >= 1 {
				phase--
				x = 1
			}
		}
		if hiss {
			x += 0.08 * rng.NormFloat64()
		}
		// Glottal roll-off, then the formants in cascade.
		tilt = x + 0.9*tilt
		v := tilt
		for k := range form {
			r := math.Exp(-math.Pi * bw[k] / dtmf.SampleRate)
			c := 2 * r * math.Cos(2*math.Pi*form[k]/dtmf.SampleRate)
			out := (1-r)*v + c*res[k][0] - r*r*res[k][1]
			res[k][1], res[k][0] = res[k][0], out
			v = out
		}
		y[i] = amp * v
	}
	// Scale to -18 dBm0 over the non-silent samples.
	var sum float64
	var m int
	for _, v := range y {
		if v != 0 {
			sum += v * v
			m++
		}
	}
	pcm := make([]int16, n)
	if m == 0 {
		return pcm
	}
	g := dtmf.DBm0ToAmplitude(-18) / math.Sqrt2 / math.Sqrt(sum/float64(m))
	for i, v := range y {
		pcm[i] = clip16(g * v)
	}
	return pcm
}

// musicLike returns n samples of crude synthetic music, deliberately kept
// within the DTMF band to make talk-off likely: chords of one to three
// equal-tempered notes between D5 (587 Hz) and G-sharp6 (1661 Hz), each
// with a few harmonics and a decaying envelope, a new chord every
// 100-400 ms, at about -15 dBm0 per note. Several notes lie within 2 % of
// DTMF frequencies (F5 698 Hz, G5 784, B-flat5 932, E6 1319, F-sharp6
// 1480, G-sharp6 1661), which is why music on hold talks off DTMF
// receivers. The harmonics, the decay and the overlapping notes are what a
// receiver can tell them by, but a chord such as B-flat5 and F-sharp6 with
// little timbre is a valid '#' that Q.24 says must be accepted: so these
// cases are logged (info), not asserted.
func musicLike(n int, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 0x3a5c))
	type note struct {
		w      float64    // angular frequency, rad/sample
		h      [4]float64 // amplitude of harmonics 1-4
		amp    float64    // envelope
		decay  float64    // envelope factor per sample
		phase  float64
		active bool
	}
	var notes [6]note
	pcm := make([]int16, n)
	a := dtmf.DBm0ToAmplitude(-15)
	next := 0
	for i := range pcm {
		if i == next {
			next += 800 + rng.IntN(2400)
			for range 1 + rng.IntN(3) {
				k := rng.IntN(len(notes))
				midi := 74 + rng.IntN(19) // D5 to G-sharp6
				f := 440 * math.Pow(2, float64(midi-69)/12)
				timbre := 0.6 * rng.Float64() // 0 is a pure sine
				nt := note{w: 2 * math.Pi * f / dtmf.SampleRate, amp: a, active: true}
				nt.decay = math.Exp(-1 / (0.05 + 0.5*rng.Float64()) / dtmf.SampleRate)
				for h := range nt.h {
					nt.h[h] = math.Pow(timbre, float64(h))
				}
				notes[k] = nt
			}
		}
		var v float64
		for k := range notes {
			nt := &notes[k]
			if !nt.active {
				continue
			}
			for h, g := range nt.h {
				v += nt.amp * g * math.Sin(float64(h+1)*nt.phase)
			}
			nt.phase = math.Mod(nt.phase+nt.w, 2*math.Pi)
			nt.amp *= nt.decay
		}
		pcm[i] = clip16(v)
	}
	return pcm
}

// clip16 rounds v to int16, saturating.
func clip16(v float64) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
}

// TestCompareAccuracy runs both detectors over the grid, logs their scores
// side by side, and checks that the Go detector meets the must-accept
// bounds and never finds more false keys than spandsp.
func TestCompareAccuracy(t *testing.T) {
	// Both must decode the keypad at -10 dBm0.
	pcm, err := dtmf.AppendTones(nil, all, dtmf.ToneConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if goKeys, spKeys := runCompare(t, pcm); goKeys != all || spKeys != all {
		t.Errorf("keypad at -10 dBm0: go %q, spandsp %q, want %q", goKeys, spKeys, all)
	}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tcase\texpect\tsent\tgo ok\tgo false\tspandsp ok\tspandsp false\t")
	type total struct{ sent, goOK, goFalse, spOK, spFalse int }
	var tot total
	for _, c := range compareGrid(t) {
		goKeys, spKeys := runCompare(t, c.pcm)
		g := scoreKeys(c.sent, goKeys, c.expect)
		s := scoreKeys(c.sent, spKeys, c.expect)
		mark := ""
		if g.falseKeys > s.falseKeys && c.expect == info {
			mark = " (go more false)"
		}
		if g.falseKeys > s.falseKeys && c.expect != info {
			mark = " <- go more false"
			t.Errorf("%s %s: go found %d false keys (%q), spandsp %d (%q)",
				c.group, c.name, g.falseKeys, goKeys, s.falseKeys, spKeys)
		}
		if c.expect == accept && (g.correct != len(c.sent) || g.falseKeys != 0) {
			mark += " <- go misses"
			t.Errorf("%s %s (must accept): go decoded %d of %d right, %d false: %q",
				c.group, c.name, g.correct, len(c.sent), g.falseKeys, goKeys)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%d\t%d\t%d\t%s\n",
			c.group, c.name, c.expect, len(c.sent), g.correct, g.falseKeys, s.correct, s.falseKeys, mark)
		tot.sent += len(c.sent)
		tot.goOK += g.correct
		tot.goFalse += g.falseKeys
		tot.spOK += s.correct
		tot.spFalse += s.falseKeys
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%d\t%d\t%d\t\n", tot.sent, tot.goOK, tot.goFalse, tot.spOK, tot.spFalse)
	tw.Flush()
	t.Logf("keys decoded right (ok) and false, per case:\n%s", b.String())
}

// BenchmarkDetectorCompare times both detectors on the same audio, fed in
// 160-sample frames: one op is one frame. Compare the columns with
//
//	go test -tags spandsp -run '^$' -bench DetectorCompare -count 6 ./dtmf/ | tee bench.txt
//	benchstat -col /det bench.txt
func BenchmarkDetectorCompare(b *testing.B) {
	// The speech input is the corpus's speech files, or the synthetic
	// audio where the corpus is missing.
	speechFiles := talkoffFiles(b, "speech-")
	if len(speechFiles) == 0 {
		speechFiles = synthetic()
	}
	var speech []int16
	for _, tk := range speechFiles {
		speech = append(speech, tk.pcm...)
	}
	inputs := []namedPCM{{"tones", benchTones(b)}, {"speech", speech}}

	for _, in := range inputs {
		// Whole frames only, so every op costs the same.
		pcm := in.pcm[:len(in.pcm)/frameSize*frameSize]
		for _, det := range detectors {
			b.Run("in="+in.name+"/det="+det.name, func(b *testing.B) {
				d := det.new(b)
				defer d.close()
				keys := make([]byte, 0, 64)
				b.SetBytes(2 * frameSize)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					keys = d.decode(keys[:0], pcm[i:i+frameSize])
					if i += frameSize; i == len(pcm) {
						i = 0
					}
				}
				audio := float64(b.N) * frameSize / dtmf.SampleRate // seconds
				cpu := b.Elapsed().Seconds()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
				b.ReportMetric(audio/cpu, "audio-s/s")
				// One core serves as many real-time channels as it
				// decodes audio seconds per second.
				b.ReportMetric(math.Floor(audio/cpu), "channels")
			})
		}
	}
}

// benchTones is the tone input of the benchmark: the keypad ten times at
// each of -4, -10, -20 and -30 dBm0, 50 ms on and 50 ms off (16 s).
func benchTones(tb testing.TB) []int16 {
	tb.Helper()
	var pcm []int16
	for _, level := range []float64{-4, -10, -20, -30} {
		cfg := burst
		cfg.Level = level
		var err error
		if pcm, err = dtmf.AppendTones(pcm, strings.Repeat(all, 10), cfg); err != nil {
			tb.Fatal(err)
		}
	}
	return pcm
}
