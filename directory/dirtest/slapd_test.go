package dirtest

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestSlapdBind(t *testing.T) {
	s := Slapd(t)
	t.Logf("slapd started in %v", s.Started)
	if s.Kind != OpenLDAP || len(s.Users) != 4 {
		t.Fatalf("Kind %q, Users %v", s.Kind, s.Users)
	}
	tests := []struct {
		name     string
		tr       transport
		dn, pw   string
		wantCode int // 0: bind succeeds
	}{
		{"user over StartTLS", startTLS, s.UserDN("alice"), s.UserPassword, 0},
		{"user over LDAPS", ldaps, s.UserDN("alice"), s.UserPassword, 0},
		{"service account", ldaps, s.BindDN, s.BindPassword, 0},
		{"admin", startTLS, s.AdminDN, s.AdminPassword, 0},
		{"wrong password", ldaps, s.UserDN("bob"), "Wrong-Passw0rd", ldap.LDAPResultInvalidCredentials},
		{"unknown user", ldaps, s.UserDN("mallory"), s.UserPassword, ldap.LDAPResultInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bind(t, s, tt.tr, tt.dn, tt.pw)
			if tt.wantCode == 0 && err != nil {
				t.Fatalf("bind: %v", err)
			}
			if tt.wantCode != 0 && ldapCode(err) != tt.wantCode {
				t.Fatalf("bind: %v, want result %d", err, tt.wantCode)
			}
		})
	}
}

func TestSlapdLockoutAndUnlock(t *testing.T) {
	s := Slapd(t)
	dn := s.UserDN("dave")
	svc := service(t, s)
	if got := attr(t, svc, dn, "pwdAccountLockedTime"); got != "" {
		t.Fatalf("locked before any failure: %q", got)
	}
	for i := range 3 {
		if err := bind(t, s, startTLS, dn, "Wrong-Passw0rd"); err == nil {
			t.Fatalf("bad bind %d succeeded", i+1)
		}
	}
	if got := attr(t, svc, dn, "pwdAccountLockedTime"); got == "" {
		t.Fatal("no pwdAccountLockedTime after 3 failed binds")
	}
	if err := bind(t, s, startTLS, dn, s.UserPassword); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("locked account, right password: %v, want invalidCredentials", err)
	}
	// With the ppolicy request control, the response control says why.
	c := dial(t, s, startTLS)
	res, err := c.SimpleBind(&ldap.SimpleBindRequest{Username: dn, Password: s.UserPassword,
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}})
	if ldapCode(err) != ldap.LDAPResultInvalidCredentials || res == nil {
		t.Fatalf("locked bind with the ppolicy control: %v", err)
	}
	pp, _ := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy)
	if pp == nil || pp.Error != 1 { // accountLocked
		t.Fatalf("ppolicy response control %v, want accountLocked", pp)
	}

	del := ldap.NewModifyRequest(dn, nil)
	del.Delete("pwdAccountLockedTime", nil)
	if err := svc.Modify(del); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if got := attr(t, svc, dn, "pwdAccountLockedTime"); got != "" {
		t.Fatalf("still locked after unlock: %q", got)
	}
	if err := bind(t, s, ldaps, dn, s.UserPassword); err != nil {
		t.Fatalf("bind after unlock: %v", err)
	}
	// Unlocking an unlocked account: 16 noSuchAttribute.
	if err := svc.Modify(del); ldapCode(err) != ldap.LDAPResultNoSuchAttribute {
		t.Fatalf("unlock of an unlocked account: %v, want noSuchAttribute", err)
	}
}

func TestSlapdSetPassword(t *testing.T) {
	s := Slapd(t)
	dn := s.UserDN("carol")
	svc := service(t, s)
	const newPW = "Reset-Passw0rd-1"
	tests := []struct {
		name     string
		password string
		wantCode int // 0: accepted
	}{
		{"reset", newPW, 0},
		{"too short", "short", ldap.LDAPResultConstraintViolation},
		{"in history", s.UserPassword, ldap.LDAPResultConstraintViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", tt.password))
			if tt.wantCode == 0 && err != nil {
				t.Fatalf("Password Modify: %v", err)
			}
			if tt.wantCode != 0 && ldapCode(err) != tt.wantCode {
				t.Fatalf("Password Modify: %v, want result %d", err, tt.wantCode)
			}
			if err != nil {
				t.Logf("refused: %v", err)
			}
		})
	}
	if err := bind(t, s, ldaps, dn, newPW); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	if err := bind(t, s, ldaps, dn, s.UserPassword); ldapCode(err) != ldap.LDAPResultInvalidCredentials {
		t.Fatalf("bind with the old password: %v, want invalidCredentials", err)
	}
}

// TestSlapdInstances checks that two servers run side by side, private to
// their tests, and that Stop stops one.
func TestSlapdInstances(t *testing.T) {
	a, b := Slapd(t), Slapd(t)
	if a.URL == b.URL || a.LDAPSURL == b.LDAPSURL || a.CAFile == b.CAFile {
		t.Fatalf("shared: %s %s", a.URL, b.URL)
	}
	a.Stop()
	a.Stop()
	select {
	case <-a.proc.done:
	default:
		t.Error("slapd still running after Stop")
	}
	if _, err := ldap.DialURL(a.URL); err == nil {
		t.Error("stopped server still answers")
	}
	if err := bind(t, b, ldaps, b.UserDN("alice"), b.UserPassword); err != nil {
		t.Fatalf("other server: %v", err)
	}
}
