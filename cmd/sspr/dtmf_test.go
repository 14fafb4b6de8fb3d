package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

// writeWAV writes pcm to a new file in dir and returns its path.
func writeWAV(t *testing.T, dir, name string, pcm []int16, enc dtmf.Encoding) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dtmf.WriteWAV(&buf, pcm, enc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// silence returns a WAV file of one second of silence.
func silence(t *testing.T, dir, name string) string {
	return writeWAV(t, dir, name, make([]int16, 8000), dtmf.EncodingPCM16)
}

// stereo returns a WAV file whose header says it has two channels.
func stereo(t *testing.T, dir, name string) string {
	t.Helper()
	path := writeWAV(t, dir, name, make([]int16, 800), dtmf.EncodingPCM16)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[22] = 2 // channels
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gen runs "sspr dtmf gen" and fails the test unless it succeeds quietly.
func gen(t *testing.T, args ...string) {
	t.Helper()
	stdout, stderr, code := runSSPR(t, nil, append([]string{"dtmf", "gen"}, args...)...)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("sspr dtmf gen %s = %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout, stderr)
	}
}

// readWAV reads a WAV file.
func readWAV(t *testing.T, path string) ([]int16, dtmf.Encoding) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, enc, err := dtmf.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	return pcm, enc
}

func TestDecodeContract(t *testing.T) {
	dir := t.TempDir()
	quiet := silence(t, dir, "quiet.wav")
	quiet2 := silence(t, dir, "quiet2.wav")
	bad := stereo(t, dir, "stereo.wav")
	missing := filepath.Join(dir, "missing.wav")
	notWAV := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notWAV, []byte("hello, world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	quietBytes, err := os.ReadFile(quiet)
	if err != nil {
		t.Fatal(err)
	}
	usage := "Usage: sspr dtmf decode [--events] FILE.wav...\nRun \"sspr dtmf decode --help\" for details.\n"

	tests := []struct {
		name   string
		args   []string
		stdin  []byte
		code   int
		stdout string
		stderr string
	}{
		{name: "no digits prints an empty line", args: []string{quiet}, stdout: "\n"},
		{name: "several files", args: []string{quiet, quiet2}, stdout: quiet + "\t\n" + quiet2 + "\t\n"},
		{name: "events, no digits", args: []string{"--events", quiet}},
		{name: "events after the file", args: []string{quiet, "--events"}},
		{name: "stdin", args: []string{"-"}, stdin: quietBytes, stdout: "\n"},
		{name: "double dash", args: []string{"--", quiet}, stdout: "\n"},
		{name: "missing file", args: []string{missing}, code: 1,
			stderr: "sspr dtmf decode: " + missing + ": no such file or directory\n"},
		{name: "directory", args: []string{dir}, code: 1,
			stderr: "sspr dtmf decode: " + dir + ": is a directory\n"},
		{name: "unsupported file", args: []string{bad}, code: 1,
			stderr: "sspr dtmf decode: " + bad + ": dtmf: wav: stereo, want mono\n"},
		{name: "not a WAV file", args: []string{notWAV}, code: 1,
			stderr: "sspr dtmf decode: " + notWAV + ": dtmf: wav: not a RIFF file (starts with \"hell\")\n"},
		{name: "good files still printed", args: []string{quiet, missing, quiet2, bad}, code: 1,
			stdout: quiet + "\t\n" + quiet2 + "\t\n",
			stderr: "sspr dtmf decode: " + missing + ": no such file or directory\n" +
				"sspr dtmf decode: " + bad + ": dtmf: wav: stereo, want mono\n"},
		{name: "no files", args: nil, code: 2, stderr: "sspr dtmf decode: no input files\n" + usage},
		{name: "only flags", args: []string{"--events"}, code: 2, stderr: "sspr dtmf decode: no input files\n" + usage},
		{name: "unknown flag", args: []string{"--verbose", quiet}, code: 2,
			stderr: "sspr dtmf decode: flag provided but not defined: -verbose\n" + usage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runSSPR(t, tc.stdin, append([]string{"dtmf", "decode"}, tc.args...)...)
			if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
				t.Errorf("sspr dtmf decode %s\n got %d, stdout %q, stderr %q\nwant %d, stdout %q, stderr %q",
					strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestDecodeCancelled(t *testing.T) {
	quiet := silence(t, t.TempDir(), "quiet.wav")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stdout, stderr, code := runSSPRContext(t, ctx, nil, "dtmf", "decode", quiet)
	if code != 1 || stdout != "" || stderr != "sspr dtmf decode: context canceled\n" {
		t.Errorf("got %d, stdout %q, stderr %q; want 1 and context canceled", code, stdout, stderr)
	}
}

// TestGenDecodeRoundTrip needs the real detector.
func TestGenDecodeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"pcm16", "ulaw", "alaw"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format+".wav")
			gen(t, "--digits", "4827#", "--format", format, out)
			stdout, stderr, code := runSSPR(t, nil, "dtmf", "decode", out)
			if code != 0 || stdout != "4827#\n" || stderr != "" {
				t.Errorf("decode = %d, stdout %q, stderr %q; want 0, \"4827#\\n\"", code, stdout, stderr)
			}
		})
	}
	t.Run("several files", func(t *testing.T) {
		a, b := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav")
		gen(t, "--digits", "4827#", a)
		gen(t, "--digits", "*0D", "--format", "ulaw", b)
		quiet := silence(t, dir, "quiet.wav")
		stdout, stderr, code := runSSPR(t, nil, "dtmf", "decode", a, quiet, b)
		want := a + "\t4827#\n" + quiet + "\t\n" + b + "\t*0D\n"
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("decode = %d, stdout %q, stderr %q; want 0, %q", code, stdout, stderr, want)
		}
	})
}

