package dtmf

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzDetector feeds arbitrary audio in frames of arbitrary sizes. The
// first byte picks the frame size; the rest is little-endian PCM. The
// detector must not panic, and what it reports must be well formed: known
// keys, in order, each ending after it starts and before the next starts,
// within the audio fed.
func FuzzDetector(f *testing.F) {
	seed := func(frame byte, pcm []int16) []byte {
		b := []byte{frame}
		for _, s := range pcm {
			b = binary.LittleEndian.AppendUint16(b, uint16(s))
		}
		return b
	}
	keys, _ := AppendTones(nil, "1#", ToneConfig{On: 50 * time.Millisecond, Off: 40 * time.Millisecond})
	loud, _ := AppendTones(nil, "D", ToneConfig{Level: 3, On: 45 * time.Millisecond})
	f.Add(seed(160, keys))
	f.Add(seed(1, loud))
	f.Add(seed(0, []int16{32767, -32768, 32767, -32768}))
	d, err := NewDetector(DetectorConfig{})
	if err != nil {
		f.Fatal(err)
	}
	vector, hasVector := kernels()["vector"]
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		frame := int(data[0]) + 1
		pcm := make([]int16, (len(data)-1)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[1+2*i:]))
		}
		d.Reset()
		got := detectWith(d, pcm, frame)
		last := int64(-1)
		for _, tone := range got {
			if !ValidKey(tone.Key) || tone.Start < 0 || tone.Start >= tone.End || tone.Start < last || tone.End > int64(len(pcm)) {
				t.Fatalf("bad tone %+v after %d in %d samples: %+v", tone, last, len(pcm), got)
			}
			last = tone.End
		}
		if hasVector && len(pcm) >= hopLen {
			var x [hopLen]float32
			var e float32
			copy16Generic(x[:], pcm, &e)
			checkKernels(t, d, &x, vector[0].(goertzelFunc))
		}
	})
}
