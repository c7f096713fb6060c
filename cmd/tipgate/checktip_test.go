package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// buildTipgate builds the binary into a temporary directory.
func buildTipgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tipgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// simEnv starts a simulator requiring client certificates and returns it
// with the environment that points tipgate at it.
// key is the one API key of its keys file (role lookup).
func simEnv(t *testing.T) (sim *tipsim.Sim, creds *tipsim.Credentials, env map[string]string, key string) {
	t.Helper()
	creds, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sim = tipsim.New(tipsim.Options{Credentials: creds, RequireClientCert: true})
	srv, err := tipsim.Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	files, err := creds.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, _ = apikey.Generate()
	keysFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keysFile, []byte(`{"keys":[{"name":"siem","sha256":"`+apikey.Hash(key)+`","roles":["lookup"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, creds, map[string]string{
		"PATH":                     os.Getenv("PATH"),
		"TIPGATE_TIP_URL":          srv.URL(),
		"TIPGATE_TIP_CA_FILE":      files.CA,
		"TIPGATE_TIP_PFX_FILE":     files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     creds.Username,
		"TIPGATE_TIP_PASSWORD":     creds.Password,
		"TIPGATE_TIP_TIMEOUT":      "5s",
		"TIPGATE_API_KEYS_FILE":    keysFile,
	}, key
}

func environ(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// TestCheckTIP runs `tipgate check-tip` as an operator does and checks its
// report and exit code for each outcome.
func TestCheckTIP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTipgate(t)
	sim, creds, base, _ := simEnv(t)
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
			cmd := exec.Command(bin, "check-tip")
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
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTipgate(t)
	_, _, env, oldKey := simEnv(t)
	addr := freeAddr(t)
	env["TIPGATE_ADDR"] = addr
	env["TIPGATE_TIP_PROBE"] = "false"
	cmd := exec.Command(bin, "serve")
	cmd.Env = environ(env)
	var stderr logbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	base := "http://" + addr
	waitHealthy(t, base, exited, &stderr)

	status := func(key string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/sections", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(oldKey); got != http.StatusOK {
		t.Fatalf("the first key = %d before the reload", got)
	}
	newKey, _ := apikey.Generate()
	tmp := env["TIPGATE_API_KEYS_FILE"] + ".new"
	if err := os.WriteFile(tmp, []byte(`{"keys":[{"name":"soar","sha256":"`+apikey.Hash(newKey)+`","roles":["lookup"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, env["TIPGATE_API_KEYS_FILE"]); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
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
	case err := <-exited:
		exited <- err
		t.Fatalf("tipgate exited on SIGHUP: %v", err)
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
