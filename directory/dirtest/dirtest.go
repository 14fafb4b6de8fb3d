package dirtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

//go:embed testdata
var files embed.FS

// Kinds of Server.
const (
	OpenLDAP = "openldap"
	AD       = "ad"
)

// loopback is the only address the servers listen on.
const loopback = "127.0.0.1"

// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 15 * time.Second

// tailLines is how many lines of a log a failing test prints.
const tailLines = 40

// Server is a running directory server and what a client needs to use it.
type Server struct {
	// URL is ldap://127.0.0.1:PORT, for StartTLS; LDAPSURL is
	// ldaps://127.0.0.1:PORT. Both present a certificate for localhost and
	// 127.0.0.1 signed by the CA in CAFile.
	URL, LDAPSURL string
	// BaseDN is the naming context; UsersDN holds the test users.
	BaseDN, UsersDN string
	// BindDN and BindPassword are the service account's: it may reset
	// passwords and unlock the users, with the policy applied.
	BindDN, BindPassword string
	// AdminDN and AdminPassword are the administrator's (slapd's rootdn,
	// AD's Administrator), which bypass the policy: for test set-up only.
	AdminDN, AdminPassword string
	// CAFile is the PEM file of the CA that signed the server certificate.
	CAFile string
	// Users are the test users' names (uid on OpenLDAP, sAMAccountName on
	// AD); all start with the password UserPassword.
	Users        []string
	UserPassword string
	// Kind is OpenLDAP ("openldap") or AD ("ad").
	Kind string

	// Started is how long the server took to start, seeded and ready.
	Started time.Duration

	proc *proc
	logs []string
	stop []func() // run by Stop after the process has ended
	once sync.Once
}

// UserDN returns the DN of the test user name.
func (s *Server) UserDN(name string) string {
	if s.Kind == AD {
		return "CN=" + name + "," + s.UsersDN
	}
	return "uid=" + name + "," + s.UsersDN
}

// Stop stops the server by its PID (and, for Samba, waits for its workers)
// and releases what it held. It is registered as a cleanup of the test and
// is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.proc != nil {
			s.proc.stop()
		}
		for _, f := range s.stop {
			f()
		}
	})
}

// people are the test users, as uid, given name and surname.
var people = []struct{ UID, Given, Surname string }{
	{"alice", "Alice", "Anders"},
	{"bob", "Bob", "Brown"},
	{"carol", "Carol", "Clark"},
	{"dave", "Dave", "Dunn"},
}

func userNames() []string {
	names := make([]string, len(people))
	for i, p := range people {
		names[i] = p.UID
	}
	return names
}

// lookBinary returns path if it is an executable, or fails the test
// telling the reader how to install it.
func lookBinary(t testing.TB, path, pkg string) string {
	t.Helper()
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return path
	}
	if p, err := exec.LookPath(filepath.Base(path)); err == nil {
		return p
	}
	t.Fatalf("dirtest: %s not found (Debian package %s): run `make test-deps` (or .ci/directory-deps)", path, pkg)
	return ""
}

// render executes the embedded template testdata/name with data.
func render(name string, data any) ([]byte, error) {
	src, err := files.ReadFile("testdata/" + name)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(name).Funcs(template.FuncMap{
		"inc": func(i int) int { return i + 1 },
	}).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// run runs a set-up program, its output appended to logPath; the error
// carries the log's tail.
func run(ctx context.Context, logPath, path string, args ...string) error {
	return runEnv(ctx, nil, logPath, path, args...)
}

// runEnv is run with env added to the environment (not logged).
func runEnv(ctx context.Context, env []string, logPath, path string, args ...string) error {
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(out, "$ %s %s\n", filepath.Base(path), strings.Join(redact(args), " "))
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(path), err, logTails(logPath))
	}
	return nil
}

// redact hides the values of password options in a logged command line.
func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, _, ok := strings.Cut(a, "="); ok && strings.Contains(strings.ToLower(k), "pass") {
			a = k + "=***"
		}
		out[i] = a
	}
	return out
}

// proc is one server process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	// group is true when the process leads a session whose workers must end
	// with it (Samba).
	group bool
	done  chan struct{} // closed once cmd.Wait returned
	werr  error         // cmd.Wait's result, valid after done
	once  sync.Once
}

// start runs path with args, stdout and stderr appended to logPath.
func start(name string, group bool, logPath, path string, args ...string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(path, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	prepare(cmd, group)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, group: group, done: make(chan struct{})}
	go func() {
		p.werr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process by its PID: SIGTERM, then SIGKILL after stopGrace.
// For a group leader it then waits for the rest of its process group and
// kills the group by its ID if a process lingers. Safe to call twice.
func (p *proc) stop() {
	p.once.Do(func() {
		pid := p.cmd.Process.Pid
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopGrace):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if !p.group {
			return
		}
		deadline := time.Now().Add(stopGrace)
		for signalGroup(pid, 0) == nil {
			if time.Now().After(deadline) {
				_ = signalGroup(pid, syscall.SIGKILL)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// waitReady calls ready every 20 ms until it succeeds, the process exits or
// timeout passes; the error is ready's last.
func (p *proc) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v)", p.name, p.werr)
		case <-deadline.C:
			return fmt.Errorf("%s not ready after %v: %w", p.name, timeout, err)
		case <-tick.C:
		}
	}
}

// logTails returns the last tailLines lines of each file, headed by its
// name; missing files are skipped.
func logTails(paths ...string) string {
	var b strings.Builder
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > tailLines {
			lines = lines[len(lines)-tailLines:]
		}
		fmt.Fprintf(&b, "--- %s (last %d lines) ---\n%s\n", filepath.Base(path), len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// listening reports whether something accepts TCP connections on
// 127.0.0.1:port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(loopback, fmt.Sprint(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// dialable returns an error unless every port accepts connections.
func dialable(ports ...int) func() error {
	return func() error {
		for _, p := range ports {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(loopback, fmt.Sprint(p)), 200*time.Millisecond)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	}
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 just now.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeTLS writes a throw-away CA (ca.crt) and a server certificate
// (server.crt, server.key; EC P-256, PKCS #8) for localhost, 127.0.0.1, ::1
// and dnsNames into dir, and returns the CA file's path.
func writeTLS(dir, caName string, dnsNames ...string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: caName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	leaf := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              append([]string{"localhost"}, dnsNames...),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	caFile := filepath.Join(dir, "ca.crt")
	for _, f := range []struct {
		name, typ string
		der       []byte
		mode      os.FileMode
	}{
		{"ca.crt", "CERTIFICATE", caDER, 0o644},
		{"server.crt", "CERTIFICATE", leafDER, 0o644},
		{"server.key", "PRIVATE KEY", keyDER, 0o600}, // Samba refuses a key others can read
	} {
		data := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(dir, f.name), data, f.mode); err != nil {
			return "", err
		}
	}
	return caFile, nil
}
