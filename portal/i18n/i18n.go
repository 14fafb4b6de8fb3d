package i18n

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// English is the language every catalogue has in full, and the fallback
// for every other.
const English = "en"

// maxFileSize bounds a message file, so that a wrong path fails fast.
const maxFileSize = 1 << 20

//go:embed messages/*.yaml
var embedded embed.FS

// The problems a message file can have. Each comes wrapped in an
// [*Error] that names the file, the line and the key.
var (
	// ErrSyntax: the file is not YAML, is empty, or is not one flat
	// mapping of keys to messages.
	ErrSyntax = errors.New("i18n: malformed message file")
	// ErrTag: the file name is not <lang>.yaml with lang a BCP 47
	// language tag, or two files name the same language.
	ErrTag = errors.New("i18n: bad language file name")
	// ErrKey: the key is malformed, not an English key, or given twice.
	ErrKey = errors.New("i18n: bad key")
	// ErrMessage: the message is not a non-empty string, or has a "{"
	// or "}" that is not part of a well-formed {name} placeholder.
	ErrMessage = errors.New("i18n: bad message")
	// ErrPlaceholders: the message's placeholders are not the same set
	// as the English message's.
	ErrPlaceholders = errors.New("i18n: placeholders differ from English")
)

// Error is one problem in one message file.
type Error struct {
	// File is the file's name (its path for [Load]).
	File string
	// Line is the 1-based line of the problem, 0 when it is the whole
	// file's.
	Line int
	// Key is the message's key, "" when the problem is not one message's.
	Key string
	// Err is one of the sentinel errors, wrapped with the detail.
	Err error
}

// Error returns "file:line: key k: problem".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

// Catalogue holds the messages of every language by key. It is
// immutable, and safe for concurrent use.
type Catalogue struct {
	langs map[string]map[string]*message // language → key → message
	keys  []string                       // English keys, sorted
	names []string                       // languages, sorted
}

// message is one parsed message.
type message struct {
	parts        []part
	placeholders []string // sorted, unique
}

// part is a run of literal text, or a placeholder when name is set.
type part struct {
	text, name string
}

var loadDefault = sync.OnceValues(func() (*Catalogue, error) {
	return build(embedded, "messages")
})

// Default returns the catalogue of the embedded languages, English and
// any other shipped. Every call returns the same catalogue.
func Default() (*Catalogue, error) {
	return loadDefault()
}

