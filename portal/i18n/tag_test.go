package i18n

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCanonicalTag(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"en", "en", true},
		{"EN", "en", true},
		{"pt-br", "pt-BR", true},
		{"pt_BR", "pt-BR", true},
		{"zh-hant-tw", "zh-Hant-TW", true},
		{"sr-latn", "sr-Latn", true},
		{"es-419", "es-419", true},
		{"de-CH-1996", "de-CH-1996", true},
		{"sl-rozaj-biske", "sl-rozaj-biske", true},
		{"zh-yue-HK", "zh-yue-HK", true},
		{"en-US-u-ca-gregory", "en-US-u-ca-gregory", true},
		{"de-x-formal", "de-x-formal", true},
		{"", "", false},
		{"e", "", false},
		{"german", "", false},
		{"engl", "", false},
		{"en-", "", false},
		{"-en", "", false},
		{"en--US", "", false},
		{"en-US-u", "", false},
		{"en-u-x", "", false},
		{"x-klingon", "", false},
		{"i-klingon", "", false},
		{"de-abcdefghi", "", false},
		{"en us", "", false},
		{"en-ÜS", "", false},
		{"*", "", false},
		{"../en", "", false},
		{strings.Repeat("a-", 40) + "a", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := canonicalTag(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("canonicalTag(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseAcceptLanguage(t *testing.T) {
	tests := []struct {
		name, in string
		want     []langRange
	}{
		{"empty", "", nil},
		{"one", "de", []langRange{{"de", 1000}}},
		{"ordered by quality", "en;q=0.5, de-CH, fr;q=0.9", []langRange{{"de-CH", 1000}, {"fr", 900}, {"en", 500}}},
		{"stable among equals", "fr;q=0.8,de;q=0.8", []langRange{{"fr", 800}, {"de", 800}}},
		{"zero dropped", "de;q=0, en", []langRange{{"en", 1000}}},
		{"q forms", "a1;q=1.000,de;q=0.,fr;q=1,it;q=0.001", nil},
		{"spaces and case", " DE-ch ; Q=0.7 ,  *;q=0.1", []langRange{{"de-CH", 700}, {"*", 100}}},
		{"bad quality skipped", "de;q=2, fr;q=0.5555, it;q=x, es;foo=1, en;q=0.3", []langRange{{"en", 300}}},
		{"bad tag skipped", "<script>, en-", nil},
	}
	tests[5].want = []langRange{{"fr", 1000}, {"it", 1}} // "a1" is no tag; "de;q=0." is zero
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseAcceptLanguage(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	c, err := build(fstest.MapFS{
		"m/en.yaml":    {Data: []byte("a: \"A\"\n")},
		"m/de.yaml":    {Data: []byte("a: \"A\"\n")},
		"m/fr-CA.yaml": {Data: []byte("a: \"A\"\n")},
		"m/pt-BR.yaml": {Data: []byte("a: \"A\"\n")},
		"m/pt-PT.yaml": {Data: []byte("a: \"A\"\n")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Languages(), []string{"de", "en", "fr-CA", "pt-BR", "pt-PT"}; !slices.Equal(got, want) {
		t.Fatalf("languages %v, want %v", got, want)
	}
	tests := []struct {
		name, header, want string
	}{
		{"empty", "", "en"},
		{"garbage", ";;,,q=,=", "en"},
		{"exact", "de", "de"},
		{"case", "DE", "de"},
		{"region falls back to language", "de-CH", "de"},
		{"variant falls back to language", "de-CH-1996", "de"},
		{"extension is cut", "de-u-co-phonebk", "de"},
		{"language finds a regional form", "fr", "fr-CA"},
		{"other region finds a regional form", "fr-FR", "fr-CA"},
		{"exact region preferred", "pt-PT", "pt-PT"},
		{"first of several regions", "pt", "pt-BR"},
		{"browser style", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"},
		{"quality decides", "en;q=0.4, de;q=0.8", "de"},
		{"english first", "en-GB,en;q=0.9,de;q=0.8", "en"},
		{"unsupported then supported", "ja, ko;q=0.9, de;q=0.1", "de"},
		{"none supported", "ja, ko", "en"},
		{"zero quality excluded", "de;q=0, fr-CA;q=0.1", "fr-CA"},
		{"wildcard", "ja, *;q=0.5", "en"},
		{"wildcard after a match", "de, *;q=0.5", "de"},
		{"bad entry skipped", "en-;q=1, de", "de"},
		{"underscore", "pt_PT", "pt-PT"},
		{"long header", strings.Repeat("ja,", 2000) + "de", "en"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Match(tc.header); got != tc.want {
				t.Errorf("Match(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
	if got := mustDefault(t).Match("de-DE,de;q=0.9"); got != "en" {
		t.Errorf("the default catalogue matched German to %q", got)
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"", "de", "de-DE,de;q=0.9,en;q=0.8", "*;q=0.1", "pt_br;Q=1.000", "zh-Hant-TW-x-a", "en;q=0.", ";,;"} {
		f.Add(s)
	}
	c, err := build(fstest.MapFS{
		"m/en.yaml":    {Data: []byte("a: \"A\"\n")},
		"m/de.yaml":    {Data: []byte("a: \"A\"\n")},
		"m/pt-BR.yaml": {Data: []byte("a: \"A\"\n")},
	}, "m")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := c.Match(header)
		if !slices.Contains(c.Languages(), got) {
			t.Fatalf("Match(%q) = %q, not a catalogue language", header, got)
		}
		for _, r := range parseAcceptLanguage(header) {
			if r.q <= 0 || r.q > 1000 {
				t.Fatalf("quality %d", r.q)
			}
			if r.tag == "*" {
				continue
			}
			if again, ok := canonicalTag(r.tag); !ok || again != r.tag {
				t.Fatalf("tag %q is not canonical (%q, %v)", r.tag, again, ok)
			}
		}
	})
}
