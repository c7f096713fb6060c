package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/promreg"
	"github.com/tipgate/tipgate/internal/tip"
)

// RetryOptions configures a Retry. Zero values take the defaults.
type RetryOptions struct {
	// Attempts is the most requests one lookup makes, the first included
	// (default 3). Every one of them spends quota.
	Attempts int
	// Base and Cap shape the backoff: the wait before retry n (from 0) is
	// random in [0, min(Cap, Base·2ⁿ)] ("full jitter", so that callers
	// failed together do not come back together). Defaults 200ms and 5s.
	Base, Cap time.Duration
	// Sleep waits d or until ctx is done (then returning ctx's error); nil
	// means a timer. Tests inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1); nil means math/rand/v2.
	Rand func() float64
	// Now is the clock the caller's deadline is compared with; nil means
	// time.Now.
	Now func() time.Time
}

// Retry repeats a lookup that failed transiently (429, 5xx, timeout,
// connection or TLS failure) with capped exponential backoff and full
// jitter. A Retry-After from TIP is a lower bound for the next wait. It
// never sleeps past the caller's deadline: when the next wait would end
// after it, the last error is returned at once, while the caller can still
// use it (to serve stale data). Other failures (400, 401, 403), 404s,
// refusals by tipgate's own layers and the caller's cancellation are
// returned as they are.
//
// It is hand-written rather than built on cenkalti/backoff/v5, whose Retry
// replaces the backoff by Retry-After instead of taking the larger of the
// two, jitters around the interval rather than over [0, interval], waits
// into the deadline and then returns the context's error instead of TIP's,
// and cannot take an injected sleep, so its tests would sleep for real.
type Retry struct {
	inner      Fetcher
	log        *slog.Logger
	attempts   int
	base, ceil time.Duration
	sleep      func(context.Context, time.Duration) error
	rand       func() float64
	now        func() time.Time
	retries    *prometheus.CounterVec
}

// NewRetry wraps inner and registers its metric with reg.
func NewRetry(inner Fetcher, reg prometheus.Registerer, log *slog.Logger, o RetryOptions) (*Retry, error) {
	if inner == nil || reg == nil || log == nil {
		return nil, errors.New("upstream: NewRetry needs an inner Fetcher, a Registerer and a Logger")
	}
	if o.Attempts < 0 || o.Base < 0 || o.Cap < 0 {
		return nil, errors.New("upstream: retry Attempts, Base and Cap must not be negative")
	}
	r := &Retry{
		inner:    inner,
		log:      log,
		attempts: orDefault(o.Attempts, 3),
		base:     orDefault(o.Base, 200*time.Millisecond),
		ceil:     orDefault(o.Cap, 5*time.Second),
		sleep:    o.Sleep,
		rand:     o.Rand,
		now:      o.Now,
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_tip_retries_total",
			Help: "TIP requests repeated after a transient failure, by the kind of that failure.",
		}, []string{"kind"}),
	}
	if r.sleep == nil {
		r.sleep = sleep
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	if r.now == nil {
		r.now = time.Now
	}
	if err := promreg.All(reg, r.retries); err != nil {
		return nil, err
	}
	return r, nil
}

// Lookup asks inner, again after a transient failure, at most Attempts
// times in all.
func (r *Retry) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := r.inner.Lookup(ctx, ind, sections, count)
		if err == nil || !transientFailure(err) || ctx.Err() != nil || attempt >= r.attempts {
			return res, tried(err, attempt)
		}
		wait, ok := r.wait(attempt-1, err)
		if !ok || r.pastDeadline(ctx, wait) {
			return res, tried(err, attempt)
		}
		var te *tip.Error
		errors.As(err, &te)
		r.retries.WithLabelValues(string(te.Kind)).Inc()
		r.log.DebugContext(ctx, "retrying a TIP lookup", "indicator", ind.String(), "attempt", attempt, "wait", wait, "err", err)
		if serr := r.sleep(ctx, wait); serr != nil {
			if errors.Is(serr, context.Canceled) {
				return nil, fmt.Errorf("the TIP lookup was abandoned while waiting to try again because its caller went away: %w", serr)
			}
			return res, tried(err, attempt)
		}
	}
}

// wait is the pause before retry n (from 0) after err. ok is false when TIP
// asked for a longer pause than Cap: tipgate does not hold a caller that
// long, and returning at once lets it serve stale data.
func (r *Retry) wait(n int, err error) (time.Duration, bool) {
	ceiling := r.base
	for i := 0; i < n && ceiling < r.ceil; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, r.ceil)
	wait := time.Duration(r.rand() * float64(ceiling))
	var te *tip.Error
	if errors.As(err, &te) && te.RetryAfter > 0 {
		if te.RetryAfter > r.ceil {
			return 0, false
		}
		wait = max(wait, te.RetryAfter)
	}
	return wait, true
}

// pastDeadline reports whether a wait of d would end after ctx's deadline.
func (r *Retry) pastDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && r.now().Add(d).After(dl)
}

// tried says in a *tip.Error's Detail how many requests were made, so that
// a caller reading "TIP is unavailable" knows it was not one unlucky try.
// The error is copied: inner layers may hand the same one to several
// callers.
func tried(err error, attempts int) error {
	var te *tip.Error
	if attempts < 2 || !transientFailure(err) || !errors.As(err, &te) {
		return err
	}
	c := *te
	c.Detail = fmt.Sprintf("%s (tipgate asked %d times)", te.Detail, attempts)
	return &c
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
