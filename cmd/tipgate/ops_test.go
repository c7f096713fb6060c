package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/app"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/config/configtest"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// setEnv makes env the whole TIPGATE_* environment for the test.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, name := range config.Names() {
		t.Setenv(name, env[name])
	}
}

// TestCheckConfigAgreesWithServe runs every bad configuration the config
// tests know (configtest's table, the keys file's and the TIP client's
// cases included) through `tipgate check-config` and through serve's path
// (config.Load, then app.New with what it loaded): both refuse each one,
// with the same words, naming the same variable, and both accept the good
// ones.
func TestCheckConfigAgreesWithServe(t *testing.T) {
	f := configtest.NewFixture(t)
	serve := func() (string, error) {
		cfg, err := config.Load(os.Getenv, os.ReadFile)
		if err == nil {
			var a *app.App
			if a, err = app.New(cfg, slog.New(slog.DiscardHandler)); err == nil {
				err = a.Stop(t.Context())
			}
		}
		var out bytes.Buffer
		if err != nil {
			reportRefusal(&out, err)
		}
		return out.String(), err
	}
	good := []configtest.Case{{Name: "valid pfx", Env: f.PFXEnv()}, {Name: "valid token", Env: f.TokenEnv()}}
	for _, tt := range append(good, f.BadCases(t)...) {
		t.Run(tt.Name, func(t *testing.T) {
			setEnv(t, tt.Env)
			var stdout, stderr bytes.Buffer
			code := run([]string{"check-config"}, &stdout, &stderr)
			refusal, serveErr := serve()
			if tt.Var == "" {
				if code != 0 || serveErr != nil {
					t.Fatalf("check-config exit %d (%s), serve %v; want both to accept", code, stderr.String(), serveErr)
				}
				if stdout.String() != "configuration OK\n" {
					t.Errorf("check-config printed %q", stdout.String())
				}
				return
			}
			if code != 1 || serveErr == nil {
				t.Fatalf("check-config exit %d, serve error %v; want both to refuse (%s)", code, serveErr, tt.Var)
			}
			if stderr.String() != refusal {
				t.Errorf("check-config says\n%s\nserve says\n%s", stderr.String(), refusal)
			}
			if !strings.Contains(refusal, "\n"+tt.Var+": ") {
				t.Errorf("the refusal does not name %s:\n%s", tt.Var, refusal)
			}
			for _, line := range strings.Split(strings.TrimSpace(refusal), "\n") {
				if strings.HasSuffix(line, "..") {
					t.Errorf("the sentence %q ends in two dots", line)
				}
			}
			for _, secret := range []string{f.Creds.PFXPassword, configtest.Password} {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("check-config shows a secret:\n%s", stderr.String())
				}
			}
		})
	}
}

// TestHelpStartsNothing: asking any command for help prints it and
// returns; `tipgate demo -h` used to start the demo.
func TestHelpStartsNothing(t *testing.T) {
	t.Setenv("TIPGATE_ADDR", "127.0.0.1:0")
	for _, args := range [][]string{{"demo", "-h"}, {"demo", "--help"}, {"serve", "-h"}, {"check-config", "help"}, {"-h"}, {"help"}} {
		done := make(chan int, 1)
		var stdout, stderr bytes.Buffer
		go func() { done <- run(args, &stdout, &stderr) }()
		select {
		case code := <-done:
			if code != 0 || !strings.HasPrefix(stdout.String(), "usage: tipgate") || stderr.Len() != 0 {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and the usage", args, code, stdout.String(), stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v did not return: it started something", args)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo", "--port=1"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unexpected argument") {
		t.Errorf("demo --port=1: exit %d, stderr %q; want 2 naming the argument", code, stderr.String())
	}
}

// TestProcessAnswers503AtTheDrainDeadline runs the binary against a TIP
// that never answers, with a short TIPGATE_SHUTDOWN_TIMEOUT: on SIGTERM the
// request still waiting at the deadline gets a 503 shutting-down problem,
// and the process exits 0.
func TestProcessAnswers503AtTheDrainDeadline(t *testing.T) {
	c := newFixture(t)
	tip := startTIP(t, tipsim.Options{}, nil)
	r := c.serve("tipgate", c.env(tip, map[string]string{
		"TIPGATE_TIP_TIMEOUT":      "60s",
		"TIPGATE_REQUEST_TIMEOUT":  "60s",
		"TIPGATE_SHUTDOWN_TIMEOUT": "1s",
		"TIPGATE_TIP_PROBE":        "false", // the test counts TIP requests to know its lookup is in flight
	}))
	sim, stderr := tip.sim, r.stderr

	sim.Inject(tipsim.Fault{Hang: true})
	type answer struct {
		status     int
		retryAfter string
		body       []byte
		err        error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, body, err := r.get("/v1/lookup?indicator=red.hang.example.com", c.key)
		if resp == nil {
			answers <- answer{err: err}
			return
		}
		answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After"), body, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); sim.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the lookup never reached the simulator\n%s", stderr.String())
		}
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a := <-answers
	var p struct{ Type string }
	_ = json.Unmarshal(a.body, &p)
	if a.err != nil || a.status != http.StatusServiceUnavailable || p.Type != "shutting-down" || a.retryAfter == "" {
		t.Fatalf("the request waiting at the drain deadline got %v %d %s (Retry-After %q), want 503 shutting-down\n%s",
			a.err, a.status, a.body, a.retryAfter, stderr.String())
	}
	if !r.exited(20 * time.Second) {
		t.Fatalf("still running 20s after SIGTERM\n%s", stderr.String())
	}
	if r.err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0\n%s", r.err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "the drain deadline passed") {
		t.Errorf("no line says the drain deadline passed:\n%s", stderr.String())
	}
}
