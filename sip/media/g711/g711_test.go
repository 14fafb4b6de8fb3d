package g711

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The reference below is the classic segment/bias formulation (segment end
// tables searched linearly, bias 0x84 in 16-bit units), written
// independently of the package's table builder. Negative samples are folded
// with the one's complement as in ITU-T G.191, not the two's complement of
// the widely copied Sun code.

var (
	refULawSegEnd = [8]int{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
	refALawSegEnd = [8]int{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
)

func refSegment(v int, ends *[8]int) int {
	for i, e := range ends {
		if v <= e {
			return i
		}
	}
	return 8
}

func refEncodeULaw(s int16) byte {
	const bias, clip = 0x84, 8159
	v := int(s) >> 2
	mask := byte(0xFF)
	if v < 0 {
		v = -v - 1
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += bias >> 2
	seg := refSegment(v, &refULawSegEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return byte(seg<<4|(v>>(seg+1))&0x0F) ^ mask
}

func refDecodeULaw(b byte) int16 {
	const bias = 0x84
	u := ^b
	t := (int(u&0x0F) << 3) + bias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(bias - t)
	}
	return int16(t - bias)
}

func refEncodeALaw(s int16) byte {
	v := int(s) >> 3
	mask := byte(0xD5)
	if v < 0 {
		v = -v - 1
		mask = 0x55
	}
	seg := refSegment(v, &refALawSegEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return byte(a) ^ mask
}

func refDecodeALaw(b byte) int16 {
	a := b ^ 0x55
	t := int(a&0x0F) << 4
	switch seg := int(a&0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

func TestKnownValues(t *testing.T) {
	tests := []struct {
		name   string
		sample int16
		ulaw   byte
		alaw   byte
	}{
		{"zero", 0, 0xFF, 0xD5},
		{"minus one", -1, 0x7F, 0x55},
		{"plus three", 3, 0xFF, 0xD5},
		{"plus four", 4, 0xFE, 0xD5},
		{"minus four", -4, 0x7F, 0x55},
		{"minus five", -5, 0x7E, 0x55},
		{"plus eight", 8, 0xFE, 0xD5},
		{"plus sixteen", 16, 0xFD, 0xD4},
		{"minus seventeen", -17, 0x7D, 0x54},
		{"full scale", math.MaxInt16, 0x80, 0xAA},
		{"negative full scale", math.MinInt16, 0x00, 0x2A},
		{"mu-law last step", 7903 << 2, 0x80, 0xAB},
		{"mu-law step below", 7902 << 2, 0x81, 0xAB},
		{"mu-law clipped", 8159 << 2, 0x80, 0xAA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EncodeULaw(tc.sample); got != tc.ulaw {
				t.Errorf("EncodeULaw(%d) = %#02x, want %#02x", tc.sample, got, tc.ulaw)
			}
			if got := EncodeALaw(tc.sample); got != tc.alaw {
				t.Errorf("EncodeALaw(%d) = %#02x, want %#02x", tc.sample, got, tc.alaw)
			}
		})
	}
	decodes := []struct {
		name string
		code byte
		ulaw int16
		alaw int16
	}{
		{"0x00", 0x00, -32124, -5504},
		{"0x7F", 0x7F, 0, -848},
		{"0x80", 0x80, 32124, 5504},
		{"0xFF", 0xFF, 0, 848},
		{"0xD5", 0xD5, 716, 8},
		{"0x55", 0x55, -716, -8},
		{"0xAA", 0xAA, 5372, 32256},
		{"0x2A", 0x2A, -5372, -32256},
	}
	for _, tc := range decodes {
		t.Run("decode "+tc.name, func(t *testing.T) {
			if got := DecodeULaw(tc.code); got != tc.ulaw {
				t.Errorf("DecodeULaw(%#02x) = %d, want %d", tc.code, got, tc.ulaw)
			}
			if got := DecodeALaw(tc.code); got != tc.alaw {
				t.Errorf("DecodeALaw(%#02x) = %d, want %d", tc.code, got, tc.alaw)
			}
		})
	}
}

func TestEncodeMatchesReference(t *testing.T) {
	for i := math.MinInt16; i <= math.MaxInt16; i++ {
		s := int16(i)
		if got, want := EncodeULaw(s), refEncodeULaw(s); got != want {
			t.Fatalf("EncodeULaw(%d) = %#02x, reference %#02x", s, got, want)
		}
		if got, want := EncodeALaw(s), refEncodeALaw(s); got != want {
			t.Fatalf("EncodeALaw(%d) = %#02x, reference %#02x", s, got, want)
		}
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		if got, want := DecodeULaw(b), refDecodeULaw(b); got != want {
			t.Fatalf("DecodeULaw(%#02x) = %d, reference %d", b, got, want)
		}
		if got, want := DecodeALaw(b), refDecodeALaw(b); got != want {
			t.Fatalf("DecodeALaw(%#02x) = %d, reference %d", b, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for c := range 256 {
		b := byte(c)
		want := b
		if b == 0x7F { // µ-law negative zero re-encodes as positive zero
			want = 0xFF
		}
		if got := EncodeULaw(DecodeULaw(b)); got != want {
			t.Errorf("µ-law %#02x -> %d -> %#02x, want %#02x", b, DecodeULaw(b), got, want)
		}
		if got := EncodeALaw(DecodeALaw(b)); got != b {
			t.Errorf("A-law %#02x -> %d -> %#02x", b, DecodeALaw(b), got)
		}
	}
}

// TestMonotonic checks that encoding preserves order: a larger sample
// never gets a code that decodes smaller.
func TestMonotonic(t *testing.T) {
	pu, pa := DecodeULaw(EncodeULaw(math.MinInt16)), DecodeALaw(EncodeALaw(math.MinInt16))
	for i := math.MinInt16 + 1; i <= math.MaxInt16; i++ {
		u, a := DecodeULaw(EncodeULaw(int16(i))), DecodeALaw(EncodeALaw(int16(i)))
		if u < pu || a < pa {
			t.Fatalf("sample %d: decoded µ-law %d after %d, A-law %d after %d", i, u, pu, a, pa)
		}
		pu, pa = u, a
	}
}

func TestFrames(t *testing.T) {
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(i + math.MinInt16)
	}
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	laws := []struct {
		name   string
		encode func([]byte, []int16) int
		decode func([]int16, []byte) int
		enc    func(int16) byte
		dec    func(byte) int16
	}{
		{"ulaw", EncodeULawFrame, DecodeULawFrame, EncodeULaw, DecodeULaw},
		{"alaw", EncodeALawFrame, DecodeALawFrame, EncodeALaw, DecodeALaw},
	}
	for _, law := range laws {
		t.Run(law.name, func(t *testing.T) {
			out := make([]byte, len(pcm))
			if n := law.encode(out, pcm); n != len(pcm) {
				t.Fatalf("encode wrote %d, want %d", n, len(pcm))
			}
			for i, s := range pcm {
				if out[i] != law.enc(s) {
					t.Fatalf("frame encode of %d = %#02x, single %#02x", s, out[i], law.enc(s))
				}
			}
			dec := make([]int16, len(codes))
			if n := law.decode(dec, codes); n != len(codes) {
				t.Fatalf("decode wrote %d, want %d", n, len(codes))
			}
			for i, c := range codes {
				if dec[i] != law.dec(c) {
					t.Fatalf("frame decode of %#02x = %d, single %d", c, dec[i], law.dec(c))
				}
			}
			// Short destinations and sources: count is the minimum and
			// nothing past it is touched.
			short := []byte{0xEE, 0xEE, 0xEE}
			if n := law.encode(short[:2], pcm[:5]); n != 2 || short[2] != 0xEE {
				t.Errorf("encode into 2 from 5 = %d, buffer %x", n, short)
			}
			short = []byte{0xEE, 0xEE, 0xEE}
			if n := law.encode(short, pcm[:1]); n != 1 || short[1] != 0xEE {
				t.Errorf("encode into 3 from 1 = %d, buffer %x", n, short)
			}
			shortPCM := []int16{7, 7, 7}
			if n := law.decode(shortPCM[:1], codes[:4]); n != 1 || shortPCM[1] != 7 {
				t.Errorf("decode into 1 from 4 = %d, buffer %v", n, shortPCM)
			}
			shortPCM = []int16{7, 7, 7}
			if n := law.decode(shortPCM, nil); n != 0 || shortPCM[0] != 7 {
				t.Errorf("decode from nil = %d, buffer %v", n, shortPCM)
			}
		})
	}
}

func TestFramesDoNotAllocate(t *testing.T) {
	pcm := make([]int16, 160)
	g := make([]byte, 160)
	allocs := testing.AllocsPerRun(100, func() {
		EncodeULawFrame(g, pcm)
		DecodeULawFrame(pcm, g)
		EncodeALawFrame(g, pcm)
		DecodeALawFrame(pcm, g)
	})
	if allocs != 0 {
		t.Errorf("frame functions allocate %v times per run, want 0", allocs)
	}
}

// TestSox cross-checks against sox (SoX 14.4), which must be installed: the
// Makefile's test target installs it. Decoding must agree exactly for every
// code. For encoding, sox differs from G.191 in two known ways, which the
// test models explicitly rather than skipping any input:
//
//   - sox rounds the 16-bit sample to the nearest 14-bit (µ-law) or 13-bit
//     (A-law) value, saturating at full scale, where G.191 truncates;
//   - sox's µ-law encoder (the Sun code) folds negative values with the two's
//     complement, so a negative 14-bit value k is encoded as G.191 encodes
//     k-1.
//
// Dither is turned off (-D); with it sox's output is not a function of the
// input.
func TestSox(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox not found (%v): install it (Debian: apt-get install sox) or run `make test`, which does", err)
	}
	dir := t.TempDir()
	all := make([]int16, 65536)
	for i := range all {
		all[i] = int16(i + math.MinInt16)
	}
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	laws := []struct {
		name     string
		encoding string
		encode   func(int16) byte
		decode   func(byte) int16
		soxModel func(int16) byte
	}{
		{"ulaw", "u-law", EncodeULaw, DecodeULaw, func(s int16) byte {
			k := min((int(s)+2)>>2, 8191)
			if k < 0 {
				k = max(k-1, -8192)
			}
			return EncodeULaw(int16(k << 2))
		}},
		{"alaw", "a-law", EncodeALaw, DecodeALaw, func(s int16) byte {
			k := min((int(s)+4)>>3, 4095)
			return EncodeALaw(int16(k << 3))
		}},
	}
	pcmIn := filepath.Join(dir, "all.raw")
	if err := os.WriteFile(pcmIn, pcmBytes(all), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, law := range laws {
		t.Run(law.name, func(t *testing.T) {
			// Encode all 65536 samples.
			encOut := filepath.Join(dir, law.name+".raw")
			runSox(t, sox, "-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "8000", "-c", "1", pcmIn,
				"-t", "raw", "-e", law.encoding, encOut)
			got, err := os.ReadFile(encOut)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(all) {
				t.Fatalf("sox wrote %d codes, want %d", len(got), len(all))
			}
			exact := 0
			for i, s := range all {
				if want := law.soxModel(s); got[i] != want {
					t.Fatalf("sample %d: sox %#02x, model of sox from ours %#02x", s, got[i], want)
				}
				if got[i] == law.encode(s) {
					exact++
				}
			}
			t.Logf("sox and G.191 agree on %d of %d samples; the rest differ only as modelled", exact, len(all))

			// Decode all 256 codes.
			codesIn := filepath.Join(dir, law.name+"-codes.raw")
			if err := os.WriteFile(codesIn, codes, 0o600); err != nil {
				t.Fatal(err)
			}
			decOut := filepath.Join(dir, law.name+"-decoded.raw")
			runSox(t, sox, "-t", "raw", "-e", law.encoding, "-r", "8000", "-c", "1", codesIn,
				"-t", "raw", "-e", "signed-integer", "-b", "16", decOut)
			raw, err := os.ReadFile(decOut)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != 2*len(codes) {
				t.Fatalf("sox wrote %d bytes, want %d", len(raw), 2*len(codes))
			}
			for i, c := range codes {
				if got, want := int16(binary.LittleEndian.Uint16(raw[2*i:])), law.decode(c); got != want {
					t.Errorf("code %#02x: sox decodes %d, we decode %d", c, got, want)
				}
			}
		})
	}
}

func runSox(t *testing.T, sox string, args ...string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(sox, append([]string{"-D", "-V1"}, args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("sox %v: %v: %s", args, err, stderr.Bytes())
		}
		t.Fatalf("sox %v: %v", args, err)
	}
}

func pcmBytes(pcm []int16) []byte {
	b := make([]byte, 0, 2*len(pcm))
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// frame is a 20 ms frame at 8 kHz of a full-range ramp.
func frame() ([]int16, []byte) {
	pcm := make([]int16, 160)
	g := make([]byte, 160)
	for i := range pcm {
		pcm[i] = int16(i*409 - 32768)
		g[i] = byte(i * 7)
	}
	return pcm, g
}

func BenchmarkEncodeULawFrame(b *testing.B) {
	pcm, g := frame()
	b.ReportAllocs()
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		EncodeULawFrame(g, pcm)
	}
}

func BenchmarkDecodeULawFrame(b *testing.B) {
	pcm, g := frame()
	b.ReportAllocs()
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		DecodeULawFrame(pcm, g)
	}
}

func BenchmarkEncodeALawFrame(b *testing.B) {
	pcm, g := frame()
	b.ReportAllocs()
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		EncodeALawFrame(g, pcm)
	}
}

func BenchmarkDecodeALawFrame(b *testing.B) {
	pcm, g := frame()
	b.ReportAllocs()
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		DecodeALawFrame(pcm, g)
	}
}

// BenchmarkEncodeULawFrameArithmetic is the reference arithmetic encoder,
// for comparison with the table.
func BenchmarkEncodeULawFrameArithmetic(b *testing.B) {
	pcm, g := frame()
	b.ReportAllocs()
	b.SetBytes(int64(len(pcm)))
	for b.Loop() {
		for i, s := range pcm {
			g[i] = compressULaw(s)
		}
	}
}

// BenchmarkBuildTables measures what the package's init costs.
func BenchmarkBuildTables(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for i := range len(ulawEncode) {
			ulawEncode[i] = compressULaw(int16(uint16(i) << 2))
		}
		for i := range len(alawEncode) {
			alawEncode[i] = compressALaw(int16(uint16(i) << 3))
		}
		for c := range 256 {
			ulawDecode[c] = expandULaw(byte(c))
			alawDecode[c] = expandALaw(byte(c))
		}
	}
}
