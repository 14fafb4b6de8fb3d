//go:build linux

package siptest

import (
	"os"
	"os/exec"
	"syscall"
)

// prepare makes cmd the leader of a new process group, so that stop can end
// the helpers it forks (Kamailio's workers) with it, and asks the kernel to
// kill it if the test binary dies without running its cleanups (a panic or
// go test's -timeout).
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

// lock takes an exclusive lock on f without waiting; it is released when f
// is closed, or when the process dies.
func lock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
