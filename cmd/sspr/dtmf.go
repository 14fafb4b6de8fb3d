package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// frameSamples is how much audio the decoder feeds the detector at a time:
// 20 ms, one RTP packet's worth.
const frameSamples = 160

// runDTMFDecode is "sspr dtmf decode [--events] FILE.wav...".
func runDTMFDecode(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet("dtmf decode", "[--events] FILE.wav...", `
Print the DTMF digits heard in each 8 kHz mono WAV file (16-bit PCM, A-law
or µ-law) on one line, or an empty line if there are none. With several
files, each line is FILE<TAB>DIGITS. "-" reads standard input.

With --events, print one line per digit instead: START_MS END_MS DIGIT, in
milliseconds from the start of the file (FILE<TAB> first with several files).

Exit status is 1 if any file cannot be read or is not a supported WAV file;
the others are still printed.`)
	events := flags.Bool("events", false, "print one line per digit with its start and end in ms")
	files, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	if len(files) == 0 {
		return flags.usageError(e, "no input files")
	}
	det, err := dtmf.NewDetector(dtmf.DetectorConfig{})
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr dtmf decode: %v\n", err)
		return exitFail
	}
	out := bufio.NewWriter(e.stdout)
	status = exitOK
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			out.Flush()
			fmt.Fprintf(e.stderr, "sspr dtmf decode: %v\n", err)
			return exitFail
		}
		tones, err := decodeFile(det, name, e.stdin)
		if err != nil {
			out.Flush() // keep stdout and stderr in order on a terminal
			fmt.Fprintf(e.stderr, "sspr dtmf decode: %s: %v\n", name, err)
			status = exitFail
			continue
		}
		prefix := ""
		if len(files) > 1 {
			prefix = name + "\t"
		}
		if *events {
			for _, t := range tones {
				fmt.Fprintf(out, "%s%d %d %c\n", prefix, samplesToMS(t.Start), samplesToMS(t.End), t.Key)
			}
			continue
		}
		digits := make([]byte, len(tones))
		for i, t := range tones {
			digits[i] = t.Key
		}
		fmt.Fprintf(out, "%s%s\n", prefix, digits)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(e.stderr, "sspr dtmf decode: writing output: %v\n", err)
		return exitFail
	}
	return status
}

// decodeFile returns the tones in the WAV file name ("-" for stdin).
func decodeFile(det *dtmf.Detector, name string, stdin io.Reader) ([]dtmf.Tone, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, pe.Err // the caller names the file
			}
			return nil, err
		}
		defer f.Close()
		r = f
	}
	pcm, _, err := dtmf.ReadWAV(r)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err // "is a directory"
		}
		return nil, err
	}
	det.Reset()
	var tones []dtmf.Tone
	for len(pcm) > 0 {
		n := min(frameSamples, len(pcm))
		tones = det.Detect(pcm[:n], tones)
		pcm = pcm[n:]
	}
	return det.Flush(tones), nil
}

// samplesToMS converts a sample position at 8 kHz to milliseconds, rounded
// to the nearest.
func samplesToMS(n int64) int64 {
	return (n*1000 + dtmf.SampleRate/2) / dtmf.SampleRate
}

// Limits on dtmf gen's durations, so that the arithmetic cannot overflow;
// the WAV size limit bounds the total.
const maxGenDuration = time.Hour

// encodings are the --format values of dtmf gen.
var encodings = []dtmf.Encoding{dtmf.EncodingPCM16, dtmf.EncodingULaw, dtmf.EncodingALaw}

