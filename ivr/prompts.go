package ivr

import (
	"bytes"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sspr-project/sspr/dtmf"
	"github.com/sspr-project/sspr/sip/media/g711"
)

// PromptName names one prompt. The constants below are the full set, listed
// in [PromptNames]; an operator's recording of a prompt is the file
// <lang>/<name>.wav.
type PromptName string

// The prompts. The comments give the English texts of the default set;
// ivr/prompts/README.md has the German ones.
const (
	// PromptIntro: "Hello. This is the password reset service."
	PromptIntro PromptName = "intro"
	// PromptMatch: "To confirm, enter the number shown on your screen, then
	// press pound."
	PromptMatch PromptName = "match"
	// PromptConfirm: "To confirm, press pound."
	PromptConfirm PromptName = "confirm"
	// PromptPIN: "Please enter your PIN, followed by pound."
	PromptPIN PromptName = "pin"
	// PromptCodeIntro: "To hear your code, press pound."
	PromptCodeIntro PromptName = "code_intro"
	// PromptCodeIs: "Your code is", followed by the code's digits.
	PromptCodeIs PromptName = "code_is"
	// PromptCodeRepeat: "To hear it again, press star."
	PromptCodeRepeat PromptName = "code_repeat"
	// PromptNotRight: "Sorry, that is not right."
	PromptNotRight PromptName = "not_right"
	// PromptTryAgain: "Please try again."
	PromptTryAgain PromptName = "try_again"
	// PromptNoInput: "We did not receive your answer."
	PromptNoInput PromptName = "no_input"
	// PromptConfirmed: "Thank you. You can continue on your screen."
	PromptConfirmed PromptName = "confirmed"
	// PromptCodeDone: "Please type the code on your screen."
	PromptCodeDone PromptName = "code_done"
	// PromptFraud: "Thank you. We have stopped this request and told your
	// security team."
	PromptFraud PromptName = "fraud"
	// PromptGoodbye: "Goodbye."
	PromptGoodbye PromptName = "goodbye"
	// PromptFraudHint: "If you did not request this, press zero."
	PromptFraudHint PromptName = "fraud_hint"

	// PromptDigit0 to PromptDigit9 are the digits spoken alone ("zero" to
	// "nine"), for reading out a code. [DigitPrompt] maps a key to one.
	PromptDigit0 PromptName = "digit_0"
	PromptDigit1 PromptName = "digit_1" // "one"
	PromptDigit2 PromptName = "digit_2" // "two"
	PromptDigit3 PromptName = "digit_3" // "three"
	PromptDigit4 PromptName = "digit_4" // "four"
	PromptDigit5 PromptName = "digit_5" // "five"
	PromptDigit6 PromptName = "digit_6" // "six"
	PromptDigit7 PromptName = "digit_7" // "seven"
	PromptDigit8 PromptName = "digit_8" // "eight"
	PromptDigit9 PromptName = "digit_9" // "nine"
)

// promptNames is the full set, in a fixed order.
var promptNames = [...]PromptName{
	PromptIntro, PromptMatch, PromptConfirm, PromptPIN,
	PromptCodeIntro, PromptCodeIs, PromptCodeRepeat,
	PromptNotRight, PromptTryAgain, PromptNoInput,
	PromptConfirmed, PromptCodeDone, PromptFraud, PromptGoodbye, PromptFraudHint,
	PromptDigit0, PromptDigit1, PromptDigit2, PromptDigit3, PromptDigit4,
	PromptDigit5, PromptDigit6, PromptDigit7, PromptDigit8, PromptDigit9,
}

// PromptNames lists every prompt name, each once: the sentences in the
// order a call may play them, then the digits 0 to 9. It is a copy;
// changing it changes nothing else.
var PromptNames = slices.Clone(promptNames[:])

