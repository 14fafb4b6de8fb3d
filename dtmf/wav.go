package dtmf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sspr-project/sspr/sip/media/g711"
)

// Encoding is how a WAV file stores its samples: its WAVE format tag.
type Encoding uint16

// The encodings of the WAV files this package reads and writes, all 8 kHz
// mono.
const (
	// EncodingPCM16 is 16-bit little-endian linear PCM (WAVE_FORMAT_PCM).
	EncodingPCM16 Encoding = 1
	// EncodingALaw is 8-bit G.711 A-law (WAVE_FORMAT_ALAW).
	EncodingALaw Encoding = 6
	// EncodingULaw is 8-bit G.711 µ-law (WAVE_FORMAT_MULAW).
	EncodingULaw Encoding = 7
)

// String returns "pcm16", "alaw" or "ulaw", or the format tag in hex for
// any other value.
func (e Encoding) String() string {
	switch e {
	case EncodingPCM16:
		return "pcm16"
	case EncodingALaw:
		return "alaw"
	case EncodingULaw:
		return "ulaw"
	}
	return fmt.Sprintf("Encoding(%#04x)", uint16(e))
}

// bytesPerSample returns the size of one sample of e, or 0 if e is not one
// of the three encodings.
func (e Encoding) bytesPerSample() int {
	switch e {
	case EncodingPCM16:
		return 2
	case EncodingALaw, EncodingULaw:
		return 1
	}
	return 0
}

// MaxWAVData is the largest data chunk, in bytes, that [DecodeWAV] and
// [ReadWAV] accept and [WriteWAV] writes: about 70 minutes of 16-bit PCM
// or 140 minutes of G.711 at 8 kHz.
const MaxWAVData = 64 << 20

// maxWAVFile is the largest file accepted: MaxWAVData plus room for the
// header and other chunks.
const maxWAVFile = MaxWAVData + 1<<20

// ErrWAV is returned, wrapped with a description of the problem, for a WAV
// file that is malformed or is not 8 kHz mono 16-bit PCM, A-law or µ-law.
var ErrWAV = errors.New("dtmf: wav")

// wavErrorf returns ErrWAV wrapped with a formatted detail.
func wavErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrWAV}, args...)...)
}

// WAVData is a WAV file's audio as stored, for callers that keep G.711
// bytes as they are (a prompt played to a PCMU call needs no conversion).
type WAVData struct {
	// Encoding is how Data is stored.
	Encoding Encoding
	// Data is the sample data: little-endian 16-bit samples for
	// EncodingPCM16, one G.711 code per sample otherwise. [DecodeWAV]
	// returns a Data that aliases its input.
	Data []byte
}

// Len returns the number of samples in d.
func (d *WAVData) Len() int {
	if d.Encoding == EncodingPCM16 {
		return len(d.Data) / 2
	}
	return len(d.Data)
}

// AppendPCM appends d's samples to dst as 16-bit PCM, decoding G.711, and
// returns the extended slice.
func (d *WAVData) AppendPCM(dst []int16) []int16 {
	n := d.Len()
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	switch d.Encoding {
	case EncodingPCM16:
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(d.Data[2*i:]))
		}
	case EncodingALaw:
		g711.DecodeALawFrame(out, d.Data)
	case EncodingULaw:
		g711.DecodeULawFrame(out, d.Data)
	}
	return dst
}

// ReadWAV reads a whole WAV file from r and returns its samples as 16-bit
// PCM, decoding G.711, with the encoding the file used. See [DecodeWAV] for
// what it accepts.
func ReadWAV(r io.Reader) (pcm []int16, enc Encoding, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxWAVFile+1))
	if err != nil {
		return nil, 0, fmt.Errorf("dtmf: reading wav: %w", err)
	}
	if len(data) > maxWAVFile {
		return nil, 0, wavErrorf("file is over the %d MiB limit", maxWAVFile>>20)
	}
	d, err := DecodeWAV(data)
	if err != nil {
		return nil, 0, err
	}
	return d.AppendPCM(make([]int16, 0, d.Len())), d.Encoding, nil
}

