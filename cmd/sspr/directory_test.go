package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sspr-project/sspr/directory"
	"github.com/sspr-project/sspr/directory/dirtest"
)

// TestDirectoryCommands runs the helpdesk commands against an embedded
// directory file.
func TestDirectoryCommands(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	cheap := directory.EmbeddedConfig{Argon2: directory.Argon2Params{Memory: 64, Time: 1, Threads: 1},
		Policy: &directory.EmbeddedPolicy{MinLength: 8, History: 3, LockoutThreshold: 3}}
	if err := directory.WriteEmbedded(users, []directory.EmbeddedUser{
		{Username: "alice", DisplayName: "Alice Example", Phones: []string{"+442079460958"}, Password: "Initial-Passw0rd"},
	}, cheap); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sspr.yaml")
	if err := os.WriteFile(cfg, []byte("directory:\n  type: embedded\n  file: "+users+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := cmd("directory", "status", "--config", cfg); code != 0 || !strings.HasPrefix(out, "directory: ok") {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	code, out, _ := cmd("directory", "find", "--config", cfg, "alice")
	if code != 0 || !strings.Contains(out, "display name: Alice Example") || !strings.Contains(out, "locked: no") ||
		strings.Contains(out, "2079460958") || !strings.Contains(out, "phone: +***58") {
		t.Fatalf("find: %d %q", code, out)
	}
	if code, _, errs := cmd("directory", "find", "--config", cfg, "nobody"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("find nobody: %d %q", code, errs)
	}
	// Lock alice by failing binds, then unlock her.
	d, err := directory.OpenEmbedded(users, cheap)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		_, _ = d.Authenticate(context.Background(), "alice", "wrong-password")
	}
	if code, out, _ := cmd("directory", "find", "--config", cfg, "alice"); code != 0 || !strings.Contains(out, "locked: yes") {
		t.Fatalf("find after lockout: %d %q", code, out)
	}
	if code, out, _ := cmd("directory", "unlock", "--config", cfg, "alice"); code != 0 || out != "alice: unlocked\n" {
		t.Fatalf("unlock: %d %q", code, out)
	}
	if code, out, _ := cmd("directory", "unlock", "--config", cfg, "alice"); code != 0 || out != "alice: was not locked\n" {
		t.Fatalf("unlock again: %d %q", code, out)
	}
	// Usage errors and a password written into the file.
	if code, _, _ := cmd("directory", "find", "alice"); code != exitUsage {
		t.Errorf("find without --config: exit %d", code)
	}
	inline := filepath.Join(dir, "inline.yaml")
	if err := os.WriteFile(inline, []byte("directory:\n  type: openldap\n  urls: [ldaps://127.0.0.1:1]\n  bind_dn: cn=x\n  bind_password: secret\n  base_dn: dc=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cmd("directory", "status", "--config", inline); code != 1 || !strings.Contains(errs, "directory.bind_password") {
		t.Errorf("inline password: exit %d, %q", code, errs)
	}
}

// TestDirectoryCommandsSlapd runs the helpdesk commands against a real
// OpenLDAP with the service account's password from the environment.
func TestDirectoryCommandsSlapd(t *testing.T) {
	s := dirtest.Slapd(t)
	t.Setenv("SSPR_TEST_LDAP_PASSWORD", s.BindPassword)
	cfg := filepath.Join(t.TempDir(), "sspr.yaml")
	yaml := "directory:\n  type: openldap\n  urls: [" + s.LDAPSURL + "]\n  ca_file: " + s.CAFile +
		"\n  bind_dn: " + s.BindDN + "\n  bind_password: ${SSPR_TEST_LDAP_PASSWORD}\n  base_dn: " + s.BaseDN + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := cmd("directory", "status", "--config", cfg); code != 0 {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	user := s.Users[0]
	if code, out, errs := cmd("directory", "find", "--config", cfg, user); code != 0 || !strings.Contains(out, "dn: uid="+user) {
		t.Fatalf("find: %d %q %q", code, out, errs)
	}
	if code, out, _ := cmd("directory", "unlock", "--config", cfg, user); code != 0 || out != user+": was not locked\n" {
		t.Fatalf("unlock: %d %q", code, out)
	}
	// A wrong service password: status fails, naming the problem.
	t.Setenv("SSPR_TEST_LDAP_PASSWORD", "wrong")
	if code, out, _ := cmd("directory", "status", "--config", cfg); code != 1 || !strings.HasPrefix(out, "directory: not usable") {
		t.Fatalf("status with a wrong password: %d %q", code, out)
	}
}
