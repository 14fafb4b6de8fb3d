//go:build linux

package browsertest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the browser in a process group of its own, and asks the
// kernel to kill it if the test binary dies without running its cleanups.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// alive reports whether pid names a process that has not ended (a zombie
// has ended).
func alive(pid int) bool {
	st, ok := stat(pid)
	return ok && st.state != 'Z'
}

// tree returns the live processes that belong to the browser whose main
// process is pid: those of its process group, and those whose command line
// names its profile directory dataDir (chromium passes --user-data-dir to
// its helpers, and its crash handler, which leaves the group, gets
// --database=dataDir/...). pid itself is not listed.
func tree(pid int, dataDir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(dataDir)
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == self || p == pid {
			continue
		}
		st, ok := stat(p)
		if !ok || st.state == 'Z' {
			continue
		}
		if st.pgrp == pid {
			out = append(out, p)
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if bytes.HasPrefix(arg, []byte("--")) && bytes.Contains(arg, want) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// procStat is what tree needs of /proc/PID/stat.
type procStat struct {
	state byte
	pgrp  int
}

// stat reads /proc/PID/stat; ok is false when the process does not exist.
func stat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procStat{}, false
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, false
	}
	return procStat{state: f[0][0], pgrp: pgrp}, true
}