// event is one line of "sspr dtmf decode --events".
type event struct {
	file       string
	start, end int64
	key        byte
}

// parseEvents parses --events output, strictly.
func parseEvents(t *testing.T, out string, withFile bool) []event {
	t.Helper()
	var evs []event
	for _, line := range strings.SplitAfter(out, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			t.Fatalf("unterminated line %q", line)
		}
		line = strings.TrimSuffix(line, "\n")
		var ev event
		if withFile {
			f, rest, ok := strings.Cut(line, "\t")
			if !ok {
				t.Fatalf("line %q has no FILE<TAB>", line)
			}
			ev.file, line = f, rest
		}
		fields := strings.Split(line, " ")
		if len(fields) != 3 || len(fields[2]) != 1 {
			t.Fatalf("line %q is not START_MS END_MS DIGIT", line)
		}
		var err1, err2 error
		ev.start, err1 = strconv.ParseInt(fields[0], 10, 64)
		ev.end, err2 = strconv.ParseInt(fields[1], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ev.key = fields[2][0]
		evs = append(evs, ev)
	}
	return evs
}

// checkEvents checks that evs are the keys sent with on/off timing, each
// edge within 20 ms.
func checkEvents(t *testing.T, evs []event, keys string, on, off time.Duration) {
	t.Helper()
	if len(evs) != len(keys) {
		t.Fatalf("%d events %v, want %d for %q", len(evs), evs, len(keys), keys)
	}
	const tolerance = 20
	for i, ev := range evs {
		wantStart := int64(i) * (on + off).Milliseconds()
		wantEnd := wantStart + on.Milliseconds()
		if ev.key != keys[i] || abs(ev.start-wantStart) > tolerance || abs(ev.end-wantEnd) > tolerance {
			t.Errorf("event %d = %c %d-%d ms, want %c %d-%d ms (±%d)", i, ev.key, ev.start, ev.end, keys[i], wantStart, wantEnd, tolerance)
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestDecodeEvents needs the real detector.
func TestDecodeEvents(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		keys    string
		on, off time.Duration
		format  string
	}{
		{"defaults", "4827#", 100 * time.Millisecond, 100 * time.Millisecond, "pcm16"},
		{"long tones, short gaps", "159D", 250 * time.Millisecond, 60 * time.Millisecond, "ulaw"},
		{"short tones", "*0#", 60 * time.Millisecond, 150 * time.Millisecond, "alaw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".wav")
			gen(t, "--digits", tc.keys, "--on", tc.on.String(), "--off", tc.off.String(), "--format", tc.format, out)
			stdout, stderr, code := runSSPR(t, nil, "dtmf", "decode", "--events", out)
			if code != 0 || stderr != "" {
				t.Fatalf("decode --events = %d, stderr %q", code, stderr)
			}
			checkEvents(t, parseEvents(t, stdout, false), tc.keys, tc.on, tc.off)
		})
	}
	t.Run("several files", func(t *testing.T) {
		a, b := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav")
		gen(t, "--digits", "12", a)
		gen(t, "--digits", "3", "--on", "200ms", b)
		stdout, stderr, code := runSSPR(t, nil, "dtmf", "decode", "--events", a, b)
		if code != 0 || stderr != "" {
			t.Fatalf("decode --events = %d, stderr %q", code, stderr)
		}
		evs := parseEvents(t, stdout, true)
		var ea, eb []event
		for _, ev := range evs {
			switch ev.file {
			case a:
				ea = append(ea, ev)
			case b:
				eb = append(eb, ev)
			default:
				t.Errorf("event for unknown file %q", ev.file)
			}
		}
		if len(evs) > 0 && evs[len(evs)-1].file != b {
			t.Errorf("events out of file order: %v", evs)
		}
		checkEvents(t, ea, "12", 100*time.Millisecond, 100*time.Millisecond)
		checkEvents(t, eb, "3", 200*time.Millisecond, 100*time.Millisecond)
	})
}

func TestGen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		enc     dtmf.Encoding
		samples int
	}{
		{"defaults", []string{"--digits", "4827#"}, dtmf.EncodingPCM16, 5 * 1600},
		{"ulaw", []string{"--digits", "4827#", "--format", "ulaw"}, dtmf.EncodingULaw, 5 * 1600},
		{"alaw", []string{"--format=alaw", "--digits=1"}, dtmf.EncodingALaw, 1600},
		{"timing", []string{"--digits", "12", "--on", "40ms", "--off", "1s"}, dtmf.EncodingPCM16, 2 * (320 + 8000)},
		{"no gap", []string{"--digits", "123", "--off", "0"}, dtmf.EncodingPCM16, 3 * 800},
		{"lower-case keys", []string{"--digits", "abcd"}, dtmf.EncodingPCM16, 4 * 1600},
		{"level and twist", []string{"--digits", "5", "--level", "-20", "--twist", "-4"}, dtmf.EncodingPCM16, 1600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".wav")
			// The output file first, flags after it, works too.
			gen(t, append([]string{out}, tc.args...)...)
			pcm, enc := readWAV(t, out)
			if enc != tc.enc || len(pcm) != tc.samples {
				t.Errorf("wrote %v with %d samples, want %v with %d", enc, len(pcm), tc.enc, tc.samples)
			}
		})
	}
}

