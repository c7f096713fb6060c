package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/promreg"
	"github.com/tipgate/tipgate/internal/tip"
)

// PaceOptions configures a Pace.
type PaceOptions struct {
	// MaxWait is the longest a caller is held for TIP's Retry-After; a
	// longer pause is refused at once so the caller can serve stale data
	// (default 5s, the retry cap).
	MaxWait time.Duration
	// Sleep and Now are the clock; nil means a timer and time.Now.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// Pace honours TIP's rate limit for every caller, not only the one that
// was told: after a 429 with Retry-After, no request is sent to TIP until
// that time has passed. Callers wait for it when it ends within MaxWait and
// their deadline; the others are refused at once (a Refused
// tip-rate-limited error, which serves stale data when there is any)
// instead of each spending a request on a second 429.
type Pace struct {
	inner   Fetcher
	log     *slog.Logger
	maxWait time.Duration
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time
	held    prometheus.Counter

	mu    sync.Mutex
	until time.Time // no request before this
}

// NewPace wraps inner and registers its metric with reg.
func NewPace(inner Fetcher, reg prometheus.Registerer, log *slog.Logger, o PaceOptions) (*Pace, error) {
	if inner == nil || reg == nil || log == nil {
		return nil, errors.New("upstream: NewPace needs an inner Fetcher, a Registerer and a Logger")
	}
	p := &Pace{
		inner:   inner,
		log:     log,
		maxWait: orDefault(o.MaxWait, 5*time.Second),
		sleep:   o.Sleep,
		now:     o.Now,
		held: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_tip_rate_limit_refused_total",
			Help: "Lookups refused without a TIP request because TIP's Retry-After had not passed.",
		}),
	}
	if p.sleep == nil {
		p.sleep = sleep
	}
	if p.now == nil {
		p.now = time.Now
	}
	if err := promreg.All(reg, p.held); err != nil {
		return nil, err
	}
	return p, nil
}

// Lookup waits out TIP's last Retry-After, then asks inner.
func (p *Pace) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	p.mu.Lock()
	wait := p.until.Sub(p.now())
	p.mu.Unlock()
	if wait > 0 {
		dl, ok := ctx.Deadline()
		if wait > p.maxWait || (ok && p.now().Add(wait).After(dl)) {
			p.held.Inc()
			return nil, &tip.Error{
				Kind: tip.KindRateLimited, Refused: true, RetryAfter: ceilSeconds(wait),
				Detail: fmt.Sprintf("TIP asked tipgate to wait before its next request; %s remain", ceilSeconds(wait)),
			}
		}
		if err := p.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("the TIP lookup was abandoned while waiting out TIP's Retry-After: %w", err)
		}
	}
	res, err := p.inner.Lookup(ctx, ind, sections, count)
	var te *tip.Error
	if errors.As(err, &te) && te.Kind == tip.KindRateLimited && !te.Refused && te.RetryAfter > 0 {
		p.mu.Lock()
		if until := p.now().Add(te.RetryAfter); until.After(p.until) {
			p.until = until
		}
		p.mu.Unlock()
	}
	return res, err
}
