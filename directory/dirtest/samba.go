package dirtest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The Samba AD domain's fixed names and passwords.
const (
	sambaRealm    = "EXAMPLE.TEST"
	sambaDomain   = "EXAMPLE"
	sambaBaseDN   = "DC=example,DC=test"
	sambaUsersDN  = "OU=People," + sambaBaseDN
	sambaBindDN   = "CN=svc-reset,OU=Services," + sambaBaseDN
	sambaAdminDN  = "CN=Administrator,CN=Users," + sambaBaseDN
	sambaAdminPW  = "Admin-Passw0rd-1"
	sambaBindPW   = "Svc-Reset-Passw0rd-1"
	sambaUserPW   = "Initial-Passw0rd-1"
	sambaPath     = "/usr/sbin/samba"
	sambaToolPath = "/usr/bin/samba-tool"
	sambaPython   = "/usr/bin/python3" // Debian's python3-samba lives here, not in a venv
	// Samba's AD LDAP server cannot leave these ports, so one DC runs per
	// machine at a time; 88 is its KDC.
	sambaLDAPPort  = 389
	sambaLDAPSPort = 636
	sambaKDCPort   = 88
)

// Timeouts of SambaAD.
var (
	// SambaLockTimeout bounds the wait for another test's DC to stop.
	SambaLockTimeout = 5 * time.Minute
	// SambaStartTimeout bounds provisioning, and separately the start.
	SambaStartTimeout = 60 * time.Second
)

// sambaGlobals are added to the provisioned smb.conf's [global] section
// (samba-tool provision drops them from its --option list): a replaced
// password stops working at once, not an hour later (NTLM's grace period for
// the previous password also covers LDAP simple binds).
const sambaGlobals = "\told password allowed period = 0\n"

// sambaLockPath serialises the DCs of every test process on the machine.
var sambaLockPath = filepath.Join(os.TempDir(), "sspr-dirtest-samba.lock")

