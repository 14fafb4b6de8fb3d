package i18n

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func mustDefault(t *testing.T) *Catalogue {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return c
}

// fill returns args giving every placeholder of key the value "X".
func fill(c *Catalogue, key string) []string {
	var args []string
	for _, p := range c.Placeholders(key) {
		args = append(args, p, "X")
	}
	return args
}

func TestDefault(t *testing.T) {
	c := mustDefault(t)
	if !slices.Contains(c.Languages(), English) {
		t.Fatalf("languages %v lack English", c.Languages())
	}
	keys := c.Keys()
	if len(keys) < 100 || !slices.IsSorted(keys) {
		t.Fatalf("%d keys, sorted %v", len(keys), slices.IsSorted(keys))
	}
	for _, lang := range c.Languages() {
		for _, key := range keys {
			got := c.T(lang, key, fill(c, key)...)
			if got == key || got == "" {
				t.Errorf("%s %s: no message", lang, key)
			}
			if strings.ContainsAny(got, "{}") {
				t.Errorf("%s %s: %q has a brace that is not a placeholder", lang, key, got)
			}
			if got != strings.TrimSpace(got) {
				t.Errorf("%s %s: %q has leading or trailing space", lang, key, got)
			}
		}
	}
	again, _ := Default()
	if again != c {
		t.Error("Default returned a different catalogue the second time")
	}
}

// TestPortalKeys checks the keys the portal builds from its enums and
// the ones the issue asks for by name. The enum lists are those of
// ivr.Results, ivr's event steps and directory's PolicyReason values.
func TestPortalKeys(t *testing.T) {
	c := mustDefault(t)
	var want []string
	for _, r := range []string{"confirmed", "code-delivered", "fraud-reported", "wrong-input", "no-input",
		"no-answer", "busy", "rejected", "unreachable", "hung-up", "media-timeout", "failed"} {
		want = append(want, "phone.result."+r)
	}
	for _, s := range []string{"dialing", "ringing", "answered", "waiting", "key", "confirmed"} {
		want = append(want, "phone.status."+s)
	}
	for _, r := range []string{"too-short", "too-recent", "in-history", "not-complex", "unknown"} {
		want = append(want, "policy."+r)
	}
	want = append(want, "language.name", "signin.failed", "password.mismatch", "password.min_length",
		"limit.locked", "limit.locked_permanent", "limit.rate", "limit.calls",
		"phone.call_again", "phone.next", "password.unlock_only", "phone.masked",
		"done.reset.title", "done.unlock.title", "register.done.title")
	keys := c.Keys()
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("no message %s", k)
		}
	}
	for key, text := range map[string]string{
		"phone.result.fraud-reported": "You told us you did not ask for this. We have stopped and locked the reset for your account.",
		"phone.result.unreachable":    "We cannot call you right now.",
		"phone.calling":               "Calling +44 •• •••• 0958…",
		"password.min_length":         "The password must be at least 12 characters.",
		"common.step":                 "Step 2 of 4",
	} {
		got := c.T("en", key, "number", "+44 •• •••• 0958", "min", "12", "step", "2", "total", "4")
		if got != text {
			t.Errorf("%s = %q, want %q", key, got, text)
		}
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		names []string
		err   error
	}{
		{"plain", "Reset your password", nil, nil},
		{"one", "Calling {number}…", []string{"number"}, nil},
		{"two sorted", "Step {step} of {total}", []string{"step", "total"}, nil},
		{"repeated", "{a} and {a}", []string{"a"}, nil},
		{"adjacent", "{a}{b}", []string{"a", "b"}, nil},
		{"camel and digits", "{lastDigits_2}", []string{"lastDigits_2"}, nil},
		{"unclosed", "Calling {number…", nil, ErrMessage},
		{"close alone", "a } b", nil, ErrMessage},
		{"empty name", "a {} b", nil, ErrMessage},
		{"space in name", "{phone number}", nil, ErrMessage},
		{"digit first", "{2fa}", nil, ErrMessage},
		{"nested", "{a{b}}", nil, ErrMessage},
		{"template syntax", "{{.Number}}", nil, ErrMessage},
		{"json", `{"a": 1}`, nil, ErrMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMessage(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && !slices.Equal(m.placeholders, tc.names) {
				t.Errorf("placeholders %v, want %v", m.placeholders, tc.names)
			}
		})
	}
}

