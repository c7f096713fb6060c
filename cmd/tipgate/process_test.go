package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	"github.com/tipgate/tipgate/internal/tipsim"
)

// TestProcessServesAndDrainsOnSIGTERM runs the built binary as an operator
// does: configured by environment only, against the simulator over mTLS. It
// answers a lookup, and on SIGTERM finishes the request in flight before it
// exits 0.
func TestProcessServesAndDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "tipgate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	creds, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sim := tipsim.New(tipsim.Options{Credentials: creds, RequireClientCert: true})
	simSrv, err := tipsim.Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	defer simSrv.Close()
	dir := t.TempDir()
	files, err := creds.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := apikey.Generate()
	keysFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keysFile, []byte(`{"keys":[{"name":"siem","sha256":"`+apikey.Hash(key)+`","roles":["lookup"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "tip_password")
	if err := os.WriteFile(pwFile, []byte(creds.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)

	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"TIPGATE_ADDR=" + addr,
		"TIPGATE_TIP_URL=" + simSrv.URL(),
		"TIPGATE_TIP_CA_FILE=" + files.CA,
		"TIPGATE_TIP_PFX_FILE=" + files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD=" + creds.PFXPassword,
		"TIPGATE_TIP_USERNAME=" + creds.Username,
		"TIPGATE_TIP_PASSWORD_FILE=" + pwFile, // the container-secret form
		"TIPGATE_API_KEYS_FILE=" + keysFile,
		"TIPGATE_SHUTDOWN_TIMEOUT=10s",
		// The test counts TIP requests: no start-up probe may add one.
		"TIPGATE_TIP_PROBE=false",
	}
	// Read while the process writes to it, when a check fails early.
	var stderr logbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped { // the test failed before the process exited
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	base := "http://" + addr
	waitHealthy(t, base, exited, &stderr)

	get := func(path string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	resp, body, err := get("/v1/lookup?indicator=hxxps://www.Red-Site[.]com/x")
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
		resp, body, err := get("/v1/lookup?indicator=green.slow.example.com")
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-inflight; err != nil {
		t.Fatalf("the request in flight at SIGTERM failed: %v", err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
	for _, secret := range []string{creds.Password, creds.PFXPassword, key} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatalf("a secret appears in the process's logs")
		}
	}
	if !strings.Contains(stderr.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown line in the logs:\n%s", stderr.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHealthy polls /healthz. If the process exits instead, it puts the exit
// back on exited for the caller's cleanup and fails the test.
func waitHealthy(t *testing.T, base string, exited chan error, stderr *logbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("tipgate exited at start: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("tipgate not healthy within 15s\n%s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Logf("healthz: %v", err)
		}
	}
}
