// Command tipgate is the caching gateway between security tools and the
// Kaspersky Threat Intelligence Portal. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/app"
	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/config"
)

const usage = `usage: tipgate [command]

commands:
  serve          run the gateway, configured by TIPGATE_* variables (the default)
  demo           run the gateway against a built-in TIP simulator with generated credentials
  check-config   validate the TIPGATE_* configuration and exit
  gen-key        print a new API key and the line for TIPGATE_API_KEYS_FILE
  hash-key KEY   print the sha256 of KEY for TIPGATE_API_KEYS_FILE
  version        print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve", "demo", "check-config":
	case "gen-key":
		key, err := apikey.Generate()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "key:    %s\nkeys file entry: {\"name\": \"NAME\", \"sha256\": %q, \"roles\": [\"lookup\"]}\n", key, apikey.Hash(key))
		return 0
	case "hash-key":
		if len(args) != 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		fmt.Fprintln(stdout, apikey.Hash(args[1]))
		return 0
	case "version":
		fmt.Fprintln(stdout, app.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tipgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}

	if cmd == "demo" {
		logger := newLogger(stderr, os.Getenv("TIPGATE_LOG_LEVEL"))
		cache.RouteRedisLogs(logger)
		if err := app.RunDemo(ctx, stdout, os.Getenv, logger); err != nil {
			fmt.Fprintf(stderr, "tipgate demo: %v\n", err)
			return 1
		}
		return 0
	}

	cfg, err := config.Load(os.Getenv, os.ReadFile)
	if err != nil {
		fmt.Fprintf(stderr, "tipgate: the configuration has problems:\n%v\n", err)
		return 1
	}
	if cmd == "check-config" {
		fmt.Fprintln(stdout, "configuration OK")
		return 0
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	cache.RouteRedisLogs(logger)
	logger.Info("configuration loaded", "config", cfg)
	if unknown := config.UnknownVariables(os.Environ()); len(unknown) > 0 {
		logger.Warn("ignoring unknown TIPGATE_ variables; check their spelling", "variables", unknown)
	}
	a, err := app.New(cfg, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		fmt.Fprintf(stderr, "tipgate: %v\n", err)
		return 1
	}
	if err := a.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// newLogger is for the demo, before any configuration is read: an unknown
// level falls back to info.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
