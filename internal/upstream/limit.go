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
	"github.com/tipgate/tipgate/internal/promreg"
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

// bulkKey marks a context as bulk work; see WithBulk.
type bulkKey struct{}

// WithBulk marks ctx as bulk work (a batch's misses): Limit lets bulk
// requests hold at most half of its slots, so that analysts' single lookups
// are not starved behind a playbook's thousand.
func WithBulk(ctx context.Context) context.Context {
	return context.WithValue(ctx, bulkKey{}, true)
}

func isBulk(ctx context.Context) bool {
	b, _ := ctx.Value(bulkKey{}).(bool)
	return b
}

// Limit bounds the TIP requests in flight per process, so that a burst of
// distinct misses cannot open hundreds of connections to TIP at once.
// Callers beyond the bound queue, in arrival order, within their own
// deadline. Bulk requests (WithBulk) may hold at most half of the slots (at
// least one), so the other half is always there for single lookups.
type Limit struct {
	inner    Fetcher
	log      *slog.Logger
	n        int
	sem      *semaphore.Weighted
	bulkN    int
	bulk     *semaphore.Weighted
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
		bulkN: max(n/2, 1),
		bulk:  semaphore.NewWeighted(int64(max(n/2, 1))),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_tip_inflight",
			Help: "TIP requests in flight in this process (at most TIPGATE_TIP_CONCURRENCY).",
		}),
		timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_tip_queue_timeouts_total",
			Help: "Lookups whose deadline passed while they waited for a free TIP request slot.",
		}),
	}
	if err := promreg.All(reg, l.gauge, l.timeouts); err != nil {
		return nil, err
	}
	return l, nil
}

// Lookup waits for a free slot, then asks inner. A bulk request first takes
// one of the bulk share's tokens, then a slot: so bulk requests never hold,
// or queue for, more than half of the slots.
func (l *Limit) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	if isBulk(ctx) {
		if err := l.bulk.Acquire(ctx, 1); err != nil {
			return nil, l.queueError(ctx, ind, l.bulkN, "bulk ", err)
		}
		defer l.bulk.Release(1)
	}
	if err := l.sem.Acquire(ctx, 1); err != nil {
		return nil, l.queueError(ctx, ind, l.n, "", err)
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

// queueError is the error of a caller whose wait for one of n slots ended
// before it got one.
func (l *Limit) queueError(ctx context.Context, ind indicator.Indicator, n int, kind string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("the TIP lookup was abandoned while waiting for a TIP request slot because its caller went away: %w", err)
	}
	l.timeouts.Inc()
	// Debug: under overload this happens per request; the counter is what
	// operators watch.
	l.log.DebugContext(ctx, "a TIP lookup waited for a request slot past its deadline", "indicator", ind.String(), "slots", n, "bulk", kind != "")
	return &tip.Error{
		Kind: tip.KindTimeout,
		Detail: fmt.Sprintf("tipgate waited for one of the %d %sTIP request slots until the deadline, "+
			"but all were taken by slower TIP requests", n, kind),
		Err: fmt.Errorf("%w: %w", errQueueWait, err),
	}
}

// InFlight is how many requests hold a slot now.
func (l *Limit) InFlight() int { return int(l.inFlight.Load()) }
