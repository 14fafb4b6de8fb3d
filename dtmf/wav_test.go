package dtmf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sspr-project/sspr/sip/media/g711"
)

// Helpers that build WAV files by hand, so that each broken case states
// exactly what is wrong with it.

// chunk returns a RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// chunkSized returns a chunk header claiming size followed by body, with no
// padding.
func chunkSized(id string, size uint32, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, size)...)
	return append(b, body...)
}

// riff returns a WAVE file of chunks with a correct RIFF size.
func riff(chunks ...[]byte) []byte {
	body := slices.Concat(chunks...)
	return riffSized(uint32(4+len(body)), body)
}

// riffSized returns a WAVE file with the given RIFF size.
func riffSized(size uint32, body []byte) []byte {
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, size)...)
	b = append(b, "WAVE"...)
	return append(b, body...)
}

// fmtBody returns a 16-byte fmt chunk body followed by ext.
func fmtBody(tag, channels uint16, rate, byteRate uint32, align, bits uint16, ext ...byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, byteRate)
	b = le.AppendUint16(b, align)
	b = le.AppendUint16(b, bits)
	return append(b, ext...)
}

var (
	fmtPCM  = chunk("fmt ", fmtBody(1, 1, 8000, 16000, 2, 16))
	fmtULaw = chunk("fmt ", fmtBody(7, 1, 8000, 8000, 1, 8, 0, 0))
	fmtALaw = chunk("fmt ", fmtBody(6, 1, 8000, 8000, 1, 8))
)

// extensible returns a WAVE_FORMAT_EXTENSIBLE fmt chunk body.
func extensible(sub uint16, align, bits, valid uint16) []byte {
	le := binary.LittleEndian
	ext := le.AppendUint16(nil, 22)
	ext = le.AppendUint16(ext, valid)
	ext = le.AppendUint32(ext, 4) // SPEAKER_FRONT_CENTER
	ext = le.AppendUint32(ext, uint32(sub))
	ext = append(ext, ksdataformatSubtypeTail...)
	return fmtBody(0xFFFE, 1, 8000, 8000*uint32(align), align, bits, ext...)
}

