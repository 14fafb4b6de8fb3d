package dirtest

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The OpenLDAP instance's fixed names and passwords.
const (
	slapdBaseDN       = "dc=example,dc=test"
	slapdUsersDN      = "ou=people," + slapdBaseDN
	slapdBindDN       = "cn=svc-reset,ou=services," + slapdBaseDN
	slapdAdminDN      = "cn=admin," + slapdBaseDN
	slapdAdminPW      = "Admin-Secret-1"
	slapdBindPW       = "Svc-Reset-Secret-1"
	slapdUserPW       = "Initial-Passw0rd"
	slapdPath         = "/usr/sbin/slapd"
	slapdStartTimeout = 10 * time.Second
)

// Slapd starts a fresh private OpenLDAP slapd on two free loopback ports
// (plain LDAP with StartTLS, and LDAPS), its database and certificates in a
// t.TempDir(), and stops it by its PID when the test ends.
//
// The ppolicy overlay's default policy locks an account after 3 failed
// binds until an operator unlocks it (pwdAccountLockedTime; a locked bind
// is a plain invalidCredentials unless the ppolicy control is sent), wants
// 8 characters and remembers 3 passwords. The service account (BindDN) may
// write userPassword (Password Modify extended operation, policy applied)
// and delete pwdAccountLockedTime (unlock; pwdFailureTime goes with it).
// The users are inetOrgPerson entries uid=NAME,UsersDN with cn, sn,
// givenName, mail, mobile, telephoneNumber and preferredLanguage.
func Slapd(t testing.TB) *Server {
	t.Helper()
	bin := lookBinary(t, slapdPath, "slapd")
	began := time.Now()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "slapd.log")
	s := &Server{
		BaseDN: slapdBaseDN, UsersDN: slapdUsersDN,
		BindDN: slapdBindDN, BindPassword: slapdBindPW,
		AdminDN: slapdAdminDN, AdminPassword: slapdAdminPW,
		Users: userNames(), UserPassword: slapdUserPW,
		Kind: OpenLDAP, logs: []string{logPath},
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("dirtest: slapd logs:\n%s", logTails(s.logs...))
		}
	})
	conf, err := prepareSlapd(dir, bin)
	if err != nil {
		t.Fatalf("dirtest: slapd: %v", err)
	}
	// The ports are free when chosen, but another test may take them
	// before slapd binds them: then slapd exits and we try again.
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("dirtest: slapd: %v", err)
		}
		s.URL = fmt.Sprintf("ldap://%s:%d", loopback, ports[0])
		s.LDAPSURL = fmt.Sprintf("ldaps://%s:%d", loopback, ports[1])
		p, err := start("slapd", false, logPath, bin, "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "stats")
		if err != nil {
			t.Fatalf("dirtest: slapd: %v", err)
		}
		s.proc = p
		err = p.waitReady(slapdStartTimeout, dialable(ports...))
		if err == nil {
			break
		}
		p.stop()
		if attempt == 3 {
			t.Fatalf("dirtest: slapd: %v", err) // the cleanup prints the log's tail
		}
	}
	s.CAFile = filepath.Join(dir, "tls", "ca.crt")
	s.Started = time.Since(began)
	return s
}

// prepareSlapd writes the certificates, slapd.conf and the seeded database
// into dir and returns slapd.conf's path.
func prepareSlapd(dir, bin string) (string, error) {
	if _, err := writeTLS(filepath.Join(dir, "tls"), "dirtest slapd CA"); err != nil {
		return "", fmt.Errorf("certificates: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return "", err
	}
	adminHash, err := ssha(slapdAdminPW)
	if err != nil {
		return "", err
	}
	conf, err := render("slapd.conf.tmpl", map[string]string{
		"Dir": dir, "BaseDN": slapdBaseDN, "AdminDN": slapdAdminDN,
		"AdminHash": adminHash, "BindDN": slapdBindDN,
	})
	if err != nil {
		return "", err
	}
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return "", err
	}
	bindHash, err := ssha(slapdBindPW)
	if err != nil {
		return "", err
	}
	userHash, err := ssha(slapdUserPW)
	if err != nil {
		return "", err
	}
	seed, err := render("slapd-seed.ldif.tmpl", map[string]any{
		"BaseDN": slapdBaseDN, "UsersDN": slapdUsersDN, "BindDN": slapdBindDN,
		"BindHash": bindHash, "UserHash": userHash, "People": people,
	})
	if err != nil {
		return "", err
	}
	seedPath := filepath.Join(dir, "seed.ldif")
	if err := os.WriteFile(seedPath, seed, 0o600); err != nil {
		return "", err
	}
	// slapadd is slapd under another name; it loads the database offline
	// (hashed passwords: ppolicy_hash_cleartext only acts on LDAP writes).
	ctx, cancel := context.WithTimeout(context.Background(), slapdStartTimeout)
	defer cancel()
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	if _, err := os.Stat(slapadd); err != nil {
		return "", errors.New("slapadd not found next to slapd: run `make test-deps` (or .ci/directory-deps)")
	}
	if err := run(ctx, filepath.Join(dir, "slapadd.log"), slapadd, "-q", "-f", confPath, "-l", seedPath); err != nil {
		return "", fmt.Errorf("seeding: %w", err)
	}
	return confPath, nil
}

// ssha returns password's {SSHA} hash as OpenLDAP stores it.
func ssha(password string) (string, error) {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...)), nil
}
