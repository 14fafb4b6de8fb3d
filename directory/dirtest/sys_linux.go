//go:build linux

package dirtest

import (
	"os"
	"os/exec"
	"syscall"
)

// prepare puts cmd in a process group of its own (a session of its own for
// a group leader such as Samba, whose workers then share its group ID), and
// asks the kernel to kill it if the test binary dies without running its
// cleanups (a panic or go test's -timeout).
func prepare(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !group, Setsid: group, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

// lockFile takes an exclusive lock on f without waiting; it is released
// when f is closed, or when the process dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
