// Package phone reads the phone numbers people register and applies the
// service's number policy to them.
//
// [Policy.Parse] accepts a number the way people write it ("+44 20 7946 0958",
// "44 20 7946 0958", "0044 20 7946 0958", "(020) 7946 0958" with a default
// region), normalises it to E.164 with github.com/nyaruka/phonenumbers, and
// refuses what the service must never call: invalid numbers, countries outside
// the allowlist, and line types such as premium-rate and shared-cost (toll
// fraud). A [Number] prints itself masked ([Mask]), so a whole number never
// reaches a log or a page by accident; the full form is only in [Number.E164].
package phone

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxInputLen is the longest input, in bytes, that [Policy.Parse] reads.
// Longer input is refused with [ErrTooLong] before any parsing.
const MaxInputLen = 64

// Line types, as found in [Number.Type] and listed in [Policy.Types].
const (
	// Mobile is a mobile (cell) number.
	Mobile = "mobile"
	// FixedLine is a fixed-line (landline) number.
	FixedLine = "fixed-line"
	// FixedLineOrMobile is a number that may be either; all numbers of
	// some countries (the US among them) are of this type.
	FixedLineOrMobile = "fixed-line-or-mobile"
	// VoIP is a number of an internet telephony service.
	VoIP = "voip"
	// TollFree is a freephone number: the called party pays.
	TollFree = "toll-free"
	// PremiumRate is a premium-rate number; it is never allowed.
	PremiumRate = "premium-rate"
	// SharedCost is a shared-cost number; it is never allowed.
	SharedCost = "shared-cost"
	// PersonalNumber is a personal number routed on to another line.
	PersonalNumber = "personal-number"
	// Pager is a pager number; it is never allowed (it cannot key digits).
	Pager = "pager"
	// UAN is a universal access (company) number.
	UAN = "uan"
	// Voicemail is a voicemail access number; it is never allowed.
	Voicemail = "voicemail"
	// Unknown is a number of no known line type; it is never allowed.
	Unknown = "unknown"
)

// DefaultTypes are the line types allowed when [Policy.Types] is empty:
// numbers a person answers and can key digits on.
var DefaultTypes = []string{Mobile, FixedLine, FixedLineOrMobile, VoIP}

// neverAllowed are line types no policy may allow: calling them costs the
// caller money (premium-rate, shared-cost), cannot complete a verification
// (pager, voicemail), or cannot be judged at all (unknown).
var neverAllowed = []string{PremiumRate, SharedCost, Pager, Voicemail, Unknown}

// optIn are the line types a policy may add to the defaults.
var optIn = []string{TollFree, PersonalNumber, UAN}

// Sentinel errors returned by [Policy.Parse], wrapped; test with errors.Is.
// None of them, nor the errors wrapping them, contains the input.
var (
	// ErrEmpty means the input is blank.
	ErrEmpty = errors.New("phone: empty number")
	// ErrTooLong means the input is longer than [MaxInputLen].
	ErrTooLong = errors.New("phone: input too long")
	// ErrInvalid means the input is not a valid phone number.
	ErrInvalid = errors.New("phone: invalid number")
	// ErrCountry means the number belongs to a region outside the
	// allowlist; the error is a [*CountryError] naming the region.
	ErrCountry = errors.New("phone: country not allowed")
	// ErrLineType means the number is of a line type the policy refuses;
	// the error is a [*LineTypeError] naming the type.
	ErrLineType = errors.New("phone: line type not allowed")
	// ErrPolicy means the [Policy] itself is invalid (see [Policy.Validate]).
	ErrPolicy = errors.New("phone: invalid policy")
)

// CountryError is returned when a valid number belongs to a region the
// policy does not allow. It unwraps to [ErrCountry].
type CountryError struct {
	// Region is the ISO 3166 region code of the number ("FR"), or "001"
	// for numbers of non-geographic calling codes (+800, +881, ...).
	Region string
}

// Error names the region.
func (e *CountryError) Error() string { return ErrCountry.Error() + ": " + e.Region }

// Unwrap returns [ErrCountry].
func (e *CountryError) Unwrap() error { return ErrCountry }

// LineTypeError is returned when a valid number is of a line type the policy
// refuses. It unwraps to [ErrLineType].
type LineTypeError struct {
	// Type is the number's line type, one of the line type constants
	// ([PremiumRate], [SharedCost], ...).
	Type string
}

// Error names the line type.
func (e *LineTypeError) Error() string { return ErrLineType.Error() + ": " + e.Type }

// Unwrap returns [ErrLineType].
func (e *LineTypeError) Unwrap() error { return ErrLineType }