func TestGenMatchesAppendTones(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.wav")
	gen(t, "--digits", "9*", "--on", "70ms", "--off", "30ms", "--level", "-15", "--twist", "2", out)
	got, _ := readWAV(t, out)
	want, err := dtmf.AppendTones(nil, "9*", dtmf.ToneConfig{On: 70 * time.Millisecond, Off: 30 * time.Millisecond, Level: -15, Twist: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d = %d, want %d", i, got[i], want[i])
		}
	}
}

// TestGenLevelZero checks that --level 0 means 0 dBm0, not ToneConfig's
// default.
func TestGenLevelZero(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.wav")
	gen(t, "--digits", "1", "--level", "0", "--twist", "-12", out)
	pcm, _ := readWAV(t, out)
	var peak int
	for _, s := range pcm {
		peak = max(peak, int(math.Abs(float64(s))))
	}
	// Two sines at 0 and -12 dBm0 peak above the louder one's amplitude
	// (22,826); at the default -10 dBm0 they would stay under 9,100.
	if floor := dtmf.DBm0ToAmplitude(0); float64(peak) < floor {
		t.Errorf("peak %d, want at least %.0f", peak, floor)
	}
}

func TestGenStdout(t *testing.T) {
	stdout, stderr, code := runSSPR(t, nil, "dtmf", "gen", "--digits", "0", "--format", "ulaw", "-")
	if code != 0 || stderr != "" {
		t.Fatalf("gen - = %d, stderr %q", code, stderr)
	}
	pcm, enc, err := dtmf.ReadWAV(strings.NewReader(stdout))
	if err != nil || enc != dtmf.EncodingULaw || len(pcm) != 1600 {
		t.Errorf("stdout is %v, %d samples, %v; want a µ-law WAV of 1600 samples", enc, len(pcm), err)
	}
}

