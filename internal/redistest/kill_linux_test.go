package redistest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const helperEnv = "TIPGATE_REDISTEST_HELPER"

// TestHelperHoldsServer is not a test on its own: TestKilledTestBinaryLeavesNoServer
// runs the test binary with it, as a test process that dies without cleanup.
func TestHelperHoldsServer(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestKilledTestBinaryLeavesNoServer")
	}
	s := New(t)
	fmt.Println("ADDR", s.Addr())
	select {} // wait to be killed
}

func TestKilledTestBinaryLeavesNoServer(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		t.Skip("inside the helper")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsServer$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Env = append(cmd.Env, EnvURL+"=") // always start a process of its own
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var addr string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("helper printed no address (scan error: %v)", sc.Err())
	}
	if err := ping(addr, time.Second); err != nil {
		t.Fatalf("helper's redis-server: PING got %v, want PONG", err)
	}

	// SIGKILL runs no cleanup: only the parent-death signal can stop the server.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	_ = cmd.Wait()
	for range 100 {
		if ping(addr, 100*time.Millisecond) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("redis-server at %s still answers after its test process was killed", addr)
}
