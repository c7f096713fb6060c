package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// TestCheckTIP runs `tipgate check-tip` as an operator does and checks its
// report and exit code for each outcome.
func TestCheckTIP(t *testing.T) {
	c := newFixture(t)
	ts := startTIP(t, tipsim.Options{}, nil)
	sim, creds := ts.sim, ts.creds
	base := c.env(ts, map[string]string{"TIPGATE_TIP_TIMEOUT": "5s"})
	tests := []struct {
		name   string
		change map[string]string
		fault  *tipsim.Fault
		code   int
		want   []string
	}{
		{name: "accepted", code: 0, want: []string{
			"TLS handshake:", "server certificate:  verified", "client certificate:  accepted", "Basic credentials:   accepted",
			"lookup API:          ok", "licence type:        Commercial", "of 10000 (DayRequests/DayQuota)",
			"token expiry:        none reported", "OK: TIP accepted",
		}},
		{name: "wrong password", change: map[string]string{"TIPGATE_TIP_PASSWORD": "not-the-password"}, code: 1, want: []string{
			"Basic credentials:   REJECTED", "TIP answered:        HTTP 401", "MISCONFIGURED: TIP rejected the credentials",
		}},
		{name: "not TIP's API", change: map[string]string{"TIPGATE_TIP_URL": base["TIPGATE_TIP_URL"] + "/wrong-prefix"}, code: 1, want: []string{
			"lookup API:          FAILED", "MISCONFIGURED", "not TIP's lookup API", "path prefix",
		}},
		{name: "404 for EICAR", fault: &tipsim.Fault{Status: 404, Value: tip.ProbeHash}, code: 1, want: []string{
			"HTTP 404", "not TIP's lookup API",
		}},
		{name: "TIP down", fault: &tipsim.Fault{Status: 503}, code: 1, want: []string{
			"NO ANSWER", "TIP is unavailable",
		}},
		{name: "server certificate not trusted", change: map[string]string{"TIPGATE_TIP_CA_FILE": ""}, code: 1, want: []string{
			"TLS handshake:       FAILED", "server certificate:  NOT VERIFIED", "MISCONFIGURED",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ClearFaults()
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.change {
				env[k] = v
			}
			cmd := exec.Command(c.bin, "check-tip")
			cmd.Env = environ(env)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			out := stdout.String()
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("the report lacks %q:\n%s", w, out)
				}
			}
			for _, secret := range []string{creds.Password, creds.PFXPassword} {
				if strings.Contains(out+stderr.String(), secret) {
					t.Error("a secret appears in check-tip's output")
				}
			}
		})
	}
}

// TestSIGHUPReloadsKeys runs the binary, replaces its keys file, and sends
// SIGHUP: the new key works, the removed one is refused, and the process
// goes on serving (SIGHUP's default would end it).
func TestSIGHUPReloadsKeys(t *testing.T) {
	c := newFixture(t)
	ts := startTIP(t, tipsim.Options{}, nil)
	r := c.serve("tipgate", c.env(ts, map[string]string{"TIPGATE_TIP_TIMEOUT": "5s", "TIPGATE_TIP_PROBE": "false"}))
	defer r.terminate(10 * time.Second) // and the test's cleanup kills it if it did not exit
	oldKey, stderr := c.key, r.stderr

	status := func(key string) int {
		resp, _, err := r.get("/v1/sections", key)
		if resp == nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		return resp.StatusCode
	}
	if got := status(oldKey); got != http.StatusOK {
		t.Fatalf("the first key = %d before the reload", got)
	}
	newKey, _ := apikey.Generate()
	tmp := c.keysFile + ".new"
	writeKeys(t, tmp, "soar", apikey.Hash(newKey))
	if err := os.Rename(tmp, c.keysFile); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(newKey) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the new key never worked after SIGHUP\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := status(oldKey); got != http.StatusUnauthorized {
		t.Errorf("the removed key = %d after SIGHUP, want 401", got)
	}
	select {
	case <-r.done:
		t.Fatalf("tipgate exited on SIGHUP: %v", r.err)
	default:
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"trigger":"SIGHUP"`) || !strings.Contains(logs, `"changed":["API keys"]`) {
		t.Errorf("no audit line for the SIGHUP reload:\n%s", logs)
	}
	if strings.Contains(logs, newKey) || strings.Contains(logs, oldKey) {
		t.Error("an API key appears in the logs")
	}
}
