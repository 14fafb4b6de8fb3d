package dtmf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// kernels lists the filter kernels this machine can run: every test of the
// detector runs once with each, so the portable one stays tested on
// machines with vector units.
func kernels() map[string][2]any {
	ks := map[string][2]any{"generic": {goertzelFunc(goertzelGeneric), copy16Generic}}
	if goertzel != nil && fmt.Sprintf("%p", goertzel) != fmt.Sprintf("%p", goertzelGeneric) {
		ks["vector"] = [2]any{goertzel, copy16}
	}
	return ks
}

// forEachKernel runs f as a subtest with each kernel in use.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saveG, saveC := goertzel, copy16
	defer func() { goertzel, copy16 = saveG, saveC }()
	for name, k := range kernels() {
		goertzel = k[0].(goertzelFunc)
		copy16 = k[1].(func([]float32, []int16, *float32) int)
		t.Run(name, f)
	}
}

// detect runs a fresh detector over pcm in frames of the given size
// (0: all at once) and returns what it found.
func detect(t testing.TB, pcm []int16, frame int) []Tone {
	t.Helper()
	d, err := NewDetector(DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return detectWith(d, pcm, frame)
}

func detectWith(d *Detector, pcm []int16, frame int) []Tone {
	if frame <= 0 {
		frame = len(pcm) + 1
	}
	var out []Tone
	for i := 0; i < len(pcm); i += frame {
		out = d.Detect(pcm[i:min(i+frame, len(pcm))], out)
	}
	return d.Flush(out)
}

func keysOf(tones []Tone) string {
	var b strings.Builder
	for _, t := range tones {
		b.WriteByte(t.Key)
	}
	return b.String()
}

// tones generates keys or fails the test.
func tones(t testing.TB, keys string, cfg ToneConfig) []int16 {
	t.Helper()
	pcm, err := AppendTones(nil, keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// silence returns d of zero samples.
func silence(d time.Duration) []int16 { return make([]int16, Samples(d)) }

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// addNoise adds white Gaussian noise of the given power, in dBm0, to pcm,
// from a fixed seed.
func addNoise(pcm []int16, dbm0 float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	// A sine of peak A has power A²/2; noise of deviation σ has power σ².
	sigma := DBm0ToAmplitude(dbm0) / math.Sqrt2
	out := make([]int16, len(pcm))
	for i, s := range pcm {
		out[i] = clip16(float64(s) + sigma*r.NormFloat64())
	}
	return out
}

func TestDetectorAllKeys(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		pcm := tones(t, Keys, ToneConfig{})
		for _, frame := range []int{160, 240, 80, 1, 37, 0} {
			if got := keysOf(detect(t, pcm, frame)); got != Keys {
				t.Errorf("frames of %d: got %q, want %q", frame, got, Keys)
			}
		}
	})
}

// TestDetectorQ24 holds a named case for each side of each ITU-T Q.24
// acceptance bound. Each case is run for every key and, where the block
// alignment matters, at many offsets of the signal against the
// detector's windows.
func TestDetectorQ24(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	type tc struct {
		name string
		cfg  ToneConfig
		want bool // every key detected once, or none at all
	}
	var cases []tc
	// Frequency: accept within ±1.5 %, reject beyond ±3.5 %, for either
	// group alone and for both together.
	for _, off := range []float64{-0.015, 0.015} {
		cases = append(cases,
			tc{fmt.Sprintf("freq/low%+.1f%%/accept", off*100), ToneConfig{LowOffset: off}, true},
			tc{fmt.Sprintf("freq/high%+.1f%%/accept", off*100), ToneConfig{HighOffset: off}, true},
			tc{fmt.Sprintf("freq/both%+.1f%%/accept", off*100), ToneConfig{LowOffset: off, HighOffset: off}, true},
			tc{fmt.Sprintf("freq/opposite%+.1f%%/accept", off*100), ToneConfig{LowOffset: off, HighOffset: -off}, true},
		)
	}
	for _, off := range []float64{-0.035, 0.035, -0.05, 0.05} {
		cases = append(cases,
			tc{fmt.Sprintf("freq/low%+.1f%%/reject", off*100), ToneConfig{LowOffset: off}, false},
			tc{fmt.Sprintf("freq/high%+.1f%%/reject", off*100), ToneConfig{HighOffset: off}, false},
			tc{fmt.Sprintf("freq/both%+.1f%%/reject", off*100), ToneConfig{LowOffset: off, HighOffset: off}, false},
		)
	}
	cases = append(cases,
		// Twist: accept the high group from 8 dB below to 4 dB above the
		// low group; reject 4 dB beyond.
		tc{"twist/high-8dB/accept", ToneConfig{Level: -6, Twist: -8}, true},
		tc{"twist/high+4dB/accept", ToneConfig{Level: -10, Twist: 4}, true},
		tc{"twist/high-12dB/reject", ToneConfig{Level: -6, Twist: -12}, false},
		tc{"twist/high+8dB/reject", ToneConfig{Level: -10, Twist: 8}, false},
		// Level per tone: accept down to -36 dBm0, reject below -45.
		tc{"level/-3dBm0/accept", ToneConfig{Level: -3}, true},
		tc{"level/-36dBm0/accept", ToneConfig{Level: -36}, true},
		tc{"level/-36dBm0-twist-8/accept", ToneConfig{Level: -28, Twist: -8}, true},
		tc{"level/-45dBm0/reject", ToneConfig{Level: -45}, false},
		tc{"level/-55dBm0/reject", ToneConfig{Level: -55}, false},
		// Duration: recognise 40 ms, never under 20 ms.
		tc{"duration/40ms/accept", ToneConfig{On: ms(40), Off: ms(40)}, true},
		tc{"duration/45ms-at-36dBm0/accept", ToneConfig{On: ms(45), Off: ms(40), Level: -36}, true},
		tc{"duration/19ms/reject", ToneConfig{On: ms(19), Off: ms(60)}, false},
		tc{"duration/10ms/reject", ToneConfig{On: ms(10), Off: ms(60)}, false},
	)
	forEachKernel(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pcm := tones(t, Keys, c.cfg)
				want := ""
				if c.want {
					want = Keys
				}
				// Offsets move the signal against the 51-sample hop.
				for off := 0; off < hopLen; off += 5 {
					in := concat(silence(time.Duration(off)*time.Second/SampleRate), pcm, silence(ms(100)))
					if got := keysOf(detect(t, in, 160)); got != want {
						t.Fatalf("offset %d samples: got %q, want %q", off, got, want)
					}
				}
			})
		}
	})
}

