package redistest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// killWithParent has the kernel kill redis-server if the test binary dies
// without running its cleanups (a -timeout panic, a SIGKILL), so a failed
// run leaves no server behind.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// pauseProcess freezes p with SIGSTOP and returns once the kernel reports it
// stopped: the signal is delivered asynchronously, and a test that pauses
// Redis and at once expects it not to answer must not race it.
func pauseProcess(p *os.Process) error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	stat := "/proc/" + strconv.Itoa(p.Pid) + "/stat"
	deadline := time.Now().Add(readyTimeout)
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			return err
		}
		// The state follows the command name in parentheses, which may
		// itself hold spaces or parentheses: read after the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped %v after SIGSTOP", p.Pid, readyTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// resumeProcess lets a paused p run again.
func resumeProcess(p *os.Process) error {
	return p.Signal(syscall.SIGCONT)
}
