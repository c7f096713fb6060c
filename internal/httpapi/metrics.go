package httpapi

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/promreg"
)

type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	lookupResults *prometheus.CounterVec

	// handles holds the request series already used, so that a request
	// finds its counter and histogram with one map read instead of
	// formatting the code and hashing the labels in the vectors. The map
	// is never changed once published: a new series copies it, under mu.
	handles atomic.Pointer[map[requestSeries]requestHandles]
	mu      sync.Mutex
}

// requestSeries names one series of the request metrics.
type requestSeries struct {
	route, method string
	code          int
}

type requestHandles struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// maxHandles bounds the handle cache. Routes, methods and codes are few,
// so the bound is never reached in practice; past it a request takes the
// vectors' own way, which is only slower.
const maxHandles = 1024

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
	m := &metrics{requests: requests, duration: duration, lookupResults: lookupResults}
	m.handles.Store(&map[requestSeries]requestHandles{})
	return m, nil
}

func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	k := requestSeries{route: route, method: methodLabel(method), code: status}
	h, ok := (*m.handles.Load())[k]
	if !ok {
		h = m.addHandles(k)
	}
	h.requests.Inc()
	h.duration.Observe(elapsed.Seconds())
}

// addHandles makes the handles of a series first seen.
func (m *metrics) addHandles(k requestSeries) requestHandles {
	h := requestHandles{
		requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.code)),
		duration: m.duration.WithLabelValues(k.route),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.handles.Load()
	if _, ok := old[k]; ok || len(old) >= maxHandles {
		return h
	}
	next := make(map[requestSeries]requestHandles, len(old)+1)
	maps.Copy(next, old)
	next[k] = h
	m.handles.Store(&next)
	return h
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	if standardMethod(m) {
		return m
	}
	return "OTHER"
}
