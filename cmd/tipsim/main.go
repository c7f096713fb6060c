// Command tipsim runs the TIP Threat Lookup simulator (internal/tipsim) as a
// process: an mTLS lookup API with fresh credentials, and a plain-HTTP admin
// API for counting requests and injecting faults. It prints the TIPGATE_*
// settings that point tipgate at it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tipgate/tipgate/internal/tipsim"
)

// shutdownTimeout bounds the drain of lookups in flight on SIGINT/SIGTERM.
const shutdownTimeout = 5 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tipsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "HTTPS listen address of the lookup API")
	admin := fs.String("admin", "127.0.0.1:8444", "plain-HTTP listen address of the admin API (empty: none)")
	credDir := fs.String("credentials", "", "directory to write the generated credentials to (default: a new temporary directory)")
	token := fs.String("token", "", "accept this Bearer token as well as Basic with a client certificate")
	useBearer := fs.Bool("bearer", false, "accept the generated token (secrets.env) as a Bearer token")
	quota := fs.Int("quota", tipsim.DefaultDayQuota, "lookups per UTC day before TIP answers 403")
	latency := fs.Duration("latency", 0, "delay added to every lookup, e.g. 150ms")
	verbose := fs.Bool("v", false, "log every lookup")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	creds, err := tipsim.NewCredentials(90 * 24 * time.Hour)
	if err != nil {
		fmt.Fprintf(stderr, "tipsim: generate credentials: %v\n", err)
		return 1
	}
	if *token != "" {
		creds.Token = *token
	}
	bearer := *useBearer || *token != ""
	dir := *credDir
	if dir == "" {
		dir, err = os.MkdirTemp("", "tipsim-")
	} else {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tipsim: credentials directory: %v\n", err)
		return 1
	}
	files, err := creds.WriteFiles(dir)
	if err != nil {
		fmt.Fprintf(stderr, "tipsim: write credentials to %s: %v\n", dir, err)
		return 1
	}

	opts := tipsim.Options{
		Credentials:       creds,
		RequireClientCert: !bearer, // classic TIP refuses connections without a certificate
		DayQuota:          *quota,
		Latency:           *latency,
		Logger:            logger,
	}
	if bearer {
		opts.Token = creds.Token
	}
	sim := tipsim.New(opts)
	srv, err := tipsim.Listen(*addr, sim)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var adminSrv *http.Server
	if *admin != "" {
		ln, err := net.Listen("tcp", *admin)
		if err != nil {
			fmt.Fprintf(stderr, "tipsim: admin API: %v\n", err)
			_ = srv.Close()
			return 1
		}
		adminSrv = &http.Server{Handler: tipsim.AdminHandler(sim), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("admin API stopped", "err", err)
			}
		}()
	}

	for _, a := range []string{*addr, *admin} {
		if a != "" && !loopback(a) {
			fmt.Fprintf(stderr, "tipsim: warning: %s is not a loopback address; the simulator is for local testing\n", a)
		}
	}
	printSetup(stdout, srv.URL(), *admin, files, creds, bearer)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if adminSrv != nil {
		err = errors.Join(err, adminSrv.Shutdown(shutdownCtx))
	}
	if err != nil {
		fmt.Fprintf(stderr, "tipsim: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// printSetup tells the user where everything is and how to point tipgate at
// the simulator.
func printSetup(w io.Writer, url, admin string, files tipsim.Files, c *tipsim.Credentials, bearer bool) {
	fmt.Fprintf(w, "tipsim: TIP simulator listening on %s\n", url)
	if admin != "" {
		fmt.Fprintf(w, "tipsim: admin API on http://%s (GET /requests, POST|DELETE /faults, POST /reset)\n", admin)
	}
	fmt.Fprintf(w, "tipsim: credentials: CA %s, client PFX %s, secrets %s\n\n", files.CA, files.ClientPFX, files.Secrets)
	fmt.Fprintln(w, "# Point tipgate at the simulator:")
	for _, kv := range [][2]string{
		{"TIPGATE_TIP_URL", url},
		{"TIPGATE_TIP_CA_FILE", files.CA},
		{"TIPGATE_TIP_PFX_FILE", files.ClientPFX},
		{"TIPGATE_TIP_PFX_PASSWORD", c.PFXPassword},
		{"TIPGATE_TIP_USERNAME", c.Username},
		{"TIPGATE_TIP_PASSWORD", c.Password},
	} {
		fmt.Fprintf(w, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if bearer {
		fmt.Fprintln(w, "# or, instead of the PFX, username and password:")
		fmt.Fprintf(w, "# export TIPGATE_TIP_TOKEN=%s\n", shellQuote(c.Token))
	}
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
