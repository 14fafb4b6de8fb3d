package ivr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// defaultPromptSet returns the embedded prompt set, failing the test if it does
// not load.
func defaultPromptSet(t *testing.T) *Prompts {
	t.Helper()
	p, err := DefaultPrompts()
	if err != nil {
		t.Fatalf("DefaultPrompts: %v", err)
	}
	return p
}

// promptPCM decodes a prompt's µ-law audio.
func promptPCM(pr Prompt) []int16 {
	pcm := make([]int16, len(pr.Audio))
	g711.DecodeULawFrame(pcm, pr.Audio)
	return pcm
}

// levelDBFS returns the RMS level of pcm relative to a full-scale square wave.
func levelDBFS(pcm []int16) float64 {
	var sum float64
	for _, s := range pcm {
		sum += float64(s) * float64(s)
	}
	if len(pcm) == 0 || sum == 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(sum/float64(len(pcm))/(32768*32768))
}

func TestDefaultPromptsComplete(t *testing.T) {
	p := defaultPromptSet(t)
	if again := defaultPromptSet(t); again != p {
		t.Errorf("DefaultPrompts returned a different set the second time")
	}
	if got := p.Default(); got != "en" {
		t.Errorf("Default() = %q, want \"en\"", got)
	}
	if got, want := p.Languages(), []string{"de", "en"}; !slices.Equal(got, want) {
		t.Errorf("Languages() = %q, want %q", got, want)
	}
	for _, lang := range []string{"en", "de"} {
		if m := p.Missing(lang); len(m) != 0 {
			t.Errorf("Missing(%q) = %v, want none", lang, m)
		}
		for _, name := range PromptNames {
			t.Run(lang+"/"+string(name), func(t *testing.T) {
				pr, ok := p.Get(lang, name)
				if !ok {
					t.Fatal("missing")
				}
				if pr.Name != name || pr.Language != lang || pr.Encoding != dtmf.EncodingULaw {
					t.Errorf("got Name %q, Language %q, Encoding %v", pr.Name, pr.Language, pr.Encoding)
				}
				if want := time.Duration(len(pr.Audio)) * time.Second / 8000; pr.Duration != want {
					t.Errorf("Duration %v, want %v for %d samples", pr.Duration, want, len(pr.Audio))
				}
				maxDur := 6 * time.Second
				if strings.HasPrefix(string(name), "digit_") {
					maxDur = 1200 * time.Millisecond
				}
				if pr.Duration < 200*time.Millisecond || pr.Duration > maxDur {
					t.Errorf("Duration %v, want 0.2 s to %v", pr.Duration, maxDur)
				}
			})
		}
	}
}

