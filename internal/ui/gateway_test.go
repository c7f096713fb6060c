package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/app"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// gateway is a whole tipgate running in-process against the TIP simulator
// over mTLS, as internal/app's own integration tests run it; the console is
// tested through it exactly as an analyst's browser reaches it.
type gateway struct {
	t    testing.TB
	sim  *tipsim.Sim
	base string
	keys map[string]string // name -> key
	logs *logbuf.Buffer
}

// testKeys are the console's callers: one per role mix, and one whose own
// daily TIP budget is a single request.
var testKeys = []struct {
	name   string
	roles  []string
	budget int
}{
	{"siem", []string{"lookup"}, 0},
	{"soar", []string{"lookup", "refresh"}, 0},
	{"capped", []string{"lookup"}, 1},
}

func startGateway(t testing.TB) *gateway {
	t.Helper()
	creds, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sim := tipsim.New(tipsim.Options{Credentials: creds, RequireClientCert: true})
	simSrv, err := tipsim.Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simSrv.Close() })
	dir := t.TempDir()
	files, err := creds.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, sim: sim, keys: map[string]string{}, logs: &logbuf.Buffer{}}
	var entries []apikey.FileEntry
	for _, k := range testKeys {
		key, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		g.keys[k.name] = key
		entries = append(entries, apikey.FileEntry{Name: k.name, Key: key, Roles: k.roles, TIPDailyBudget: k.budget})
	}
	keysJSON := apikey.MarshalFile(entries)
	keysFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keysFile, keysJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"TIPGATE_ADDR":             "127.0.0.1:0",
		"TIPGATE_TIP_URL":          simSrv.URL(),
		"TIPGATE_TIP_CA_FILE":      files.CA,
		"TIPGATE_TIP_PFX_FILE":     files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     creds.Username,
		"TIPGATE_TIP_PASSWORD":     creds.Password,
		"TIPGATE_TIP_TIMEOUT":      "5s",
		"TIPGATE_API_KEYS_FILE":    keysFile,
		"TIPGATE_SHUTDOWN_TIMEOUT": "5s",
		// Grey answers go stale after a second (the shortest freshness
		// tipgate accepts), so the console's stale state needs little
		// waiting: every other zone stays fresh for a day.
		"TIPGATE_CACHE_TTL_GREY": "1s",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, os.ReadFile)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	g.base = "http://" + a.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		// Keys travel in headers only; none may reach a log line (the
		// access log names the key, never its text).
		logs := g.logs.String()
		for name, key := range g.keys {
			if strings.Contains(logs, key) {
				t.Errorf("the API key %s appears in the gateway's logs", name)
			}
		}
	})
	return g
}

// api calls the gateway directly, as a SIEM would, to set up a state.
func (g *gateway) api(method, path, key, body string) (int, map[string]any) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// lastLookup is the simulator's record of the most recent lookup of value.
func (g *gateway) lastLookup(value string) (tipsim.Request, error) {
	log := g.sim.Log()
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Value == value {
			return log[i], nil
		}
	}
	return tipsim.Request{}, fmt.Errorf("the simulator never saw a lookup of %s", value)
}

// lookupsOf counts the simulator's lookups of value.
func (g *gateway) lookupsOf(value string) int {
	n := 0
	for _, r := range g.sim.Log() {
		if r.Value == value {
			n++
		}
	}
	return n
}