func pcmData(s ...int16) []byte {
	var b []byte
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func TestDecodeWAV(t *testing.T) {
	pcm3 := pcmData(1, -2, 32767)
	g3 := []byte{0x00, 0x7F, 0xD5}
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00sspr\x00\x00"))
	tests := []struct {
		name string
		file []byte
		enc  Encoding
		data []byte
	}{
		{"pcm16", riff(fmtPCM, chunk("data", pcm3)), EncodingPCM16, pcm3},
		{"ulaw with cbSize and fact", riff(fmtULaw, chunk("fact", []byte{3, 0, 0, 0}), chunk("data", g3)), EncodingULaw, g3},
		{"alaw 16-byte fmt", riff(fmtALaw, chunk("data", g3)), EncodingALaw, g3},
		{"empty data", riff(fmtPCM, chunk("data", nil)), EncodingPCM16, []byte{}},
		{"extensible pcm16", riff(chunk("fmt ", extensible(1, 2, 16, 16)), chunk("data", pcm3)), EncodingPCM16, pcm3},
		{"extensible pcm16 12 valid bits", riff(chunk("fmt ", extensible(1, 2, 16, 12)), chunk("data", pcm3)), EncodingPCM16, pcm3},
		{"extensible ulaw", riff(chunk("fmt ", extensible(7, 1, 8, 8)), chunk("data", g3)), EncodingULaw, g3},
		{"extensible alaw", riff(chunk("fmt ", extensible(6, 1, 8, 0)), chunk("data", g3)), EncodingALaw, g3},
		{"LIST before fmt", riff(list, fmtPCM, chunk("data", pcm3)), EncodingPCM16, pcm3},
		{"LIST after data", riff(fmtPCM, chunk("data", pcm3), list), EncodingPCM16, pcm3},
		{"odd unknown chunk with pad", riff(fmtULaw, chunk("junk", []byte{1, 2, 3}), chunk("data", g3)), EncodingULaw, g3},
		{"odd data then chunk", riff(fmtULaw, chunk("data", g3), list), EncodingULaw, g3},
		{"odd data at EOF without pad", riff(fmtULaw, chunkSized("data", 3, g3)), EncodingULaw, g3},
		{"odd data at EOF, RIFF size counts missing pad", riffSized(4+uint32(len(fmtULaw))+8+4, slices.Concat(fmtULaw, chunkSized("data", 3, g3))), EncodingULaw, g3},
		{"pcm16 odd data drops half sample", riff(fmtPCM, chunk("data", append(slices.Clone(pcm3), 9))), EncodingPCM16, pcm3},
		{"bytes after RIFF", append(riff(fmtPCM, chunk("data", pcm3)), "trailing garbage"...), EncodingPCM16, pcm3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecodeWAV(tc.file)
			if err != nil {
				t.Fatalf("DecodeWAV: %v", err)
			}
			if d.Encoding != tc.enc || !bytes.Equal(d.Data, tc.data) {
				t.Errorf("DecodeWAV = %v % x, want %v % x", d.Encoding, d.Data, tc.enc, tc.data)
			}
			pcm, enc, err := ReadWAV(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatalf("ReadWAV: %v", err)
			}
			if enc != tc.enc || len(pcm) != d.Len() {
				t.Errorf("ReadWAV = %v, %d samples; want %v, %d", enc, len(pcm), tc.enc, d.Len())
			}
		})
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	data := chunk("data", pcmData(1, 2))
	tests := []struct {
		name string
		file []byte
		want string // the whole message
	}{
		{"empty", nil, "file is 0 bytes, too short for a RIFF header"},
		{"short", []byte("RIFF\x04\x00\x00\x00WAV"), "file is 11 bytes, too short for a RIFF header"},
		{"not RIFF", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00"), `not a RIFF file (starts with "ID3\x04")`},
		{"RIFX", []byte("RIFX\x00\x00\x00\x04WAVE"), "big-endian RIFX files are not supported"},
		{"RF64", []byte("RF64\xff\xff\xff\xffWAVE"), "RF64 files are not supported"},
		{"AVI", []byte("RIFF\x04\x00\x00\x00AVI "), `RIFF form type "AVI ", want "WAVE"`},
		{"RIFF size too small", riffSized(2, slices.Concat(fmtPCM, data)), "RIFF header says 10 bytes, too short for the form type"},
		{"RIFF size too big", riffSized(1000, slices.Concat(fmtPCM, data)), "RIFF header says 1008 bytes, file has 48"},
		{"RIFF size ends inside data", riffSized(4+24+8+2, slices.Concat(fmtPCM, data)), "data chunk says 4 bytes, RIFF header leaves 2"},
		{"no chunks", riff(), "no fmt chunk"},
		{"no fmt", riff(data), "data chunk before fmt chunk"},
		{"only LIST", riff(chunk("LIST", []byte("INFO"))), "no fmt chunk"},
		{"no data", riff(fmtPCM), "no data chunk"},
		{"second fmt", riff(fmtPCM, fmtPCM, data), "second fmt chunk"},
		{"second data", riff(fmtPCM, data, data), "second data chunk"},
		{"data lies", riff(fmtPCM, chunkSized("data", 100000, make([]byte, 3000))), "data chunk says 100000 bytes, file has 3000"},
		{"sox pipe placeholder size", riff(fmtULaw, chunkSized("data", 0x7FFFF000, make([]byte, 80))), "data chunk says 2147479552 bytes, file has 80"},
		{"fmt lies", riff(chunkSized("fmt ", 40, fmtBody(1, 1, 8000, 16000, 2, 16))), "fmt chunk says 40 bytes, file has 16"},
		{"binary chunk ID lies", riff(fmtPCM, data, chunkSized("\x00\x01ab", 9, nil)), `"\x00\x01ab" chunk says 9 bytes, file has 0`},
		{"truncated chunk header", riff(fmtPCM, data, []byte("LIS")), "truncated chunk header at byte 48"},
		{"truncated file", riff(fmtPCM, data)[:40], "RIFF header says 48 bytes, file has 40"},
		{"fmt too short", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16000, 2, 16)[:14]), data), "fmt chunk is 14 bytes, want at least 16"},
		{"16 kHz", riff(chunk("fmt ", fmtBody(1, 1, 16000, 32000, 2, 16)), data), "sample rate 16000 Hz, want 8000"},
		{"zero rate", riff(chunk("fmt ", fmtBody(1, 1, 0, 0, 2, 16)), data), "sample rate 0 Hz, want 8000"},
		{"stereo", riff(chunk("fmt ", fmtBody(1, 2, 8000, 32000, 4, 16)), data), "stereo, want mono"},
		{"six channels", riff(chunk("fmt ", fmtBody(1, 6, 8000, 96000, 12, 16)), data), "6 channels, want mono"},
		{"no channels", riff(chunk("fmt ", fmtBody(1, 0, 8000, 0, 0, 16)), data), "0 channels, want mono"},
		{"8-bit PCM", riff(chunk("fmt ", fmtBody(1, 1, 8000, 8000, 1, 8)), data), "8-bit PCM, want 16-bit"},
		{"24-bit PCM", riff(chunk("fmt ", fmtBody(1, 1, 8000, 24000, 3, 24)), data), "24-bit PCM, want 16-bit"},
		{"16-bit A-law", riff(chunk("fmt ", fmtBody(6, 1, 8000, 16000, 2, 16)), data), "16-bit A-law, want 8-bit"},
		{"16-bit µ-law", riff(chunk("fmt ", fmtBody(7, 1, 8000, 16000, 2, 16)), data), "16-bit µ-law, want 8-bit"},
		{"float", riff(chunk("fmt ", fmtBody(3, 1, 8000, 32000, 4, 32)), data), "format 0x0003 (IEEE float) is not supported, want PCM, A-law or µ-law"},
		{"MP3", riff(chunk("fmt ", fmtBody(0x55, 1, 8000, 1000, 1, 0)), data), "format 0x0055 (MP3) is not supported, want PCM, A-law or µ-law"},
		{"unknown format", riff(chunk("fmt ", fmtBody(0x1234, 1, 8000, 8000, 1, 8)), data), "format 0x1234 is not supported, want PCM, A-law or µ-law"},
		{"format zero", riff(chunk("fmt ", fmtBody(0, 1, 8000, 8000, 1, 8)), data), "format 0x0000 is not supported, want PCM, A-law or µ-law"},
		{"block align", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16000, 4, 16)), data), "block align 4, want 2"},
		{"byte rate", riff(chunk("fmt ", fmtBody(7, 1, 8000, 16000, 1, 8)), data), "byte rate 16000, want 8000"},
		{"extensible too short", riff(chunk("fmt ", fmtBody(0xFFFE, 1, 8000, 16000, 2, 16, 0, 0)), data), "WAVE_FORMAT_EXTENSIBLE fmt chunk is 18 bytes, want 40"},
		{"extensible cbSize", riff(chunk("fmt ", func() []byte { b := extensible(1, 2, 16, 16); b[16] = 0; return b }()), data), "WAVE_FORMAT_EXTENSIBLE extension is 0 bytes, want 22"},
		{"extensible bad GUID", riff(chunk("fmt ", func() []byte { b := extensible(1, 2, 16, 16); b[39] = 0; return b }()), data), "WAVE_FORMAT_EXTENSIBLE sub-format 0100000000001000800000aa00389b00 is not a format tag"},
		{"extensible float", riff(chunk("fmt ", extensible(3, 4, 32, 32)), data), "format 0x0003 (IEEE float) is not supported, want PCM, A-law or µ-law"},
		{"extensible valid bits", riff(chunk("fmt ", extensible(1, 2, 16, 20)), data), "20 valid bits in a 16-bit sample"},
		{"extensible stereo", riff(chunk("fmt ", func() []byte { b := extensible(1, 4, 16, 16); b[2] = 2; return b }()), data), "stereo, want mono"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := "dtmf: wav: " + tc.want
			d, err := DecodeWAV(tc.file)
			if err == nil {
				t.Fatalf("DecodeWAV = %v, %d bytes; want error %q", d.Encoding, len(d.Data), want)
			}
			if !errors.Is(err, ErrWAV) || err.Error() != want {
				t.Errorf("DecodeWAV error = %q, want %q wrapping ErrWAV", err, want)
			}
			pcm, _, err := ReadWAV(bytes.NewReader(tc.file))
			if err == nil || err.Error() != want || pcm != nil {
				t.Errorf("ReadWAV = %d samples, %v; want error %q", len(pcm), err, want)
			}
		})
	}
}

