package upstream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/promreg"
	"github.com/tipgate/tipgate/internal/tip"
)

// Health is how TIP answered lately, for operators.
type Health struct {
	LastSuccess time.Time // TIP's last usable answer (200 or 404)
	LastFailure time.Time // TIP's last failed exchange
	LastError   string    // what went wrong then, a sentence without secrets
}

// ObserveOptions configures an Observe.
type ObserveOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Observe records every exchange with TIP: request metrics, TIP's health,
// and the quota TIP last reported in LicenseInfo (which Budget reads). It
// sits next to the client so that it sees each real request, retries
// included, and none that tipgate refused.
type Observe struct {
	inner Fetcher
	log   *slog.Logger
	now   func() time.Time

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	dayRequests prometheus.Gauge
	dayQuota    prometheus.Gauge

	mu        sync.Mutex
	health    Health
	failing   bool // the last exchange that said anything about TIP failed
	license   *tip.License
	licenseAt time.Time
}

// NewObserve wraps inner (the *tip.Client) and registers its metrics with reg.
func NewObserve(inner Fetcher, reg prometheus.Registerer, log *slog.Logger, o ObserveOptions) (*Observe, error) {
	if inner == nil || reg == nil || log == nil {
		return nil, errors.New("upstream: NewObserve needs an inner Fetcher, a Registerer and a Logger")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ob := &Observe{
		inner: inner,
		log:   log,
		now:   o.Now,
		// The names, labels and help are those lookup used before the
		// layers existed, so dashboards keep working.
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_tip_requests_total",
			Help: "TIP lookup requests by indicator type and outcome (ok, not_found, or the error kind).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tipgate_tip_request_duration_seconds",
			Help:    "Time TIP took to answer a lookup request.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"type"}),
		dayRequests: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_tip_quota_day_requests",
			Help: "TIP requests made today, as TIP last reported in LicenseInfo.",
		}),
		dayQuota: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_tip_quota_day_limit",
			Help: "TIP daily request quota, as TIP last reported in LicenseInfo.",
		}),
	}
	if err := promreg.All(reg, ob.requests, ob.duration, ob.dayRequests, ob.dayQuota); err != nil {
		return nil, err
	}
	return ob, nil
}

// Lookup asks inner and records the exchange.
func (ob *Observe) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	start := ob.now()
	res, err := ob.inner.Lookup(ctx, ind, sections, count)
	end := ob.now()

	outcome := "ok"
	var te *tip.Error
	switch {
	case errors.As(err, &te):
		outcome = string(te.Kind)
	case callerGone(err):
		outcome = "canceled"
	case err != nil:
		outcome = "error"
	case !res.Found:
		outcome = "not_found"
	}
	ob.requests.WithLabelValues(string(ind.Type), outcome).Inc()
	ob.duration.WithLabelValues(string(ind.Type)).Observe(end.Sub(start).Seconds())

	ob.recordHealth(ctx, err, end.UTC())
	if err == nil && res.License != nil {
		at := res.ReceivedAt
		if at.IsZero() {
			at = end
		}
		ob.recordLicense(res.License, at.UTC())
	}
	return res, err
}

// recordHealth notes a success or failure, and logs only when TIP goes from
// answering to failing or back, never once per request: a dead TIP under
// load would otherwise write a line per lookup.
func (ob *Observe) recordHealth(ctx context.Context, err error, now time.Time) {
	var te *tip.Error
	switch {
	case callerGone(err):
		// The caller left; TIP may have been about to answer.
		return
	case errors.As(err, &te) && te.Kind == tip.KindBadRequest:
		// The caller's input was wrong; TIP answered, but not usably.
		return
	}
	ob.mu.Lock()
	was := ob.failing
	if err == nil {
		ob.health.LastSuccess = now
		ob.failing = false
	} else {
		ob.health.LastFailure = now
		ob.health.LastError = err.Error()
		ob.failing = true
	}
	ob.mu.Unlock()
	switch {
	case err != nil && !was:
		ob.log.WarnContext(ctx, "TIP lookups are failing; logged again only once TIP answers", "err", err)
	case err == nil && was:
		ob.log.InfoContext(ctx, "TIP answers again")
	}
}

func (ob *Observe) recordLicense(l *tip.License, at time.Time) {
	c := *l
	ob.mu.Lock()
	ob.license, ob.licenseAt = &c, at
	ob.mu.Unlock()
	ob.dayRequests.Set(float64(l.DayRequests))
	ob.dayQuota.Set(float64(l.DayQuota))
}

// Health reports how TIP answered lately.
func (ob *Observe) Health() Health {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return ob.health
}

// License returns TIP's quota as it last reported it in LicenseInfo, and
// when; nil before TIP has sent one. It is Budget's Quota source.
func (ob *Observe) License() (*tip.License, time.Time) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.license == nil {
		return nil, time.Time{}
	}
	c := *ob.license
	return &c, ob.licenseAt
}
