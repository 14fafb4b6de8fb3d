package phone_test

import (
	"errors"
	"fmt"

	"github.com/sspr-project/sspr/portal/phone"
)

func ExamplePolicy_Parse() {
	p := phone.Policy{Countries: []string{"GB", "US"}, DefaultRegion: "GB"}
	for _, in := range []string{"(020) 7946 0958", "1 202 555 0123", "0909 879 0000", "+33 6 12 34 56 78"} {
		n, err := p.Parse(in)
		var ce *phone.CountryError
		switch {
		case errors.As(err, &ce):
			fmt.Println("refused: country", ce.Region)
		case errors.Is(err, phone.ErrLineType):
			fmt.Println("refused:", err)
		case err != nil:
			fmt.Println("refused:", err)
		default:
			fmt.Println(n.E164, n.Region, n.Type, n)
		}
	}
	// Output:
	// +442079460958 GB fixed-line +44 •• •••• 0958
	// +12025550123 US fixed-line-or-mobile +1 ••• ••• 0123
	// refused: phone: line type not allowed: premium-rate
	// refused: country FR
}

func ExampleMask() {
	fmt.Println(phone.Mask("+442079460958"))
	// Output: +44 •• •••• 0958
}