func TestT(t *testing.T) {
	base := fstest.MapFS{
		"m/en.yaml":    {Data: []byte("a: \"A {x}\"\nb: \"B\"\nc: \"C {x} {y}\"\n")},
		"m/de.yaml":    {Data: []byte("a: \"DE-A {x}\"\n")},
		"m/de-CH.yaml": {Data: []byte("b: \"CH-B\"\n")},
		"m/pt-BR.yaml": {Data: []byte("b: \"BR-B\"\n")},
	}
	c, err := build(base, "m")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, lang, key string
		args            []string
		want            string
	}{
		{"english", "en", "b", nil, "B"},
		{"filled", "en", "a", []string{"x", "1"}, "A 1"},
		{"two filled", "en", "c", []string{"y", "2", "x", "1"}, "C 1 2"},
		{"unused argument", "en", "a", []string{"z", "9", "x", "1"}, "A 1"},
		{"missing argument", "en", "c", []string{"x", "1"}, "C 1 {y}"},
		{"odd arguments", "en", "a", []string{"x"}, "A {x}"},
		{"value with braces kept as is", "en", "a", []string{"x", "{y}"}, "A {y}"},
		{"german", "de", "a", []string{"x", "1"}, "DE-A 1"},
		{"german falls back to english", "de", "b", nil, "B"},
		{"swiss", "de-CH", "b", nil, "CH-B"},
		{"swiss falls back to german", "de-CH", "a", []string{"x", "1"}, "DE-A 1"},
		{"unknown region falls back to german", "de-AT", "a", []string{"x", "1"}, "DE-A 1"},
		{"case of tag", "DE_ch", "b", nil, "CH-B"},
		{"brazil", "pt-BR", "b", nil, "BR-B"},
		{"portuguese without region falls back to english", "pt", "b", nil, "B"},
		{"unknown language", "fr", "b", nil, "B"},
		{"empty language", "", "b", nil, "B"},
		{"malformed language", "<script>", "b", nil, "B"},
		{"missing key", "de", "nope", nil, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.T(tc.lang, tc.key, tc.args...); got != tc.want {
				t.Errorf("T(%q, %q) = %q, want %q", tc.lang, tc.key, got, tc.want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		err   error
		has   []string
	}{
		{"no english", fstest.MapFS{"m/de.yaml": {Data: []byte("a: \"A\"\n")}}, ErrTag, []string{"en.yaml"}},
		{"bad english placeholder", fstest.MapFS{"m/en.yaml": {Data: []byte("a: \"A\"\nb: \"B {x\"\n")}}, ErrMessage, []string{"m/en.yaml:2", `"b"`}},
		{"bad english key", fstest.MapFS{"m/en.yaml": {Data: []byte("A b: \"A\"\n")}}, ErrKey, []string{"m/en.yaml:1"}},
		{"other language adds a key", fstest.MapFS{
			"m/en.yaml": {Data: []byte("a: \"A\"\n")},
			"m/fr.yaml": {Data: []byte("a: \"A\"\nb: \"B\"\n")},
		}, ErrKey, []string{"m/fr.yaml:2", `"b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(tc.files, "m")
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			for _, s := range tc.has {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	base := mustDefault(t)
	dir := writeFiles(t, map[string]string{
		"en.yaml": "reset.title: \"Forgot your password?\"\n",
		"de.yaml": "reset.title: \"Passwort zurücksetzen\"\n" +
			"phone.calling: \"Wir rufen {number} an …\"\n" +
			"language.name: Deutsch\n",
		"pt-br.yaml": "# Comments are fine.\nreset.title: 'Redefinir sua senha'\n",
		"README.md":  "ignored",
		"notes.txt":  "ignored",
	})
	if err := os.Mkdir(filepath.Join(dir, "old.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir, base)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.Languages(), []string{"de", "en", "pt-BR"}; !slices.Equal(got, want) {
		t.Errorf("languages %v, want %v", got, want)
	}
	if !slices.Equal(c.Keys(), base.Keys()) {
		t.Error("Load changed the keys")
	}
	tests := []struct{ lang, key, want string }{
		{"en", "reset.title", "Forgot your password?"},
		{"en", "unlock.title", base.T("en", "unlock.title")},
		{"de", "reset.title", "Passwort zurücksetzen"},
		{"de", "phone.calling", "Wir rufen +49 ••• ••34 an …"},
		{"de", "language.name", "Deutsch"},
		{"de", "unlock.title", "Unlock your account"},
		{"de-DE", "reset.title", "Passwort zurücksetzen"},
		{"pt-BR", "reset.title", "Redefinir sua senha"},
	}
	for _, tc := range tests {
		if got := c.T(tc.lang, tc.key, "number", "+49 ••• ••34"); got != tc.want {
			t.Errorf("T(%s, %s) = %q, want %q", tc.lang, tc.key, got, tc.want)
		}
	}
	if got := base.T("en", "reset.title"); got != "Reset your password" {
		t.Errorf("Load changed the base catalogue: %q", got)
	}
	if got := base.Languages(); !slices.Equal(got, []string{"en"}) {
		t.Errorf("Load changed the base languages: %v", got)
	}

	// A second directory layered over the first overrides key by key.
	dir2 := writeFiles(t, map[string]string{"de.yaml": "unlock.title: \"Konto entsperren\"\n"})
	c2, err := Load(dir2, c)
	if err != nil {
		t.Fatalf("Load over Load: %v", err)
	}
	if got := c2.T("de", "unlock.title"); got != "Konto entsperren" {
		t.Errorf("layered unlock.title %q", got)
	}
	if got := c2.T("de", "reset.title"); got != "Passwort zurücksetzen" {
		t.Errorf("layered reset.title %q", got)
	}
	if got := c.T("de", "unlock.title"); got != "Unlock your account" {
		t.Errorf("Load changed its base's German: %q", got)
	}

	// A nil base is the default catalogue.
	c3, err := Load(dir2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c3.T("de", "unlock.title"); got != "Konto entsperren" {
		t.Errorf("nil base: %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		err   error
		has   []string // in the error text
	}{
		{"unknown key", map[string]string{"de.yaml": "reset.title: \"A\"\nreset.nope: \"B\"\n"},
			ErrKey, []string{"de.yaml:2", `"reset.nope"`, "not an English key"}},
		{"unknown key in english", map[string]string{"en.yaml": "extra.key: \"B\"\n"},
			ErrKey, []string{"en.yaml:1", `"extra.key"`}},
		{"key twice", map[string]string{"de.yaml": "reset.title: \"A\"\nreset.title: \"B\"\n"},
			ErrKey, []string{"de.yaml:2", `"reset.title"`, "twice"}},
		{"nested keys", map[string]string{"de.yaml": "reset:\n  title: \"A\"\n"},
			ErrKey, []string{"de.yaml:1", `"reset"`}},
		{"placeholder missing", map[string]string{"de.yaml": "phone.calling: \"Anruf …\"\n"},
			ErrPlaceholders, []string{"de.yaml:1", `"phone.calling"`, "{number}"}},
		{"placeholder renamed", map[string]string{"fr.yaml": "phone.calling: \"Appel du {numero}…\"\n"},
			ErrPlaceholders, []string{"fr.yaml:1", "{numero}", "{number}"}},
		{"placeholder added", map[string]string{"fr.yaml": "reset.title: \"{x}\"\n"},
			ErrPlaceholders, []string{"fr.yaml:1", `"reset.title"`}},
		{"stray brace", map[string]string{"de.yaml": "reset.title: \"A } B\"\n"},
			ErrMessage, []string{"de.yaml:1", `"reset.title"`}},
		{"not a string", map[string]string{"de.yaml": "reset.title: 12\n"},
			ErrMessage, []string{"de.yaml:1", `"reset.title"`, "quote"}},
		{"empty message", map[string]string{"de.yaml": "reset.title: \"\"\n"},
			ErrMessage, []string{"de.yaml:1"}},
		{"list message", map[string]string{"de.yaml": "reset.title:\n  - a\n"},
			ErrMessage, []string{"de.yaml:2", `"reset.title"`}},
		{"not yaml", map[string]string{"de.yaml": "reset.title: \"unterminated\n"},
			ErrSyntax, []string{"de.yaml"}},
		{"empty file", map[string]string{"de.yaml": "# nothing yet\n"},
			ErrSyntax, []string{"de.yaml", "no messages"}},
		{"a list", map[string]string{"de.yaml": "- a\n- b\n"},
			ErrSyntax, []string{"de.yaml:1"}},
		{"not a language tag", map[string]string{"german.yaml": "reset.title: \"A\"\n"},
			ErrTag, []string{"german.yaml"}},
		{"too long subtag", map[string]string{"de-abcdefghi.yaml": "reset.title: \"A\"\n"},
			ErrTag, []string{"de-abcdefghi.yaml"}},
		{"underscore", map[string]string{"pt_BR.yaml": "reset.title: \"A\"\n"},
			ErrTag, []string{"pt_BR.yaml"}},
		{"yml", map[string]string{"de.yml": "reset.title: \"A\"\n"},
			ErrTag, []string{"de.yml", "de.yaml"}},
		{"same language twice", map[string]string{"pt-BR.yaml": "reset.title: \"A\"\n", "pt-br.yaml": "reset.title: \"B\"\n"},
			ErrTag, []string{"pt-BR", "also in"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			c, err := Load(dir, nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if c != nil {
				t.Error("a catalogue with the error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not an *Error", err)
			}
			for _, s := range tc.has {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"de.yaml": "reset.nope: \"A\"\nphone.calling: \"Anruf\"\nreset.title: \"Gut\"\n",
		"fr.yaml": "reset.title: \"{\"\n",
		"x.yaml":  "reset.title: \"A\"\n",
	})
	_, err := Load(dir, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"de.yaml:1", "reset.nope", "de.yaml:2", "phone.calling", "fr.yaml:1", "x.yaml"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	if strings.Contains(err.Error(), "de.yaml:3") {
		t.Errorf("error %q reports a good line", err)
	}
	for _, target := range []error{ErrKey, ErrPlaceholders, ErrMessage, ErrTag} {
		if !errors.Is(err, target) {
			t.Errorf("error does not wrap %v", target)
		}
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "absent"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err %v, want not exist", err)
	}
}
