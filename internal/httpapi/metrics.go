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
	// The handles of the series already used, so that a request finds
	// its counters and histogram with one map read instead of formatting
	// the code and hashing the labels in the vectors.
	requestHandles *handles[requestSeries, requestHandles]
	resultHandles  *handles[resultSeries, prometheus.Counter]
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

// resultSeries names one series of the lookup results.
type resultSeries struct{ typ, cache string }

// handles caches the handles of metric series by their labels. The map is
// never changed once published: a new series copies it, under mu.
type handles[K comparable, V any] struct {
	m    atomic.Pointer[map[K]V]
	mu   sync.Mutex
	make func(K) V
}

// maxHandles bounds a handle cache. Routes, methods, codes, types and cache
// states are few, so the bound is never reached in practice; past it a
// request takes the vectors' own way, which is only slower.
const maxHandles = 1024

func newHandles[K comparable, V any](make func(K) V) *handles[K, V] {
	h := &handles[K, V]{make: make}
	h.m.Store(&map[K]V{})
	return h
}

// get is the handle of series k, made the first time it is asked for.
func (h *handles[K, V]) get(k K) V {
	if v, ok := (*h.m.Load())[k]; ok {
		return v
	}
	v := h.make(k)
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.m.Load()
	if _, ok := old[k]; ok || len(old) >= maxHandles {
		return v
	}
	next := make(map[K]V, len(old)+1)
	maps.Copy(next, old)
	next[k] = v
	h.m.Store(&next)
	return v
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
	m := &metrics{}
	m.requestHandles = newHandles(func(k requestSeries) requestHandles {
		return requestHandles{
			requests: requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.code)),
			duration: duration.WithLabelValues(k.route),
		}
	})
	m.resultHandles = newHandles(func(k resultSeries) prometheus.Counter {
		return lookupResults.WithLabelValues(k.typ, k.cache)
	})
	return m, nil
}

func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	h := m.requestHandles.get(requestSeries{route: route, method: methodLabel(method), code: status})
	h.requests.Inc()
	h.duration.Observe(elapsed.Seconds())
}

// countResult counts one answered lookup of an indicator type.
func (m *metrics) countResult(typ, cache string) {
	m.resultHandles.get(resultSeries{typ: typ, cache: cache}).Inc()
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	if standardMethod(m) {
		return m
	}
	return "OTHER"
}
