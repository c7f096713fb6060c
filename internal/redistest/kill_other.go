//go:build !linux

package redistest

import (
	"errors"
	"os"
	"os/exec"
)

// killWithParent relies on the test's cleanup alone where the kernel offers
// no parent-death signal.
func killWithParent(*exec.Cmd) {}

// pauseProcess is not offered where the stop can not be confirmed: Pause
// skips the test there.
func pauseProcess(*os.Process) error { return errors.ErrUnsupported }

func resumeProcess(*os.Process) error { return errors.ErrUnsupported }