// knownPrompts is the set of promptNames, for checking file names.
var knownPrompts = func() map[PromptName]bool {
	m := make(map[PromptName]bool, len(promptNames))
	for _, n := range promptNames {
		m[n] = true
	}
	return m
}()

// DigitPrompt returns the prompt that speaks key d, '0' to '9', or "" for
// any other byte.
func DigitPrompt(d byte) PromptName {
	if d < '0' || d > '9' {
		return ""
	}
	return promptNames[len(promptNames)-10+int(d-'0')]
}

// MaxPromptDuration is the longest prompt [LoadPrompts] accepts.
const MaxPromptDuration = 30 * time.Second

// maxPromptSamples is MaxPromptDuration in samples.
const maxPromptSamples = int(MaxPromptDuration / time.Second * dtmf.SampleRate)

// maxPromptFile is the largest prompt file read: 30 s of 16-bit PCM, plus
// room for the header and other chunks (metadata, cue points).
const maxPromptFile = int64(2*maxPromptSamples + 1<<20)

// DefaultLanguage is the default language of [DefaultPrompts].
const DefaultLanguage = "en"

// Prompt is one prompt's audio as G.711 µ-law bytes (what the calls play),
// with its duration.
type Prompt struct {
	// Name is the prompt's name.
	Name PromptName
	// Language is the BCP 47 tag of the language the audio is in, in its
	// canonical case ("en", "pt-BR"). When [Prompts.Get] falls back to
	// another language, this is the one it fell back to.
	Language string
	// Audio is the prompt as 8 kHz G.711 µ-law, one byte per sample. It is
	// shared by every call that plays the prompt and must not be modified.
	Audio []byte
	// Encoding is how Audio is encoded: always [dtmf.EncodingULaw].
	Encoding dtmf.Encoding
	// Duration is how long Audio plays.
	Duration time.Duration
}

// Prompts is a loaded prompt set: languages → names → prompts, with a
// default language. Make one with [DefaultPrompts] or [LoadPrompts]. It is
// never modified after it is made, so it is safe for concurrent use.
//
// A language need not have every prompt: [Prompts.Get] falls back to the
// default language for any prompt a language lacks, so that a partial set
// of recordings still makes a complete call (mixing languages, which
// [Prompts.Missing] lets a configuration check warn about).
type Prompts struct {
	def   string
	langs map[string]map[PromptName]Prompt
}

//go:embed prompts/*/*.wav
var embeddedPrompts embed.FS

// defaultPrompts loads the embedded set once.
var defaultPrompts = sync.OnceValues(func() (*Prompts, error) {
	sub, err := fs.Sub(embeddedPrompts, "prompts")
	if err != nil {
		return nil, fmt.Errorf("ivr: embedded prompts: %w", err)
	}
	empty := &Prompts{def: DefaultLanguage, langs: map[string]map[PromptName]Prompt{}}
	p, err := loadPromptFS(sub, "prompts", empty)
	if err != nil {
		return nil, err
	}
	if m := p.Missing(DefaultLanguage); len(m) > 0 {
		return nil, fmt.Errorf("ivr: embedded prompts: %s lacks %v", DefaultLanguage, m)
	}
	return p, nil
})

// DefaultPrompts returns the prompt set built into the binary: every prompt
// in English ("en", the default language) and German ("de"), synthesised
// by ivr/prompts/generate.sh. Every call returns the same *Prompts.
func DefaultPrompts() (*Prompts, error) {
	return defaultPrompts()
}

