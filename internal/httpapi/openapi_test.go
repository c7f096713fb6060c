package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/api/apitest"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestOpenAPIConformance(t *testing.T) {
	contract := apitest.Load(t)
	ok := func(cache lookup.CacheState) func(context.Context, lookup.Request) (*lookup.Result, error) {
		return func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
			res := hitResult(req)
			res.Cache = cache
			return res, nil
		}
	}
	fail := func(err error) func(context.Context, lookup.Request) (*lookup.Result, error) {
		return func(context.Context, lookup.Request) (*lookup.Result, error) { return nil, err }
	}
	notFound := func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
		return &lookup.Result{Indicator: req.Indicator, Zone: "Grey", Limit: req.Limit, ReceivedAt: receivedAt, Cache: lookup.CacheMiss}, nil
	}
	notReady := func(context.Context) (bool, any) {
		return false, map[string]string{"status": "unavailable", "tip": "client certificate expired"}
	}

	tests := []struct {
		name            string
		method, target  string
		body            string
		headers         []string
		lookup          func(context.Context, lookup.Request) (*lookup.Result, error)
		ready           func(context.Context) (bool, any)
		opts            func(*Options)
		wantStatus      int
		requestIsValid  bool // false for requests the contract itself rejects
		skipRespBodyFor string
	}{
		{name: "lookup hit", method: "GET", target: "/v1/lookup?indicator=example.com&sections=DomainGeneralInfo,Subdomains&limit=5",
			headers: []string{bearer(keySIEM)}, lookup: ok(lookup.CacheHit), wantStatus: 200, requestIsValid: true},
		{name: "lookup miss", method: "GET", target: "/v1/lookup?indicator=1.2.3.4&type=ip",
			headers: []string{"X-API-Key: " + keySIEM}, lookup: ok(lookup.CacheMiss), wantStatus: 200, requestIsValid: true},
		{name: "lookup stale", method: "GET", target: "/v1/lookup?indicator=example.com&cache_only=true",
			headers: []string{bearer(keySIEM)}, lookup: ok(lookup.CacheStale), wantStatus: 200, requestIsValid: true},
		{name: "lookup not found", method: "GET", target: "/v1/lookup?indicator=d41d8cd98f00b204e9800998ecf8427e",
			headers: []string{bearer(keySIEM)}, lookup: notFound, wantStatus: 200, requestIsValid: true},
		{name: "lookup flat", method: "GET", target: "/v1/lookup?indicator=example.com&format=flat",
			headers: []string{bearer(keySIEM)}, lookup: ok(lookup.CacheHit), wantStatus: 200, requestIsValid: true},
		{name: "lookup POST, sections list", method: "POST", target: "/v1/lookup",
			body:    `{"indicator":"example.com","sections":["DomainGeneralInfo"],"limit":3,"format":"json","cache_only":false}`,
			headers: []string{bearer(keySIEM), jsonCT}, lookup: ok(lookup.CachePartial), wantStatus: 200, requestIsValid: true},
		{name: "lookup POST, sections string", method: "POST", target: "/v1/lookup",
			body:    `{"indicator":"example.com","sections":"DomainGeneralInfo,Subdomains"}`,
			headers: []string{bearer(keySIEM), jsonCT}, lookup: ok(lookup.CacheHit), wantStatus: 200, requestIsValid: true},
		{name: "refresh", method: "POST", target: "/v1/refresh", body: `{"indicator":"example.com"}`,
			headers: []string{bearer(keySOAR), jsonCT}, lookup: ok(lookup.CacheRefreshed), wantStatus: 200, requestIsValid: true},
		{name: "400 invalid", method: "GET", target: "/v1/lookup?indicator=example.com&limit=0",
			headers: []string{bearer(keySIEM)}, wantStatus: 400},
		{name: "400 invalid POST", method: "POST", target: "/v1/lookup", body: `{"indicator":"example.com","limit":"x"}`,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 400},
		{name: "400 tip bad request", method: "GET", target: "/v1/lookup?indicator=example.com",
			headers: []string{bearer(keySIEM)}, lookup: fail(&tip.Error{Kind: tip.KindBadRequest, Detail: "bad"}), wantStatus: 400, requestIsValid: true},
		{name: "401", method: "GET", target: "/v1/lookup?indicator=example.com", wantStatus: 401},
		{name: "403", method: "POST", target: "/v1/refresh", body: `{"indicator":"example.com"}`,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 403, requestIsValid: true},
		{name: "404 not cached", method: "GET", target: "/v1/lookup?indicator=example.com&cache_only=true",
			headers: []string{bearer(keySIEM)}, lookup: fail(lookup.ErrNotCached), wantStatus: 404, requestIsValid: true},
		{name: "413", method: "POST", target: "/v1/lookup", body: `{"indicator":"` + strings.Repeat("a", 2<<20) + `"}`, requestIsValid: true,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 413},
		{name: "415", method: "POST", target: "/v1/lookup", body: `indicator=example.com`,
			headers: []string{bearer(keySIEM), "Content-Type: application/x-www-form-urlencoded"}, wantStatus: 415},
		{name: "502", method: "GET", target: "/v1/lookup?indicator=example.com",
			headers: []string{bearer(keySIEM)}, lookup: fail(&tip.Error{Kind: tip.KindUnauthorized}), wantStatus: 502, requestIsValid: true},
		{name: "504", method: "GET", target: "/v1/lookup?indicator=example.com",
			headers: []string{bearer(keySIEM)}, lookup: fail(context.DeadlineExceeded), wantStatus: 504, requestIsValid: true},
		{name: "500", method: "GET", target: "/v1/lookup?indicator=example.com",
			headers: []string{bearer(keySIEM)}, lookup: fail(errors.New("boom")), wantStatus: 500, requestIsValid: true},
		{name: "sections", method: "GET", target: "/v1/sections", headers: []string{bearer(keySIEM)}, wantStatus: 200, requestIsValid: true},
		{name: "status", method: "GET", target: "/v1/status", headers: []string{bearer(keyOps)}, wantStatus: 200, requestIsValid: true},
		{name: "purge", method: "DELETE", target: "/v1/cache?indicator=example.com&type=domain", headers: []string{bearer(keyOps)}, wantStatus: 204, requestIsValid: true},
		{name: "purge 403", method: "DELETE", target: "/v1/cache?indicator=example.com", headers: []string{bearer(keySIEM)}, wantStatus: 403, requestIsValid: true},
		{name: "healthz", method: "GET", target: "/healthz", wantStatus: 200, requestIsValid: true},
		{name: "healthz HEAD", method: "HEAD", target: "/healthz", wantStatus: 200, requestIsValid: true},
		{name: "readyz HEAD 503", method: "HEAD", target: "/readyz", ready: notReady, wantStatus: 503, requestIsValid: true},
		{name: "503 shutting down", method: "GET", target: "/v1/lookup?indicator=example.com",
			headers: []string{bearer(keySIEM)}, wantStatus: 503, requestIsValid: true,
			opts: func(o *Options) {
				abort, stop := context.WithCancel(context.Background())
				stop()
				o.Abort = abort
			}},
		{name: "readyz 200", method: "GET", target: "/readyz", wantStatus: 200, requestIsValid: true},
		{name: "readyz 503", method: "GET", target: "/readyz", ready: notReady, wantStatus: 503, requestIsValid: true},
		{name: "metrics", method: "GET", target: "/metrics", wantStatus: 200, requestIsValid: true},
		{name: "openapi", method: "GET", target: "/openapi.yaml", wantStatus: 200, requestIsValid: true},
		{name: "405", method: "PUT", target: "/v1/lookup", headers: []string{bearer(keySIEM)}, wantStatus: 405},
		{name: "batch", method: "POST", target: "/v1/lookup/batch",
			body:    `{"indicators":["Example.com","not an indicator",{"indicator":"1.2.3.4","type":"ip"},{"indicator":"x","type":"hash"},"fail.example.com"],"sections":["DomainGeneralInfo","IpWhoIs"],"limit":3}`,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 200, requestIsValid: true,
			lookup: func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
				if req.Indicator.Value == "fail.example.com" {
					return nil, &tip.Error{Kind: tip.KindBudgetSpent, Refused: true, Detail: "the daily budget is spent"}
				}
				res := hitResult(req)
				res.Cache, res.StaleReason = lookup.CacheStale, "tip-timeout"
				return res, nil
			}},
		{name: "batch flat", method: "POST", target: "/v1/lookup/batch", body: `{"indicators":["example.com","?"],"format":"flat","cache_only":true}`,
			headers: []string{bearer(keySIEM), jsonCT}, lookup: ok(lookup.CacheHit), wantStatus: 200, requestIsValid: true},
		{name: "batch deadline", method: "POST", target: "/v1/lookup/batch", body: `{"indicators":["example.com","slow.example.com"]}`,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 200, requestIsValid: true,
			opts: func(o *Options) { o.RequestTimeout = 100 * time.Millisecond },
			lookup: func(ctx context.Context, req lookup.Request) (*lookup.Result, error) {
				if req.Indicator.Value == "slow.example.com" {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				return hitResult(req), nil
			}},
		{name: "batch 400", method: "POST", target: "/v1/lookup/batch", body: `{"indicators":[]}`,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 400},
		{name: "batch 413", method: "POST", target: "/v1/lookup/batch", body: batchBody(manyIndicators(1001)...),
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 413},
		{name: "batch 401", method: "POST", target: "/v1/lookup/batch", body: `{"indicators":["a.com"]}`,
			headers: []string{jsonCT}, wantStatus: 401},
		{name: "duplicate member", method: "POST", target: "/v1/lookup", body: `{"indicator":"a.com","indicator":"evil.com"}`,
			headers: []string{bearer(keySIEM), jsonCT}, wantStatus: 400, requestIsValid: true},
		{name: "function", method: "GET", target: "/v1/functions/get_url_report?indicator=example.com&limit=3&cache_only=true",
			headers: []string{bearer(keySIEM)}, lookup: ok(lookup.CacheMiss), wantStatus: 200, requestIsValid: true},
		{name: "function 400", method: "GET", target: "/v1/functions/get_hash_report?indicator=example.com",
			headers: []string{bearer(keySIEM)}, wantStatus: 400, requestIsValid: true},
		{name: "function 404", method: "GET", target: "/v1/functions/get_email_report?indicator=example.com",
			headers: []string{bearer(keySIEM)}, wantStatus: 404},
		{name: "function not cached", method: "GET", target: "/v1/functions/get_ip_report?indicator=1.2.3.4&cache_only=true",
			headers: []string{bearer(keySIEM)}, lookup: fail(lookup.ErrNotCached), wantStatus: 404, requestIsValid: true},
		{name: "function 503", method: "GET", target: "/v1/functions/get_ip_report?indicator=1.2.3.4",
			headers: []string{bearer(keySIEM)}, lookup: fail(&tip.Error{Kind: tip.KindUnavailable, Refused: true}), wantStatus: 503, requestIsValid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(o *Options) {
				if tt.ready != nil {
					o.Ready = tt.ready
				}
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			e.svc.lookupFn = tt.lookup
			w := e.do(t, tt.method, tt.target, tt.body, tt.headers...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %.300s)", w.Code, tt.wantStatus, w.Body)
			}

			// The handler consumed its request; validate an identical one.
			req := request(t, tt.method, tt.target, tt.body, tt.headers...)
			routeErr := contract.FindRoute(req)
			if tt.wantStatus == 405 {
				if routeErr == nil {
					t.Fatalf("the spec has %s %s, which the handler refused", tt.method, tt.target)
				}
				return
			}
			if routeErr != nil {
				t.Fatalf("the spec has no route for %s %s: %v", tt.method, tt.target, routeErr)
			}
			reqErr, respErr := contract.Check(apitest.Exchange{
				Method: tt.method, Target: tt.target, Header: req.Header, Body: []byte(tt.body),
				Status: w.Code, RespHeader: w.Header(), RespBody: w.Body.Bytes(),
			})
			switch {
			case tt.requestIsValid && reqErr != nil:
				t.Errorf("the spec rejects a request the handler accepts: %v", reqErr)
			case !tt.requestIsValid && reqErr == nil:
				t.Errorf("the spec accepts a request the handler answered %d", w.Code)
			}
			if respErr != nil {
				t.Errorf("the response does not match the spec: %v\nheaders %v\nbody %.500s", respErr, w.Header(), w.Body)
			}
		})
	}
}