// TestDetectorTiming checks the timing bounds that involve pauses and
// drop-outs at every alignment against the detector's windows.
func TestDetectorTiming(t *testing.T) {
	ms := func(n int) []int16 { return silence(time.Duration(n) * time.Millisecond) }
	tone := func(key string, n int) []int16 {
		return tones(t, key, ToneConfig{On: time.Duration(n) * time.Millisecond, Off: -1})
	}
	cases := []struct {
		name string
		pcm  []int16
		want string
	}{
		{"pause/40ms/separates", concat(tone("5", 60), ms(40), tone("5", 60)), "55"},
		{"pause/40ms/separates-40ms-tones", concat(tone("9", 40), ms(40), tone("9", 40), ms(40), tone("9", 40)), "999"},
		{"dropout/19ms/joins", concat(tone("5", 60), ms(19), tone("5", 60)), "5"},
		{"dropout/10ms/joins", concat(tone("#", 50), ms(10), tone("#", 50)), "#"},
		{"dropout/two-19ms/join", concat(tone("1", 50), ms(19), tone("1", 50), ms(19), tone("1", 50)), "1"},
		{"rate/10-per-second", tones(t, "1234567890", ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond}), "1234567890"},
		{"change/no-pause", concat(tone("1", 60), tone("2", 60)), "12"},
	}
	forEachKernel(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for off := 0; off < winLen; off += 3 {
					in := concat(make([]int16, off), c.pcm, ms(100))
					if got := keysOf(detect(t, in, 160)); got != c.want {
						t.Fatalf("offset %d samples: got %q, want %q", off, got, c.want)
					}
				}
			})
		}
	})
}