// Policy says which phone numbers may be registered. The zero value reads
// only international numbers (with + or 00, or a leading country code),
// of any country, of the [DefaultTypes].
type Policy struct {
	// Countries is the allowlist of ISO 3166 region codes ("GB", "DE",
	// "US"), matched case-insensitively; empty means every country.
	// The region is that of the number, not of its calling code: +44
	// covers GB, GG, JE and IM, and +1 covers US, CA and the Caribbean,
	// each of which must be listed to be allowed. Numbers of
	// non-geographic calling codes (international freephone +800,
	// satellite +881, networks +882/+883, ...) are always refused.
	Countries []string
	// DefaultRegion is the region used to read numbers written without
	// a country code ("020 7946 0958" with "GB"); empty means such
	// numbers are refused.
	DefaultRegion string
	// Types is the allowlist of line types; empty means [DefaultTypes]
	// (mobile, fixed-line, fixed-line-or-mobile, voip). [TollFree],
	// [PersonalNumber] and [UAN] may be added; [PremiumRate],
	// [SharedCost], [Pager], [Voicemail] and [Unknown] are never allowed
	// and make the policy invalid.
	Types []string
}

// Validate reports whether the policy is usable, naming the first bad
// field. Call it when loading configuration; [Policy.Parse] also refuses
// to work with an invalid policy.
func (p Policy) Validate() error {
	regions := phonenumbers.GetSupportedRegions()
	for i, c := range p.Countries {
		if !regions[strings.ToUpper(c)] {
			return fmt.Errorf("%w: Countries[%d] %q is not a supported region code", ErrPolicy, i, c)
		}
	}
	if p.DefaultRegion != "" && !regions[strings.ToUpper(p.DefaultRegion)] {
		return fmt.Errorf("%w: DefaultRegion %q is not a supported region code", ErrPolicy, p.DefaultRegion)
	}
	for i, t := range p.Types {
		switch {
		case slices.Contains(neverAllowed, t):
			return fmt.Errorf("%w: Types[%d] %q may never be allowed", ErrPolicy, i, t)
		case !slices.Contains(DefaultTypes, t) && !slices.Contains(optIn, t):
			return fmt.Errorf("%w: Types[%d] %q is not a line type", ErrPolicy, i, t)
		}
	}
	return nil
}

// Number is a phone number accepted by a [Policy].
//
// It formats itself masked with every fmt verb and logs itself masked
// through log/slog; only the E164 field holds the whole number.
type Number struct {
	// E164 is the number in E.164 form: "+442079460958".
	E164 string
	// Region is the ISO 3166 region code of the number: "GB".
	Region string
	// Type is the line type: [Mobile], [FixedLine], [FixedLineOrMobile],
	// [VoIP], or an opt-in type of the policy.
	Type string
}

// String returns the number masked, as [Mask] does.
func (n Number) String() string { return Mask(n.E164) }

// Format writes the number masked whatever the verb, so that neither %v,
// %+v, %#v, %s nor %d prints it whole.
func (n Number) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(n.String())) }

// LogValue logs the number masked, with its region and line type.
func (n Number) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("masked", n.String()),
		slog.String("region", n.Region),
		slog.String("type", n.Type),
	)
}

var (
	_ fmt.Stringer   = Number{}
	_ fmt.Formatter  = Number{}
	_ slog.LogValuer = Number{}
)

// Parse reads a phone number as people write it and applies the policy.
//
// Accepted forms: "+44 20 7946 0958" (with +, spaces, dashes, dots,
// slashes, brackets, and an optional "(0)"); "0044 20 7946 0958" (the
// international prefix 00, or that of DefaultRegion such as 011 for US);
// "(020) 7946 0958" (national, read with DefaultRegion); and
// "44 20 7946 0958" (a country code without +).
//
// Without a +, the input is first read as a national number of
// DefaultRegion; only when that is not a valid number (or DefaultRegion is
// empty) is it read as a country code followed by the number, and then as
// 00 followed by a country code. So with DefaultRegion "GB", "20 7946
// 0958" is a London number, not an Egyptian one.
//
// Input may contain only digits, spaces and the separators + - . / ( );
// letters (vanity numbers, "ext", "tel:") are refused, and so are
// extensions. Errors wrap [ErrEmpty], [ErrTooLong], [ErrInvalid],
// [ErrCountry] (a [*CountryError]), [ErrLineType] (a [*LineTypeError]) or
// [ErrPolicy].
func (p Policy) Parse(input string) (Number, error) {
	if len(input) > MaxInputLen {
		return Number{}, ErrTooLong
	}
	if err := p.Validate(); err != nil {
		return Number{}, err
	}
	input = strings.TrimSpace(input)
	if input == "" {
		return Number{}, ErrEmpty
	}
	digits, plus, err := scan(input)
	if err != nil {
		return Number{}, err
	}
	pn, err := p.read(input, digits, plus)
	if err != nil {
		return Number{}, err
	}
	region := phonenumbers.GetRegionCodeForNumber(pn)
	if !p.allowsRegion(region) {
		return Number{}, &CountryError{Region: region}
	}
	typ := lineType(phonenumbers.GetNumberType(pn))
	if !p.allowsType(typ) {
		return Number{}, &LineTypeError{Type: typ}
	}
	return Number{E164: phonenumbers.Format(pn, phonenumbers.E164), Region: region, Type: typ}, nil
}

