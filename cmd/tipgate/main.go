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
  check-config   validate the TIPGATE_* configuration as serve does (keys file and
                 TIP client included, nothing started) and exit
  check-tip      ask TIP about the EICAR test file as serve would, report URL, certificates,
                 credentials, licence and quota in plain words; exit 0 when TIP accepted
  gen-key        print a new API key and the line for TIPGATE_API_KEYS_FILE
  hash-key KEY   print the sha256 of KEY for TIPGATE_API_KEYS_FILE
  version        print the version

Every command takes -h. serve, check-config and demo are configured by the
TIPGATE_* variables alone (README.md lists them).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd, rest := "serve", []string(nil)
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	// A subcommand asked for help prints it and does nothing else: help
	// must never start a server.
	for _, a := range rest {
		switch a {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve", "demo", "check-config":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "tipgate %s: unexpected argument %q; it is configured by TIPGATE_* variables\n\n%s", cmd, args[1], usage)
			return 2
		}
	case "check-tip":
		return checkTIP(ctx, stdout, stderr)
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
		if err := runDemo(ctx, stdout, os.Getenv, logger); err != nil {
			fmt.Fprintf(stderr, "tipgate demo: %v\n", err)
			return 1
		}
		return 0
	}

	cfg, err := config.Load(os.Getenv, os.ReadFile)
	if err != nil {
		reportRefusal(stderr, err)
		return 1
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	cache.RouteRedisLogs(logger)
	if cmd == "check-config" {
		// Exactly what serve checks: the components are built, and
		// nothing is started.
		if err := app.Check(cfg, logger); err != nil {
			reportRefusal(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "configuration OK")
		return 0
	}
	logger.Info("configuration loaded", "config", cfg)
	if unknown := config.UnknownVariables(os.Environ()); len(unknown) > 0 {
		logger.Warn("ignoring unknown TIPGATE_ variables; check their spelling", "variables", unknown)
	}
	a, err := app.New(cfg, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		reportRefusal(stderr, err)
		return 1
	}
	// Process-wide, so here rather than in app.New: serve is the only
	// process this binary sizes (the demo, which tests run in-process,
	// keeps Go's defaults).
	app.LimitMemory(cfg, logger)
	// SIGHUP, or a changed credentials or keys file, reloads them.
	a.WatchSource(config.Source{Getenv: os.Getenv, ReadFile: os.ReadFile})
	reloadOnSIGHUP(ctx, a)
	// A drain cut short at TIPGATE_SHUTDOWN_TIMEOUT answers what is left
	// with 503 and is still a clean stop.
	if err := a.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// reportRefusal prints why tipgate will not run: the configuration's
// problems, one per line, each naming its variable, or another error.
func reportRefusal(stderr io.Writer, err error) {
	var ps *config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintf(stderr, "tipgate: the configuration has problems:\n%v\n", err)
		return
	}
	fmt.Fprintf(stderr, "tipgate: %v\n", err)
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
