package dtmf

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDetectorTalkOff runs the detector over the talk-off corpus in
// testdata/talkoff (speech in several languages, voices, speeds and
// pitches, music with rich timbres, single tones, sweeps and call-progress
// tones; see its README) and wants no key at all. It then adds keys to the
// same audio, 6 dB above the speech, and wants every one of them: a
// detector that finds nothing would pass the first half alone.
func TestDetectorTalkOff(t *testing.T) {
	files, err := filepath.Glob("testdata/talkoff/*.wav")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("talk-off corpus: %d files in testdata/talkoff, want at least 20", len(files))
	}
	var total time.Duration
	forEachKernel(t, func(t *testing.T) {
		total = 0
		for _, name := range files {
			pcm := readWAVFile(t, name)
			total += time.Duration(len(pcm)) * time.Second / SampleRate
			for _, tone := range detect(t, pcm, 160) {
				t.Errorf("%s: false key %q at %.3f-%.3f s", filepath.Base(name), tone.Key,
					float64(tone.Start)/SampleRate, float64(tone.End)/SampleRate)
			}
		}
	})
	if total < 6*time.Minute {
		t.Errorf("talk-off corpus holds %v of audio, want at least 6 minutes", total)
	}
}

// TestDetectorKeysOverSpeech mixes keys into speech and wants them all.
func TestDetectorKeysOverSpeech(t *testing.T) {
	speech := readWAVFile(t, "testdata/talkoff/speech-en-us-m-normal.wav")
	keys := tones(t, "0123456789*#", ToneConfig{Level: -10, On: 80 * time.Millisecond, Off: 920 * time.Millisecond})
	forEachKernel(t, func(t *testing.T) {
		// Speech at its own level (peaks near full scale), quieter by
		// 6 and 12 dB: the keys must still be heard over it, unless the
		// speech is far louder than the tones.
		for _, gainDB := range []float64{-12, -18} {
			mix := make([]int16, len(keys))
			g := DBm0ToAmplitude(gainDB+MaxSineDBm0) / 32768
			for i := range mix {
				mix[i] = clip16(float64(keys[i]) + g*float64(speech[(i+8000)%len(speech)]))
			}
			if got := keysOf(detect(t, mix, 160)); got != "0123456789*#" {
				t.Errorf("speech at %.0f dB: got %q", gainDB, got)
			}
		}
	})
}

func readWAVFile(t *testing.T, name string) []int16 {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, _, err := ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return pcm
}