// scan checks the characters of input and returns its digits (ASCII) and
// whether it starts with a plus sign.
func scan(input string) (digits string, plus bool, err error) {
	var b strings.Builder
	for i, r := range input {
		switch {
		case r == utf8.RuneError:
			return "", false, fmt.Errorf("%w: not UTF-8", ErrInvalid)
		case r == '+' || r == '＋':
			if i != 0 {
				return "", false, fmt.Errorf("%w: + inside the number", ErrInvalid)
			}
			plus = true
		case unicode.IsDigit(r):
			// phonenumbers knows the decimal digits of other scripts.
			d := phonenumbers.NormalizeDigitsOnly(string(r))
			if d == "" {
				return "", false, fmt.Errorf("%w: unsupported digit", ErrInvalid)
			}
			b.WriteString(d)
		case unicode.IsSpace(r), strings.ContainsRune("-./()", r),
			unicode.Is(unicode.Pd, r): // dashes pasted from documents
		default:
			return "", false, fmt.Errorf("%w: unexpected character", ErrInvalid)
		}
	}
	if b.Len() == 0 {
		return "", false, fmt.Errorf("%w: no digits", ErrInvalid)
	}
	return b.String(), plus, nil
}

// read turns checked input into a valid number, trying in turn the
// readings documented on [Policy.Parse].
func (p Policy) read(input, digits string, plus bool) (*phonenumbers.PhoneNumber, error) {
	var candidates []string
	region := "ZZ" // unknown region: only international numbers parse
	switch {
	case plus:
		candidates = []string{"+" + digits}
	default:
		if p.DefaultRegion != "" {
			region = strings.ToUpper(p.DefaultRegion)
			candidates = append(candidates, input)
		}
		candidates = append(candidates, "+"+digits)
		if rest, ok := strings.CutPrefix(digits, "00"); ok {
			candidates = append(candidates, "+"+rest)
		}
	}
	for _, c := range candidates {
		pn, err := phonenumbers.Parse(c, region)
		if err != nil || !phonenumbers.IsValidNumber(pn) {
			continue
		}
		if pn.GetExtension() != "" {
			return nil, fmt.Errorf("%w: extensions are not supported", ErrInvalid)
		}
		return pn, nil
	}
	if !plus && p.DefaultRegion == "" && strings.HasPrefix(digits, "0") && !strings.HasPrefix(digits, "00") {
		return nil, fmt.Errorf("%w: a national number needs a country code", ErrInvalid)
	}
	return nil, ErrInvalid
}

func (p Policy) allowsRegion(region string) bool {
	// Valid numbers of non-geographic calling codes have region "001",
	// which is not a supported region code and so never in Countries.
	if !phonenumbers.GetSupportedRegions()[region] {
		return false
	}
	if len(p.Countries) == 0 {
		return true
	}
	return slices.ContainsFunc(p.Countries, func(c string) bool { return strings.EqualFold(c, region) })
}

func (p Policy) allowsType(typ string) bool {
	if slices.Contains(neverAllowed, typ) {
		return false
	}
	if len(p.Types) == 0 {
		return slices.Contains(DefaultTypes, typ)
	}
	return slices.Contains(p.Types, typ)
}

// lineType names a phonenumbers line type.
func lineType(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return FixedLine
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedLineOrMobile
	case phonenumbers.TOLL_FREE:
		return TollFree
	case phonenumbers.PREMIUM_RATE:
		return PremiumRate
	case phonenumbers.SHARED_COST:
		return SharedCost
	case phonenumbers.VOIP:
		return VoIP
	case phonenumbers.PERSONAL_NUMBER:
		return PersonalNumber
	case phonenumbers.PAGER:
		return Pager
	case phonenumbers.UAN:
		return UAN
	case phonenumbers.VOICEMAIL:
		return Voicemail
	default:
		return Unknown
	}
}