// TestDefaultPromptsAudio checks what generate.sh promises: a level of
// about -16 dBFS, 50 ms of silence at each end, and no DTMF talk-off.
func TestDefaultPromptsAudio(t *testing.T) {
	p := defaultPromptSet(t)
	det, err := dtmf.NewDetector(dtmf.DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// A positive control, so that hearing no keys below means something:
	// keys after a prompt, through µ-law, are heard.
	match, _ := p.Get("en", PromptMatch)
	control, err := dtmf.AppendTones(promptPCM(match), "5#", dtmf.ToneConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mu := make([]byte, len(control))
	g711.EncodeULawFrame(mu, control)
	g711.DecodeULawFrame(control, mu)
	if tones := det.Flush(det.Detect(control, nil)); len(tones) != 2 || tones[0].Key != '5' || tones[1].Key != '#' {
		t.Fatalf("control: the detector hears %v in match followed by 5#, want 5 and #", tones)
	}
	for _, lang := range p.Languages() {
		for _, name := range PromptNames {
			pr, _ := p.Get(lang, name)
			pcm := promptPCM(pr)
			t.Run(lang+"/"+string(name), func(t *testing.T) {
				// The 100 ms of padding lowers a short prompt's level by
				// up to 1.2 dB.
				if l := levelDBFS(pcm); l < -18 || l > -15 {
					t.Errorf("RMS level %.1f dBFS, want about -16", l)
				}
				lead := slices.IndexFunc(pcm, promptLoud)
				trail := len(pcm) - 1 - promptLastIndexFunc(pcm, promptLoud)
				for _, s := range []struct {
					end string
					n   int
				}{{"leading", lead}, {"trailing", trail}} {
					if ms := s.n / 8; ms < 45 || ms > 75 {
						t.Errorf("%s silence %d ms, want about 50", s.end, ms)
					}
				}
				det.Reset()
				tones := det.Flush(det.Detect(pcm, nil))
				if len(tones) > 0 {
					t.Errorf("the DTMF detector hears %d keys in it (first %q): talk-off", len(tones), tones[0].Key)
				}
			})
		}
	}
}

// promptLoud reports whether a sample is above -54 dBFS.
func promptLoud(s int16) bool { return s > 64 || s < -64 }

func promptLastIndexFunc(s []int16, f func(int16) bool) int {
	for i := len(s) - 1; i >= 0; i-- {
		if f(s[i]) {
			return i
		}
	}
	return -1
}

// TestDefaultMatchIsSpeech checks that the English match prompt is speech,
// not silence, noise or a tone: loud enough for most of its length, with
// the syllabic rise and fall of level that speech has.
func TestDefaultMatchIsSpeech(t *testing.T) {
	pr, ok := defaultPromptSet(t).Get("en", PromptMatch)
	if !ok {
		t.Fatal("no English match prompt")
	}
	pcm := promptPCM(pr)
	const frame = 160 // 20 ms
	var levels []float64
	for i := 0; i+frame <= len(pcm); i += frame {
		levels = append(levels, levelDBFS(pcm[i:i+frame]))
	}
	active := 0
	for _, l := range levels {
		if l > -35 {
			active++
		}
	}
	if frac := float64(active) / float64(len(levels)); frac < 0.6 {
		t.Errorf("%.0f%% of 20 ms frames above -35 dBFS, want at least 60%%", 100*frac)
	}
	// Speech: the loud frames (vowels) are well above the quieter frames
	// within the words (consonants, the gaps between syllables).
	sorted := slices.Clone(levels)
	sort.Float64s(sorted)
	p90, p30 := sorted[len(sorted)*9/10], sorted[len(sorted)*3/10]
	if p90 < -20 {
		t.Errorf("90th percentile frame level %.1f dBFS, want above -20", p90)
	}
	if p90-p30 < 6 {
		t.Errorf("frame levels vary by only %.1f dB (30th to 90th percentile), want at least 6: not speech", p90-p30)
	}
}

func TestDigitPrompt(t *testing.T) {
	tests := []struct {
		name string
		key  byte
		want PromptName
	}{
		{"zero", '0', PromptDigit0},
		{"one", '1', PromptDigit1},
		{"five", '5', PromptDigit5},
		{"nine", '9', PromptDigit9},
		{"star", '*', ""},
		{"pound", '#', ""},
		{"letter", 'A', ""},
		{"NUL", 0, ""},
		{"digit value not character", 7, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DigitPrompt(tt.key); got != tt.want {
				t.Errorf("DigitPrompt(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	for d := byte('0'); d <= '9'; d++ {
		if got, want := DigitPrompt(d), PromptName("digit_"+string(d)); got != want {
			t.Errorf("DigitPrompt(%q) = %q, want %q", d, got, want)
		}
	}
}

func TestPromptNames(t *testing.T) {
	if len(PromptNames) != 25 {
		t.Errorf("%d prompt names, want 25", len(PromptNames))
	}
	seen := map[PromptName]bool{}
	for _, n := range PromptNames {
		if seen[n] {
			t.Errorf("%q listed twice", n)
		}
		seen[n] = true
		if n == "" || strings.ToLower(string(n)) != string(n) || strings.ContainsAny(string(n), "/. ") {
			t.Errorf("%q is not a lower-case file name stem", n)
		}
	}
	for _, n := range []PromptName{
		PromptIntro, PromptMatch, PromptConfirm, PromptPIN, PromptCodeIntro,
		PromptCodeIs, PromptCodeRepeat, PromptNotRight, PromptTryAgain,
		PromptNoInput, PromptConfirmed, PromptCodeDone, PromptFraud,
		PromptGoodbye, PromptFraudHint, PromptDigit0, PromptDigit9,
	} {
		if !seen[n] {
			t.Errorf("%q is not in PromptNames", n)
		}
	}
	// PromptNames is a copy: changing it changes nothing else.
	saved := PromptNames[0]
	PromptNames[0] = "changed"
	defer func() { PromptNames[0] = saved }()
	if _, ok := defaultPromptSet(t).Get("en", saved); !ok || DigitPrompt('0') != PromptDigit0 {
		t.Error("changing PromptNames changed the package's own list")
	}
}

func TestGet(t *testing.T) {
	p := defaultPromptSet(t)
	tests := []struct {
		name     string
		lang     string
		prompt   PromptName
		wantLang string // "" for not found
	}{
		{"English", "en", PromptMatch, "en"},
		{"German", "de", PromptMatch, "de"},
		{"case folded", "DE", PromptGoodbye, "de"},
		{"region falls back to language", "de-AT", PromptGoodbye, "de"},
		{"underscore and region", "de_at", PromptGoodbye, "de"},
		{"script, region and variant", "de-Latn-CH-1901", PromptPIN, "de"},
		{"unknown language falls back to default", "fr", PromptIntro, "en"},
		{"empty language", "", PromptIntro, "en"},
		{"junk language", "!!!-??", PromptIntro, "en"},
		{"very long language", strings.Repeat("de-", 100), PromptIntro, "en"},
		{"digit", "de", DigitPrompt('7'), "de"},
		{"unknown name", "en", "nope", ""},
		{"empty name", "de", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, ok := p.Get(tt.lang, tt.prompt)
			if ok != (tt.wantLang != "") {
				t.Fatalf("Get(%q, %q) ok = %v, want %v", tt.lang, tt.prompt, ok, !ok)
			}
			if !ok {
				return
			}
			if pr.Language != tt.wantLang || pr.Name != tt.prompt || len(pr.Audio) == 0 {
				t.Errorf("Get(%q, %q) = %q/%q with %d bytes, want %q/%q", tt.lang, tt.prompt,
					pr.Language, pr.Name, len(pr.Audio), tt.wantLang, tt.prompt)
			}
		})
	}
	var nilSet *Prompts
	if _, ok := nilSet.Get("en", PromptIntro); ok {
		t.Error("Get on a nil *Prompts found a prompt")
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	p := defaultPromptSet(t)
	for _, lang := range []string{"en", "de-AT", "EN_us", "fr"} {
		if n := testing.AllocsPerRun(100, func() { p.Get(lang, PromptMatch) }); n != 0 {
			t.Errorf("Get(%q) allocates %.0f times", lang, n)
		}
	}
}

func TestCanonicalLangTag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"en", "en"},
		{"EN", "en"},
		{"pt-br", "pt-BR"},
		{"PT_br", "pt-BR"},
		{"zh-hant-tw", "zh-Hant-TW"},
		{"SR-LATN", "sr-Latn"},
		{"es-419", "es-419"},
		{"de-ch-1996", "de-CH-1996"},
		{"sl-rozaj-biske", "sl-rozaj-biske"},
		{"en--us", "en-US"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := canonicalLangTag(tt.in); got != tt.want {
				t.Errorf("canonicalLangTag(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckLangTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"en", true},
		{"deu", true},
		{"pt-BR", true},
		{"pt-br", true},
		{"zh-Hant-TW", true},
		{"es-419", true},
		{"de-CH-1996", true},
		{"sl-rozaj", true},
		{"e", false},
		{"english", false},
		{"en_US", false},
		{"en-", false},
		{"-en", false},
		{"en-US-", false},
		{"en-x-private", false},
		{"en US", false},
		{"12", false},
		{"", false},
		{"de-Latn-Latn", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			if err := checkLangTag(tt.tag); (err == nil) != tt.ok {
				t.Errorf("checkLangTag(%q) = %v, want ok %v", tt.tag, err, tt.ok)
			}
		})
	}
}

// promptTestTone returns n samples of a 440 Hz sine at about -13 dBFS.
func promptTestTone(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(7000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	return pcm
}

// promptWAV returns an 8 kHz mono WAV file of n samples of a tone in enc,
// changed by patch if it is not nil.
func promptWAV(t *testing.T, n int, enc dtmf.Encoding, patch func([]byte)) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := dtmf.WriteWAV(&b, promptTestTone(n), enc); err != nil {
		t.Fatal(err)
	}
	if patch != nil {
		patch(b.Bytes())
	}
	return b.Bytes()
}

// writePromptFiles creates files under dir: a nil content makes a directory.
func writePromptFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if data == nil {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wantPromptULaw returns the µ-law a prompt file's audio should load as.
func wantPromptULaw(t *testing.T, file []byte) []byte {
	t.Helper()
	pcm, _, err := dtmf.ReadWAV(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(pcm))
	g711.EncodeULawFrame(out, pcm)
	return out
}

func TestLoadPromptsOverride(t *testing.T) {
	base := defaultPromptSet(t)
	baseMatch, _ := base.Get("en", PromptMatch)
	baseIntro, _ := base.Get("en", PromptIntro)

	dir := t.TempDir()
	file := promptWAV(t, 4000, dtmf.EncodingPCM16, nil)
	writePromptFiles(t, dir, map[string][]byte{
		"en/match.wav":      file,
		"en/.DS_Store":      []byte("junk"),
		".git/config":       []byte("junk"),
		"notes.txt":         []byte("ignored"),
		"README.md":         []byte("ignored"),
		"de/.keep":          nil, // hidden directory inside a language: skipped
		"de/not_right.wav":  promptWAV(t, 2000, dtmf.EncodingALaw, nil),
		"pt-br/goodbye.wav": promptWAV(t, 1600, dtmf.EncodingULaw, nil),
	})
	p, err := LoadPrompts(dir, base)
	if err != nil {
		t.Fatalf("LoadPrompts: %v", err)
	}

	got, ok := p.Get("en", PromptMatch)
	if !ok || !bytes.Equal(got.Audio, wantPromptULaw(t, file)) || got.Duration != 500*time.Millisecond ||
		got.Language != "en" || got.Encoding != dtmf.EncodingULaw {
		t.Errorf("en match after override: ok %v, %d bytes, %v, %q, %v; want the file's 4000 samples as µ-law, 500ms",
			ok, len(got.Audio), got.Duration, got.Language, got.Encoding)
	}
	if intro, _ := p.Get("en", PromptIntro); &intro.Audio[0] != &baseIntro.Audio[0] {
		t.Error("en intro was not taken from base unchanged")
	}
	if m, _ := base.Get("en", PromptMatch); &m.Audio[0] != &baseMatch.Audio[0] {
		t.Error("LoadPrompts changed base")
	}
	if nr, _ := p.Get("de", PromptNotRight); nr.Duration != 250*time.Millisecond || nr.Language != "de" {
		t.Errorf("de not_right: %v in %q, want 250ms in de", nr.Duration, nr.Language)
	}
	if got, want := p.Languages(), []string{"de", "en", "pt-BR"}; !slices.Equal(got, want) {
		t.Errorf("Languages() = %q, want %q", got, want)
	}
	if got := p.Default(); got != "en" {
		t.Errorf("Default() = %q, want en", got)
	}
	if got := len(p.Missing("pt-BR")); got != len(PromptNames)-1 {
		t.Errorf("pt-BR lacks %d prompts, want %d", got, len(PromptNames)-1)
	}
	if g, _ := p.Get("pt-BR", PromptGoodbye); g.Language != "pt-BR" {
		t.Errorf("pt-BR goodbye came from %q", g.Language)
	}
	if m, _ := p.Get("pt-BR", PromptMatch); m.Language != "en" {
		t.Errorf("pt-BR match came from %q, want the en fallback", m.Language)
	}

	// nil base means the defaults; a loaded set can be a base in turn.
	p2, err := LoadPrompts(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p2.Languages(), p.Languages()) {
		t.Errorf("nil base: Languages() = %q, want %q", p2.Languages(), p.Languages())
	}
	dir2 := t.TempDir()
	writePromptFiles(t, dir2, map[string][]byte{"pt-BR/intro.wav": promptWAV(t, 2400, dtmf.EncodingULaw, nil)})
	p3, err := LoadPrompts(dir2, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []PromptName{PromptIntro, PromptGoodbye} {
		if g, _ := p3.Get("pt-br", name); g.Language != "pt-BR" {
			t.Errorf("stacked: pt-BR %s came from %q", name, g.Language)
		}
	}
	if len(p.Missing("pt-BR")) != len(PromptNames)-1 {
		t.Error("loading on top of p changed p")
	}
}

// TestLoadPromptsFixtures loads testdata/prompts/operator, files written by
// sox 14.4.2 (as an operator's tools would):
//
//	sox -n -r 8000 -c 1 -b 16 -e signed-integer en/goodbye.wav synth 0.25 sine 440 vol -10dB fade q 0.01 0.25 0.01
//	sox -n -r 8000 -c 1 -e a-law de/code_is.wav synth 0.2 sine 330 vol -12dB fade q 0.01 0.2 0.01
//	sox -n -r 8000 -c 1 -e u-law fr/intro.wav synth 0.3 sine 550 vol -14dB fade q 0.01 0.3 0.01
func TestLoadPromptsFixtures(t *testing.T) {
	const dir = "testdata/prompts/operator"
	p, err := LoadPrompts(dir, nil)
	if err != nil {
		t.Fatalf("LoadPrompts: %v", err)
	}
	tests := []struct {
		file string
		lang string
		name PromptName
		dur  time.Duration
	}{
		{"en/goodbye.wav", "en", PromptGoodbye, 250 * time.Millisecond},
		{"de/code_is.wav", "de", PromptCodeIs, 200 * time.Millisecond},
		{"fr/intro.wav", "fr", PromptIntro, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			file, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			pr, ok := p.Get(tt.lang, tt.name)
			if !ok || pr.Language != tt.lang || pr.Duration != tt.dur || !bytes.Equal(pr.Audio, wantPromptULaw(t, file)) {
				t.Errorf("got %q %v, %d bytes; want %q %v and the file's audio as µ-law", pr.Language, pr.Duration, len(pr.Audio), tt.lang, tt.dur)
			}
		})
	}
	if got, want := p.Languages(), []string{"de", "en", "fr"}; !slices.Equal(got, want) {
		t.Errorf("Languages() = %q, want %q", got, want)
	}
	if pr, _ := p.Get("fr-CA", PromptGoodbye); pr.Language != "en" || pr.Duration != 250*time.Millisecond {
		t.Errorf("fr-CA goodbye: %q %v, want the operator's en recording", pr.Language, pr.Duration)
	}
	if m := p.Missing("de"); len(m) != 0 {
		t.Errorf("de lacks %v", m)
	}
}

func TestLoadPromptsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := t.TempDir()
	writePromptFiles(t, target, map[string][]byte{"goodbye.wav": promptWAV(t, 2000, dtmf.EncodingULaw, nil)})
	if err := os.Symlink(target, filepath.Join(dir, "nl")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := os.Symlink(filepath.Join(target, "goodbye.wav"), filepath.Join(dir, "bye.wav")); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPrompts(dir, nil)
	// The linked directory loads; the linked .wav beside it is misplaced.
	want := "ivr: " + filepath.Join(dir, "bye.wav") + ": a prompt file must be in a language directory, such as en/bye.wav"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	os.Remove(filepath.Join(dir, "bye.wav"))

	// A dangling link is reported without repeating its path.
	dangling := filepath.Join(target, "intro.wav")
	if err := os.Symlink(filepath.Join(target, "gone.wav"), dangling); err != nil {
		t.Fatal(err)
	}
	_, err = LoadPrompts(dir, nil)
	want = "ivr: " + filepath.Join(dir, "nl", "intro.wav") + ": stat: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	os.Remove(dangling)

	p, err := LoadPrompts(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pr, _ := p.Get("nl", PromptGoodbye); pr.Language != "nl" {
		t.Errorf("nl goodbye from %q", pr.Language)
	}
}

// Patches of WriteWAV's output (PCM16: fmt chunk at byte 12, rate at 24,
// byte rate at 28, channels at 22, block align at 32).
func patchRate16k(b []byte) {
	binary.LittleEndian.PutUint32(b[24:], 16000)
	binary.LittleEndian.PutUint32(b[28:], 32000)
}

func patchStereo(b []byte) { binary.LittleEndian.PutUint16(b[22:], 2) }

func TestLoadPromptsErrors(t *testing.T) {
	ok := func(n int) []byte { return promptWAV(t, n, dtmf.EncodingULaw, nil) }
	tests := []struct {
		name  string
		files map[string][]byte // a nil content makes a directory
		// want maps the paths that must be reported to their messages.
		want map[string]string
		// wav lists the paths whose error wraps dtmf.ErrWAV.
		wav []string
	}{
		{
			name:  "wrong rate",
			files: map[string][]byte{"de/match.wav": promptWAV(t, 800, dtmf.EncodingPCM16, patchRate16k)},
			want:  map[string]string{"de/match.wav": "sample rate 16000 Hz, want 8000"},
			wav:   []string{"de/match.wav"},
		},
		{
			name:  "stereo",
			files: map[string][]byte{"de/confirm.wav": promptWAV(t, 800, dtmf.EncodingPCM16, patchStereo)},
			want:  map[string]string{"de/confirm.wav": "stereo, want mono"},
			wav:   []string{"de/confirm.wav"},
		},
		{
			name:  "too long",
			files: map[string][]byte{"en/intro.wav": ok(31 * 8000)},
			want:  map[string]string{"en/intro.wav": "31.0 s long, want at most 30s"},
		},
		{
			name:  "empty",
			files: map[string][]byte{"en/pin.wav": ok(0)},
			want:  map[string]string{"en/pin.wav": "no audio (the data chunk is empty)"},
		},
		{
			name:  "zero-byte file",
			files: map[string][]byte{"en/fraud.wav": {}},
			want:  map[string]string{"en/fraud.wav": "file is 0 bytes, too short for a RIFF header"},
			wav:   []string{"en/fraud.wav"},
		},
		{
			name:  "unknown name",
			files: map[string][]byte{"en/hello.wav": ok(800)},
			want:  map[string]string{"en/hello.wav": `unknown prompt name "hello"; see ivr.PromptNames`},
		},
		{
			name:  "upper-case name",
			files: map[string][]byte{"en/Goodbye.wav": ok(800)},
			want:  map[string]string{"en/Goodbye.wav": `unknown prompt name "Goodbye" (names are lower-case: goodbye.wav); see ivr.PromptNames`},
		},
		{
			name:  "not a WAV file",
			files: map[string][]byte{"en/goodbye.wav": []byte("This is not audio.\n")},
			want:  map[string]string{"en/goodbye.wav": `not a RIFF file (starts with "This")`},
			wav:   []string{"en/goodbye.wav"},
		},
		{
			name:  "MP3 renamed",
			files: map[string][]byte{"en/try_again.wav": []byte("ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00")},
			want:  map[string]string{"en/try_again.wav": `not a RIFF file (starts with "ID3\x04")`},
			wav:   []string{"en/try_again.wav"},
		},
		{
			name:  "not .wav",
			files: map[string][]byte{"en/match.mp3": ok(800)},
			want:  map[string]string{"en/match.mp3": "not a .wav file; want <name>.wav"},
		},
		{
			name:  "upper-case extension",
			files: map[string][]byte{"de/intro.WAV": ok(800)},
			want:  map[string]string{"de/intro.WAV": "not a .wav file; want <name>.wav"},
		},
		{
			name:  "bad language directory",
			files: map[string][]byte{"english/intro.wav": ok(800)},
			want:  map[string]string{"english": `language directory "english" is not a BCP 47 language tag, such as "en", "de" or "pt-BR"`},
		},
		{
			name:  "underscore language directory",
			files: map[string][]byte{"en_GB/intro.wav": ok(800)},
			want:  map[string]string{"en_GB": `language directory "en_GB" is not a BCP 47 language tag: use "en-GB"`},
		},
		{
			name:  "prompt outside a language directory",
			files: map[string][]byte{"intro.wav": ok(800)},
			want:  map[string]string{"intro.wav": "a prompt file must be in a language directory, such as en/intro.wav"},
		},
		{
			name:  "subdirectory",
			files: map[string][]byte{"fr/old/intro.wav": ok(800)},
			want:  map[string]string{"fr/old": "a directory inside a language directory; want <name>.wav files only"},
		},
		{
			name:  "empty language directory",
			files: map[string][]byte{"it": nil, "it/.keep": {}},
			want:  map[string]string{"it": "empty language directory; want <name>.wav files"},
		},
		{
			name:  "same language twice",
			files: map[string][]byte{"nl-BE/intro.wav": ok(800), "nl-be/goodbye.wav": ok(800)},
			want:  map[string]string{"nl-be": "same language as {dir}/nl-BE"},
		},
	}
	check := func(t *testing.T, dir string, err error, want map[string]string, wav []string) {
		t.Helper()
		if err == nil {
			t.Fatal("LoadPrompts succeeded")
		}
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		got := map[string]string{}
		for _, e := range errs {
			var pe *PromptError
			if !errors.As(e, &pe) {
				t.Errorf("error %v is not a *PromptError", e)
				continue
			}
			rel, rerr := filepath.Rel(dir, pe.Path)
			if rerr != nil {
				t.Errorf("error path %q is not under %q", pe.Path, dir)
				continue
			}
			rel = filepath.ToSlash(rel)
			if _, dup := got[rel]; dup {
				t.Errorf("%s reported twice", rel)
			}
			got[rel] = pe.Error()
			if isWAV := errors.Is(pe, dtmf.ErrWAV); isWAV != slices.Contains(wav, rel) {
				t.Errorf("%s: errors.Is(err, dtmf.ErrWAV) = %v", rel, isWAV)
			}
		}
		for path, msg := range want {
			msg = strings.ReplaceAll(msg, "{dir}", dir)
			full := "ivr: " + filepath.Join(dir, filepath.FromSlash(path)) + ": " + msg
			if got[path] != full {
				t.Errorf("error for %s:\n got %q\nwant %q", path, got[path], full)
			}
			if !strings.Contains(err.Error(), full) {
				t.Errorf("the joined error does not contain %q", full)
			}
		}
		for path, msg := range got {
			if _, ok := want[path]; !ok {
				t.Errorf("unexpected error: %s", msg)
			}
		}
	}

	all := map[string][]byte{}
	allWant := map[string]string{}
	var allWAV []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePromptFiles(t, dir, tt.files)
			p, err := LoadPrompts(dir, nil)
			if p != nil {
				t.Error("LoadPrompts returned a set along with errors")
			}
			check(t, dir, err, tt.want, tt.wav)
		})
		for k, v := range tt.files {
			if _, dup := all[k]; dup {
				t.Fatalf("test %q reuses %s", tt.name, k)
			}
			all[k] = v
		}
		for k, v := range tt.want {
			allWant[k] = v
		}
		allWAV = append(allWAV, tt.wav...)
	}
	t.Run("all at once", func(t *testing.T) {
		dir := t.TempDir()
		// One good file among the bad ones changes nothing.
		all["de/goodbye.wav"] = ok(800)
		writePromptFiles(t, dir, all)
		_, err := LoadPrompts(dir, nil)
		check(t, dir, err, allWant, allWAV)
	})
}

// TestLoadPromptsSpecialFile checks that a named pipe or device is refused
// rather than opened (which could block).
func TestLoadPromptsSpecialFile(t *testing.T) {
	fsys := fstest.MapFS{
		"en/match.wav": {Mode: fs.ModeNamedPipe},
		"en/intro.wav": {Data: promptWAV(t, 800, dtmf.EncodingULaw, nil)},
	}
	_, err := loadPromptFS(fsys, "prompts", defaultPromptSet(t))
	if want := "ivr: " + filepath.Join("prompts", "en", "match.wav") + ": not a regular file"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestLoadPromptsDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writePromptFiles(t, dir, map[string][]byte{"file": []byte("x")})
	tests := []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "ivr: prompt directory: stat " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"a file", file, "ivr: prompt directory " + file + ": not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadPrompts(tt.dir, nil)
			if p != nil || err == nil || err.Error() != tt.want {
				t.Errorf("LoadPrompts(%q) = %v, %v; want nil, %s", tt.dir, p, err, tt.want)
			}
		})
	}
	// An empty directory is a valid, empty override.
	p, err := LoadPrompts(t.TempDir(), nil)
	if err != nil || !slices.Equal(p.Languages(), []string{"de", "en"}) {
		t.Errorf("empty directory: %v, %v", p.Languages(), err)
	}
}