// build reads the catalogue of the <lang>.yaml files of dir in fsys, which
// must include English.
func build(fsys fs.FS, dir string) (*Catalogue, error) {
	files, errs := readDir(fsys, dir, func(dir, name string) string { return path.Join(dir, name) })
	en, ok := files[English]
	if !ok {
		return nil, errors.Join(append(errs, &Error{File: path.Join(dir, "en.yaml"),
			Err: fmt.Errorf("%w: no English file", ErrTag)})...)
	}
	c := &Catalogue{langs: map[string]map[string]*message{}}
	msgs, perrs := parseFile(en.name, en.data, nil)
	errs = append(errs, perrs...)
	c.langs[English] = msgs
	for lang, f := range files {
		if lang == English {
			continue
		}
		msgs, perrs := parseFile(f.name, f.data, c.langs[English])
		errs = append(errs, perrs...)
		c.langs[lang] = msgs
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.index()
	return c, nil
}

// Load returns base (the [Default] catalogue when nil) with the messages
// of the <lang>.yaml files in dir added: a file for a language base has
// overrides its messages key by key (en.yaml included); a file for
// another language adds that language. Files of other names are
// ignored, except <lang>.yml, a likely mistake. Every key must be an
// English key, and its placeholders the English message's. Load reports
// every problem it finds, each an [*Error], joined.
func Load(dir string, base *Catalogue) (*Catalogue, error) {
	if base == nil {
		var err error
		if base, err = Default(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	files, errs := readDir(os.DirFS(dir), ".", func(_, name string) string { return filepath.Join(dir, name) })
	c := &Catalogue{langs: maps.Clone(base.langs)}
	for _, lang := range slices.Sorted(maps.Keys(files)) {
		f := files[lang]
		msgs, perrs := parseFile(f.name, f.data, base.langs[English])
		errs = append(errs, perrs...)
		merged := maps.Clone(c.langs[lang])
		if merged == nil {
			merged = map[string]*message{}
		}
		maps.Copy(merged, msgs)
		c.langs[lang] = merged
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.index()
	return c, nil
}

// index fills keys and names from langs.
func (c *Catalogue) index() {
	c.keys = slices.Sorted(maps.Keys(c.langs[English]))
	c.names = slices.Sorted(maps.Keys(c.langs))
}

// file is one language file read from a directory.
type file struct {
	name string // as errors show it
	data []byte
}

// readDir reads the <lang>.yaml files of dir, by canonical language tag.
// show gives the name errors show for a file of dir.
func readDir(fsys fs.FS, dir string, show func(dir, name string) string) (map[string]file, []error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, []error{fmt.Errorf("i18n: %w", err)}
	}
	files := map[string]file{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		stem, yml := strings.CutSuffix(name, ".yml")
		if yml && !e.IsDir() {
			errs = append(errs, &Error{File: show(dir, name), Err: fmt.Errorf("%w: name it %s.yaml", ErrTag, stem)})
			continue
		}
		stem, ok := strings.CutSuffix(name, ".yaml")
		if !ok || e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		lang, ok := canonicalTag(stem)
		if !ok || strings.Contains(stem, "_") {
			errs = append(errs, &Error{File: show(dir, name), Err: fmt.Errorf("%w: %q is not a BCP 47 language tag", ErrTag, stem)})
			continue
		}
		if prev, dup := files[lang]; dup {
			errs = append(errs, &Error{File: show(dir, name), Err: fmt.Errorf("%w: language %s is also in %s", ErrTag, lang, path.Base(filepath.ToSlash(prev.name)))})
			continue
		}
		if info, err := e.Info(); err == nil && info.Size() > maxFileSize {
			errs = append(errs, &Error{File: show(dir, name), Err: fmt.Errorf("%w: larger than %d bytes", ErrSyntax, maxFileSize)})
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			errs = append(errs, &Error{File: show(dir, name), Err: fmt.Errorf("i18n: %w", err)})
			continue
		}
		files[lang] = file{name: show(dir, name), data: data}
	}
	return files, errs
}

// parseFile parses one language file. english is nil for the English
// file itself; otherwise every key must be one of its keys, with the same
// placeholders.
func parseFile(name string, data []byte, english map[string]*message) (map[string]*message, []error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []error{&Error{File: name, Err: fmt.Errorf("%w: %v", ErrSyntax, err)}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || len(doc.Content[0].Content) == 0 {
		return nil, []error{&Error{File: name, Err: fmt.Errorf("%w: no messages", ErrSyntax)}}
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, []error{&Error{File: name, Line: m.Line, Err: fmt.Errorf("%w: not a mapping of keys to messages", ErrSyntax)}}
	}
	msgs := map[string]*message{}
	var errs []error
	fail := func(n *yaml.Node, key string, err error) {
		errs = append(errs, &Error{File: name, Line: n.Line, Key: key, Err: err})
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			fail(k, "", fmt.Errorf("%w: not a flat key", ErrKey))
			continue
		}
		key := k.Value
		switch {
		case !validKey(key):
			fail(k, key, fmt.Errorf("%w: use lower-case letters, digits, \"-\" and \"_\", in parts separated by \".\"", ErrKey))
			continue
		case msgs[key] != nil:
			fail(k, key, fmt.Errorf("%w: given twice", ErrKey))
			continue
		case english != nil && english[key] == nil:
			fail(k, key, fmt.Errorf("%w: not an English key", ErrKey))
			continue
		}
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" || v.Value == "" {
			fail(v, key, fmt.Errorf("%w: not a non-empty string (quote it)", ErrMessage))
			continue
		}
		msg, err := parseMessage(v.Value)
		if err != nil {
			fail(v, key, err)
			continue
		}
		if english != nil && !slices.Equal(msg.placeholders, english[key].placeholders) {
			fail(v, key, fmt.Errorf("%w: %s, English has %s", ErrPlaceholders,
				listPlaceholders(msg.placeholders), listPlaceholders(english[key].placeholders)))
			continue
		}
		msgs[key] = msg
	}
	return msgs, errs
}

func listPlaceholders(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return "{" + strings.Join(names, "}, {") + "}"
}

// validKey reports whether key is one or more parts separated by ".",
// each of lower-case letters, digits, "-" and "_", starting with a letter
// or digit.
func validKey(key string) bool {
	if key == "" || len(key) > 128 {
		return false
	}
	for p := range strings.SplitSeq(key, ".") {
		if p == "" || p[0] == '-' || p[0] == '_' {
			return false
		}
		for i := 0; i < len(p); i++ {
			if c := p[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validName reports whether s is a placeholder name: a letter, then
// letters, digits or "_".
func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '_')) {
			return false
		}
	}
	return true
}

// parseMessage splits s into text and {name} placeholders.
func parseMessage(s string) (*message, error) {
	m := &message{}
	for s != "" {
		open := strings.IndexAny(s, "{}")
		if open < 0 {
			m.parts = append(m.parts, part{text: s})
			break
		}
		if s[open] == '}' {
			return nil, fmt.Errorf("%w: \"}\" without \"{\"", ErrMessage)
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("%w: \"{\" without \"}\"", ErrMessage)
		}
		name := s[open+1 : open+end]
		if !validName(name) {
			return nil, fmt.Errorf("%w: {%s} is not a placeholder (a letter, then letters, digits or \"_\")", ErrMessage, name)
		}
		if open > 0 {
			m.parts = append(m.parts, part{text: s[:open]})
		}
		m.parts = append(m.parts, part{name: name})
		if !slices.Contains(m.placeholders, name) {
			m.placeholders = append(m.placeholders, name)
		}
		s = s[open+end+1:]
	}
	slices.Sort(m.placeholders)
	return m, nil
}

// Languages returns the catalogue's languages, canonical BCP 47 tags,
// sorted.
func (c *Catalogue) Languages() []string {
	return slices.Clone(c.names)
}

// Keys returns every message key, sorted: the English keys, which are
// all the keys there are.
func (c *Catalogue) Keys() []string {
	return slices.Clone(c.keys)
}

// Placeholders returns the names of the placeholders of the English
// message for key, sorted, or nil if it has none or there is no such key.
func (c *Catalogue) Placeholders(key string) []string {
	if m := c.langs[English][key]; m != nil {
		return slices.Clone(m.placeholders)
	}
	return nil
}

// Match returns the catalogue's language that best serves an
// Accept-Language header: the first language range, by quality, that
// one of the catalogue's languages serves (the range itself, a shorter
// form of it, "de-CH" → "de", or a regional form of the same language,
// "pt" → "pt-BR"); English when none does, or the header is empty or
// malformed. A "*" range picks English.
func (c *Catalogue) Match(acceptLanguage string) string {
	for _, r := range parseAcceptLanguage(acceptLanguage) {
		if r.tag == "*" {
			return English
		}
		if l, ok := lookup(c.names, r.tag); ok {
			return l
		}
	}
	return English
}

// T returns the message for key in lang with its placeholders filled
// from args, pairs of a placeholder's name and its value: T("en",
// "phone.calling", "number", masked). A language the catalogue lacks is
// looked up by its shorter forms ("de-CH" → "de"); a key missing in lang
// comes from English; a key missing in English comes back as the key
// itself. A placeholder without an argument stays as "{name}"; an
// argument without a placeholder is ignored. Values are put in as they
// are: escaping is for the template that shows the result.
func (c *Catalogue) T(lang, key string, args ...string) string {
	m := c.find(lang, key)
	if m == nil {
		return key
	}
	if len(m.parts) == 1 && m.parts[0].name == "" {
		return m.parts[0].text
	}
	var b strings.Builder
	for _, p := range m.parts {
		if p.name == "" {
			b.WriteString(p.text)
			continue
		}
		v, ok := arg(args, p.name)
		if !ok {
			v = "{" + p.name + "}"
		}
		b.WriteString(v)
	}
	return b.String()
}

// find returns the message for key in lang or its fallbacks, or nil.
func (c *Catalogue) find(lang, key string) *message {
	if m := c.langs[lang][key]; m != nil {
		return m
	}
	if t, ok := canonicalTag(lang); ok {
		for s := t; ; {
			if m := c.langs[s][key]; m != nil {
				return m
			}
			i := strings.LastIndexByte(s, '-')
			if i < 0 {
				break
			}
			s = s[:i]
		}
	}
	return c.langs[English][key]
}

// arg returns the value for name in args, name and value pairs.
func arg(args []string, name string) (string, bool) {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == name {
			return args[i+1], true
		}
	}
	return "", false
}
