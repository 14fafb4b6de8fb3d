package dirtest

import (
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// unicodePwd encodes password as AD wants it: quoted, UTF-16LE.
func unicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return string(b)
}

func TestSambaAD(t *testing.T) {
	s := SambaAD(t)
	t.Logf("Samba AD DC started in %v", s.Started)
	if s.Kind != AD {
		t.Fatalf("Kind %q", s.Kind)
	}

	t.Run("bind", func(t *testing.T) {
		tests := []struct {
			name   string
			tr     transport
			dn, pw string
			ok     bool
		}{
			{"user over StartTLS", startTLS, s.UserDN("alice"), s.UserPassword, true},
			{"user over LDAPS", ldaps, s.UserDN("alice"), s.UserPassword, true},
			{"service account", ldaps, s.BindDN, s.BindPassword, true},
			{"wrong password", ldaps, s.UserDN("bob"), "Wrong-Passw0rd-1", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := bind(t, s, tt.tr, tt.dn, tt.pw)
				if tt.ok && err != nil {
					t.Fatalf("bind: %v", err)
				}
				if !tt.ok && ldapCode(err) != ldap.LDAPResultInvalidCredentials {
					t.Fatalf("bind: %v, want invalidCredentials", err)
				}
			})
		}
	})

	t.Run("plain bind refused", func(t *testing.T) {
		c, err := ldap.DialURL(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Bind(s.UserDN("alice"), s.UserPassword); ldapCode(err) != ldap.LDAPResultStrongAuthRequired {
			t.Fatalf("simple bind without TLS: %v, want strongerAuthRequired", err)
		}
	})

	t.Run("lockout and unlock", func(t *testing.T) {
		dn := s.UserDN("dave")
		svc := service(t, s)
		for i := range 3 {
			if err := bind(t, s, ldaps, dn, "Wrong-Passw0rd-1"); err == nil {
				t.Fatalf("bad bind %d succeeded", i+1)
			}
		}
		if got := attr(t, svc, dn, "lockoutTime"); got == "" || got == "0" {
			t.Fatalf("lockoutTime %q after 3 bad binds", got)
		}
		err := bind(t, s, ldaps, dn, s.UserPassword)
		if ldapCode(err) != ldap.LDAPResultInvalidCredentials || !strings.Contains(err.Error(), "data 775") {
			t.Fatalf("locked account, right password: %v, want data 775", err)
		}
		m := ldap.NewModifyRequest(dn, nil)
		m.Replace("lockoutTime", []string{"0"})
		if err := svc.Modify(m); err != nil {
			t.Fatalf("unlock: %v", err)
		}
		if got := attr(t, svc, dn, "lockoutTime"); got != "0" {
			t.Fatalf("lockoutTime %q after unlock", got)
		}
		if err := bind(t, s, ldaps, dn, s.UserPassword); err != nil {
			t.Fatalf("bind after unlock: %v", err)
		}
	})

	t.Run("set password", func(t *testing.T) {
		dn := s.UserDN("carol")
		svc := service(t, s)
		const newPW = "Reset-Passw0rd-2"
		tests := []struct {
			name     string
			password string
			ok       bool
			wantData string // AD's reason in the error text
		}{
			{"reset", newPW, true, ""},
			{"too short", "Sh0rt-1", false, "0000052D"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m := ldap.NewModifyRequest(dn, nil)
				m.Replace("unicodePwd", []string{unicodePwd(tt.password)})
				err := svc.Modify(m)
				if tt.ok && err != nil {
					t.Fatalf("replace unicodePwd: %v", err)
				}
				if !tt.ok && (ldapCode(err) != ldap.LDAPResultConstraintViolation || !strings.Contains(err.Error(), tt.wantData)) {
					t.Fatalf("replace unicodePwd: %v, want constraintViolation %s", err, tt.wantData)
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
	})
}

// TestSambaADStop checks that Stop ends the DC and every worker of its
// process group, frees the fixed ports and releases the lock.
func TestSambaADStop(t *testing.T) {
	s := SambaAD(t)
	pid := s.proc.cmd.Process.Pid
	if err := signalGroup(pid, 0); err != nil {
		t.Fatalf("no process group %d: %v", pid, err)
	}
	s.Stop()
	s.Stop()
	if err := signalGroup(pid, 0); err == nil {
		t.Errorf("process group %d still has processes after Stop", pid)
	}
	for _, p := range []int{sambaLDAPPort, sambaLDAPSPort, sambaKDCPort} {
		if listening(p) {
			t.Errorf("127.0.0.1:%d still listening after Stop", p)
		}
	}
	release, err := lockSamba(time.Second)
	if err != nil {
		t.Fatalf("lock not released by Stop: %v", err)
	}
	release()
}

// TestSambaLock checks that the lock serialises: a second taker waits,
// then gives up with an error naming the lock file.
func TestSambaLock(t *testing.T) {
	release, err := lockSamba(SambaLockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if r2, err := lockSamba(100 * time.Millisecond); err == nil {
		r2()
		t.Fatal("took a lock already held")
	} else if !strings.Contains(err.Error(), sambaLockPath) {
		t.Errorf("error %q does not name %s", err, sambaLockPath)
	}
	release()
	r3, err := lockSamba(time.Second)
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	r3()
}
