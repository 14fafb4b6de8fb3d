package dtmf

import (
	"testing"
	"time"
)

// TestDetectorMargins measures, for a sample of keys, how far each Q.24
// bound is met: the widest frequency error still accepted and the
// narrowest one ever detected, the twist accepted either way, the quietest
// level, the shortest tone ever detected and the lowest S/N at which ten
// keys in a row are all found. It logs them (make test -v shows the table;
// docs/dtmf.md quotes it) and fails if a bound is not met.
func TestDetectorMargins(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		for _, k := range []string{"1", "5", "9", "D", "7", "*", "0", "#"} {
			m := measureMargins(t, k)
			t.Logf("key %s: freq low ±%.1f%% (never beyond %.1f%%), high ±%.1f%% (never beyond %.1f%%); twist -%.2f/+%.2f dB; level %.1f dBm0; shortest %d ms; S/N %.0f dB",
				k, m.low*100, m.lowAny*100, m.high*100, m.highAny*100, m.twist, m.revTwist, m.level, m.shortest, m.snr)
			switch {
			case m.low < 0.015 || m.high < 0.015:
				t.Errorf("key %s: accepts only ±%.1f%% / ±%.1f%%, want ±1.5%%", k, m.low*100, m.high*100)
			case m.lowAny >= 0.035 || m.highAny >= 0.035:
				t.Errorf("key %s: detected %.1f%% / %.1f%% off, want nothing beyond 3.5%%", k, m.lowAny*100, m.highAny*100)
			case m.twist < 8 || m.revTwist < 4:
				t.Errorf("key %s: twist -%.2f/+%.2f dB, want -8/+4", k, m.twist, m.revTwist)
			case m.level > -36 || m.level <= -45:
				t.Errorf("key %s: quietest level %.1f dBm0, want from -36 to above -45", k, m.level)
			case m.shortest < 20 || m.shortest > 40:
				t.Errorf("key %s: shortest tone detected %d ms, want 20 to 40", k, m.shortest)
			case m.snr > 15:
				t.Errorf("key %s: needs S/N %.0f dB, want 15", k, m.snr)
			}
		}
	})
}

type margins struct {
	low, lowAny, high, highAny float64 // fractions of nominal
	twist, revTwist, level     float64 // dB, dB, dBm0
	shortest                   int     // ms
	snr                        float64 // dB
}

func measureMargins(t *testing.T, key string) margins {
	// found counts the alignments, of six, at which key is found exactly once.
	found := func(cfg ToneConfig) int {
		n := 0
		for off := 0; off < hopLen; off += 10 {
			pcm := concat(make([]int16, off), tones(t, key, cfg), silence(100*time.Millisecond))
			if keysOf(detect(t, pcm, 160)) == key {
				n++
			}
		}
		return n
	}
	both := func(f func(o float64) ToneConfig, o float64) (all, anyHit bool) {
		a, b := found(f(o)), found(f(-o))
		return a == 6 && b == 6, a > 0 || b > 0
	}
	var m margins
	lowCfg := func(o float64) ToneConfig { return ToneConfig{LowOffset: o} }
	highCfg := func(o float64) ToneConfig { return ToneConfig{HighOffset: o} }
	for _, g := range []struct {
		cfg       func(float64) ToneConfig
		all, some *float64
	}{{lowCfg, &m.low, &m.lowAny}, {highCfg, &m.high, &m.highAny}} {
		for o := 0.0; o < 0.08; o += 0.001 {
			all, anyHit := both(g.cfg, o)
			if all {
				*g.all = o
			}
			if anyHit {
				*g.some = o
			}
		}
	}
	for x := 0.0; x < 15; x += 0.25 {
		if found(ToneConfig{Level: -4, Twist: -x}) == 6 {
			m.twist = x
		}
		if found(ToneConfig{Level: -12, Twist: x}) == 6 {
			m.revTwist = x
		}
	}
	for l := -20.0; l > -60; l -= 0.5 {
		if found(ToneConfig{Level: l}) == 6 {
			m.level = l
		}
	}
	for d := 60; d > 5; d-- {
		if found(ToneConfig{On: time.Duration(d) * time.Millisecond, Off: 60 * time.Millisecond}) > 0 {
			m.shortest = d
		}
	}
	var ten string
	for range 10 {
		ten += key
	}
	pcm := tones(t, ten, ToneConfig{Level: -10, On: 60 * time.Millisecond, Off: 60 * time.Millisecond})
	for snr := 30.0; snr > 0; snr-- {
		for seed := range uint64(10) {
			if keysOf(detect(t, addNoise(pcm, -7-snr, seed), 160)) != ten {
				return m
			}
		}
		m.snr = snr
	}
	return m
}
