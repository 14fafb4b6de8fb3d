// Package pgtest starts a real PostgreSQL server for tests: a private
// cluster in the test's temporary directory, listening on 127.0.0.1 only,
// stopped by its PID when the test ends. The binaries come from Debian's
// postgresql package (.ci/store-deps installs it); a test fails when they
// are missing.
//
// PostgreSQL refuses to run as root. When the test runs as root (as CI
// does), the cluster belongs to the postgres system user and initdb and
// the server run under that user's identity.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL server.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// User is the superuser's name.
	User string

	password string
	// bin, data, sock, dir and cred are what start needs to start the
	// same server again (Restart).
	bin, data, sock, dir string
	cred                 *syscall.Credential
	cmd                  *exec.Cmd
	done                 chan struct{} // closed when the server process has exited
	out                  *syncBuffer
	dbs                  atomic.Int64
}

// Start starts a server for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatalf("pgtest: %v (run .ci/store-deps)", err)
	}
	dir := t.TempDir()
	cred, uid, gid, err := credential()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if cred != nil {
		// The postgres user must reach the directory: testing makes its
		// parent 0700.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "s")
	pwfile := filepath.Join(dir, "pw")
	password := randomHex(16)
	if err := os.Mkdir(sock, 0o700); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if cred != nil {
		for _, p := range []string{dir, sock, pwfile} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatalf("pgtest: %v", err)
			}
		}
	}

	s := &Server{User: "postgres", password: password, bin: bin, data: data, sock: sock, dir: dir, cred: cred}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "-E", "UTF8", "--locale=C",
		"--auth=scram-sha-256", "--pwfile="+pwfile, "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}

	t.Cleanup(func() { s.stop(t) })
	// The free port may be taken between our probe and the server's
	// bind: try a few.
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("pgtest: %v\n%s", err, s.out.String())
		}
	}
	return s
}

// Restart stops the server (a fast shutdown: the clients' connections
// are cut), leaves it down for down, and starts it again on the same data
// and port; it returns once the server accepts connections again. The
// test fails if it cannot start again.
func (s *Server) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	s.Stop(t)
	time.Sleep(down)
	s.Resume(t)
}

// Stop stops the server (a fast shutdown, by its PID) and returns once it
// has exited; Resume starts it again. Stopping a stopped server does
// nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(t)
}

// Resume starts a stopped server again on the same data and port, and
// returns once it accepts connections.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
	default:
		t.Fatalf("pgtest: Resume of a running server")
	}
	if err := s.start(); err != nil {
		t.Fatalf("pgtest: restart: %v\n%s", err, s.out.String())
	}
}

// start runs the server and waits until it accepts connections.
func (s *Server) start() error {
	s.out = &syncBuffer{}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.data,
		"-p", strconv.Itoa(s.Port), "-k", s.sock,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "logging_collector=off", "-c", "max_connections=200")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() { _ = cmd.Wait(); close(done) }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited before accepting connections")
		case <-ctx.Done():
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return fmt.Errorf("postgres did not accept connections within 60 s")
		case <-time.After(50 * time.Millisecond):
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, s.DSN("postgres"))
		ccancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
	}
}

// stop stops the server by its PID: SIGINT (fast shutdown), then SIGKILL.
func (s *Server) stop(t testing.TB) {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGINT)
	select {
	case <-s.done:
		return
	case <-time.After(10 * time.Second):
	}
	t.Errorf("pgtest: postgres (pid %d) ignored SIGINT for 10 s; killing it", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-s.done
}

// DSN returns the URL of database db on the server.
func (s *Server) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.User, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database on the server and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.DSN(name)
}

// binDir finds the newest /usr/lib/postgresql/*/bin with initdb and postgres.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// credential returns the postgres user's identity when running as root, nil otherwise.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root needs the postgres system user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, fmt.Errorf("postgres user: uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, uid, gid, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
