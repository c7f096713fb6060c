package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

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
		{name: "readyz 200", method: "GET", target: "/readyz", wantStatus: 200, requestIsValid: true},
		{name: "readyz 503", method: "GET", target: "/readyz", ready: notReady, wantStatus: 503, requestIsValid: true},
		{name: "metrics", method: "GET", target: "/metrics", wantStatus: 200, requestIsValid: true},
		{name: "openapi", method: "GET", target: "/openapi.yaml", wantStatus: 200, requestIsValid: true},
		{name: "405", method: "PUT", target: "/v1/lookup", headers: []string{bearer(keySIEM)}, wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(o *Options) {
				if tt.ready != nil {
					o.Ready = tt.ready
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

// TestSpecCoversRoutes checks that every route the handler serves is in the
// spec with its method, so neither can grow without the other.
func TestSpecCoversRoutes(t *testing.T) {
	contract := apitest.Load(t)
	for _, rt := range []struct{ method, path string }{
		{http.MethodGet, "/v1/lookup"}, {http.MethodPost, "/v1/lookup"}, {http.MethodPost, "/v1/refresh"},
		{http.MethodGet, "/v1/sections"}, {http.MethodGet, "/v1/status"}, {http.MethodDelete, "/v1/cache"},
		{http.MethodGet, "/healthz"}, {http.MethodGet, "/readyz"}, {http.MethodGet, "/metrics"}, {http.MethodGet, "/openapi.yaml"},
	} {
		req := request(t, rt.method, rt.path, "")
		if err := contract.FindRoute(req); err != nil {
			t.Errorf("the spec lacks %s %s: %v", rt.method, rt.path, err)
		}
	}
}
