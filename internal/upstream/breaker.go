package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/promreg"
	"github.com/tipgate/tipgate/internal/tip"
)

// BreakerOptions configures a Breaker. Zero values take the defaults.
type BreakerOptions struct {
	// TripAfter is how many logical fetches in a row (each after its
	// retries) must fail transiently to open the breaker (default 5).
	TripAfter int
	// OpenFor is how long it stays open before letting one probe through
	// (default 30s).
	OpenFor time.Duration
}

// Breaker stops asking TIP for a while once TIP has failed repeatedly, so
// that callers are answered at once (stale data, or a 503 with Retry-After)
// instead of each waiting out timeouts and retries against a dead upstream.
// After OpenFor it lets one probe through (half-open): success closes it,
// failure opens it again.
//
// Trip rule: TripAfter consecutive transient failures. A run of failures
// with no success between them is what "TIP is down" looks like; a failure
// ratio over a window would also trip on a TIP that answers half the time,
// where answering half the callers is better than refusing them all (retry
// already smooths occasional failures). Only transient failures of a
// request actually made count (429, 5xx, timeouts, connection and TLS
// failures). Answers that prove TIP reachable (200, 404, 401, 403) are
// successes: a credentials problem is not fixed by not asking. A 400 is the
// caller's input, and refusals by tipgate's own layers (budget), waits for a
// request slot and the caller's cancellation say nothing about TIP; those
// count neither way.
//
// The state lives in gobreaker, which reads the wall clock; so does the
// Retry-After of an open breaker, from the same clock.
type Breaker struct {
	inner   Fetcher
	log     *slog.Logger
	openFor time.Duration
	cb      *gobreaker.CircuitBreaker[*tip.Result]

	mu       sync.Mutex
	openedAt time.Time
}

// NewBreaker wraps inner and registers the tipgate_tip_breaker_state gauge
// with reg.
func NewBreaker(inner Fetcher, reg prometheus.Registerer, log *slog.Logger, o BreakerOptions) (*Breaker, error) {
	if inner == nil || reg == nil || log == nil {
		return nil, errors.New("upstream: NewBreaker needs an inner Fetcher, a Registerer and a Logger")
	}
	if o.TripAfter < 0 || o.OpenFor < 0 {
		return nil, errors.New("upstream: breaker TripAfter and OpenFor must not be negative")
	}
	b := &Breaker{inner: inner, log: log, openFor: orDefault(o.OpenFor, 30*time.Second)}
	tripAfter := uint32(orDefault(o.TripAfter, 5))
	b.cb = gobreaker.NewCircuitBreaker[*tip.Result](gobreaker.Settings{
		Name:        "tip",
		MaxRequests: 1, // one probe in half-open
		Timeout:     b.openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= tripAfter
		},
		IsSuccessful:  func(err error) bool { return !transientFailure(err) },
		IsExcluded:    excluded,
		OnStateChange: b.changed,
	})
	// A GaugeFunc reads the state at each scrape, which also moves an open
	// breaker whose time is up to half-open: the metric is never stale.
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tipgate_tip_breaker_state",
		Help: "State of the circuit breaker in front of TIP: 0 closed, 1 half-open (probing), 2 open (TIP is not asked).",
	}, func() float64 {
		switch b.cb.State() {
		case gobreaker.StateHalfOpen:
			return 1
		case gobreaker.StateOpen:
			return 2
		}
		return 0
	})
	if err := promreg.All(reg, gauge); err != nil {
		return nil, err
	}
	return b, nil
}

// excluded reports errors that count neither as a success nor as a failure:
// they say nothing about TIP. Errors that are not a *tip.Error are the
// caller's cancellation or deadline reached before a request was made.
func excluded(err error) bool {
	if err == nil {
		return false
	}
	var te *tip.Error
	if !errors.As(err, &te) {
		return true
	}
	return te.Refused || te.Kind == tip.KindBadRequest || errors.Is(err, errQueueWait)
}

// changed is gobreaker's state-change hook: it runs once per change, so
// each change is logged exactly once.
func (b *Breaker) changed(_ string, from, to gobreaker.State) {
	switch to {
	case gobreaker.StateOpen:
		b.mu.Lock()
		b.openedAt = time.Now()
		b.mu.Unlock()
		b.log.Warn("TIP failed repeatedly; not asking it for a while (circuit breaker open)", "from", from.String(), "open_for", b.openFor)
	case gobreaker.StateHalfOpen:
		b.log.Info("letting one probe request through to TIP (circuit breaker half-open)")
	case gobreaker.StateClosed:
		b.log.Info("TIP answered the probe; asking it again (circuit breaker closed)")
	}
}

// Lookup asks inner unless the breaker is open, in which case it answers at
// once with a Refused tip-unavailable error and makes no request.
func (b *Breaker) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	res, err := b.cb.Execute(func() (*tip.Result, error) {
		return b.inner.Lookup(ctx, ind, sections, count)
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		wait := b.remaining()
		return nil, &tip.Error{
			Kind:       tip.KindUnavailable,
			Refused:    true,
			RetryAfter: wait,
			Detail: fmt.Sprintf("TIP failed repeatedly; tipgate stopped asking it for a while (circuit breaker open) "+
				"and will try again in %s", wait),
		}
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		return nil, &tip.Error{
			Kind:       tip.KindUnavailable,
			Refused:    true,
			RetryAfter: time.Second,
			Detail: "TIP failed repeatedly; tipgate is sending one probe request to see whether it answers again " +
				"(circuit breaker half-open) and asks nothing else until then",
		}
	}
	return res, err
}

// remaining is how long the breaker stays open, rounded up to whole
// seconds (as a Retry-After header carries it, and so that a caller obeying
// it is not refused again) and at least one.
func (b *Breaker) remaining() time.Duration {
	b.mu.Lock()
	left := b.openFor - time.Since(b.openedAt)
	b.mu.Unlock()
	return ceilSeconds(left)
}

// ceilSeconds rounds d up to whole seconds, at least one.
func ceilSeconds(d time.Duration) time.Duration {
	return max((d+time.Second-1)/time.Second*time.Second, time.Second)
}

// State is "closed", "open" or "half-open", for /v1/status.
func (b *Breaker) State() string { return b.cb.State().String() }