func TestDecodeWAVSizeLimits(t *testing.T) {
	t.Run("data chunk over limit", func(t *testing.T) {
		file := riff(fmtULaw, chunk("data", make([]byte, MaxWAVData+2)))
		_, err := DecodeWAV(file)
		want := "dtmf: wav: data chunk of 67108866 bytes is over the 64 MiB limit"
		if err == nil || err.Error() != want {
			t.Errorf("DecodeWAV error = %v, want %q", err, want)
		}
	})
	t.Run("data chunk at limit", func(t *testing.T) {
		file := riff(fmtULaw, chunk("data", make([]byte, MaxWAVData)))
		if d, err := DecodeWAV(file); err != nil || d.Len() != MaxWAVData {
			t.Errorf("DecodeWAV = %v; want %d samples", err, MaxWAVData)
		}
	})
	t.Run("file over limit", func(t *testing.T) {
		_, err := DecodeWAV(make([]byte, maxWAVFile+1))
		want := "dtmf: wav: file is 68157441 bytes, over the 65 MiB limit"
		if err == nil || err.Error() != want {
			t.Errorf("DecodeWAV error = %v, want %q", err, want)
		}
	})
	t.Run("endless reader", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(riffSized(math.MaxUint32, fmtULaw)), zeros{})
		_, _, err := ReadWAV(r)
		want := "dtmf: wav: file is over the 65 MiB limit"
		if err == nil || err.Error() != want || !errors.Is(err, ErrWAV) {
			t.Errorf("ReadWAV error = %v, want %q", err, want)
		}
	})
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReadWAVReadError(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := ReadWAV(io.MultiReader(bytes.NewReader(riff(fmtPCM)), failingReader{boom}))
	if !errors.Is(err, boom) || errors.Is(err, ErrWAV) {
		t.Errorf("ReadWAV error = %v, want one wrapping %v and not ErrWAV", err, boom)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestSoxFixtures reads files made by sox (see testdata/wav/README) and
// compares them with sox's own 16-bit decoding of each.
func TestSoxFixtures(t *testing.T) {
	tests := []struct {
		file string
		enc  Encoding
	}{
		{"sox-pcm16", EncodingPCM16},
		{"sox-ulaw", EncodingULaw},
		{"sox-alaw", EncodingALaw},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			file, err := os.ReadFile(filepath.Join("testdata", "wav", tc.file+".wav"))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join("testdata", "wav", tc.file+".s16"))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int16, len(raw)/2)
			for i := range want {
				want[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
			}
			pcm, enc, err := ReadWAV(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if enc != tc.enc || !slices.Equal(pcm, want) {
				t.Errorf("ReadWAV = %v %v, want %v %v", enc, pcm, tc.enc, want)
			}
			d, err := DecodeWAV(file)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != 81 {
				t.Errorf("Len = %d, want 81", d.Len())
			}
			// Writing the samples back gives sox's file byte for byte:
			// same header layout (18-byte fmt and fact chunk for G.711,
			// pad byte after odd data) and, as none of these samples is
			// µ-law's negative zero, the same codes.
			var buf bytes.Buffer
			if err := WriteWAV(&buf, pcm, enc); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), file) {
				t.Errorf("WriteWAV differs from sox's file:\n got % x\nwant % x", buf.Bytes(), file)
			}
		})
	}
	refused := []struct {
		file string
		want string
	}{
		{"sox-stereo", "dtmf: wav: stereo, want mono"},
		{"sox-16k", "dtmf: wav: sample rate 16000 Hz, want 8000"},
	}
	for _, tc := range refused {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "wav", tc.file+".wav"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, _, err := ReadWAV(f); err == nil || err.Error() != tc.want {
				t.Errorf("ReadWAV error = %v, want %q", err, tc.want)
			}
		})
	}
}

