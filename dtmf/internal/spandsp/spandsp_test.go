//go:build spandsp

package spandsp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/dtmf/internal/spandsp"
)

const all = "123A456B789C*0#D"

// tones returns keys as PCM, failing the test on a bad configuration.
func tones(tb testing.TB, keys string, cfg dtmf.ToneConfig) []int16 {
	tb.Helper()
	pcm, err := dtmf.AppendTones(nil, keys, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return pcm
}

// decode feeds pcm in frames of n samples and returns all keys found.
func decode(d *spandsp.Detector, pcm []int16, n int) string {
	var b strings.Builder
	for len(pcm) > 0 {
		k := min(n, len(pcm))
		b.WriteString(d.Detect(pcm[:k]))
		pcm = pcm[k:]
	}
	return b.String()
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name  string
		keys  string
		cfg   dtmf.ToneConfig
		frame int
		want  string
	}{
		{"defaults 160", all, dtmf.ToneConfig{}, 160, all},
		{"defaults 240", all, dtmf.ToneConfig{}, 240, all},
		{"one call", all, dtmf.ToneConfig{}, 1 << 30, all},
		{"odd frames", all, dtmf.ToneConfig{}, 37, all},
		{"50 ms on off", all, dtmf.ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond}, 160, all},
		{"-36 dBm0", all, dtmf.ToneConfig{Level: -36}, 160, all},
		{"high 6 dB below", all, dtmf.ToneConfig{Level: -6, Twist: -6}, 160, all},
		{"high 2 dB above", all, dtmf.ToneConfig{Level: -10, Twist: 2}, 160, all},
		{"low +1.5 %", all, dtmf.ToneConfig{LowOffset: 0.015}, 160, all},
		{"low -1.5 %", all, dtmf.ToneConfig{LowOffset: -0.015}, 160, all},
		{"high +1.5 %", all, dtmf.ToneConfig{HighOffset: 0.015}, 160, all},
		{"high -1.5 %", all, dtmf.ToneConfig{HighOffset: -0.015}, 160, all},
		{"back to back", "1212", dtmf.ToneConfig{Off: -1}, 160, "1212"},
		{"below -50 dBm0", all, dtmf.ToneConfig{Level: -50}, 160, ""},
		{"offset 5 %", all, dtmf.ToneConfig{LowOffset: 0.05}, 160, ""},
		{"15 ms", all, dtmf.ToneConfig{On: 15 * time.Millisecond}, 160, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := spandsp.New()
			defer d.Close()
			if got := decode(d, tones(t, tt.keys, tt.cfg), tt.frame); got != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDetectLong feeds more keys in one call than spandsp's 128-key buffer
// holds, to check that the wrapper drains it as it goes.
func TestDetectLong(t *testing.T) {
	keys := strings.Repeat(all, 20) // 320 keys, 32 s
	pcm := tones(t, keys, dtmf.ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond})
	d := spandsp.New()
	defer d.Close()
	if got := d.Detect(pcm); got != keys {
		t.Errorf("decoded %d keys, want %d; first difference at %d", len(got), len(keys), firstDiff(got, keys))
	}
}

func firstDiff(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

func TestSetParams(t *testing.T) {
	tests := []struct {
		name                           string
		cfg                            dtmf.ToneConfig
		filter                         bool
		twist, reverseTwist, threshold int
		want                           string
	}{
		{"defaults keep -30 dBm0", dtmf.ToneConfig{Level: -30}, false, -1, -1, -99, "159D"},
		{"threshold -20 drops -30 dBm0", dtmf.ToneConfig{Level: -30}, false, -1, -1, -20, ""},
		{"twist 8 drops high 10 dB below", dtmf.ToneConfig{Level: -3, Twist: -10}, false, spandsp.DefaultTwist, -1, -99, ""},
		{"twist 12 keeps high 10 dB below", dtmf.ToneConfig{Level: -3, Twist: -10}, false, 12, -1, -99, "159D"},
		{"reverse 4 drops high 6 dB above", dtmf.ToneConfig{Level: -12, Twist: 6}, false, -1, spandsp.DefaultReverseTwist, -99, ""},
		{"reverse 8 keeps high 6 dB above", dtmf.ToneConfig{Level: -12, Twist: 6}, false, -1, 8, -99, "159D"},
		{"dial tone filter keeps keys", dtmf.ToneConfig{}, true, -1, -1, -99, "159D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := spandsp.New()
			defer d.Close()
			d.SetParams(tt.filter, tt.twist, tt.reverseTwist, tt.threshold)
			pcm := tones(t, "159D", tt.cfg)
			if got := decode(d, pcm, 160); got != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
			// Reset keeps the limits.
			d.Reset()
			if got := decode(d, pcm, 160); got != tt.want {
				t.Errorf("after Reset decoded %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	d := spandsp.New()
	defer d.Close()
	pcm := tones(t, "5", dtmf.ToneConfig{Off: -1})
	// The key is still sounding at the end: without Reset the next "5"
	// would continue it rather than start a new one.
	if got := d.Detect(pcm); got != "5" {
		t.Fatalf("first: %q", got)
	}
	if got := d.Detect(pcm); got != "" {
		t.Fatalf("continued tone: %q, want none", got)
	}
	d.Reset()
	if got := d.Detect(pcm); got != "5" {
		t.Fatalf("after Reset: %q, want \"5\"", got)
	}
}

func TestClose(t *testing.T) {
	d := spandsp.New()
	d.Close()
	d.Close()
	d.Reset()
	d.SetParams(true, 1, 1, -10)
	if got := d.Detect(tones(t, "1", dtmf.ToneConfig{})); got != "" {
		t.Errorf("Detect after Close = %q, want \"\"", got)
	}
	if got := spandsp.New().Detect(nil); got != "" {
		t.Errorf("Detect(nil) = %q", got)
	}
}

func TestDetectAllocs(t *testing.T) {
	pcm := tones(t, all, dtmf.ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond})
	d := spandsp.New()
	defer d.Close()
	var found int
	allocs := testing.AllocsPerRun(5, func() {
		for i := 0; i+160 <= len(pcm); i += 160 {
			found += len(d.Detect(pcm[i : i+160]))
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pass over %d frames, want 0", allocs, len(pcm)/160)
	}
	if found == 0 {
		t.Error("found no keys")
	}
}

func BenchmarkDetect(b *testing.B) {
	pcm := tones(b, strings.Repeat(all, 4), dtmf.ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond})
	d := spandsp.New()
	defer d.Close()
	b.SetBytes(2 * 160)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i+160 > len(pcm) {
			i = 0
		}
		d.Detect(pcm[i : i+160])
		i += 160
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}
