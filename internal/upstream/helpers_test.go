package upstream

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/tip"
)

var testInd = indicator.Indicator{Type: indicator.Domain, Value: "example.com"}

// fake is an inner Fetcher that counts its calls and answers with fn (the
// call's number from 1), or a found Result when fn is nil.
type fake struct {
	calls atomic.Int64
	fn    func(ctx context.Context, call int) (*tip.Result, error)
}

func (f *fake) Lookup(ctx context.Context, _ indicator.Indicator, _ []string, _ int) (*tip.Result, error) {
	n := int(f.calls.Add(1))
	if f.fn == nil {
		return &tip.Result{Found: true}, nil
	}
	return f.fn(ctx, n)
}

func (f *fake) Calls() int { return int(f.calls.Load()) }

// answers returns an fn that gives errs[call-1] (a found Result where nil)
// and the last one for every later call.
func answers(errs ...error) func(context.Context, int) (*tip.Result, error) {
	return func(_ context.Context, call int) (*tip.Result, error) {
		err := errs[min(call, len(errs))-1]
		if err != nil {
			return nil, err
		}
		return &tip.Result{Found: true}, nil
	}
}

func status(kind tip.ErrorKind, code int) *tip.Error {
	return &tip.Error{Kind: kind, Status: code, Detail: "TIP answered " + string(kind)}
}

// testLogger logs everything into a buffer the test can read.
func testLogger() (*slog.Logger, *logbuf.Buffer) {
	var buf logbuf.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// metric returns one sample's value from reg, e.g.
// metric(t, reg, "tipgate_tip_requests_total", "type", "domain", "outcome", "ok").
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	sample:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue sample
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// lint fails the test when a metric breaks Prometheus naming conventions.
func lint(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
