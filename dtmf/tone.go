package dtmf

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// SampleRate is the only sample rate this package works at, in Hz.
const SampleRate = 8000

// MaxSineDBm0 is the level, in dBm0, of a full-scale 16-bit sine wave: the
// G.711 µ-law convention (ITU-T G.711; 0 dBm0 is a sine of peak 22,826).
const MaxSineDBm0 = 3.14

// DefaultToneLevel is the per-tone level, in dBm0, that [AppendTones] uses
// when ToneConfig.Level is zero.
const DefaultToneLevel = -10.0

// ToneConfig describes the tones [AppendTones] writes. The zero value sends
// 100 ms of each key followed by 100 ms of silence at -10 dBm0 per tone.
type ToneConfig struct {
	// On is how long each key sounds. Zero means 100 ms.
	On time.Duration
	// Off is the silence after each key. Zero means 100 ms; a negative
	// value means none.
	Off time.Duration
	// Level is the level of the low-group tone in dBm0 (at most
	// MaxSineDBm0). Zero means DefaultToneLevel.
	Level float64
	// Twist is the level of the high-group tone relative to the low-group
	// tone, in dB: -8 is a high tone 8 dB below the low one.
	Twist float64
	// LowOffset and HighOffset shift each tone's frequency by this
	// fraction of nominal: 0.015 is 1.5 % high.
	LowOffset, HighOffset float64
}

// ErrBadKey is returned for a character that is not a DTMF key.
var ErrBadKey = errors.New("dtmf: not a DTMF key")

// DBm0ToAmplitude returns the peak amplitude, in 16-bit PCM units, of a sine
// wave at the given level.
func DBm0ToAmplitude(dbm0 float64) float64 {
	return 32768 * math.Pow(10, (dbm0-MaxSineDBm0)/20)
}

// Samples returns the number of 8 kHz samples in d, rounded down.
func Samples(d time.Duration) int {
	return int(d * SampleRate / time.Second)
}

// AppendTones appends the tones of keys to dst as 8 kHz 16-bit PCM and
// returns the extended slice. Samples beyond full scale are clipped.
func AppendTones(dst []int16, keys string, cfg ToneConfig) ([]int16, error) {
	on, off, level := cfg.On, cfg.Off, cfg.Level
	if on == 0 {
		on = 100 * time.Millisecond
	}
	if off == 0 {
		off = 100 * time.Millisecond
	}
	if level == 0 {
		level = DefaultToneLevel
	}
	if on < 0 {
		return dst, fmt.Errorf("dtmf: tone duration %v is negative", on)
	}
	if level > MaxSineDBm0 || level+cfg.Twist > MaxSineDBm0 {
		return dst, fmt.Errorf("dtmf: tone level %.1f dBm0 (twist %.1f dB) is above full scale", level, cfg.Twist)
	}
	for i := 0; i < len(keys); i++ {
		lo, hi, ok := Frequencies(keys[i])
		if !ok {
			return dst, fmt.Errorf("%w: %q", ErrBadKey, keys[i])
		}
		lo *= 1 + cfg.LowOffset
		hi *= 1 + cfg.HighOffset
		dst = appendDualTone(dst, lo, hi, DBm0ToAmplitude(level), DBm0ToAmplitude(level+cfg.Twist), Samples(on))
		if off > 0 {
			dst = append(dst, make([]int16, Samples(off))...)
		}
	}
	return dst, nil
}

// appendDualTone appends n samples of two summed sines of the given
// frequencies (Hz) and peak amplitudes.
func appendDualTone(dst []int16, f1, f2, a1, a2 float64, n int) []int16 {
	w1 := 2 * math.Pi * f1 / SampleRate
	w2 := 2 * math.Pi * f2 / SampleRate
	for i := 0; i < n; i++ {
		v := a1*math.Sin(w1*float64(i)) + a2*math.Sin(w2*float64(i))
		dst = append(dst, clip16(v))
	}
	return dst
}

// clip16 rounds v to the nearest int16, saturating at full scale.
func clip16(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}