// TestDetectorPositions checks that each tone's start and end lie within
// 8 ms of where it was generated.
func TestDetectorPositions(t *testing.T) {
	const slack = 64 // samples: 8 ms
	cfg := ToneConfig{On: 70 * time.Millisecond, Off: 50 * time.Millisecond}
	forEachKernel(t, func(t *testing.T) {
		for off := 0; off < winLen; off += 7 {
			pcm := concat(make([]int16, off), tones(t, Keys, cfg))
			got := detect(t, pcm, 240)
			if keysOf(got) != Keys {
				t.Fatalf("offset %d: got %q", off, keysOf(got))
			}
			period := int64(Samples(cfg.On + cfg.Off))
			for i, g := range got {
				start := int64(off) + int64(i)*period
				end := start + int64(Samples(cfg.On))
				if abs(g.Start-start) > slack || abs(g.End-end) > slack {
					t.Fatalf("offset %d, key %c: at %d-%d, want %d-%d ±%d", off, g.Key, g.Start, g.End, start, end, slack)
				}
			}
		}
	})
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestDetectorNoise: every key is found once in white noise at a
// signal-to-noise ratio of 15 dB (the power of the two tones together
// against the noise's over the whole band); at 6 dB the detector may miss
// keys but must not invent them.
func TestDetectorNoise(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		// Two tones at -10 dBm0 each: -7 dBm0 together.
		pcm := tones(t, Keys, ToneConfig{Level: -10, On: 60 * time.Millisecond, Off: 60 * time.Millisecond})
		for seed := range uint64(20) {
			in := addNoise(pcm, -7-15, seed)
			if got := keysOf(detect(t, in, 160)); got != Keys {
				t.Fatalf("S/N 15 dB, seed %d: got %q, want %q", seed, got, Keys)
			}
			in = addNoise(pcm, -7-6, seed)
			got := keysOf(detect(t, in, 160))
			if !isSubsequence(got, Keys) {
				t.Fatalf("S/N 6 dB, seed %d: got %q, which is not part of %q", seed, got, Keys)
			}
		}
		// Noise alone, loud and quiet, never makes a key.
		for _, level := range []float64{-10, -30, -50} {
			if got := keysOf(detect(t, addNoise(silence(10*time.Second), level, 7), 160)); got != "" {
				t.Errorf("white noise at %.0f dBm0: got %q", level, got)
			}
		}
	})
}

func isSubsequence(s, of string) bool {
	for i := 0; i < len(s); i++ {
		j := strings.IndexByte(of, s[i])
		if j < 0 {
			return false
		}
		of = of[j+1:]
	}
	return true
}

// TestDetectorTalkOffTones: single tones, pairs within one group, and the
// call-progress tones never make a key.
func TestDetectorTalkOffTones(t *testing.T) {
	sine := func(f, dbm0 float64, d time.Duration) []int16 {
		return appendDualTone(nil, f, f, DBm0ToAmplitude(dbm0)/2, DBm0ToAmplitude(dbm0)/2, Samples(d))
	}
	pair := func(f1, f2, dbm0 float64, d time.Duration) []int16 {
		return appendDualTone(nil, f1, f2, DBm0ToAmplitude(dbm0), DBm0ToAmplitude(dbm0), Samples(d))
	}
	type tc struct {
		name string
		pcm  []int16
	}
	var cases []tc
	for _, f := range append(LowFreqs[:], HighFreqs[:]...) {
		cases = append(cases, tc{fmt.Sprintf("single/%.0fHz", f), sine(f, -6, time.Second)})
		// A single tone with its own second harmonic.
		cases = append(cases, tc{fmt.Sprintf("harmonic/%.0fHz", f), pair(f, 2*f, -8, time.Second)})
	}
	for i := range 3 {
		cases = append(cases,
			tc{fmt.Sprintf("two-rows/%.0f+%.0fHz", LowFreqs[i], LowFreqs[i+1]), pair(LowFreqs[i], LowFreqs[i+1], -10, time.Second)},
			tc{fmt.Sprintf("two-columns/%.0f+%.0fHz", HighFreqs[i], HighFreqs[i+1]), pair(HighFreqs[i], HighFreqs[i+1], -10, time.Second)})
	}
	cases = append(cases,
		tc{"dial-tone/350+440Hz", pair(350, 440, -10, 3*time.Second)},
		tc{"ringback/440+480Hz", pair(440, 480, -10, 3*time.Second)},
		tc{"busy/480+620Hz", pair(480, 620, -10, 3*time.Second)},
	)
	// Three tones: a key plus a third tone as loud is not a key.
	three := pair(770, 1336, -12, time.Second)
	for i, s := range sine(1000, -6, time.Second) {
		three[i] = clip16(float64(three[i]) + float64(s))
	}
	cases = append(cases, tc{"key-plus-1000Hz", three})
	forEachKernel(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := keysOf(detect(t, c.pcm, 160)); got != "" {
					t.Errorf("got %q, want no keys", got)
				}
			})
		}
	})
}