// LoadPrompts loads an operator's prompt directory on top of base: each
// file <dir>/<lang>/<name>.wav replaces base's prompt name in language lang,
// or adds it. Any subset of prompts and languages may be given; a language
// that lacks some prompts falls back to the default language for them (see
// [Prompts]). A nil base means [DefaultPrompts]. base is not modified; the
// result has base's default language.
//
// Each <lang> is a directory named by a BCP 47 language tag (language,
// optional script, region and variants: "de", "fr-CA", "zh-Hant-TW"),
// matched without regard to case; it must hold at least one prompt. Each
// prompt file is a WAV file of 8 kHz mono 16-bit PCM, A-law or µ-law (see
// [dtmf.DecodeWAV]), with some audio and at most [MaxPromptDuration] of it,
// named by one of [PromptNames]. PCM and A-law are converted to µ-law once,
// here. Names starting with a dot are skipped, and so are files other than
// .wav beside the language directories (a README, say).
//
// Every file is checked. If any is wrong, LoadPrompts returns no set and an
// error joining one [*PromptError] per problem, each naming the file and
// what is wrong with it:
//
//	ivr: prompts/de/match.wav: sample rate 16000 Hz, want 8000
func LoadPrompts(dir string, base *Prompts) (*Prompts, error) {
	if base == nil {
		var err error
		if base, err = DefaultPrompts(); err != nil {
			return nil, err
		}
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("ivr: prompt directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("ivr: prompt directory %s: not a directory", dir)
	}
	return loadPromptFS(os.DirFS(dir), dir, base)
}

// PromptError is a problem with one file or directory of a prompt
// directory.
type PromptError struct {
	// Path is the file or directory: the directory LoadPrompts was given
	// joined with the path inside it.
	Path string
	// Err is what is wrong. For a file that is not a usable WAV file, it
	// wraps [dtmf.ErrWAV].
	Err error
}

// Error returns "ivr: <path>: <problem>".
func (e *PromptError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), dtmf.ErrWAV.Error()+": ")
	return "ivr: " + e.Path + ": " + msg
}

// Unwrap returns e.Err.
func (e *PromptError) Unwrap() error { return e.Err }

// loadPromptFS reads the language directories of fsys over a copy of base. root
// is how errors name fsys's top.
func loadPromptFS(fsys fs.FS, root string, base *Prompts) (*Prompts, error) {
	out := &Prompts{def: base.def, langs: make(map[string]map[PromptName]Prompt, len(base.langs)+1)}
	for lang, set := range base.langs {
		out.langs[lang] = maps.Clone(set)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("ivr: prompt directory %s: %w", root, err)
	}
	var errs []error
	bad := func(p string, err error) {
		errs = append(errs, &PromptError{Path: p, Err: err})
	}
	seen := make(map[string]string) // canonical tag → directory name
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(root, name)
		typ, err := promptEntryType(fsys, name, e)
		if err != nil {
			bad(p, withoutPath(err))
			continue
		}
		if !typ.IsDir() {
			if strings.EqualFold(path.Ext(name), ".wav") {
				bad(p, fmt.Errorf("a prompt file must be in a language directory, such as %s/%s", DefaultLanguage, name))
			}
			continue
		}
		if err := checkLangTag(name); err != nil {
			bad(p, err)
			continue
		}
		tag := canonicalLangTag(name)
		if prev, dup := seen[tag]; dup {
			bad(p, fmt.Errorf("same language as %s", filepath.Join(root, prev)))
			continue
		}
		seen[tag] = name
		loadLanguage(fsys, root, name, tag, out, bad)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// loadLanguage reads the prompts in fsys's directory dir into out.langs[tag],
// reporting problems to bad.
func loadLanguage(fsys fs.FS, root, dir, tag string, out *Prompts, bad func(string, error)) {
	dirPath := filepath.Join(root, dir)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		bad(dirPath, withoutPath(err))
		return
	}
	set := out.langs[tag]
	if set == nil {
		set = make(map[PromptName]Prompt, len(promptNames))
	}
	files := 0
	for _, e := range entries {
		file := e.Name()
		if strings.HasPrefix(file, ".") {
			continue
		}
		files++
		p := filepath.Join(dirPath, file)
		typ, err := promptEntryType(fsys, path.Join(dir, file), e)
		switch {
		case err != nil:
			bad(p, withoutPath(err))
			continue
		case typ.IsDir():
			bad(p, errors.New("a directory inside a language directory; want <name>.wav files only"))
			continue
		case !typ.IsRegular():
			bad(p, errors.New("not a regular file"))
			continue
		case path.Ext(file) != ".wav":
			bad(p, errors.New("not a .wav file; want <name>.wav"))
			continue
		}
		name := PromptName(strings.TrimSuffix(file, ".wav"))
		if !knownPrompts[name] {
			hint := ""
			if lc := PromptName(strings.ToLower(string(name))); knownPrompts[lc] {
				hint = fmt.Sprintf(" (names are lower-case: %s.wav)", lc)
			}
			bad(p, fmt.Errorf("unknown prompt name %q%s; see ivr.PromptNames", name, hint))
			continue
		}
		audio, err := readPrompt(fsys, path.Join(dir, file))
		if err != nil {
			bad(p, err)
			continue
		}
		set[name] = Prompt{
			Name:     name,
			Language: tag,
			Audio:    audio,
			Encoding: dtmf.EncodingULaw,
			Duration: time.Duration(len(audio)) * time.Second / dtmf.SampleRate,
		}
	}
	if files == 0 {
		bad(dirPath, errors.New("empty language directory; want <name>.wav files"))
		return
	}
	out.langs[tag] = set
}

