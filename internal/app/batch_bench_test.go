package app

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tipsim"
)

// BenchmarkBatch1000 measures one batch of 1000 indicators, half of them
// cached and half misses (each iteration's misses are new), through the
// whole gateway against the simulator on both stores, with TIP answering at
// once and in 200 ms: what a SOAR playbook's enrichment of 1000 indicators
// costs. The misses go to TIP at most 8 at a time (a batch may use half of
// TIPGATE_TIP_CONCURRENCY), so with a slow TIP they set the pace.
// Run with: go test -run '^$' -bench Batch1000 -benchtime 5x ./internal/app/
func BenchmarkBatch1000(b *testing.B) {
	for _, c := range []struct {
		store string
		tip   time.Duration // TIP's latency for the misses
	}{{"memory", 0}, {"redis", 0}, {"redis", 200 * time.Millisecond}} {
		b.Run(fmt.Sprintf("%s/tip-%s", c.store, c.tip), func(b *testing.B) {
			g := startGateway(b, c.store, map[string]string{"TIPGATE_LOG_LEVEL": "warn", "TIPGATE_REQUEST_TIMEOUT": "120s"})
			hits := make([]any, 500)
			for i := range hits {
				hits[i] = fmt.Sprintf("red.hit%d.batch.example.com", i)
			}
			body := map[string]any{"indicators": hits, "sections": []string{"DomainGeneralInfo"}}
			if r := g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], body); r.status != http.StatusOK {
				b.Fatalf("warm-up batch = %d", r.status)
			}
			if c.tip > 0 {
				g.sim.Inject(tipsim.Fault{Delay: c.tip})
			}
			var took time.Duration
			b.ResetTimer()
			for n := range b.N {
				items := make([]any, 0, 1000)
				for i := range 500 {
					items = append(items, hits[i], fmt.Sprintf("green.miss%d-%d.batch.example.com", n, i))
				}
				start := time.Now()
				r := g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], map[string]any{"indicators": items, "sections": []string{"DomainGeneralInfo"}})
				took += time.Since(start)
				if r.status != http.StatusOK {
					b.Fatalf("batch = %d %.300s", r.status, r.raw)
				}
				results, _ := r.body["results"].([]any)
				if len(results) != 1000 {
					b.Fatalf("batch answered %d results, want 1000", len(results))
				}
			}
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/batch")
		})
	}
}