// TestKUMASpec checks the KUMA paths' responses as the CyberTrace contract
// shapes them against the spec; the facade itself is another package's,
// mounted here as given.
func TestKUMASpec(t *testing.T) {
	contract := apitest.Load(t)
	tests := []struct {
		name        string
		target      string
		status      int
		contentType string
		header      []string
		body        string
	}{
		{"200", "/api/1.1/lookup", 200, "application/json", nil,
			`[{"object":"http://example.com/x","result":"detected","categories":[{"category":"KTL_Red_URL","detected_indicator":"example.com/x",` +
				`"context":{"zone":"Red","hits":"12","first_seen":"2026-01-01T00:00:00Z","received_at":"2026-11-23T14:00:00.123Z","cache":"hit"}}]},` +
				`{"object":"hello world","result":"not detected","categories":[]}]`},
		{"200 tenant", "/api/1.3/General/lookup", 200, "application/json", nil, `[{"object":"8.8.8.8","result":"not detected","categories":[]}]`},
		{"401", "/api/1.0/lookup", 401, "application/problem+json", []string{`WWW-Authenticate: Basic realm="tipgate"`},
			`{"type":"unauthorized","title":"Unauthorized","status":401,"detail":"Send Basic credentials."}`},
		{"406", "/api/1.2/lookup", 406, "application/problem+json", nil,
			`{"type":"not-acceptable","title":"Not acceptable","status":406,"detail":"Send Accept: application/json."}`},
		{"429", "/api/1.1/lookup", 429, "application/problem+json", []string{"Retry-After: 60"},
			`{"type":"tip-budget-spent","title":"TIP budget spent","status":429,"detail":"Try again later."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kuma := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				for _, h := range tt.header {
					name, value, _ := strings.Cut(h, ": ")
					w.Header().Set(name, value)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			e := newTestEnv(t, func(o *Options) { o.KUMA = kuma })
			reqBody := `[{"object":"http://example.com/x"},{"object":"hello world"}]`
			headers := []string{"Authorization: Basic c2llbTp4", jsonCT, "Accept: application/json"}
			w := e.do(t, "POST", tt.target, reqBody, headers...)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			req := request(t, "POST", tt.target, reqBody, headers...)
			// apitest authenticates Bearer and X-API-Key only; the
			// request's shape is what matters here, and its response.
			_, respErr := contract.Check(apitest.Exchange{
				Method: "POST", Target: tt.target, Header: req.Header, Body: []byte(reqBody),
				Status: w.Code, RespHeader: w.Header(), RespBody: w.Body.Bytes(),
			})
			if respErr != nil {
				t.Errorf("the response does not match the spec: %v", respErr)
			}
		})
	}
}

// TestSpecCoversRoutes checks that every route the handler serves is in the
// spec with its method, so neither can grow without the other.
func TestSpecCoversRoutes(t *testing.T) {
	contract := apitest.Load(t)
	for _, rt := range []struct{ method, path string }{
		{http.MethodGet, "/v1/lookup"}, {http.MethodPost, "/v1/lookup"}, {http.MethodPost, "/v1/refresh"},
		{http.MethodGet, "/v1/sections"}, {http.MethodGet, "/v1/status"}, {http.MethodDelete, "/v1/cache"},
		{http.MethodGet, "/healthz"}, {http.MethodGet, "/readyz"}, {http.MethodGet, "/metrics"}, {http.MethodGet, "/openapi.yaml"},
		{http.MethodHead, "/healthz"}, {http.MethodHead, "/readyz"},
		{http.MethodPost, "/v1/lookup/batch"}, {http.MethodGet, "/v1/functions/get_ip_report"},
		{http.MethodPost, "/api/1.0/lookup"}, {http.MethodPost, "/api/1.1/lookup"}, {http.MethodPost, "/api/1.2/lookup"},
		{http.MethodPost, "/api/1.3/General/lookup"},
	} {
		req := request(t, rt.method, rt.path, "")
		if err := contract.FindRoute(req); err != nil {
			t.Errorf("the spec lacks %s %s: %v", rt.method, rt.path, err)
		}
	}
}