// promptEntryType returns the type bits of e, at name in fsys, following a
// symbolic link: fs.ModeDir for a directory, 0 for a regular file.
func promptEntryType(fsys fs.FS, name string, e fs.DirEntry) (fs.FileMode, error) {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.Type(), nil
	}
	info, err := fs.Stat(fsys, name)
	if err != nil {
		return 0, err
	}
	return info.Mode().Type(), nil
}

// readPrompt reads and checks one prompt file and returns its audio as
// µ-law.
func readPrompt(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, withoutPath(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPromptFile+1))
	if err != nil {
		return nil, withoutPath(err)
	}
	if int64(len(data)) > maxPromptFile {
		return nil, fmt.Errorf("file is over %d bytes, too big for a prompt of at most %v", maxPromptFile, MaxPromptDuration)
	}
	wav, err := dtmf.DecodeWAV(data)
	if err != nil {
		return nil, err
	}
	switch n := wav.Len(); {
	case n == 0:
		return nil, errors.New("no audio (the data chunk is empty)")
	case n > maxPromptSamples:
		return nil, fmt.Errorf("%.1f s long, want at most %v", float64(n)/dtmf.SampleRate, MaxPromptDuration)
	}
	return promptULaw(wav), nil
}

// withoutPath drops the path from an *fs.PathError, which a PromptError
// names already: "open: permission denied".
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// promptULaw returns the audio of w as µ-law, in a new slice.
func promptULaw(w *dtmf.WAVData) []byte {
	out := make([]byte, w.Len())
	switch w.Encoding {
	case dtmf.EncodingULaw:
		copy(out, w.Data)
	case dtmf.EncodingALaw:
		for i, a := range w.Data {
			out[i] = g711.EncodeULaw(g711.DecodeALaw(a))
		}
	case dtmf.EncodingPCM16:
		for i := range out {
			out[i] = g711.EncodeULaw(int16(binary.LittleEndian.Uint16(w.Data[2*i:])))
		}
	}
	return out
}

// langTagPattern matches the BCP 47 language tags a prompt directory may be
// named by: a 2- or 3-letter language, then optionally a 4-letter script,
// a 2-letter or 3-digit region, and variants (RFC 5646 section 2.1;
// extensions and private use are not accepted).
var langTagPattern = regexp.MustCompile(`(?i)^[a-z]{2,3}(-[a-z]{4})?(-([a-z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$`)

// maxLangTagLen bounds the language tags [Prompts.Get] looks up.
const maxLangTagLen = 64

