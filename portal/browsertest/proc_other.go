//go:build !linux

package browsertest

import "syscall"

// sysProcAttr puts the browser in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// alive reports whether pid names a process that has not ended.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// tree lists the browser's other processes; only Linux can (through
// /proc), elsewhere it returns none.
func tree(pid int, dataDir string) []int { return nil }
