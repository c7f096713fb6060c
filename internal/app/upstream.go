package app

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/upstream"
)

// Retry policy of the upstream path. Three attempts ride out a blip without
// holding a caller for long; the cap keeps one backoff shorter than a
// typical SIEM enrichment timeout.
const (
	tipAttempts   = 3
	tipBackoff    = 200 * time.Millisecond
	tipBackoffCap = 5 * time.Second
	// maxFetchTimeout bounds a shared fetch whatever TIPGATE_TIP_TIMEOUT says.
	maxFetchTimeout = 10 * time.Minute
)

// upstreamPath is the chain of layers between the lookup policy and TIP,
// and the handles that status reports read.
type upstreamPath struct {
	head upstream.Fetcher
	// probe is where the start-up probe enters: below the breaker and
	// retry (see prober).
	probe upstream.Fetcher
	// swap holds the TIP client, which a reload replaces.
	swap    *upstream.Swap[*tip.Client]
	observe *upstream.Observe
	breaker *upstream.Breaker
	limit   *upstream.Limit
	budget  *upstream.Budget
}

// buildUpstream wraps the TIP client, innermost first, in the order of
// internal/upstream's package doc:
//
//	breaker -> retry -> pace -> limit -> budget -> observe -> swap -> *tip.Client
//
// The breaker judges a whole fetch after its retries and, once open, costs
// nothing; retries and TIP's Retry-After are waited out outside the
// concurrency slots; the budget counts only requests about to be sent,
// each retry included; observe sees every real exchange with TIP and
// nothing tipgate refused; swap lets a reload replace the client.
func buildUpstream(cfg *config.Config, client *tip.Client, counter upstream.DayCounter, keyNames []string, reg prometheus.Registerer, logger *slog.Logger) (*upstreamPath, error) {
	log := logger.With("component", "tip")
	var (
		p   upstreamPath
		err error
	)
	p.swap = upstream.NewSwap(client)
	if p.observe, err = upstream.NewObserve(p.swap, reg, log, upstream.ObserveOptions{}); err != nil {
		return nil, err
	}
	if p.budget, err = upstream.NewBudget(p.observe, counter, reg, log, upstream.BudgetOptions{
		DailyBudget: cfg.TIPDailyBudget,
		Quota:       p.observe.License,
		Keys:        keyNames,
	}); err != nil {
		return nil, err
	}
	if p.limit, err = upstream.NewLimit(p.budget, reg, log, upstream.LimitOptions{Concurrency: cfg.TIPConcurrency}); err != nil {
		return nil, err
	}
	pace, err := upstream.NewPace(p.limit, reg, log, upstream.PaceOptions{MaxWait: tipBackoffCap})
	if err != nil {
		return nil, err
	}
	p.probe = pace
	retry, err := upstream.NewRetry(pace, reg, log, upstream.RetryOptions{Attempts: tipAttempts, Base: tipBackoff, Cap: tipBackoffCap})
	if err != nil {
		return nil, err
	}
	if p.breaker, err = upstream.NewBreaker(retry, reg, log, upstream.BreakerOptions{}); err != nil {
		return nil, err
	}
	p.head = p.breaker
	return &p, nil
}

// fetchTimeout is a shared fetch's own deadline: every attempt at the TIP
// timeout and the backoffs between them, bounded.
func fetchTimeout(cfg *config.Config) time.Duration {
	d := time.Duration(tipAttempts)*cfg.TIPTimeout + time.Duration(tipAttempts-1)*tipBackoffCap
	return min(d, maxFetchTimeout)
}
