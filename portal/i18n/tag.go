package i18n

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Bounds on an Accept-Language header, so that a hostile one costs little.
const (
	maxHeaderLen = 4096
	maxRanges    = 32
)

// canonicalTag returns s, a well-formed BCP 47 language tag (RFC 5646,
// "-" or "_" between subtags), in its canonical case: "pt-br" gives
// "pt-BR", "ZH_hant_tw" gives "zh-Hant-TW". It reports false for
// anything else, including private-use-only and grandfathered tags and
// primary language subtags of 5 to 8 letters (reserved for registration,
// and none registered), which no catalogue file needs: "german" is not a
// language tag.
func canonicalTag(s string) (string, bool) {
	if s == "" || len(s) > 64 {
		return "", false
	}
	subs := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	if strings.Join(subs, "-") != strings.ReplaceAll(s, "_", "-") {
		return "", false // empty subtag
	}
	for _, p := range subs {
		if len(p) > 8 || !isAlnum(p) {
			return "", false
		}
	}
	// language: 2-3 letters, then up to 3 extlangs.
	lang := subs[0]
	if !isAlpha(lang) || len(lang) < 2 || len(lang) > 3 {
		return "", false
	}
	out := []string{strings.ToLower(lang)}
	i := 1
	for n := 0; n < 3 && i < len(subs) && len(subs[i]) == 3 && isAlpha(subs[i]); n++ {
		out = append(out, strings.ToLower(subs[i]))
		i++
	}
	// script: 4 letters.
	if i < len(subs) && len(subs[i]) == 4 && isAlpha(subs[i]) {
		out = append(out, strings.ToUpper(subs[i][:1])+strings.ToLower(subs[i][1:]))
		i++
	}
	// region: 2 letters or 3 digits.
	if i < len(subs) && (len(subs[i]) == 2 && isAlpha(subs[i]) || len(subs[i]) == 3 && isDigits(subs[i])) {
		out = append(out, strings.ToUpper(subs[i]))
		i++
	}
	// variants: 5-8 characters, or a digit and 3 characters.
	for i < len(subs) && (len(subs[i]) >= 5 || len(subs[i]) == 4 && isDigits(subs[i][:1])) {
		out = append(out, strings.ToLower(subs[i]))
		i++
	}
	// extensions (a singleton other than x, then 2-8 characters) and
	// private use (x, then 1-8 characters).
	for i < len(subs) {
		single := strings.ToLower(subs[i])
		if len(single) != 1 {
			return "", false
		}
		minLen := 2
		if single == "x" {
			minLen = 1
		}
		out = append(out, single)
		i++
		n := 0
		for i < len(subs) && len(subs[i]) >= minLen && (single == "x" || len(subs[i]) > 1) {
			out = append(out, strings.ToLower(subs[i]))
			i++
			n++
		}
		if n == 0 {
			return "", false
		}
		if single == "x" && i < len(subs) {
			return "", false
		}
	}
	return strings.Join(out, "-"), true
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z') {
			return false
		}
	}
	return true
}

// langRange is one entry of an Accept-Language header.
type langRange struct {
	tag string // canonical; "*" for the wildcard
	q   int    // quality in thousandths
}

// parseAcceptLanguage returns the language ranges of an Accept-Language
// header (RFC 9110, section 12.5.4), best first, without those of
// quality 0. Entries that do not parse are skipped; the header is read
// only up to its first maxHeaderLen bytes and maxRanges entries.
func parseAcceptLanguage(h string) []langRange {
	if len(h) > maxHeaderLen {
		h = h[:maxHeaderLen]
	}
	var out []langRange
	for n, entry := range strings.Split(h, ",") {
		if n >= maxRanges {
			break
		}
		name, params, _ := strings.Cut(entry, ";")
		name = strings.TrimSpace(name)
		q := 1000
		if p := strings.TrimSpace(params); p != "" {
			v, ok := strings.CutPrefix(p, "q=")
			if !ok {
				v, ok = strings.CutPrefix(p, "Q=")
			}
			if !ok {
				continue
			}
			if q, ok = parseQ(strings.TrimSpace(v)); !ok {
				continue
			}
		}
		if q == 0 {
			continue
		}
		tag := "*"
		if name != "*" {
			var ok bool
			if tag, ok = canonicalTag(name); !ok {
				continue
			}
		}
		out = append(out, langRange{tag: tag, q: q})
	}
	slices.SortStableFunc(out, func(a, b langRange) int { return cmp.Compare(b.q, a.q) })
	return out
}

// parseQ parses a quality value, "0" to "1" with up to three decimals,
// into thousandths.
func parseQ(s string) (int, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole != "0" && whole != "1" || len(frac) > 3 || !isDigits(frac) {
		return 0, false
	}
	frac += strings.Repeat("0", 3-len(frac))
	f, err := strconv.Atoi(frac)
	if err != nil {
		return 0, false
	}
	q := f
	if whole == "1" {
		if f != 0 {
			return 0, false
		}
		q = 1000
	}
	return q, true
}

// lookup returns the language of langs (canonical tags) that best serves
// the canonical tag t: t itself, else t with subtags cut from the end
// (RFC 4647 lookup: "de-CH-1996" → "de-CH" → "de"), else the first of
// langs with the same primary language ("pt" → "pt-BR"). It reports
// false if none does.
func lookup(langs []string, t string) (string, bool) {
	for s := t; s != ""; {
		if slices.Contains(langs, s) {
			return s, true
		}
		i := strings.LastIndexByte(s, '-')
		if i < 0 {
			break
		}
		s = s[:i]
		if j := strings.LastIndexByte(s, '-'); j >= 0 && j == len(s)-2 {
			s = s[:j] // never end on a singleton ("x", "u")
		}
	}
	primary, _, _ := strings.Cut(t, "-")
	for _, l := range langs {
		if p, _, _ := strings.Cut(l, "-"); p == primary {
			return l, true
		}
	}
	return "", false
}
