package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tipgate/tipgate/internal/app"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/tip"
)

// checkTIP is `tipgate check-tip`: configured from the environment as serve
// is, it builds the gateway (store and budget included: the probe is a TIP
// request and is counted like any other), sends the probe once, prints
// what it proved, and exits 0 when TIP accepted, 1 otherwise.
func checkTIP(ctx context.Context, stdout, stderr io.Writer) int {
	cfg, err := config.Load(os.Getenv, os.ReadFile)
	if err != nil {
		fmt.Fprintf(stderr, "tipgate: the configuration has problems:\n%v\n", err)
		return 1
	}
	// The report is the output; the log only carries what goes wrong
	// around it.
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "tipgate: %v\n", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(sctx)
	}()
	r := a.CheckTIP(ctx)
	printProbe(stdout, cfg, r)
	if r.Verdict != tip.ProbeAccepted {
		return 1
	}
	return 0
}

// printProbe writes the report in plain words, one step a line.
func printProbe(w io.Writer, cfg *config.Config, r tip.ProbeReport) {
	fmt.Fprintf(w, "TIP at %s, asked about the EICAR test file (%s)\n\n", cfg.TIPURL, tip.ProbeHash)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "  %s:\t%s\n", c.Name, checkWords(c))
	}
	if l := r.License; l != nil {
		access := l.AccessType
		if access == "" {
			access = "(not stated)"
		}
		fmt.Fprintf(tw, "  licence type:\t%s\n", access)
		fmt.Fprintf(tw, "  requests today:\t%d of %d (DayRequests/DayQuota)\n", l.DayRequests, l.DayQuota)
		expiry := "none reported (certificate mode)"
		if l.TokenExpirationDate != nil {
			expiry = l.TokenExpirationDate.UTC().Format(time.RFC3339)
			if left := time.Until(*l.TokenExpirationDate); left < 30*24*time.Hour {
				expiry += fmt.Sprintf(" (in %d days: ask for a new token)", max(int(left.Hours()/24), 0))
			}
		}
		fmt.Fprintf(tw, "  token expiry:\t%s\n", expiry)
	}
	if r.Status != 0 {
		fmt.Fprintf(tw, "  TIP answered:\tHTTP %d\n", r.Status)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	switch r.Verdict {
	case tip.ProbeAccepted:
		fmt.Fprintln(w, "OK: "+r.Detail)
	case tip.ProbeMisconfigured:
		fmt.Fprintln(w, "MISCONFIGURED: "+r.Detail)
	default:
		fmt.Fprintln(w, "NO ANSWER: "+r.Detail)
	}
}

func checkWords(c tip.Check) string {
	switch c.State {
	case tip.CheckOK:
		switch c.Name {
		case tip.CheckTLS:
			return "ok"
		case tip.CheckServerCertificate:
			return "verified"
		case tip.CheckLookupAPI:
			return "ok (TIP knows the EICAR file)"
		}
		return "accepted"
	case tip.CheckFailed:
		switch c.Name {
		case tip.CheckTLS:
			return "FAILED"
		case tip.CheckServerCertificate:
			return "NOT VERIFIED"
		case tip.CheckLookupAPI:
			return "FAILED"
		}
		return "REJECTED"
	case tip.CheckSkipped:
		return "not used"
	}
	return "not reached"
}

// reloadOnSIGHUP makes SIGHUP reload TIP credentials and API keys, and
// keeps it from ending the process (its default). It stops with ctx.
func reloadOnSIGHUP(ctx context.Context, a *app.App) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = a.Reload("SIGHUP") // the App logs the outcome
			}
		}
	}()
}
