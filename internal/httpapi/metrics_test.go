package httpapi

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

// series returns every series of the named family as "label=value,…" ->
// value (the sample count for histograms).
func series(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(labels)
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
	e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
	e.do(t, "POST", "/v1/lookup", `{"indicator":"1.2.3.4"}`, bearer(keySIEM), jsonCT)
	e.do(t, "POST", "/v1/refresh", `{"indicator":"1.2.3.4"}`, bearer(keySOAR), jsonCT)
	e.do(t, "GET", "/v1/lookup?indicator=example.com", "")                          // 401
	e.do(t, "GET", "/v1/lookup?indicator=example.com&limit=0", "", bearer(keySIEM)) // 400
	e.do(t, "GET", "/wp-admin/setup.php", "")                                       // unmatched
	e.do(t, "GET", "/wp-login.php", "")                                             // unmatched
	e.do(t, "BREW", "/healthz", "")                                                 // 405, odd method
	e.svc.lookupFn = func(context.Context, lookup.Request) (*lookup.Result, error) {
		return nil, &tip.Error{Kind: tip.KindForbidden}
	}
	e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM)) // 502, not a result

	wantRequests := map[string]float64{
		"code=200,method=GET,route=/v1/lookup":   2,
		"code=200,method=POST,route=/v1/lookup":  1,
		"code=200,method=POST,route=/v1/refresh": 1,
		"code=401,method=GET,route=/v1/lookup":   1,
		"code=400,method=GET,route=/v1/lookup":   1,
		"code=502,method=GET,route=/v1/lookup":   1,
		"code=404,method=GET,route=unmatched":    2,
		"code=405,method=OTHER,route=unmatched":  1,
	}
	got := series(t, e.reg, "tipgate_http_requests_total")
	if len(got) != len(wantRequests) {
		t.Errorf("tipgate_http_requests_total has %d series, want %d: %v", len(got), len(wantRequests), got)
	}
	for k, v := range wantRequests {
		if got[k] != v {
			t.Errorf("tipgate_http_requests_total{%s} = %v, want %v", k, got[k], v)
		}
	}

	durations := series(t, e.reg, "tipgate_http_request_duration_seconds")
	if got, want := durations["route=/v1/lookup"], 6.0; got != want {
		t.Errorf("duration samples for /v1/lookup = %v, want %v (all: %v)", got, want, durations)
	}

	wantResults := map[string]float64{
		"cache=hit,type=domain":   2,
		"cache=hit,type=ip":       1,
		"cache=refreshed,type=ip": 1,
	}
	results := series(t, e.reg, "tipgate_lookup_results_total")
	if len(results) != len(wantResults) {
		t.Errorf("tipgate_lookup_results_total = %v, want %v", results, wantResults)
	}
	for k, v := range wantResults {
		if results[k] != v {
			t.Errorf("tipgate_lookup_results_total{%s} = %v, want %v", k, results[k], v)
		}
	}

	// /metrics serves the same registry.
	w := e.do(t, "GET", "/metrics", "")
	if !strings.Contains(w.Body.String(), `tipgate_lookup_results_total{cache="refreshed",type="ip"} 1`) {
		t.Errorf("/metrics lacks the lookup results:\n%s", w.Body)
	}
}

func TestTwoHandlersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := Options{Service: newFakeService(), Registerer: reg, Logger: discardLogger()}
	if _, err := New(opts); err != nil {
		t.Fatalf("first New: %v", err)
	}
	if _, err := New(opts); err != nil {
		t.Fatalf("second New on the same registry: %v", err)
	}
}

func TestRegisterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A different metric under one of our names cannot be reused.
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tipgate_lookup_results_total", Help: "other"}))
	_, err := New(Options{Service: newFakeService(), Registerer: reg, Logger: discardLogger()})
	if err == nil {
		t.Fatal("New succeeded over a conflicting metric")
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		t.Errorf("error %v is AlreadyRegisteredError; a conflict is a different error", err)
	}
}
