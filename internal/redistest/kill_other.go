//go:build !linux

package redistest

import "os/exec"

// killWithParent relies on the test's cleanup alone where the kernel offers
// no parent-death signal.
func killWithParent(*exec.Cmd) {}
