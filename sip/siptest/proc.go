package siptest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loopback is the only address the peers use.
const loopback = "127.0.0.1"

// StartTimeout bounds how long each peer function waits for its peer to be
// ready before it fails the test. A peer is normally ready well within a
// second; the margin is for a loaded CI machine.
const StartTimeout = 10 * time.Second

// stopGrace is how long stop waits after SIGTERM before it sends SIGKILL.
const stopGrace = 3 * time.Second

// tailLines is how many lines of each log a failing test prints.
const tailLines = 40

// proc is one peer process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	// group is true when the process forks workers that must be ended
	// with it (Kamailio).
	group bool
	done  chan struct{} // closed once cmd.Wait returned
	werr  error         // cmd.Wait's result, valid after done
	once  sync.Once
}

// lookBinary returns the path of the peer's program, or fails the test telling
// the reader how to install it.
func lookBinary(t testing.TB, name, fallback, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	t.Fatalf("siptest: %s not found (Debian package %s): run `make test-deps` (or .ci/peers-deps)", name, pkg)
	return ""
}

// start runs path with args in dir, stdout and stderr appended to logPath,
// and registers its stop as a cleanup of t. It fails the test if the
// program cannot be started.
func start(t testing.TB, name string, group bool, dir, logPath, path string, args ...string) *proc {
	t.Helper()
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("siptest: %s log: %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	prepare(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("siptest: start %s: %v", name, err)
	}
	out.Close() // the child has its own copy
	p := &proc{name: name, cmd: cmd, group: group, done: make(chan struct{})}
	go func() {
		p.werr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

// pid returns the process ID.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by its PID: SIGTERM, then SIGKILL after stopGrace.
// A group leader (started in a process group of its own, whose ID is its
// PID) gets its SIGTERM through the group, so that a wrapper that ignores
// it (unshare) passes it on; stop then waits for the rest of the group,
// and kills the group by its ID if a process lingers. It is safe to call
// more than once.
func (p *proc) stop() {
	p.once.Do(func() {
		pid := p.pid()
		if !p.exited() {
			if p.group {
				_ = signalGroup(pid, syscall.SIGTERM)
			} else {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
			}
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

// waitReady polls ready every 10 ms until it returns true, the process
// exits, or StartTimeout passes.
func (p *proc) waitReady(ready func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.werr)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v", p.name, StartTimeout)
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

// tailOnFailure prints the logs' tails when the test has failed. Register
// it before the process's stop, so that it runs after (cleanups run last
// registered first) and shows the final lines.
func tailOnFailure(t testing.TB, name string, paths ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("siptest: %s logs:\n%s", name, logTails(paths...))
		}
	})
}

// errNotBound is returned by socketBound when /proc/net is unreadable.
var errNotBound = errors.New("siptest: cannot read /proc/net")

// socketBound reports whether a socket of the given kind ("udp" or "tcp",
// for which only listening sockets count) is bound to 127.0.0.1:port or to
// the wildcard address, from /proc/net/udp or /proc/net/tcp.
func socketBound(kind string, port int) (bool, error) {
	data, err := os.ReadFile("/proc/net/" + kind)
	if err != nil {
		return false, fmt.Errorf("%w: %v", errNotBound, err)
	}
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasSuffix(f[1], want) {
			continue
		}
		addr := strings.TrimSuffix(f[1], want)
		if addr != "0100007F" && addr != "00000000" {
			continue
		}
		if kind == "tcp" && f[3] != "0A" { // TCP_LISTEN
			continue
		}
		return true, nil
	}
	return false, nil
}

// bound returns a readiness check for socketBound.
func bound(kind string, port int) func() bool {
	return func() bool {
		ok, _ := socketBound(kind, port)
		return ok
	}
}

// hostPort formats 127.0.0.1:port.
func hostPort(port int) string { return loopback + ":" + strconv.Itoa(port) }
