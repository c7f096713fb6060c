package app

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkHTTPLookupHit measures a cache hit through the whole gateway:
// HTTP on loopback, auth, parsing, normalisation, one store read, response
// encoding. Run with: make bench (or go test -run '^$' -bench HTTPLookupHit ./internal/app/).
func BenchmarkHTTPLookupHit(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			g := startGateway(b, store, map[string]string{"TIPGATE_LOG_LEVEL": "warn"})
			url := g.base + "/v1/lookup?indicator=red.bench.example.com&sections=DomainGeneralInfo,DomainDnsResolutions"
			// Enough idle connections that parallel clients reuse them
			// instead of exhausting loopback ports.
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			get := func() (int, string) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("X-API-Key", g.keys["siem"])
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return 0, ""
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, resp.Header.Get("X-Cache")
			}
			// On Redis the miss is written behind its answer: wait until
			// the entry is there (a lookup answers HIT) before timing hits.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				status, xcache := get()
				if status != 200 {
					b.Fatal("warm-up lookup failed")
				}
				if xcache == "HIT" {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the warm-up lookup's entry never reached the store")
				}
			}
			before := g.sim.Requests()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if status, _ := get(); status != 200 {
						b.Error("lookup failed")
					}
				}
			})
			b.StopTimer()
			if n := g.sim.Requests() - before; n != 0 {
				b.Fatalf("%d TIP requests while timing, want 0: every benchmarked lookup must be a hit", n)
			}
		})
	}
}