// SambaAD starts a Samba Active Directory domain controller (realm
// EXAMPLE.TEST) on 127.0.0.1 and ::1, ports 389 (LDAP, StartTLS) and 636
// (LDAPS) — Samba cannot move them — so it runs one DC per machine: it
// waits for a lock file in /tmp, held until the test ends, and fails if
// another program listens on 389, 636 or 88. It must run as root.
//
// The domain is provisioned once (samba-tool, ~4 s) into a template under
// /tmp keyed by the Samba version and this package's seed; each call copies
// it into a t.TempDir() with fresh certificates, so every test starts from
// the same pristine domain. Policy: lockout after 3 bad passwords (for 30
// minutes), minimum length 8, history 3, complexity on, no minimum age.
// The service account svc-reset is delegated, on OU=People, the Reset
// Password right and read/write of lockoutTime and pwdLastSet — a help-desk
// delegation, not a Domain Admin. Users are CN=NAME,OU=People with
// sAMAccountName, mail, telephoneNumber and mobile. Simple binds need TLS
// (ldap server require strong auth = yes). The DC is stopped by its PID and
// process group when the test ends, waiting for its workers.
func SambaAD(t testing.TB) *Server {
	t.Helper()
	samba := lookBinary(t, sambaPath, "samba-ad-dc")
	tool := lookBinary(t, sambaToolPath, "samba-ad-provision")
	python := lookBinary(t, sambaPython, "python3-samba")
	if os.Geteuid() != 0 {
		t.Fatalf("dirtest: SambaAD must run as root (the DC binds ports 88/389/636 and needs root-owned state); running as uid %d", os.Geteuid())
	}
	began := time.Now()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "samba.log")
	s := &Server{
		URL:      fmt.Sprintf("ldap://%s:%d", loopback, sambaLDAPPort),
		LDAPSURL: fmt.Sprintf("ldaps://%s:%d", loopback, sambaLDAPSPort),
		BaseDN:   sambaBaseDN, UsersDN: sambaUsersDN,
		BindDN: sambaBindDN, BindPassword: sambaBindPW,
		AdminDN: sambaAdminDN, AdminPassword: sambaAdminPW,
		Users: userNames(), UserPassword: sambaUserPW,
		Kind: AD, logs: []string{logPath, filepath.Join(dir, "dc", "log", "samba.log")},
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("dirtest: samba logs:\n%s", logTails(s.logs...))
		}
	})

	unlock, err := lockSamba(SambaLockTimeout)
	if err != nil {
		t.Fatalf("dirtest: SambaAD: %v", err)
	}
	s.stop = append(s.stop, unlock) // after the DC has stopped
	for _, p := range []int{sambaLDAPPort, sambaLDAPSPort, sambaKDCPort} {
		// The previous holder of the lock may still be letting go of
		// its ports: give them a few seconds.
		for wait := 0; wait < 50 && listening(p); wait++ {
			time.Sleep(200 * time.Millisecond)
		}
		if listening(p) {
			t.Fatalf("dirtest: SambaAD: 127.0.0.1:%d is in use (another LDAP server or KDC on loopback, e.g. the shared test bed's samba-ad.sh?)", p)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), SambaStartTimeout)
	defer cancel()
	tmpl, err := sambaTemplate(ctx, samba, tool, python)
	if err != nil {
		t.Fatalf("dirtest: SambaAD: provisioning the template: %v", err)
	}
	provisioned := time.Now()
	conf, err := copyTemplate(tmpl, filepath.Join(dir, "dc"))
	if err != nil {
		t.Fatalf("dirtest: SambaAD: %v", err)
	}
	s.CAFile = filepath.Join(dir, "dc", "tls", "ca.crt")
	if _, err := writeTLS(filepath.Join(dir, "dc", "tls"), "dirtest samba-ad CA", "dc1.example.test", "example.test"); err != nil {
		t.Fatalf("dirtest: SambaAD: certificates: %v", err)
	}
	p, err := start("samba", true, logPath, samba, "-s", conf, "--foreground", "--no-process-group",
		"--debug-stdout", "-d", "1")
	if err != nil {
		t.Fatalf("dirtest: SambaAD: %v", err)
	}
	s.proc = p
	ready := func() error { return adminBind(s) }
	if err := p.waitReady(SambaStartTimeout, ready); err != nil {
		t.Fatalf("dirtest: SambaAD: %v", err) // the cleanup prints the logs' tails
	}
	s.Started = time.Since(began)
	t.Logf("dirtest: Samba AD DC ready in %v (template %v, start %v)", s.Started.Round(time.Millisecond),
		provisioned.Sub(began).Round(time.Millisecond), time.Since(provisioned).Round(time.Millisecond))
	return s
}

// adminBind binds as Administrator over LDAPS, verifying the certificate.
func adminBind(s *Server) error {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: loopback}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	return c.Bind(s.AdminDN, s.AdminPassword)
}

