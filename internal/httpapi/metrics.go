package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/promreg"
)

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	lookupResults *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	requests, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status code.",
	}, []string{"route", "method", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := promreg.Shared(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tipgate_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route pattern.",
		// Cache hits take well under a millisecond and TIP misses seconds,
		// so the buckets span both.
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route"}))
	if err != nil {
		return nil, err
	}
	lookupResults, err := promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tipgate_lookup_results_total",
		Help: "Successful lookups and refreshes, by indicator type and cache outcome (hit, miss, partial, refreshed, stale).",
	}, []string{"type", "cache"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration, lookupResults: lookupResults}, nil
}

func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	if standardMethod(m) {
		return m
	}
	return "OTHER"
}
