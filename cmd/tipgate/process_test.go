package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tipsim"
)

// TestProcessServesAndDrainsOnSIGTERM runs the built binary as an operator
// does: configured by environment only, against the simulator over mTLS. It
// answers a lookup, and on SIGTERM finishes the request in flight before it
// exits 0.
func TestProcessServesAndDrainsOnSIGTERM(t *testing.T) {
	c := newFixture(t)
	tip := startTIP(t, tipsim.Options{}, nil)
	sim, creds, key := tip.sim, tip.creds, c.key
	env := c.env(tip, map[string]string{
		"TIPGATE_SHUTDOWN_TIMEOUT": "10s",
		// The test counts TIP requests: no start-up probe may add one.
		"TIPGATE_TIP_PROBE": "false",
	})
	withPasswordFile(t, env) // the container-secret form
	r := c.serve("tipgate", env)
	stderr := r.stderr

	resp, body, err := r.get("/v1/lookup?indicator=hxxps://www.Red-Site[.]com/x", key)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("lookup: %v %v %s\n%s", err, resp, body, stderr.String())
	}
	var got struct{ Indicator, Zone, Cache string }
	_ = json.Unmarshal(body, &got)
	if got.Indicator != "red-site.com/x" || got.Cache != "miss" {
		t.Fatalf("lookup = %s", body)
	}

	// A slow TIP answer is in flight when SIGTERM arrives.
	sim.Inject(tipsim.Fault{Delay: 700 * time.Millisecond, Times: 1})
	inflight := make(chan error, 1)
	go func() {
		resp, body, err := r.get("/v1/lookup?indicator=green.slow.example.com", key)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		inflight <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); sim.Requests() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the simulator")
		}
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-inflight; err != nil {
		t.Fatalf("the request in flight at SIGTERM failed: %v", err)
	}
	if !r.exited(10 * time.Second) {
		t.Fatal("still running 10s after SIGTERM")
	}
	if r.err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", r.err, stderr.String())
	}
	for _, secret := range []string{creds.Password, creds.PFXPassword, key} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatalf("a secret appears in the process's logs")
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown line in the logs:\n%s", stderr.String())
	}
	// The memory store sizes the Go memory limit, and says so once.
	if n := strings.Count(stderr.String(), `"msg":"Go memory limit`); n != 1 {
		t.Errorf("%d lines about the Go memory limit in the logs, want 1:\n%s", n, stderr.String())
	}
}
