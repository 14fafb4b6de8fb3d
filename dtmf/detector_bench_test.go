package dtmf

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDetector decodes audio in 160-sample (20 ms) frames, as it
// arrives in RTP, and reports how much audio one CPU second decodes
// (audio-s/s, which is also how many 8 kHz channels one core serves in
// real time), the time per frame, and allocations.
func BenchmarkDetector(b *testing.B) {
	inputs := []struct {
		name string
		pcm  []int16
	}{
		{"tones", mustTones(b, Keys+Keys, ToneConfig{Off: -1})},
		{"keys-50ms-on-off", mustTones(b, Keys+Keys, ToneConfig{On: 50 * time.Millisecond, Off: 50 * time.Millisecond})},
		{"noise-30dBm0", addNoise(silence(4*time.Second), -30, 1)},
		{"silence", silence(4 * time.Second)},
	}
	for name, k := range kernels() {
		for _, in := range inputs {
			b.Run(fmt.Sprintf("%s/%s", name, in.name), func(b *testing.B) {
				saveG, saveC := goertzel, copy16
				defer func() { goertzel, copy16 = saveG, saveC }()
				goertzel = k[0].(goertzelFunc)
				copy16 = k[1].(func([]float32, []int16, *float32) int)
				benchDetect(b, in.pcm)
			})
		}
	}
}

func mustTones(b *testing.B, keys string, cfg ToneConfig) []int16 {
	pcm, err := AppendTones(nil, keys, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return pcm
}

func benchDetect(b *testing.B, pcm []int16) {
	d, err := NewDetector(DetectorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	out := make([]Tone, 0, 64)
	frames := len(pcm) / 160
	b.ReportAllocs()
	b.SetBytes(int64(2 * 160 * frames))
	for b.Loop() {
		for i := range frames {
			out = d.Detect(pcm[160*i:160*i+160], out[:0])
		}
	}
	perFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(frames)
	b.ReportMetric(perFrame, "ns/frame")
	b.ReportMetric(20e6/perFrame, "audio-s/s")
}