// DecodeWAV parses the WAV file in data without converting its samples.
//
// It accepts 8 kHz mono files of 16-bit PCM (format tag 1), 8-bit A-law
// (6) or 8-bit µ-law (7), or WAVE_FORMAT_EXTENSIBLE (0xFFFE) with one of
// those as its sub-format, with at most [MaxWAVData] bytes of samples. The
// fmt chunk may have the 2-byte extension size (as sox writes for G.711);
// chunks other than fmt and data (fact, LIST, ...) are skipped. A chunk of
// odd size is followed by a pad byte, which may be missing at the end of the
// file; a final odd byte in 16-bit PCM data is ignored. Bytes after the
// length the RIFF header gives are ignored.
//
// Anything else, including sizes that disagree with the file, returns an
// error wrapping [ErrWAV] that says what is wrong. DecodeWAV allocates
// nothing in proportion to the sizes the file claims.
func DecodeWAV(data []byte) (*WAVData, error) {
	if len(data) > maxWAVFile {
		return nil, wavErrorf("file is %d bytes, over the %d MiB limit", len(data), maxWAVFile>>20)
	}
	if len(data) < 12 {
		return nil, wavErrorf("file is %d bytes, too short for a RIFF header", len(data))
	}
	switch id := string(data[:4]); id {
	case "RIFF":
	case "RIFX":
		return nil, wavErrorf("big-endian RIFX files are not supported")
	case "RF64":
		return nil, wavErrorf("RF64 files are not supported")
	default:
		return nil, wavErrorf("not a RIFF file (starts with %q)", id)
	}
	if form := string(data[8:12]); form != "WAVE" {
		return nil, wavErrorf("RIFF form type %q, want \"WAVE\"", form)
	}
	riffEnd := uint64(binary.LittleEndian.Uint32(data[4:])) + 8
	switch {
	case riffEnd < 12:
		return nil, wavErrorf("RIFF header says %d bytes, too short for the form type", riffEnd)
	case riffEnd > uint64(len(data))+1: // +1: the last pad byte may be missing
		return nil, wavErrorf("RIFF header says %d bytes, file has %d", riffEnd, len(data))
	}
	body := data[12:min(riffEnd, uint64(len(data)))]

	var (
		enc     Encoding
		haveFmt bool
		out     *WAVData
	)
	for off := 0; off < len(body); {
		if len(body)-off < 8 {
			return nil, wavErrorf("truncated chunk header at byte %d", 12+off)
		}
		id := string(body[off : off+4])
		size := uint64(binary.LittleEndian.Uint32(body[off+4:]))
		start := off + 8
		if avail := uint64(len(body) - start); size > avail {
			if uint64(len(data)-12-start) >= size {
				return nil, wavErrorf("%s chunk says %d bytes, RIFF header leaves %d", chunkName(id), size, avail)
			}
			return nil, wavErrorf("%s chunk says %d bytes, file has %d", chunkName(id), size, avail)
		}
		chunk := body[start : start+int(size)]
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, wavErrorf("second fmt chunk")
			}
			var err error
			if enc, err = parseFmt(chunk); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, wavErrorf("data chunk before fmt chunk")
			}
			if out != nil {
				return nil, wavErrorf("second data chunk")
			}
			if size > MaxWAVData {
				return nil, wavErrorf("data chunk of %d bytes is over the %d MiB limit", size, MaxWAVData>>20)
			}
			if enc == EncodingPCM16 {
				chunk = chunk[:len(chunk)&^1]
			}
			out = &WAVData{Encoding: enc, Data: chunk}
		}
		off = start + int(size) + int(size&1)
	}
	switch {
	case !haveFmt:
		return nil, wavErrorf("no fmt chunk")
	case out == nil:
		return nil, wavErrorf("no data chunk")
	}
	return out, nil
}

// chunkName returns a chunk ID for an error message: without its trailing
// spaces if it is printable ASCII, quoted otherwise.
func chunkName(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7E || id[i] == '"' {
			return fmt.Sprintf("%q", id)
		}
	}
	if t := strings.TrimRight(id, " "); t != "" {
		return t
	}
	return fmt.Sprintf("%q", id)
}

// ksdataformatSubtypeTail is the part of the KSDATAFORMAT_SUBTYPE_* GUIDs
// that follows the format tag in WAVE_FORMAT_EXTENSIBLE, in file order.
var ksdataformatSubtypeTail = []byte{
	0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
}

// formatNames names some format tags that are not supported, for errors.
var formatNames = map[uint16]string{
	0x0002: "Microsoft ADPCM",
	0x0003: "IEEE float",
	0x0011: "IMA ADPCM",
	0x0031: "GSM 6.10",
	0x0040: "G.721 ADPCM",
	0x0050: "MPEG",
	0x0055: "MP3",
}