// runDTMFGen is "sspr dtmf gen --digits KEYS [flags] OUT.wav".
func runDTMFGen(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet("dtmf gen", "--digits KEYS [flags] OUT.wav", `
Write the DTMF tones of KEYS (0-9, *, #, A-D) to OUT.wav, an 8 kHz mono WAV
file; "-" writes to standard output. Each key sounds for --on and is
followed by --off of silence.`)
	digits := flags.String("digits", "", "the keys to send: 0-9, *, #, A-D (required)")
	on := flags.Duration("on", 100*time.Millisecond, "how long each key sounds")
	off := flags.Duration("off", 100*time.Millisecond, "the silence after each key (0 for none)")
	level := flags.Float64("level", dtmf.DefaultToneLevel, "level of the low-group tone in dBm0")
	twist := flags.Float64("twist", 0, "level of the high-group tone relative to the low-group tone, in dB")
	format := flags.String("format", "pcm16", "sample format: pcm16, ulaw or alaw")
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	switch {
	case len(operands) == 0:
		return flags.usageError(e, "missing output file")
	case len(operands) > 1:
		return flags.usageError(e, "unexpected argument %q after the output file", operands[1])
	}
	outName := operands[0]

	if *digits == "" {
		return flags.usageError(e, "--digits is required")
	}
	keys := make([]byte, 0, len(*digits))
	for _, r := range *digits {
		if r >= 'a' && r <= 'd' {
			r -= 'a' - 'A'
		}
		if r > 0x7F || !dtmf.ValidKey(byte(r)) {
			return flags.usageError(e, "--digits: %q is not a DTMF key (0-9, *, #, A-D)", r)
		}
		keys = append(keys, byte(r))
	}
	var enc dtmf.Encoding
	for _, x := range encodings {
		if x.String() == *format {
			enc = x
		}
	}
	if enc == 0 {
		return flags.usageError(e, "--format %q: want pcm16, ulaw or alaw", *format)
	}
	switch {
	case *on <= 0:
		return flags.usageError(e, "--on %v: must be positive", *on)
	case *on > maxGenDuration:
		return flags.usageError(e, "--on %v: over %v", *on, maxGenDuration)
	case *off < 0:
		return flags.usageError(e, "--off %v: must not be negative", *off)
	case *off > maxGenDuration:
		return flags.usageError(e, "--off %v: over %v", *off, maxGenDuration)
	}
	samples := int64(len(keys)) * int64(dtmf.Samples(*on)+dtmf.Samples(*off))
	bps := int64(2)
	if enc != dtmf.EncodingPCM16 {
		bps = 1
	}
	if samples > dtmf.MaxWAVData/bps {
		return flags.usageError(e, "%d keys of --on %v and --off %v are longer than a WAV file may be (%d MiB)",
			len(keys), *on, *off, dtmf.MaxWAVData>>20)
	}
	switch {
	case math.IsNaN(*level) || math.IsInf(*level, 0):
		return flags.usageError(e, "--level %v: not a number", *level)
	case math.IsNaN(*twist) || math.IsInf(*twist, 0):
		return flags.usageError(e, "--twist %v: not a number", *twist)
	case *level > dtmf.MaxSineDBm0:
		return flags.usageError(e, "--level %g dBm0: above full scale (%g dBm0)", *level, dtmf.MaxSineDBm0)
	case *level+*twist > dtmf.MaxSineDBm0:
		return flags.usageError(e, "--level %g dBm0 with --twist %g dB: the high-group tone is above full scale (%g dBm0)", *level, *twist, dtmf.MaxSineDBm0)
	}

	cfg := dtmf.ToneConfig{On: *on, Off: *off, Level: *level, Twist: *twist}
	if *off == 0 {
		cfg.Off = -1 // ToneConfig's zero means the default; negative means none
	}
	if *level == 0 {
		// ToneConfig's zero means the default level; the nearest value
		// below zero gives the same amplitude as 0 dBm0.
		cfg.Level = math.Nextafter(0, -1)
	}
	pcm, err := dtmf.AppendTones(make([]int16, 0, samples), string(keys), cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr dtmf gen: %v\n", err)
		return exitFail
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(e.stderr, "sspr dtmf gen: %v\n", err)
		return exitFail
	}
	if err := writeWAVFile(outName, e.stdout, pcm, enc); err != nil {
		fmt.Fprintf(e.stderr, "sspr dtmf gen: %v\n", err)
		return exitFail
	}
	return exitOK
}

// writeWAVFile writes pcm to the file name, or to stdout for "-". A file
// this call created is removed if it could not be written completely; an
// existing file (or device) is overwritten in place and never removed.
func writeWAVFile(name string, stdout io.Writer, pcm []int16, enc dtmf.Encoding) error {
	if name == "-" {
		return dtmf.WriteWAV(stdout, pcm, enc)
	}
	created := true
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		created = false
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	}
	if err != nil {
		return err
	}
	err = dtmf.WriteWAV(f, pcm, enc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if created {
			os.Remove(name)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
