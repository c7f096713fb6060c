package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/app"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// demoAddr is where `tipgate demo` listens unless TIPGATE_ADDR says
// otherwise: loopback only, because the demo key is printed on the terminal.
const demoAddr = "127.0.0.1:8080"

// runDemo starts the TIP simulator in-process with freshly generated
// credentials, and tipgate against it on the embedded defaults (in-memory
// store unless TIPGATE_REDIS_URL is set), then prints an API key and curl
// lines that work as printed. It runs until ctx ends. It lives here, where
// the binary is wired, so that the gateway's own packages do not carry the
// simulator.
func runDemo(ctx context.Context, out io.Writer, getenv func(string) string, logger *slog.Logger) error {
	dir, err := os.MkdirTemp("", "tipgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	creds, err := tipsim.NewCredentials(365 * 24 * time.Hour)
	if err != nil {
		return fmt.Errorf("generate simulator credentials: %w", err)
	}
	files, err := creds.WriteFiles(dir)
	if err != nil {
		return fmt.Errorf("write simulator credentials: %w", err)
	}
	sim := tipsim.New(tipsim.Options{Credentials: creds, RequireClientCert: true, Logger: logger.With("component", "tipsim")})
	simSrv, err := tipsim.Listen("127.0.0.1:0", sim)
	if err != nil {
		return fmt.Errorf("start the TIP simulator: %w", err)
	}
	defer simSrv.Close()

	key, err := apikey.Generate()
	if err != nil {
		return err
	}
	keysFile := filepath.Join(dir, "keys.json")
	keysJSON := apikey.MarshalFile([]apikey.FileEntry{{Name: "demo", Key: key, Roles: []string{"lookup", "refresh", "admin"}}})
	if err := os.WriteFile(keysFile, keysJSON, 0o600); err != nil {
		return err
	}

	demoEnv := map[string]string{
		"TIPGATE_ADDR":             demoAddr,
		"TIPGATE_TIP_URL":          simSrv.URL(),
		"TIPGATE_TIP_CA_FILE":      files.CA,
		"TIPGATE_TIP_PFX_FILE":     files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     creds.Username,
		"TIPGATE_TIP_PASSWORD":     creds.Password,
		"TIPGATE_API_KEYS_FILE":    keysFile,
	}
	env := func(name string) string {
		// The operator's own TIPGATE_ADDR, TIPGATE_REDIS_URL, TTLs and the
		// like apply; the TIP account and keys are the demo's.
		if v, ok := demoEnv[name]; ok && (name != "TIPGATE_ADDR" || getenv(name) == "") {
			return v
		}
		if strings.HasPrefix(name, "TIPGATE_TIP_") || strings.HasPrefix(name, "TIPGATE_API_KEYS") || name == "TIPGATE_AUTH" {
			return ""
		}
		return getenv(name)
	}
	cfg, err := config.Load(env, os.ReadFile)
	if err != nil {
		return err
	}
	a, err := app.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		_ = a.Stop(context.Background())
		return err
	}
	store := "in memory (set TIPGATE_REDIS_URL to use Redis)"
	if a.StoreName() != "memory" {
		store = a.StoreName() + " (TIPGATE_REDIS_URL)"
	}
	printDemo(out, "http://"+dialable(a.Addr()), key, simSrv.URL(), store)
	return a.Serve(ctx)
}

func printDemo(out io.Writer, base, key, simURL, store string) {
	fmt.Fprintf(out, `
tipgate demo is running on %[1]s
  TIP simulator: %[3]s (mTLS, generated CA, client PFX and password)
  store:         %[4]s
  API key (roles lookup, refresh, admin): %[2]s

Try:
  curl -s -H 'Authorization: Bearer %[2]s' '%[1]s/v1/lookup?indicator=tetegrams.org'
  curl -s -H 'X-API-Key: %[2]s' '%[1]s/v1/lookup?indicator=3935AAE80FAF8D03781C2D611A4E183F&sections=FileGeneralInfo,DetectionsInfo&limit=5'
  curl -s -X POST -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' -d '{"indicator":"hxxp://gsocket[.]io/x"}' '%[1]s/v1/refresh'

Run the first line twice: the second answer says "cache": "hit" with the same received_at.

The analyst's console: open %[1]s/ui/?indicator=tetegrams.org in a browser and paste the key once.
Press Ctrl-C to stop.

`, base, key, simURL, store)
}

// dialable turns a wildcard listen address into one a curl line can reach.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
