package app

import (
	"io"
	"net/http"
	"testing"
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
			get := func() int {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("X-API-Key", g.keys["siem"])
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return 0
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if get() != 200 {
				b.Fatal("warm-up lookup failed")
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if get() != 200 {
						b.Error("lookup failed")
					}
				}
			})
			b.StopTimer()
			if n := g.sim.Requests(); n != 1 {
				b.Fatalf("TIP requests = %d, want 1: every benchmarked lookup must be a hit", n)
			}
		})
	}
}
