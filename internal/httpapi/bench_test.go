package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

// BenchmarkHandlerHit times one memory-store hit through the whole handler
// httpapi.New builds, with the options internal/app gives it: routing, the
// middleware, auth against a real keyring, metrics, the real lookup.Service
// and the response encoding. No network, so allocations are the handler's
// own: issue 8 wants at most 20 per hit. The healthz and stub variants
// leave out the lookup, so that the middleware's share is visible apart
// from the lookup's.
//
//	go test -run '^$' -bench HandlerHit -benchmem -count 5 ./internal/httpapi/
func BenchmarkHandlerHit(b *testing.B) {
	const target = "/v1/lookup?indicator=example.com&sections=DomainGeneralInfo,DomainDnsResolutions"
	cases := []struct {
		name   string
		level  slog.Level
		stub   bool
		target string
		header string // the key's header; "" sends none
	}{
		{name: "lookup/x-api-key", level: slog.LevelWarn, target: target, header: "X-API-Key"},
		{name: "lookup/bearer", level: slog.LevelWarn, target: target, header: "Authorization"},
		{name: "lookup/x-api-key/info-log", level: slog.LevelInfo, target: target, header: "X-API-Key"},
		{name: "stub/x-api-key", level: slog.LevelWarn, stub: true, target: target, header: "X-API-Key"},
		{name: "healthz", level: slog.LevelWarn, target: "/healthz"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h, tipCalls := benchHandler(b, c.level, c.stub)
			r, err := http.NewRequest(http.MethodGet, "http://tipgate.test"+c.target, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.RemoteAddr = "10.0.0.7:51234"
			switch c.header {
			case "X-API-Key":
				r.Header.Set("X-API-Key", benchKey)
			case "Authorization":
				r.Header.Set("Authorization", "Bearer "+benchKey)
			}
			w := &benchWriter{header: http.Header{}}
			// Warm up: the first lookup is the miss that fills the store.
			for range 2 {
				w.reset()
				h.ServeHTTP(w, r)
			}
			if w.status != http.StatusOK {
				b.Fatalf("warm-up: status %d, want 200", w.status)
			}
			if c.target == target && w.header.Get("X-Cache") != "HIT" {
				b.Fatalf("warm-up: X-Cache %q, want HIT", w.header.Get("X-Cache"))
			}
			calls := tipCalls.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
			b.StopTimer()
			if w.status != http.StatusOK || w.bytes == 0 {
				b.Fatalf("status %d with %d bytes, want 200 with a body", w.status, w.bytes)
			}
			if n := tipCalls.Load() - calls; n != 0 {
				b.Fatalf("%d TIP requests while timing, want 0: every timed lookup must be a hit", n)
			}
		})
	}
}

const benchKey = "tg_bench-key-0123456789abcdefghijklmnopqrstuvw"

// benchHandler builds the handler as internal/app does; with stub, its
// Service answers with a canned result got from the real one, so that
// only the HTTP layer runs.
func benchHandler(b *testing.B, level slog.Level, stub bool) (http.Handler, *atomic.Int64) {
	b.Helper()
	keys, err := apikey.Load(fmt.Appendf(nil, `{"keys": [
		{"name": "other", "sha256": %q, "roles": ["admin"]},
		{"name": "siem", "sha256": %q, "roles": ["lookup"], "tip_daily_budget": 1000}
	]}`, apikey.Hash("tg_other"), apikey.Hash(benchKey)))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	up := &benchUpstream{}
	store := cache.NewMemory(64 << 20)
	b.Cleanup(func() { _ = store.Close() })
	svc, err := lookup.New(lookup.Options{
		Store: store, Upstream: up, Catalog: tip.NewCatalog(),
		Namespace:  lookup.Namespace("https://tip.example"),
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level})),
		Registerer: reg,
		TTL:        24 * time.Hour, GreyTTL: time.Hour, StaleFor: 168 * time.Hour,
		DefaultLimit: 10,
	})
	if err != nil {
		b.Fatal(err)
	}
	var service Service = svc
	if stub {
		service = newStubService(b, svc)
	}
	abort, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	h, err := New(Options{
		Service:        service,
		Keys:           keys,
		Registerer:     reg,
		Gatherer:       reg,
		Logger:         slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level})).With("component", "http"),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
		Abort:          abort,
		RequestTimeout: 60 * time.Second,
		DefaultLimit:   10,
		Flatten:        func(*lookup.Result) map[string]any { return map[string]any{} },
	})
	if err != nil {
		b.Fatal(err)
	}
	return h, &up.calls
}

// benchUpstream answers like TIP with a ~4 KB answer: a general-info
// object and ten DNS resolutions.
type benchUpstream struct{ calls atomic.Int64 }

func (u *benchUpstream) Lookup(_ context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	u.calls.Add(1)
	res := &tip.Result{Found: true, ReceivedAt: time.Now(), Sections: map[string]json.RawMessage{}}
	for _, name := range sections {
		switch name {
		case tip.SectionZone:
			res.Sections[name] = json.RawMessage(`"Red"`)
		case tip.SectionLicense:
			res.Sections[name] = json.RawMessage(`{"DayRequests":5,"DayQuota":100000}`)
			res.License = &tip.License{DayRequests: 5, DayQuota: 100000}
		case "DomainDnsResolutions":
			var recs []string
			for i := range min(count, 10) {
				recs = append(recs, fmt.Sprintf(`{"Ip":"203.0.113.%d","Zone":"Red","FirstSeen":"2026-11-%02dT10:00:00Z","LastSeen":"2026-11-23T10:00:00Z","Hits":%d,"Categories":["CATEGORY_PHISHING","CATEGORY_MALWARE"]}`, i+1, i+1, 1000*(i+1)))
			}
			res.Sections[name] = json.RawMessage("[" + strings.Join(recs, ",") + "]")
		default:
			res.Sections[name] = json.RawMessage(fmt.Sprintf(`{"Domain":%q,"Zone":"Red","Categories":["CATEGORY_PHISHING"],"CategoriesWithZone":[{"Name":"CATEGORY_PHISHING","Zone":"Red"}],"FilesCount":12,"UrlsCount":340,"HitsCount":10000,"Ipv4Count":4,"Description":"%s"}`,
				ind.Value, strings.Repeat("a phishing domain seen in several campaigns; ", 10)))
		}
	}
	return res, nil
}

// stubService answers every lookup with one canned request and result,
// the real service's own answer to the benchmarked query.
type stubService struct {
	Service
	req lookup.Request
	res *lookup.Result
}

func newStubService(b *testing.B, svc Service) *stubService {
	b.Helper()
	req, err := svc.Prepare(lookup.Query{Indicator: "example.com", Sections: []string{"DomainGeneralInfo", "DomainDnsResolutions"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Lookup(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	res, err := svc.Lookup(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	return &stubService{Service: svc, req: req, res: res}
}

func (s *stubService) Prepare(lookup.Query) (lookup.Request, error) { return s.req, nil }
func (s *stubService) Lookup(context.Context, lookup.Request) (*lookup.Result, error) {
	return s.res, nil
}

// benchWriter is the least a ResponseWriter can be, reused across
// requests so that only the handler's allocations are counted.
type benchWriter struct {
	header http.Header
	status int
	bytes  int
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.bytes += len(p)
	return len(p), nil
}

func (w *benchWriter) reset() {
	clear(w.header)
	w.status, w.bytes = 0, 0
}