// checkLangTag returns an error if s is not a language tag langTagPattern accepts.
func checkLangTag(s string) error {
	if len(s) <= maxLangTagLen && langTagPattern.MatchString(s) {
		return nil
	}
	if t := strings.ReplaceAll(s, "_", "-"); t != s && len(t) <= maxLangTagLen && langTagPattern.MatchString(t) {
		return fmt.Errorf("language directory %q is not a BCP 47 language tag: use %q", s, canonicalLangTag(t))
	}
	return fmt.Errorf("language directory %q is not a BCP 47 language tag, such as \"en\", \"de\" or \"pt-BR\"", s)
}

// canonicalLangTag returns tag in the canonical case of RFC 5646 section 2.1.1.
func canonicalLangTag(tag string) string {
	return string(appendCanonicalLangTag(make([]byte, 0, len(tag)), tag))
}

func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func asciiUpper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// isASCIILetters reports whether s is all ASCII letters.
func isASCIILetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := asciiLower(s[i]); c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Get returns prompt name in language lang. lang is a BCP 47 tag, matched
// without regard to case; a tag p lacks is tried less specific ("de-AT",
// then "de"). If neither lang nor its less specific forms have the prompt,
// Get returns it in the default language, and ok is false only if that
// lacks it too (or name is not a prompt name). The returned Audio is shared
// and must not be modified. Get does not allocate.
func (p *Prompts) Get(lang string, name PromptName) (pr Prompt, ok bool) {
	if p == nil {
		return Prompt{}, false
	}
	if len(lang) <= maxLangTagLen && lang != "" {
		var buf [maxLangTagLen]byte // the canonical form is never longer
		t := appendCanonicalLangTag(buf[:0], lang)
		for len(t) > 0 {
			if pr, ok := p.langs[string(t)][name]; ok {
				return pr, true
			}
			i := bytes.LastIndexByte(t, '-')
			if i < 0 {
				break
			}
			t = t[:i]
		}
	}
	pr, ok = p.langs[p.def][name]
	return pr, ok
}

// appendCanonicalLangTag appends tag to dst in the canonical case of RFC 5646
// section 2.1.1: the language lower-case, a 4-letter script title-case, a
// 2-letter region upper-case, the rest lower-case. An underscore counts as
// a hyphen, so that "pt_BR" finds "pt-BR"; empty subtags are dropped.
func appendCanonicalLangTag(dst []byte, tag string) []byte {
	first := true
	for tag != "" {
		i := strings.IndexAny(tag, "-_")
		sub := tag
		if i >= 0 {
			sub, tag = tag[:i], tag[i+1:]
		} else {
			tag = ""
		}
		if sub == "" {
			continue
		}
		if !first {
			dst = append(dst, '-')
		}
		for j := 0; j < len(sub); j++ {
			c := asciiLower(sub[j])
			if !first && isASCIILetters(sub) && (len(sub) == 2 || len(sub) == 4 && j == 0) {
				c = asciiUpper(c)
			}
			dst = append(dst, c)
		}
		first = false
	}
	return dst
}

// Languages returns the tags of the languages p has prompts in, sorted.
func (p *Prompts) Languages() []string {
	if p == nil {
		return nil
	}
	langs := make([]string, 0, len(p.langs))
	for l := range p.langs {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	return langs
}

// Default returns the tag of the default language, which [Prompts.Get]
// falls back to.
func (p *Prompts) Default() string {
	if p == nil {
		return ""
	}
	return p.def
}

// Missing returns the prompts that language lang (matched exactly, after
// case folding) lacks, in the order of [PromptNames]: all of them for a
// language p does not have, none for a complete one. [Prompts.Get] plays
// the default language's recording of each.
func (p *Prompts) Missing(lang string) []PromptName {
	var set map[PromptName]Prompt
	if p != nil {
		set = p.langs[canonicalLangTag(lang)]
	}
	var missing []PromptName
	for _, n := range promptNames {
		if _, ok := set[n]; !ok {
			missing = append(missing, n)
		}
	}
	return missing
}
