package directory_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sspr-project/sspr/directory/dirconf"
)

// TestLDAPConformance runs the conformance suite that the embedded
// directory passes against the LDAP client on a real OpenLDAP and a real
// Samba AD domain controller.
func TestLDAPConformance(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			d := newLDAP(t, configFor(s), prometheus.NewRegistry())
			// The test servers give every user the same password; the
			// suite checks that one user's password does not open
			// another's account.
			if err := d.SetPassword(context.Background(), s.Users[1], "Other-Passw0rd-9"); err != nil {
				t.Fatal(err)
			}
			dirconf.Run(t, d, dirconf.Fixture{
				User: s.Users[0], Password: s.UserPassword, Other: s.Users[1],
				Lockout: 3, MinLength: 8, History: 3,
				// Samba ignores the policy-hints control (see docs/directory.md).
				ResetIgnoresHistory: s.Kind == "ad",
			})
		})
	}
}
