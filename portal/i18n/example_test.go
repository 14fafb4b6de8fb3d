package i18n_test

import (
	"fmt"

	"github.com/sspr-project/sspr/portal/i18n"
)

func ExampleCatalogue_T() {
	c, err := i18n.Default()
	if err != nil {
		panic(err)
	}
	lang := c.Match("de-CH,de;q=0.9,en;q=0.5") // no German shipped: English
	fmt.Println(lang)
	fmt.Println(c.T(lang, "phone.calling", "number", "+44 •• •••• 0958"))
	fmt.Println(c.T(lang, "phone.result.unreachable"))
	fmt.Println(c.T(lang, "no.such.key"))
	// Output:
	// en
	// Calling +44 •• •••• 0958…
	// We cannot call you right now.
	// no.such.key
}