// parseFmt checks a fmt chunk and returns its encoding.
func parseFmt(c []byte) (Encoding, error) {
	if len(c) < 16 {
		return 0, wavErrorf("fmt chunk is %d bytes, want at least 16", len(c))
	}
	tag := binary.LittleEndian.Uint16(c[0:])
	channels := binary.LittleEndian.Uint16(c[2:])
	rate := binary.LittleEndian.Uint32(c[4:])
	byteRate := binary.LittleEndian.Uint32(c[8:])
	blockAlign := binary.LittleEndian.Uint16(c[12:])
	bits := binary.LittleEndian.Uint16(c[14:])
	if tag == 0xFFFE {
		if len(c) < 40 {
			return 0, wavErrorf("WAVE_FORMAT_EXTENSIBLE fmt chunk is %d bytes, want 40", len(c))
		}
		if cb := binary.LittleEndian.Uint16(c[16:]); cb < 22 {
			return 0, wavErrorf("WAVE_FORMAT_EXTENSIBLE extension is %d bytes, want 22", cb)
		}
		guid := c[24:40]
		sub := binary.LittleEndian.Uint32(guid)
		if !bytes.Equal(guid[4:], ksdataformatSubtypeTail) || sub > 0xFFFF {
			return 0, wavErrorf("WAVE_FORMAT_EXTENSIBLE sub-format %x is not a format tag", guid)
		}
		if valid := binary.LittleEndian.Uint16(c[18:]); valid > bits {
			return 0, wavErrorf("%d valid bits in a %d-bit sample", valid, bits)
		}
		tag = uint16(sub)
	}
	enc := Encoding(tag)
	var name string
	switch enc {
	case EncodingPCM16:
		name = "PCM"
	case EncodingALaw:
		name = "A-law"
	case EncodingULaw:
		name = "µ-law"
	default:
		if n, ok := formatNames[tag]; ok {
			return 0, wavErrorf("format %#04x (%s) is not supported, want PCM, A-law or µ-law", tag, n)
		}
		return 0, wavErrorf("format %#04x is not supported, want PCM, A-law or µ-law", tag)
	}
	switch {
	case channels == 2:
		return 0, wavErrorf("stereo, want mono")
	case channels != 1:
		return 0, wavErrorf("%d channels, want mono", channels)
	case rate != SampleRate:
		return 0, wavErrorf("sample rate %d Hz, want %d", rate, SampleRate)
	}
	if want := 8 * enc.bytesPerSample(); int(bits) != want {
		return 0, wavErrorf("%d-bit %s, want %d-bit", bits, name, want)
	}
	if want := enc.bytesPerSample(); int(blockAlign) != want {
		return 0, wavErrorf("block align %d, want %d", blockAlign, want)
	}
	if want := uint32(SampleRate * enc.bytesPerSample()); byteRate != want {
		return 0, wavErrorf("byte rate %d, want %d", byteRate, want)
	}
	return enc, nil
}

// WriteWAV writes pcm to w as an 8 kHz mono WAV file in encoding enc,
// encoding G.711 if asked. The G.711 forms carry the 18-byte fmt chunk and
// the fact chunk that non-PCM WAV files should have.
func WriteWAV(w io.Writer, pcm []int16, enc Encoding) error {
	bps := enc.bytesPerSample()
	if bps == 0 {
		return fmt.Errorf("%w: cannot write encoding %v", ErrWAV, enc)
	}
	if len(pcm) > MaxWAVData/bps {
		return wavErrorf("%d samples of %v is over the %d MiB limit", len(pcm), enc, MaxWAVData>>20)
	}
	n := len(pcm) * bps
	pad := n & 1
	fmtSize, factSize := 16, 0
	if enc != EncodingPCM16 {
		fmtSize, factSize = 18, 8+4
	}
	riffSize := 4 + 8 + fmtSize + factSize + 8 + n + pad

	b := make([]byte, 0, 8+riffSize)
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(riffSize))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, uint32(fmtSize))
	b = le.AppendUint16(b, uint16(enc))
	b = le.AppendUint16(b, 1) // channels
	b = le.AppendUint32(b, SampleRate)
	b = le.AppendUint32(b, uint32(SampleRate*bps)) // byte rate
	b = le.AppendUint16(b, uint16(bps))            // block align
	b = le.AppendUint16(b, uint16(8*bps))          // bits per sample
	if enc != EncodingPCM16 {
		b = le.AppendUint16(b, 0) // extension size
		b = append(b, "fact"...)
		b = le.AppendUint32(b, 4)
		b = le.AppendUint32(b, uint32(len(pcm)))
	}
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(n))
	switch enc {
	case EncodingPCM16:
		for _, s := range pcm {
			b = le.AppendUint16(b, uint16(s))
		}
	case EncodingALaw:
		b = b[:len(b)+n]
		g711.EncodeALawFrame(b[len(b)-n:], pcm)
	case EncodingULaw:
		b = b[:len(b)+n]
		g711.EncodeULawFrame(b[len(b)-n:], pcm)
	}
	if pad == 1 {
		b = append(b, 0)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("dtmf: writing wav: %w", err)
	}
	return nil
}
