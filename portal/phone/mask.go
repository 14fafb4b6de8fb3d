package phone

import (
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// bullet replaces each hidden digit.
const bullet = "•"

// shortNSN is the length below which a national significant number counts
// as short, and [Mask] shows only its last 2 digits instead of 4.
const shortNSN = 8

// Mask returns an E.164 number fit to show or log: the country code, then
// the national significant number with every digit but the last 4 replaced
// by •, grouped as the country writes its numbers (the groups of
// phonenumbers' international format, which are the national ones without
// the trunk prefix), separated by spaces:
//
//	Mask("+442079460958") == "+44 •• •••• 0958"
//	Mask("+12025550123")  == "+1 ••• ••• 0123"
//
// Numbers shorter than 8 digits after the country code keep only their
// last 2 digits ("+290 •••58"). Input that is not an E.164 number still
// comes out masked, ungrouped, never whole; empty input gives "".
func Mask(e164 string) string {
	if e164 == "" {
		return ""
	}
	if len(e164) > MaxInputLen {
		e164 = e164[len(e164)-MaxInputLen:]
	}
	pn, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil || !strings.HasPrefix(e164, "+") {
		return maskDigits(e164)
	}
	cc := "+" + strconv.Itoa(int(pn.GetCountryCode()))
	nsn := phonenumbers.GetNationalSignificantNumber(pn)
	intl := phonenumbers.Format(pn, phonenumbers.INTERNATIONAL)
	rest, ok := strings.CutPrefix(intl, cc)
	if !ok || phonenumbers.NormalizeDigitsOnly(rest) != nsn {
		// Not the shape expected (extension, odd format): mask ungrouped.
		rest = nsn
	}
	keep := 4
	if len(nsn) < shortNSN {
		keep = 2
	}
	hide := len(nsn) - keep
	var b strings.Builder
	b.WriteString(cc)
	sep := true // a space after the country code
	for _, r := range rest {
		if r < '0' || r > '9' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte(' ')
			sep = false
		}
		if hide > 0 {
			b.WriteString(bullet)
			hide--
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maskDigits masks something that is not a phone number: its digits, all
// hidden but the last 2 when there are at least 6, without grouping.
func maskDigits(s string) string {
	digits := phonenumbers.NormalizeDigitsOnly(s)
	keep := 0
	if len(digits) >= 6 {
		keep = 2
	}
	return strings.Repeat(bullet, len(digits)-keep) + digits[len(digits)-keep:]
}