func TestDetectorResetAndActive(t *testing.T) {
	d, err := NewDetector(DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pcm := tones(t, "7", ToneConfig{On: 200 * time.Millisecond, Off: -1})
	out := d.Detect(pcm, nil)
	if len(out) != 0 {
		t.Fatalf("tone still sounding was reported: %v", out)
	}
	if key, start, ok := d.Active(); !ok || key != '7' || start > 64 {
		t.Fatalf("Active() = %q, %d, %v; want '7' near 0", key, start, ok)
	}
	d.Reset()
	if _, _, ok := d.Active(); ok {
		t.Fatal("Active after Reset")
	}
	if got := keysOf(detectWith(d, tones(t, "42", ToneConfig{}), 160)); got != "42" {
		t.Fatalf("after Reset: got %q", got)
	}
	// Flush reports a tone that is still sounding at the end of the input.
	d.Reset()
	out = detectWith(d, pcm, 160)
	if len(out) != 1 || out[0].Key != '7' || out[0].End < int64(len(pcm))-64 {
		t.Fatalf("Flush: got %+v", out)
	}
}

func TestNewDetectorConfig(t *testing.T) {
	for _, cfg := range []DetectorConfig{{MinLevel: -70}, {MinLevel: 3}, {MaxTwist: -1}, {MaxReverseTwist: 25}} {
		if _, err := NewDetector(cfg); err == nil {
			t.Errorf("NewDetector(%+v) accepted", cfg)
		}
	}
	// A stricter level threshold drops a quiet tone the default accepts.
	d, err := NewDetector(DetectorConfig{MinLevel: -30})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(detectWith(d, tones(t, "5", ToneConfig{Level: -36}), 160)); got != "" {
		t.Errorf("MinLevel -30 detected a -36 dBm0 tone: %q", got)
	}
}

func TestDetectorAllocs(t *testing.T) {
	pcm := tones(t, Keys, ToneConfig{})
	d, _ := NewDetector(DetectorConfig{})
	out := make([]Tone, 0, 4)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		out = d.Detect(pcm[i:i+160], out[:0])
		i = (i + 160) % (len(pcm) - 160)
	})
	if allocs != 0 {
		t.Fatalf("Detect allocates %.1f times per frame", allocs)
	}
}

// TestKernelsAgree compares the vector kernel with the portable one on
// random and extreme input.
func TestKernelsAgree(t *testing.T) {
	ks := kernels()
	vec, ok := ks["vector"]
	if !ok {
		t.Skip("this CPU runs only the portable kernel")
	}
	d, _ := NewDetector(DetectorConfig{})
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var x [hopLen]float32
		for j := range x {
			switch i % 3 {
			case 0:
				x[j] = float32(r.IntN(65536) - 32768)
			case 1:
				x[j] = float32(32767 * (1 - 2*float32(j%2)))
			default:
				x[j] = float32(r.IntN(200) - 100)
			}
		}
		checkKernels(t, d, &x, vec[0].(goertzelFunc))
	}
}

func checkKernels(t *testing.T, d *Detector, x *[hopLen]float32, vec goertzelFunc) {
	t.Helper()
	var a1, a2, b1, b2 [8]float32
	goertzelGeneric(x, &d.kern, &a1, &a2)
	vec(x, &d.kern, &b1, &b2)
	// Both round differently; compare against the input's scale.
	var scale float64
	for _, v := range x {
		scale += math.Abs(float64(v))
	}
	for k := range 8 {
		if math.Abs(float64(a1[k]-b1[k])) > 1e-4*scale+1e-3 || math.Abs(float64(a2[k]-b2[k])) > 1e-4*scale+1e-3 {
			t.Fatalf("bin %d: generic %g %g, vector %g %g", k, a1[k], a2[k], b1[k], b2[k])
		}
	}
}