// testSignal returns every 16-bit value once, then some tones.
func testSignal(t testing.TB) []int16 {
	pcm := make([]int16, 0, 65536+8000)
	for i := math.MinInt16; i <= math.MaxInt16; i++ {
		pcm = append(pcm, int16(i))
	}
	pcm, err := AppendTones(pcm, "4827#", ToneConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

func TestWAVRoundTrip(t *testing.T) {
	signal := testSignal(t)
	tests := []struct {
		enc     Encoding
		samples int
		through func(int16) int16 // what the encoding does to a sample
	}{
		{EncodingPCM16, len(signal), func(s int16) int16 { return s }},
		{EncodingULaw, len(signal), func(s int16) int16 { return g711.DecodeULaw(g711.EncodeULaw(s)) }},
		{EncodingALaw, len(signal), func(s int16) int16 { return g711.DecodeALaw(g711.EncodeALaw(s)) }},
		{EncodingULaw, 3, func(s int16) int16 { return g711.DecodeULaw(g711.EncodeULaw(s)) }},
		{EncodingPCM16, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.enc.String(), func(t *testing.T) {
			in := signal[:tc.samples]
			var buf bytes.Buffer
			if err := WriteWAV(&buf, in, tc.enc); err != nil {
				t.Fatal(err)
			}
			if buf.Len()%2 != 0 {
				t.Errorf("file is %d bytes, want even (pad byte)", buf.Len())
			}
			if got := binary.LittleEndian.Uint32(buf.Bytes()[4:]); int(got) != buf.Len()-8 {
				t.Errorf("RIFF size %d, file %d bytes", got, buf.Len())
			}
			out, enc, err := ReadWAV(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if enc != tc.enc || len(out) != len(in) {
				t.Fatalf("ReadWAV = %v, %d samples; want %v, %d", enc, len(out), tc.enc, len(in))
			}
			for i, s := range in {
				if want := tc.through(s); out[i] != want {
					t.Fatalf("sample %d: wrote %d, read %d, want %d", i, s, out[i], want)
				}
			}
		})
	}
}

// TestWAVSox checks that sox reads what WriteWAV writes as we meant it. sox
// must be installed (`make test` installs it).
func TestWAVSox(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Fatalf("sox not found (%v): install it (Debian: apt-get install sox) or run `make test`, which does", err)
	}
	signal := testSignal(t)
	for _, enc := range []Encoding{EncodingPCM16, EncodingULaw, EncodingALaw} {
		t.Run(enc.String(), func(t *testing.T) {
			in := signal[:len(signal)-1] // an odd count, to exercise the pad byte
			path := filepath.Join(t.TempDir(), "in.wav")
			var buf bytes.Buffer
			if err := WriteWAV(&buf, in, enc); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			want, _, err := ReadWAV(&buf)
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(sox, "-D", "-V1", path, "-t", "raw", "-e", "signed-integer", "-b", "16", "-")
			cmd.Stderr = &stderr
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("sox: %v: %s", err, stderr.Bytes())
			}
			if len(raw) != 2*len(want) {
				t.Fatalf("sox read %d samples, want %d", len(raw)/2, len(want))
			}
			for i, w := range want {
				if got := int16(binary.LittleEndian.Uint16(raw[2*i:])); got != w {
					t.Fatalf("sample %d: sox %d, ReadWAV %d", i, got, w)
				}
			}
		})
	}
}

func TestWriteWAVErrors(t *testing.T) {
	t.Run("bad encoding", func(t *testing.T) {
		err := WriteWAV(io.Discard, []int16{1}, Encoding(3))
		want := "dtmf: wav: cannot write encoding Encoding(0x0003)"
		if err == nil || err.Error() != want || !errors.Is(err, ErrWAV) {
			t.Errorf("WriteWAV error = %v, want %q", err, want)
		}
	})
	t.Run("too long", func(t *testing.T) {
		err := WriteWAV(io.Discard, make([]int16, MaxWAVData/2+1), EncodingPCM16)
		want := "dtmf: wav: 33554433 samples of pcm16 is over the 64 MiB limit"
		if err == nil || err.Error() != want {
			t.Errorf("WriteWAV error = %v, want %q", err, want)
		}
	})
	t.Run("writer fails", func(t *testing.T) {
		boom := errors.New("disk full")
		err := WriteWAV(failingWriter{boom}, []int16{1}, EncodingULaw)
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "dtmf: writing wav: ") {
			t.Errorf("WriteWAV error = %v, want one wrapping %v", err, boom)
		}
	})
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestEncodingString(t *testing.T) {
	tests := []struct {
		enc  Encoding
		want string
	}{
		{EncodingPCM16, "pcm16"},
		{EncodingALaw, "alaw"},
		{EncodingULaw, "ulaw"},
		{0xFFFE, "Encoding(0xfffe)"},
	}
	for _, tc := range tests {
		if got := tc.enc.String(); got != tc.want {
			t.Errorf("Encoding(%d).String() = %q, want %q", uint16(tc.enc), got, tc.want)
		}
	}
}

func TestAppendPCM(t *testing.T) {
	d := &WAVData{Encoding: EncodingULaw, Data: []byte{0x00, 0x80}}
	got := d.AppendPCM([]int16{5})
	if want := []int16{5, -32124, 32124}; !slices.Equal(got, want) {
		t.Errorf("AppendPCM = %v, want %v", got, want)
	}
	d = &WAVData{Encoding: EncodingPCM16, Data: []byte{1, 0, 0xFF, 0xFF, 7}}
	if got, want := d.AppendPCM(nil), []int16{1, -1}; !slices.Equal(got, want) {
		t.Errorf("AppendPCM = %v, want %v", got, want)
	}
}

func FuzzReadWAV(f *testing.F) {
	for _, name := range []string{"sox-pcm16.wav", "sox-ulaw.wav", "sox-alaw.wav", "sox-stereo.wav"} {
		b, err := os.ReadFile(filepath.Join("testdata", "wav", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(riff(chunk("fmt ", extensible(7, 1, 8, 8)), chunk("LIST", []byte("INFO")), chunkSized("data", 3, []byte{1, 2, 3})))
	f.Add(riff(fmtPCM, chunk("data", pcmData(1, 2, 3)), chunk("junk", []byte{1})))
	f.Fuzz(func(t *testing.T, file []byte) {
		pcm, enc, err := ReadWAV(bytes.NewReader(file))
		d, derr := DecodeWAV(file)
		if (err == nil) != (derr == nil) {
			t.Fatalf("ReadWAV error %v, DecodeWAV error %v", err, derr)
		}
		if err != nil {
			if !errors.Is(err, ErrWAV) {
				t.Fatalf("error %v does not wrap ErrWAV", err)
			}
			return
		}
		if d.Encoding != enc || d.Len() != len(pcm) {
			t.Fatalf("DecodeWAV = %v, %d samples; ReadWAV %v, %d", d.Encoding, d.Len(), enc, len(pcm))
		}
		var buf bytes.Buffer
		if err := WriteWAV(&buf, pcm, enc); err != nil {
			t.Fatalf("WriteWAV: %v", err)
		}
		pcm2, enc2, err := ReadWAV(&buf)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		if enc2 != enc || !slices.Equal(pcm2, pcm) {
			t.Fatalf("read back %v %d samples, want %v %d", enc2, len(pcm2), enc, len(pcm))
		}
	})
}
