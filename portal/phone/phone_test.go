package phone

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// Test numbers, checked against phonenumbers v1.8.1. Where a fictional
// range exists and the library accepts it, it is used: Ofcom's drama
// numbers 020 7946 0xxx (London), 0808 157 0xxx (freephone), 0909 879 0xxx
// (premium rate), 03069 990xxx (UAN), and the US 555-01xx range. The
// library treats Ofcom's drama mobile range 07700 900xxx as invalid, so
// mobile numbers are the library's own example numbers (07400 123456,
// +33 6 12 34 56 78), as are the types with no fictional range.
const (
	london  = "+442079460958"
	ukMob   = "+447400123456"
	usNum   = "+12025550123"
	frMob   = "+33612345678"
	ukVoIP  = "+445612345678"
	ukFree  = "+448081570123"
	ukUAN   = "+443069990123"
	ukPers  = "+447012345678"
	ukPager = "+447640123456"
)

func TestParseAccepts(t *testing.T) {
	gb := Policy{DefaultRegion: "GB"}
	us := Policy{DefaultRegion: "US"}
	none := Policy{}
	tests := []struct {
		name   string
		policy Policy
		input  string
		want   Number
	}{
		{"plus and spaces", none, "+44 20 7946 0958", Number{london, "GB", FixedLine}},
		{"plus and dashes", none, "+44-20-7946-0958", Number{london, "GB", FixedLine}},
		{"plus compact", none, "+442079460958", Number{london, "GB", FixedLine}},
		{"plus with (0)", none, "+44 (0)20 7946 0958", Number{london, "GB", FixedLine}},
		{"plus with dots and slash", none, "+44.20/7946.0958", Number{london, "GB", FixedLine}},
		{"fullwidth plus", none, "＋44 20 7946 0958", Number{london, "GB", FixedLine}},
		{"surrounding space", none, "  \t+44 20 7946 0958\n", Number{london, "GB", FixedLine}},
		{"country code without plus, no default region", none, "44 20 7946 0958", Number{london, "GB", FixedLine}},
		{"country code without plus, default region", gb, "44 20 7946 0958", Number{london, "GB", FixedLine}},
		{"other country code without plus, default region", gb, "33 6 12 34 56 78", Number{frMob, "FR", Mobile}},
		{"US country code without plus, GB default", gb, "1 202 555 0123", Number{usNum, "US", FixedLineOrMobile}},
		{"00 prefix, no default region", none, "0044 20 7946 0958", Number{london, "GB", FixedLine}},
		{"00 prefix, GB default", gb, "0044 20 7946 0958", Number{london, "GB", FixedLine}},
		{"00 prefix, US default (its prefix is 011)", us, "0044 20 7946 0958", Number{london, "GB", FixedLine}},
		{"011 prefix, US default", us, "011 44 20 7946 0958", Number{london, "GB", FixedLine}},
		{"national with brackets", gb, "(020) 7946 0958", Number{london, "GB", FixedLine}},
		{"national compact", gb, "02079460958", Number{london, "GB", FixedLine}},
		{"national with en dashes", gb, "020–7946–0958", Number{london, "GB", FixedLine}},
		{"national in Arabic-Indic digits", gb, "٠٢٠ ٧٩٤٦ ٠٩٥٨", Number{london, "GB", FixedLine}},
		{"national without trunk 0 wins over country code", gb, "20 7946 0958", Number{london, "GB", FixedLine}},
		{"lower-case default region", Policy{DefaultRegion: "gb"}, "020 7946 0958", Number{london, "GB", FixedLine}},
		{"UK mobile", gb, "07400 123456", Number{ukMob, "GB", Mobile}},
		{"UK VoIP", gb, "056 1234 5678", Number{ukVoIP, "GB", VoIP}},
		{"French mobile", none, "+33 6 12 34 56 78", Number{frMob, "FR", Mobile}},
		{"US national", us, "(202) 555-0123", Number{usNum, "US", FixedLineOrMobile}},
		{"US national with trunk 1", us, "1-202-555-0123", Number{usNum, "US", FixedLineOrMobile}},
		{"US dotted", us, "202.555.0123", Number{usNum, "US", FixedLineOrMobile}},
		{"allowlisted country", Policy{Countries: []string{"GB", "US"}}, "+1 202 555 0123", Number{usNum, "US", FixedLineOrMobile}},
		{"allowlist is case-insensitive", Policy{Countries: []string{"gb"}}, "+44 20 7946 0958", Number{london, "GB", FixedLine}},
		{"toll-free opted in", Policy{Types: []string{FixedLine, TollFree}}, "+44 808 157 0123", Number{ukFree, "GB", TollFree}},
		{"UAN opted in", Policy{Types: []string{UAN}}, "+44 3069 990123", Number{ukUAN, "GB", UAN}},
		{"personal number opted in", Policy{Types: []string{PersonalNumber}}, "+44 70 1234 5678", Number{ukPers, "GB", PersonalNumber}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Parse(tt.input)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Parse = %+v, want %+v", []string{got.E164, got.Region, got.Type},
					[]string{tt.want.E164, tt.want.Region, tt.want.Type})
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	gb := Policy{DefaultRegion: "GB"}
	none := Policy{}
	tests := []struct {
		name   string
		policy Policy
		input  string
		want   error
		detail string // the region or line type the error must name
	}{
		{"empty", none, "", ErrEmpty, ""},
		{"blank", none, " \t\n", ErrEmpty, ""},
		{"too long", none, "+44 20 7946 0958" + strings.Repeat(" ", MaxInputLen), ErrTooLong, ""},
		{"too long digits", none, strings.Repeat("1", MaxInputLen+1), ErrTooLong, ""},
		{"no digits", none, "-- () --", ErrInvalid, ""},
		{"letters", none, "call me", ErrInvalid, ""},
		{"vanity letters", Policy{DefaultRegion: "US"}, "1-800-FLOWERS", ErrInvalid, ""},
		{"extension", none, "+44 20 7946 0958 ext 12", ErrInvalid, ""},
		{"extension by semicolon", none, "+44 20 7946 0958;ext=12", ErrInvalid, ""},
		{"tel URI", none, "tel:+442079460958", ErrInvalid, ""},
		{"plus inside", none, "44+20 7946 0958", ErrInvalid, ""},
		{"double plus", none, "++44 20 7946 0958", ErrInvalid, ""},
		{"not UTF-8", none, "+44 20 \xff7946 0958", ErrInvalid, ""},
		{"control character", none, "+44 20 7946\x00 0958", ErrInvalid, ""},
		{"too short", none, "+44 12", ErrInvalid, ""},
		{"too many digits", none, "+44 20 7946 0958 1234", ErrInvalid, ""},
		{"unassigned country code", none, "+999 1234 5678", ErrInvalid, ""},
		{"national without default region", none, "020 7946 0958", ErrInvalid, ""},
		{"national without trunk 0, no default region", none, "20 7946 0958", ErrInvalid, ""},
		{"invalid national", gb, "020 7946", ErrInvalid, ""},
		{"Ofcom drama mobile (invalid in the library)", gb, "07700 900123", ErrInvalid, ""},
		{"country outside allowlist", Policy{Countries: []string{"GB"}}, "+33 6 12 34 56 78", ErrCountry, "FR"},
		{"NANP country other than US", Policy{Countries: []string{"US"}}, "+1 441 234 5678", ErrCountry, "BM"},
		{"crown dependency under +44", Policy{Countries: []string{"GB"}, DefaultRegion: "GB"}, "07911 123456", ErrCountry, "GG"},
		{"satellite, any country", none, "+881 6 12345678", ErrCountry, "001"},
		{"international freephone", none, "+800 1234 5678", ErrCountry, "001"},
		{"UK premium rate", gb, "0909 879 0000", ErrLineType, PremiumRate},
		{"UK 0845 is premium rate in the library", gb, "0845 464 7000", ErrLineType, PremiumRate},
		{"US premium rate", none, "+1 900 555 0123", ErrLineType, PremiumRate},
		{"German shared cost", none, "+49 180 1 234567", ErrLineType, SharedCost},
		{"French shared cost", none, "+33 8 10 12 34 56", ErrLineType, SharedCost},
		{"toll-free by default", gb, "0808 157 0123", ErrLineType, TollFree},
		{"UAN by default", gb, "03069 990123", ErrLineType, UAN},
		{"personal number by default", gb, "070 1234 5678", ErrLineType, PersonalNumber},
		{"pager", gb, "076 4012 3456", ErrLineType, Pager},
		{"voicemail", none, "+49 177 99 1234567", ErrLineType, Voicemail},
		{"mobile outside Types", Policy{Types: []string{FixedLine}}, "+33 6 12 34 56 78", ErrLineType, Mobile},
		{"country checked before type", Policy{Countries: []string{"GB"}}, "+1 900 555 0123", ErrCountry, "US"},
		{"policy: unknown country", Policy{Countries: []string{"GB", "UK"}}, "+44 20 7946 0958", ErrPolicy, ""},
		{"policy: unknown default region", Policy{DefaultRegion: "XX"}, "020 7946 0958", ErrPolicy, ""},
		{"policy: non-geographic region", Policy{Countries: []string{"001"}}, "+881 6 12345678", ErrPolicy, ""},
		{"policy: premium rate in Types", Policy{Types: []string{Mobile, PremiumRate}}, "+44 909 879 0000", ErrPolicy, ""},
		{"policy: unknown in Types", Policy{Types: []string{Unknown}}, "+44 20 7946 0958", ErrPolicy, ""},
		{"policy: not a line type", Policy{Types: []string{"landline"}}, "+44 20 7946 0958", ErrPolicy, ""},
	}
	fourDigits := regexp.MustCompile(`[0-9]{4}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Parse(tt.input)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if got != (Number{}) {
				t.Errorf("Parse returned a number with an error: %v", got)
			}
			if m := fourDigits.FindString(err.Error()); m != "" {
				t.Errorf("error %q shows digits %s", err, m)
			}
			switch tt.want {
			case ErrCountry:
				var ce *CountryError
				if !errors.As(err, &ce) || ce.Region != tt.detail {
					t.Fatalf("error %v is not a *CountryError for %s", err, tt.detail)
				}
			case ErrLineType:
				var le *LineTypeError
				if !errors.As(err, &le) || le.Type != tt.detail {
					t.Fatalf("error %v is not a *LineTypeError for %s", err, tt.detail)
				}
			}
			if tt.detail != "" && !strings.HasSuffix(err.Error(), ": "+tt.detail) {
				t.Errorf("error %q does not name %s", err, tt.detail)
			}
		})
	}
}

// TestLibraryClassification pins what the tests above rely on, so that a
// new metadata release that moves a range shows up here first.
func TestLibraryClassification(t *testing.T) {
	tests := []struct {
		e164  string
		valid bool
		typ   string
	}{
		{london, true, FixedLine},
		{"+447700900123", false, Unknown},
		{"+449098790000", true, PremiumRate},
		{"+448454647000", true, PremiumRate},
		{"+491801234567", true, SharedCost},
		{"+33810123456", true, SharedCost},
		{ukFree, true, TollFree},
		{ukPager, true, Pager},
	}
	for _, tt := range tests {
		t.Run(tt.e164, func(t *testing.T) {
			pn, err := phonenumbers.Parse(tt.e164, "ZZ")
			if err != nil {
				t.Fatal(err)
			}
			if v := phonenumbers.IsValidNumber(pn); v != tt.valid {
				t.Errorf("valid = %v, want %v", v, tt.valid)
			}
			if typ := lineType(phonenumbers.GetNumberType(pn)); typ != tt.typ {
				t.Errorf("type = %s, want %s", typ, tt.typ)
			}
		})
	}
}

func TestLineTypeNames(t *testing.T) {
	seen := map[string]bool{}
	for pt := phonenumbers.FIXED_LINE; pt <= phonenumbers.UNKNOWN; pt++ {
		name := lineType(pt)
		if seen[name] {
			t.Errorf("%v and another type are both named %q", pt, name)
		}
		seen[name] = true
	}
	if got := lineType(phonenumbers.PhoneNumberType(99)); got != Unknown {
		t.Errorf("out-of-range type = %q, want %q", got, Unknown)
	}
	p := Policy{Types: []string{Mobile, TollFree}}
	for _, typ := range []string{Unknown, PremiumRate, SharedCost, Pager, Voicemail} {
		if p.allowsType(typ) || (Policy{}).allowsType(typ) {
			t.Errorf("%s allowed", typ)
		}
	}
}

func TestValidate(t *testing.T) {
	good := []Policy{
		{},
		{Countries: []string{"GB", "de", "US"}, DefaultRegion: "GB"},
		{Types: []string{Mobile, FixedLine, FixedLineOrMobile, VoIP, TollFree, PersonalNumber, UAN}},
	}
	for _, p := range good {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", p, err)
		}
	}
	tests := []struct {
		name  string
		p     Policy
		field string
	}{
		{"country", Policy{Countries: []string{"GB", "EU"}}, "Countries[1]"},
		{"empty country", Policy{Countries: []string{""}}, "Countries[0]"},
		{"default region", Policy{DefaultRegion: "England"}, "DefaultRegion"},
		{"never-allowed type", Policy{Types: []string{SharedCost}}, "Types[0]"},
		{"unknown type", Policy{Types: []string{Mobile, "cell"}}, "Types[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate = %v, want ErrPolicy naming %s", err, tt.field)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{london, "+44 •• •••• 0958"},
		{ukMob, "+44 •••• ••3456"},
		{usNum, "+1 ••• ••• 0123"},
		{frMob, "+33 • •• •• 56 78"},
		{"+4930123456", "+49 •• ••3456"},
		{"+390612345678", "+39 •• •••• 5678"}, // Italian leading 0 kept
		{"+74951234567", "+7 ••• ••• 45 67"},
		{"+29022158", "+290 •••58"}, // short: last 2 only
		{"+6834002", "+683 ••02"},
		{"", ""},
		{"not a number", ""},
		{"02079460958", "•••••••••58"}, // no +: masked, ungrouped
		{"+44", "••"},
		{"+44 20 7946 0958 ext. 12", "+44 ••••••0958"},
		{strings.Repeat("9", 200), strings.Repeat("•", MaxInputLen-2) + "99"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNumberNeverPrintsWhole(t *testing.T) {
	for _, n := range []Number{
		{london, "GB", FixedLine},
		{usNum, "US", FixedLineOrMobile},
		{"+29022158", "SH", FixedLine},
	} {
		t.Run(n.Region, func(t *testing.T) {
			nsn := nationalNumber(t, n.E164)
			var out []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%T %v"} {
				out = append(out, fmt.Sprintf(verb, n), fmt.Sprintf(verb, &n))
			}
			out = append(out, fmt.Sprint(n), fmt.Sprintln(n), n.String(),
				fmt.Sprintf("%v", struct{ N Number }{n}),
				fmt.Sprintf("%+v", []Number{n}),
				fmt.Sprintf("%v", map[string]Number{"k": n}))
			var text, js bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("registered", "phone", n)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("registered", slog.Any("phone", n))
			out = append(out, text.String(), js.String())
			for _, s := range out {
				if strings.Contains(s, nsn) || strings.Contains(s, n.E164) {
					t.Errorf("printed whole: %q", s)
				}
			}
			if want := Mask(n.E164); !strings.Contains(text.String(), "phone.masked=\""+want+"\"") ||
				!strings.Contains(text.String(), "phone.region="+n.Region) {
				t.Errorf("text log = %q, want masked %q and region", text.String(), want)
			}
			if !strings.Contains(js.String(), `"type":"`+n.Type+`"`) {
				t.Errorf("JSON log = %q, want the type", js.String())
			}
		})
	}
}

// nationalNumber returns the national significant number of e164.
func nationalNumber(t testing.TB, e164 string) string {
	t.Helper()
	pn, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		t.Fatalf("parse %s: %v", e164, err)
	}
	return phonenumbers.GetNationalSignificantNumber(pn)
}

// fuzzPolicies are the policies every fuzz input is parsed with.
var fuzzPolicies = []Policy{
	{},
	{DefaultRegion: "GB"},
	{DefaultRegion: "US", Countries: []string{"US", "CA", "GB"}},
	{DefaultRegion: "DE", Types: []string{Mobile, FixedLine, TollFree, UAN, PersonalNumber}},
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"+44 20 7946 0958", "44 20 7946 0958", "0044 20 7946 0958", "(020) 7946 0958",
		"+1 202-555-0123", "011 44 20 7946 0958", "0909 879 0000", "+881 6 12345678",
		"+44 (0)20 7946 0958", "٠٢٠ ٧٩٤٦ ٠٩٥٨", "+390612345678", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, p := range fuzzPolicies {
			n, err := p.Parse(input)
			if err != nil {
				if n != (Number{}) {
					t.Fatalf("%+v: number %v with error %v", p, n, err)
				}
				continue
			}
			if !strings.HasPrefix(n.E164, "+") || n.Region == "" || n.Type == "" {
				t.Fatalf("%+v: Parse(%q) = %q %q %q", p, input, n.E164, n.Region, n.Type)
			}
			again, err := p.Parse(n.E164)
			if err != nil || again != n {
				t.Fatalf("%+v: Parse(%q) = %q, re-parsed: %q, %v", p, input, n.E164, again.E164, err)
			}
			if nsn := nationalNumber(t, n.E164); strings.Contains(n.String(), nsn) {
				t.Fatalf("String() = %q shows %s", n.String(), nsn)
			}
		}
		_ = Mask(input)
	})
}
