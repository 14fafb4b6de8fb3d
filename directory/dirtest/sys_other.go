//go:build !linux

package dirtest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

var errUnsupported = errors.New("dirtest: needs Linux")

func prepare(*exec.Cmd, bool) {}

func signalGroup(int, syscall.Signal) error { return errUnsupported }

func lockFile(*os.File) error { return errUnsupported }
