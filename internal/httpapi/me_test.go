package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/api/apitest"
	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

func TestMe(t *testing.T) {
	contract := apitest.Load(t)
	tests := []struct {
		name       string
		authOff    bool
		limit      int
		headers    []string
		wantStatus int
		wantName   string
		wantRoles  []apikey.Role
		wantLimit  int
	}{
		{name: "lookup key", headers: []string{bearer(keySIEM)}, limit: 25, wantStatus: 200,
			wantName: "siem", wantRoles: []apikey.Role{apikey.Lookup}, wantLimit: 25},
		{name: "refresh key, X-API-Key", headers: []string{"X-API-Key: " + keySOAR}, limit: 10, wantStatus: 200,
			wantName: "soar", wantRoles: []apikey.Role{apikey.Lookup, apikey.Refresh}, wantLimit: 10},
		{name: "every role", headers: []string{bearer(keyOps)}, limit: 10, wantStatus: 200,
			wantName: "ops", wantRoles: apikey.AllRoles(), wantLimit: 10},
		{name: "unset default limit is DESIGN's 10", headers: []string{bearer(keySIEM)}, wantStatus: 200,
			wantName: "siem", wantRoles: []apikey.Role{apikey.Lookup}, wantLimit: 10},
		{name: "auth off", authOff: true, limit: 7, wantStatus: 200,
			wantName: "anonymous", wantRoles: apikey.AllRoles(), wantLimit: 7},
		{name: "no key", limit: 10, wantStatus: 401},
		{name: "admin only key lacks lookup", headers: []string{bearer(keyAudit)}, limit: 10, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(o *Options) {
				o.DefaultLimit = tt.limit
				if tt.authOff {
					o.Keys = nil
				}
			})
			w := e.do(t, "GET", "/v1/me", "", tt.headers...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			req := request(t, "GET", "/v1/me", "", tt.headers...)
			if _, respErr := contract.Check(apitest.Exchange{Method: "GET", Target: "/v1/me", Header: req.Header,
				Status: w.Code, RespHeader: w.Header(), RespBody: w.Body.Bytes()}); respErr != nil {
				t.Errorf("the answer does not match the spec: %v\n%s", respErr, w.Body)
			}
			if tt.wantStatus != 200 {
				return
			}
			var got meResponse
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.wantName || !slices.Equal(got.Roles, tt.wantRoles) || got.DefaultLimit != tt.wantLimit {
				t.Errorf("GET /v1/me = %+v, want name %q roles %v default_limit %d", got, tt.wantName, tt.wantRoles, tt.wantLimit)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

// TestConsoleRoutes checks that /ui and everything under it reach the
// console's handler without a key, and are 404s when there is no console.
func TestConsoleRoutes(t *testing.T) {
	var served []string
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = append(served, r.URL.Path)
		w.WriteHeader(http.StatusOK)
	})
	e := newTestEnv(t, func(o *Options) { o.UI = console })
	for _, target := range []string{"/ui", "/ui/", "/ui/?indicator=example.com", "/ui/app.js"} {
		if w := e.do(t, "GET", target, ""); w.Code != http.StatusOK {
			t.Errorf("GET %s without a key = %d, want 200 from the console", target, w.Code)
		}
	}
	if want := []string{"/ui", "/ui/", "/ui/", "/ui/app.js"}; !slices.Equal(served, want) {
		t.Errorf("the console served %v, want %v", served, want)
	}

	none := newTestEnv(t)
	if w := none.do(t, "GET", "/ui", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET /ui with no console = %d, want 404", w.Code)
	}
}

// TestNotCachedSaysHowTheIndicatorWasRead checks the not-cached problem's
// indicator and indicator_type, which the console uses to offer the
// indicator's sections.
func TestNotCachedSaysHowTheIndicatorWasRead(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
		return nil, &lookup.NotCachedError{Indicator: req.Indicator, Cached: []string{"DomainGeneralInfo"}}
	}
	w := e.do(t, "GET", "/v1/lookup?indicator=Example.COM&cache_only=true", "", bearer(keySIEM))
	if w.Code != http.StatusNotFound {
		t.Fatalf("status = %d, want 404 (body %s)", w.Code, w.Body)
	}
	p := decodeProblem(t, w)
	if p.Type != typeNotCached || p.Indicator != "example.com" || p.IndicatorType != string(indicator.Domain) ||
		p.CachedSections == nil || !slices.Equal(*p.CachedSections, []string{"DomainGeneralInfo"}) {
		t.Errorf("problem = %+v, want not-cached for domain example.com with DomainGeneralInfo cached", p)
	}
	if strings.Contains(w.Body.String(), `"indicator_type":""`) {
		t.Errorf("an empty indicator_type is sent: %s", w.Body)
	}
}