// lockSamba takes the machine-wide Samba lock, waiting up to timeout, and
// returns its release.
func lockSamba(timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(sambaLockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := lockFile(f)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another test's Samba DC held %s for %v: %w", sambaLockPath, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sambaTemplate returns the directory of a provisioned, seeded, stopped
// domain, provisioning it first if there is none for this Samba and this
// seed. The caller holds the Samba lock.
func sambaTemplate(ctx context.Context, samba, tool, python string) (string, error) {
	seed, err := files.ReadFile("testdata/samba-seed.py")
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(samba)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d %d\n%s\n%s\n%s\n", fi.Size(), fi.ModTime().UnixNano(), provisionArgs("D"), sambaGlobals, seed)
	dir := filepath.Join(os.TempDir(), "sspr-dirtest-samba-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "ok")); err == nil {
		return dir, nil
	}
	// Templates of other Samba versions or seeds are stale.
	stale, _ := filepath.Glob(filepath.Join(os.TempDir(), "sspr-dirtest-samba-*"))
	for _, d := range stale {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			_ = os.RemoveAll(d)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := provision(ctx, dir, tool, python, seed); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "ok"), nil, 0o600); err != nil {
		return "", err
	}
	return dir, nil
}

// provisionArgs are samba-tool's arguments to provision into dir: no DNS,
// NetBIOS, SMB or RPC servers, only LDAP, CLDAP and the KDC, on loopback.
func provisionArgs(dir string) []string {
	return []string{
		"domain", "provision", "-s", filepath.Join(dir, "empty.conf"), // not /etc/samba/smb.conf
		"--targetdir=" + filepath.Join(dir, "domain"),
		"--realm=" + sambaRealm, "--domain=" + sambaDomain, "--server-role=dc",
		"--dns-backend=NONE", "--adminpass=" + sambaAdminPW, "--host-name=dc1",
		"--option=netbios name=DC1",
		"--option=interfaces=lo", "--option=bind interfaces only=yes",
		"--option=disable netbios=yes",
		"--option=server services=ldap, cldap, kdc",
		"--option=pid directory=" + filepath.Join(dir, "run"),
		"--option=ncalrpc dir=" + filepath.Join(dir, "run", "ncalrpc"),
		"--option=winbindd socket directory=" + filepath.Join(dir, "run", "winbindd"),
		"--option=ntp signd socket directory=" + filepath.Join(dir, "run", "ntp_signd"),
		"--option=log file=" + filepath.Join(dir, "log", "samba.log"),
		"--option=prefork children=2",
		"--option=ldap server require strong auth=yes",
		"--option=tls enabled=yes",
		"--option=tls keyfile=" + filepath.Join(dir, "tls", "server.key"),
		"--option=tls certfile=" + filepath.Join(dir, "tls", "server.crt"),
		"--option=tls cafile=" + filepath.Join(dir, "tls", "ca.crt"),
	}
}

// provision provisions and seeds a domain in dir, offline.
func provision(ctx context.Context, dir, tool, python string, seed []byte) error {
	for _, d := range []string{"domain", "run", "log", "tls"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.conf"), nil, 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "provision.log")
	if err := run(ctx, logPath, tool, provisionArgs(dir)...); err != nil {
		return err
	}
	conf := filepath.Join(dir, "domain", "etc", "smb.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), "[global]\n") {
		return fmt.Errorf("no [global] section in %s", conf)
	}
	data = []byte(strings.Replace(string(data), "[global]\n", "[global]\n"+sambaGlobals, 1))
	if err := os.WriteFile(conf, data, 0o600); err != nil {
		return err
	}
	sam := filepath.Join(dir, "domain", "private", "sam.ldb")
	if err := run(ctx, logPath, tool, "domain", "passwordsettings", "set", "-H", sam,
		"--account-lockout-threshold=3", "--account-lockout-duration=30", "--reset-account-lockout-after=30",
		"--min-pwd-length=8", "--history-length=3", "--min-pwd-age=0", "--max-pwd-age=0",
		"--complexity=on"); err != nil {
		return err
	}
	script := filepath.Join(dir, "seed.py")
	if err := os.WriteFile(script, seed, 0o600); err != nil {
		return err
	}
	// The passwords go in the environment, out of the logged command line.
	return runEnv(ctx, []string{"SEED_USER_PASSWORD=" + sambaUserPW, "SEED_SVC_PASSWORD=" + sambaBindPW},
		logPath, python, script, conf)
}

// copyTemplate copies the template domain into dir, points its smb.conf
// at dir, and returns smb.conf's path.
func copyTemplate(tmpl, dir string) (string, error) {
	err := filepath.WalkDir(tmpl, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tmpl, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm())
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		}
		return nil // sockets and the like are made by samba
	})
	if err != nil {
		return "", fmt.Errorf("copying the template: %w", err)
	}
	conf := filepath.Join(dir, "domain", "etc", "smb.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(data), tmpl) {
		return "", errors.New("the template's smb.conf does not name its directory")
	}
	data = []byte(strings.ReplaceAll(string(data), tmpl, dir))
	return conf, os.WriteFile(conf, data, 0o600)
}
