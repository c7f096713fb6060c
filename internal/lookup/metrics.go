package lookup

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

type metrics struct {
	upstream         *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	storeErrors      *prometheus.CounterVec
	coalesced        prometheus.Counter
	dayRequests      prometheus.Gauge
	dayQuota         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_tip_requests_total",
			Help: "TIP lookup requests by indicator type and outcome (ok, not_found, or the error kind).",
		}, []string{"type", "outcome"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tipgate_tip_request_duration_seconds",
			Help:    "Time TIP took to answer a lookup request.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"type"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_cache_store_errors_total",
			Help: "Cache store operations that failed; lookups went on without the store.",
		}, []string{"op"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_tip_coalesced_total",
			Help: "Lookups that shared another lookup's TIP request instead of making their own.",
		}),
		dayRequests: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_tip_quota_day_requests",
			Help: "TIP requests made today, as TIP last reported in LicenseInfo.",
		}),
		dayQuota: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tipgate_tip_quota_day_limit",
			Help: "TIP daily request quota, as TIP last reported in LicenseInfo.",
		}),
	}
	for _, c := range []prometheus.Collector{m.upstream, m.upstreamDuration, m.storeErrors, m.coalesced, m.dayRequests, m.dayQuota} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observeUpstream(t indicator.Type, res *tip.Result, err error, took time.Duration) {
	outcome := "ok"
	var te *tip.Error
	switch {
	case errors.As(err, &te):
		outcome = string(te.Kind)
	case err != nil:
		outcome = "error"
	case !res.Found:
		outcome = "not_found"
	}
	m.upstream.WithLabelValues(string(t), outcome).Inc()
	m.upstreamDuration.WithLabelValues(string(t)).Observe(took.Seconds())
}
