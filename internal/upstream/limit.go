package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// errQueueWait marks a KindTimeout that Limit raised because the caller's
// deadline passed while it waited for a request slot: no request was made,
// so neither Retry nor Breaker treats it as TIP's failure.
var errQueueWait = errors.New("the deadline passed while waiting for a TIP request slot")

// LimitOptions configures a Limit.
type LimitOptions struct {
	// Concurrency is the most TIP requests in flight at once in this
	// process (TIPGATE_TIP_CONCURRENCY, default 16).
	Concurrency int
}

// Limit bounds the TIP requests in flight per process, so that a burst of
// distinct misses cannot open hundreds of connections to TIP at once.
// Callers beyond the bound queue, in arrival order, within their own
// deadline.
type Limit struct {
	inner    Fetcher
	log      *slog.Logger
	n        int
	sem      *semaphore.Weighted
	inFlight atomic.Int64

	gauge    prometheus.Gauge
	timeouts prometheus.Counter
}

// NewLimit wraps inner and registers its metrics with reg.
func NewLimit(inner Fetcher, reg prometheus.Registerer, log *slog.Logger, o LimitOptions) (*Limit, error) {
	if inner == nil || reg == nil || log == nil {
		return nil, errors.New("upstream: NewLimit needs an inner Fetcher, a Registerer and a Logger")
	}
	if o.Concurrency < 0 {
		return nil, fmt.Errorf("upstream: limit Concurrency must be at least 1, not %d", o.Concurrency)
	}
	n := orDefault(o.Concurrency, 16)
	l := &Limit{
		inner: inner,
		log:   log,
		n:     n,
		sem:   semaphore.NewWeighted(int64(n)),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_tip_inflight",
			Help: "TIP requests in flight in this process (at most TIPGATE_TIP_CONCURRENCY).",
		}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_tip_queue_timeouts_total",
			Help: "Lookups whose deadline passed while they waited for a free TIP request slot.",
		}),
	}
	if err := register(reg, l.gauge, l.timeouts); err != nil {
		return nil, err
	}
	return l, nil
}

// Lookup waits for a free slot, then asks inner.
func (l *Limit) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	if err := l.sem.Acquire(ctx, 1); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("the TIP lookup was abandoned while waiting for a TIP request slot because its caller went away: %w", err)
		}
		l.timeouts.Inc()
		// Debug: under overload this happens per request; the counter is
		// what operators watch.
		l.log.DebugContext(ctx, "a TIP lookup waited for a request slot past its deadline", "indicator", ind.String(), "slots", l.n)
		return nil, &tip.Error{
			Kind: tip.KindTimeout,
			Detail: fmt.Sprintf("tipgate waited for one of the %d TIP request slots until the deadline, "+
				"but all were taken by slower TIP requests", l.n),
			Err: fmt.Errorf("%w: %w", errQueueWait, err),
		}
	}
	l.inFlight.Add(1)
	l.gauge.Inc()
	defer func() {
		l.gauge.Dec()
		l.inFlight.Add(-1)
		l.sem.Release(1)
	}()
	return l.inner.Lookup(ctx, ind, sections, count)
}

// InFlight is how many requests hold a slot now.
func (l *Limit) InFlight() int { return int(l.inFlight.Load()) }
