//go:build !linux

package siptest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

var errNotLinux = errors.New("siptest: the peers run on Linux only")

func prepare(*exec.Cmd) {}

func signalGroup(int, syscall.Signal) error { return errNotLinux }

func lock(*os.File) error { return errNotLinux }