func TestGenUsageErrors(t *testing.T) {
	usage := "Usage: sspr dtmf gen --digits KEYS [flags] OUT.wav\nRun \"sspr dtmf gen --help\" for details.\n"
	out := filepath.Join(t.TempDir(), "out.wav")
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no digits", []string{out}, "--digits is required"},
		{"empty digits", []string{"--digits", "", out}, "--digits is required"},
		{"bad digit", []string{"--digits", "12x3", out}, `--digits: 'x' is not a DTMF key (0-9, *, #, A-D)`},
		{"lower-case e", []string{"--digits", "e", out}, `--digits: 'e' is not a DTMF key (0-9, *, #, A-D)`},
		{"non-ASCII digit", []string{"--digits", "1١", out}, `--digits: '١' is not a DTMF key (0-9, *, #, A-D)`},
		{"space", []string{"--digits", "1 2", out}, `--digits: ' ' is not a DTMF key (0-9, *, #, A-D)`},
		{"bad format", []string{"--digits", "1", "--format", "mp3", out}, `--format "mp3": want pcm16, ulaw or alaw`},
		{"format case", []string{"--digits", "1", "--format", "ULAW", out}, `--format "ULAW": want pcm16, ulaw or alaw`},
		{"bad duration", []string{"--digits", "1", "--on", "abc", out}, `invalid value "abc" for flag -on: parse error`},
		{"duration without unit", []string{"--digits", "1", "--off", "100", out}, `invalid value "100" for flag -off: parse error`},
		{"zero on", []string{"--digits", "1", "--on", "0", out}, "--on 0s: must be positive"},
		{"negative on", []string{"--digits", "1", "--on", "-5ms", out}, "--on -5ms: must be positive"},
		{"negative off", []string{"--digits", "1", "--off", "-1ms", out}, "--off -1ms: must not be negative"},
		{"huge on", []string{"--digits", "1", "--on", "2h", out}, "--on 2h0m0s: over 1h0m0s"},
		{"huge off", []string{"--digits", "1", "--off", "100000h", out}, "--off 100000h0m0s: over 1h0m0s"},
		{"too long in total", []string{"--digits", "12", "--on", "1h", out}, "2 keys of --on 1h0m0s and --off 100ms are longer than a WAV file may be (64 MiB)"},
		{"level above full scale", []string{"--digits", "1", "--level", "4", out}, "--level 4 dBm0: above full scale (3.14 dBm0)"},
		{"twist above full scale", []string{"--digits", "1", "--level", "-3", "--twist", "7", out}, "--level -3 dBm0 with --twist 7 dB: the high-group tone is above full scale (3.14 dBm0)"},
		{"level NaN", []string{"--digits", "1", "--level", "NaN", out}, "--level NaN: not a number"},
		{"twist infinite", []string{"--digits", "1", "--twist", "-Inf", out}, "--twist -Inf: not a number"},
		{"bad level", []string{"--digits", "1", "--level", "loud", out}, `invalid value "loud" for flag -level: parse error`},
		{"no output", []string{"--digits", "1"}, "missing output file"},
		{"two outputs", []string{"--digits", "1", out, "other.wav"}, `unexpected argument "other.wav" after the output file`},
		{"unknown flag", []string{"--digits", "1", "--rate", "16000", out}, "flag provided but not defined: -rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runSSPR(t, nil, append([]string{"dtmf", "gen"}, tc.args...)...)
			want := "sspr dtmf gen: " + tc.msg + "\n" + usage
			if code != 2 || stdout != "" || stderr != want {
				t.Errorf("got %d, stdout %q, stderr %q\nwant 2, stderr %q", code, stdout, stderr, want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output file exists after a usage error (%v)", err)
			}
		})
	}
}

func TestGenWriteErrors(t *testing.T) {
	dir := t.TempDir()
	t.Run("no such directory", func(t *testing.T) {
		out := filepath.Join(dir, "nodir", "x.wav")
		stdout, stderr, code := runSSPR(t, nil, "dtmf", "gen", "--digits", "1", out)
		want := "sspr dtmf gen: open " + out + ": no such file or directory\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("got %d, stdout %q, stderr %q; want 1, stderr %q", code, stdout, stderr, want)
		}
	})
	t.Run("output is a directory", func(t *testing.T) {
		stdout, stderr, code := runSSPR(t, nil, "dtmf", "gen", "--digits", "1", dir)
		want := "sspr dtmf gen: open " + dir + ": is a directory\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("got %d, stdout %q, stderr %q; want 1, stderr %q", code, stdout, stderr, want)
		}
	})
	t.Run("stdout fails", func(t *testing.T) {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"dtmf", "gen", "--digits", "1", "-"}, nil, failingWriter{}, &stderr)
		want := "sspr dtmf gen: dtmf: writing wav: pipe closed\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("got %d, stderr %q; want 1, %q", code, stderr.String(), want)
		}
	})
	t.Run("full device", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		stdout, stderr, code := runSSPR(t, nil, "dtmf", "gen", "--digits", "1", "/dev/full")
		want := "sspr dtmf gen: /dev/full: dtmf: writing wav: write /dev/full: no space left on device\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("got %d, stdout %q, stderr %q; want 1, stderr %q", code, stdout, stderr, want)
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("pipe closed") }
