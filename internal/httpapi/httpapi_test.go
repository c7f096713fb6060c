package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/api"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestRoutes(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name, method, target, body string
		wantStatus                 int
		wantCT                     string
	}{
		{"lookup GET", "GET", "/v1/lookup?indicator=example.com", "", 200, "application/json"},
		{"lookup POST", "POST", "/v1/lookup", `{"indicator":"example.com"}`, 200, "application/json"},
		{"refresh", "POST", "/v1/refresh", `{"indicator":"example.com"}`, 200, "application/json"},
		{"sections", "GET", "/v1/sections", "", 200, "application/json"},
		{"status", "GET", "/v1/status", "", 200, "application/json"},
		{"purge", "DELETE", "/v1/cache?indicator=example.com", "", 204, ""},
		{"healthz", "GET", "/healthz", "", 200, "application/json"},
		{"readyz", "GET", "/readyz", "", 200, "application/json"},
		{"metrics", "GET", "/metrics", "", 200, "text/plain"},
		{"openapi", "GET", "/openapi.yaml", "", 200, "application/yaml"},
		{"batch", "POST", "/v1/lookup/batch", `{"indicators":["example.com"]}`, 200, "application/json"},
		{"function", "GET", "/v1/functions/get_ip_report?indicator=1.2.3.4", "", 200, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, tt.method, tt.target, tt.body, bearer(keyOps), jsonCT)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("Content-Type"); !strings.HasPrefix(got, tt.wantCT) {
				t.Errorf("Content-Type = %q, want prefix %q", got, tt.wantCT)
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id header")
			}
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name       string
		headers    []string
		wantStatus int
	}{
		{"bearer", []string{bearer(keySIEM)}, 200},
		{"bearer lower-case scheme", []string{"Authorization: bearer " + keySIEM}, 200},
		{"x-api-key", []string{"X-API-Key: " + keySIEM}, 200},
		{"both, same key", []string{bearer(keySIEM), "X-API-Key: " + keySIEM}, 200},
		{"basic plus x-api-key", []string{"Authorization: Basic Zm9vOmJhcg==", "X-API-Key: " + keySIEM}, 200},
		{"none", nil, 401},
		{"unknown bearer", []string{bearer("tg_nope")}, 401},
		{"unknown x-api-key", []string{"X-API-Key: tg_nope"}, 401},
		{"empty bearer", []string{"Authorization: Bearer "}, 401},
		{"basic only", []string{"Authorization: Basic Zm9vOmJhcg=="}, 401},
		{"both, different keys", []string{bearer(keySIEM), "X-API-Key: " + keyOps}, 401},
		{"key hash instead of key", []string{bearer("2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b")}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", tt.headers...)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != 401 {
				return
			}
			p := decodeProblem(t, w)
			if p.Type != typeUnauthorized {
				t.Errorf("type = %q, want %q", p.Type, typeUnauthorized)
			}
			if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="tipgate"`; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
		})
	}
}

func TestRoleMatrix(t *testing.T) {
	e := newTestEnv(t)
	routes := []struct {
		method, target, body string
		role                 string
	}{
		{"GET", "/v1/lookup?indicator=example.com", "", "lookup"},
		{"POST", "/v1/lookup", `{"indicator":"example.com"}`, "lookup"},
		{"GET", "/v1/sections", "", "lookup"},
		{"POST", "/v1/refresh", `{"indicator":"example.com"}`, "refresh"},
		{"GET", "/v1/status", "", "admin"},
		{"DELETE", "/v1/cache?indicator=example.com", "", "admin"},
	}
	keys := []struct {
		name, key string
		roles     []string
	}{
		{"siem", keySIEM, []string{"lookup"}},
		{"soar", keySOAR, []string{"lookup", "refresh"}},
		{"ops", keyOps, []string{"lookup", "refresh", "admin"}},
		{"audit", keyAudit, []string{"admin"}},
		{"nobody", "", nil},
	}
	for _, rt := range routes {
		for _, k := range keys {
			t.Run(rt.method+" "+rt.target+" as "+k.name, func(t *testing.T) {
				var headers []string
				if k.key != "" {
					headers = append(headers, "X-API-Key: "+k.key)
				}
				w := e.do(t, rt.method, rt.target, rt.body, headers...)
				switch {
				case k.key == "":
					if w.Code != 401 {
						t.Fatalf("status = %d, want 401", w.Code)
					}
				case slices.Contains(k.roles, rt.role):
					if w.Code != 200 && w.Code != 204 {
						t.Fatalf("status = %d, want 2xx (body %s)", w.Code, w.Body)
					}
				default:
					if w.Code != 403 {
						t.Fatalf("status = %d, want 403 (body %s)", w.Code, w.Body)
					}
					p := decodeProblem(t, w)
					if p.Type != typeForbidden {
						t.Errorf("type = %q, want forbidden", p.Type)
					}
					if !strings.Contains(p.Detail, `"`+rt.role+`"`) || !strings.Contains(p.Detail, `"`+k.name+`"`) {
						t.Errorf("detail %q does not name role %q and key %q", p.Detail, rt.role, k.name)
					}
				}
			})
		}
	}
}

func TestPublicRoutesNeedNoKey(t *testing.T) {
	e := newTestEnv(t)
	for _, target := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if w := e.do(t, "GET", target, ""); w.Code != 200 {
			t.Errorf("GET %s without a key = %d, want 200", target, w.Code)
		}
	}
}

func TestAuthOff(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.Keys = nil })
	for _, tt := range []struct{ method, target, body string }{
		{"GET", "/v1/lookup?indicator=example.com", ""},
		{"POST", "/v1/refresh", `{"indicator":"example.com"}`},
		{"GET", "/v1/status", ""},
		{"DELETE", "/v1/cache?indicator=example.com", ""},
	} {
		if w := e.do(t, tt.method, tt.target, tt.body, jsonCT); w.Code >= 300 {
			t.Errorf("%s %s with auth off = %d, want 2xx (body %s)", tt.method, tt.target, w.Code, w.Body)
		}
	}
}

func TestKeyNeverLogged(t *testing.T) {
	e := newTestEnv(t)
	e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySOAR))
	e.do(t, "GET", "/v1/status", "", bearer(keySOAR))
	e.do(t, "GET", "/v1/status", "", bearer("tg_wrong-key"))
	logs := e.logs.String()
	for _, secret := range []string{keySOAR, "tg_wrong-key"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the key %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"key":"soar"`) {
		t.Errorf("logs do not name the key soar:\n%s", logs)
	}
}

func TestGETAndPOSTParity(t *testing.T) {
	tests := []struct {
		name  string
		query string
		body  string
		want  lookup.Query
	}{
		{"indicator only", "indicator=Example.com", `{"indicator":"Example.com"}`,
			lookup.Query{Indicator: "Example.com"}},
		{"every parameter", "indicator=1.2.3.4&type=ip&sections=IpGeneralInfo,HostedUrls&limit=5&format=json",
			`{"indicator":"1.2.3.4","type":"ip","sections":["IpGeneralInfo","HostedUrls"],"limit":5,"format":"json"}`,
			lookup.Query{Indicator: "1.2.3.4", Type: "ip", Sections: []string{"IpGeneralInfo", "HostedUrls"}, Limit: 5}},
		{"sections as a string", "indicator=1.2.3.4&sections=ipgeneralinfo,%20hostedurls",
			`{"indicator":"1.2.3.4","sections":"ipgeneralinfo, hostedurls"}`,
			lookup.Query{Indicator: "1.2.3.4", Sections: []string{"ipgeneralinfo", "hostedurls"}}},
		{"cache only", "indicator=example.com&cache_only=true", `{"indicator":"example.com","cache_only":true}`,
			lookup.Query{Indicator: "example.com", Mode: lookup.CacheOnly}},
		{"cache only false", "indicator=example.com&cache_only=false", `{"indicator":"example.com","cache_only":false}`,
			lookup.Query{Indicator: "example.com"}},
		{"nulls and empties mean absent", "indicator=example.com&limit=&sections=&type=",
			`{"indicator":"example.com","limit":null,"sections":null,"type":null,"format":null,"cache_only":null}`,
			lookup.Query{Indicator: "example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			get := e.do(t, "GET", "/v1/lookup?"+tt.query, "", bearer(keySIEM))
			gotGET := e.svc.lastQuery(t)
			post := e.do(t, "POST", "/v1/lookup", tt.body, bearer(keySIEM), jsonCT)
			gotPOST := e.svc.lastQuery(t)
			if get.Code != 200 || post.Code != 200 {
				t.Fatalf("GET = %d, POST = %d, want 200 (bodies %s / %s)", get.Code, post.Code, get.Body, post.Body)
			}
			if !queriesEqual(gotGET, tt.want) {
				t.Errorf("GET query = %+v, want %+v", gotGET, tt.want)
			}
			if !queriesEqual(gotPOST, tt.want) {
				t.Errorf("POST query = %+v, want %+v", gotPOST, tt.want)
			}
			if get.Body.String() != post.Body.String() {
				t.Errorf("GET body %s differs from POST body %s", get.Body, post.Body)
			}
		})
	}
}

func queriesEqual(a, b lookup.Query) bool {
	return a.Indicator == b.Indicator && a.Type == b.Type && a.Limit == b.Limit && a.Mode == b.Mode &&
		slices.Equal(a.Sections, b.Sections)
}

func TestSectionsParsing(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		{"sections=DomainGeneralInfo", []string{"DomainGeneralInfo"}},
		{"sections=DomainGeneralInfo,Subdomains", []string{"DomainGeneralInfo", "Subdomains"}},
		{"sections=DomainGeneralInfo%2CSubdomains", []string{"DomainGeneralInfo", "Subdomains"}},
		{"sections=DomainGeneralInfo&sections=Subdomains,FeedMasks", []string{"DomainGeneralInfo", "Subdomains", "FeedMasks"}},
		{"sections=%20DomainGeneralInfo%20,,Subdomains,", []string{"DomainGeneralInfo", "Subdomains"}},
		{"sections=", nil},
		{"sections=,", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			e := newTestEnv(t)
			w := e.do(t, "GET", "/v1/lookup?indicator=example.com&"+tt.query, "", bearer(keySIEM))
			if w.Code != 200 {
				t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
			}
			if got := e.svc.lastQuery(t).Sections; !slices.Equal(got, tt.want) {
				t.Errorf("sections = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLimitParsing(t *testing.T) {
	tests := []struct {
		name      string
		query     string // GET query after indicator=example.com
		body      string // POST body's limit member, raw JSON
		wantLimit int
		getOK     bool
		postOK    bool
	}{
		{"absent", "", "", 0, true, true},
		{"one", "limit=1", "1", 1, true, true},
		{"thousand", "limit=1000", "1000", 1000, true, true},
		{"zero", "limit=0", "0", 0, false, false},
		{"negative", "limit=-5", "-5", 0, false, false},
		{"too big", "limit=1001", "1001", 0, false, false},
		{"not a number", "limit=ten", `"ten"`, 0, false, false},
		{"fraction", "limit=1.5", "1.5", 0, false, false},
		{"exponent", "limit=1e2", "1e2", 0, false, false},
		{"huge", "limit=99999999999999999999", "99999999999999999999", 0, false, false},
		// JSON has numbers; a string is a mistake worth reporting.
		{"number as string in JSON", "limit=5", `"5"`, 5, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			target := "/v1/lookup?indicator=example.com"
			if tt.query != "" {
				target += "&" + tt.query
			}
			body := `{"indicator":"example.com"}`
			if tt.body != "" {
				body = `{"indicator":"example.com","limit":` + tt.body + `}`
			}
			for _, c := range []struct {
				name string
				w    *httptest.ResponseRecorder
				ok   bool
			}{
				{"GET", e.do(t, "GET", target, "", bearer(keySIEM)), tt.getOK},
				{"POST", e.do(t, "POST", "/v1/lookup", body, bearer(keySIEM), jsonCT), tt.postOK},
			} {
				if c.ok {
					if c.w.Code != 200 {
						t.Errorf("%s status = %d, want 200 (body %s)", c.name, c.w.Code, c.w.Body)
					}
					continue
				}
				if c.w.Code != 400 {
					t.Errorf("%s status = %d, want 400", c.name, c.w.Code)
					continue
				}
				p := decodeProblem(t, c.w)
				if got := paramNames(p); !slices.Equal(got, []string{"limit"}) {
					t.Errorf("%s invalid_params names = %q, want [limit]", c.name, got)
					continue
				}
				if !strings.Contains(p.InvalidParams[0].Reason, "default is 10") {
					t.Errorf("%s reason %q does not give the default", c.name, p.InvalidParams[0].Reason)
				}
			}
			if tt.getOK {
				// The GET came first; find its query.
				e.svc.mu.Lock()
				got := e.svc.queries[0].Limit
				e.svc.mu.Unlock()
				if got != tt.wantLimit {
					t.Errorf("GET limit = %d, want %d", got, tt.wantLimit)
				}
			}
		})
	}
}

func TestBadQueryParameters(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		wantParams []string
	}{
		{"unknown format", "indicator=example.com&format=xml", []string{"format"}},
		{"cache_only not a boolean", "indicator=example.com&cache_only=yes", []string{"cache_only"}},
		{"indicator twice", "indicator=a.com&indicator=b.com", []string{"indicator"}},
		{"unknown parameter", "indicator=example.com&count=5", []string{"count"}},
		{"every problem at once", "indicator=example.com&limit=x&format=xml&cache_only=maybe&zzz=1&aaa=2",
			[]string{"limit", "format", "cache_only", "aaa", "zzz"}},
		{"malformed query", "indicator=%zz", []string{"query"}},
		{"missing indicator (from Prepare)", "type=ip", []string{"indicator"}},
		{"unknown section (from Prepare)", "indicator=example.com&sections=Nope", []string{"sections"}},
		{"LicenseInfo (from Prepare)", "indicator=example.com&sections=LicenseInfo", []string{"sections"}},
		{"unknown type (from Prepare)", "indicator=example.com&type=email", []string{"type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			w := e.do(t, "GET", "/v1/lookup?"+tt.query, "", bearer(keySIEM))
			if w.Code != 400 {
				t.Fatalf("status = %d, want 400 (body %s)", w.Code, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Type != typeInvalidRequest {
				t.Errorf("type = %q, want %q", p.Type, typeInvalidRequest)
			}
			if got := paramNames(p); !slices.Equal(got, tt.wantParams) {
				t.Errorf("invalid_params names = %q, want %q", got, tt.wantParams)
			}
			for _, ip := range p.InvalidParams {
				if ip.Reason == "" {
					t.Errorf("param %q has no reason", ip.Name)
				}
			}
			if n := e.svc.lookups(); n != 0 {
				t.Errorf("Lookup called %d times for a bad request, want 0", n)
			}
		})
	}
}

func TestBadBodies(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		headers    []string
		wantStatus int
		wantType   string
		wantParams []string
	}{
		{"not JSON", `{"indicator":`, []string{jsonCT}, 400, typeInvalidRequest, []string{"body"}},
		{"array", `["example.com"]`, []string{jsonCT}, 400, typeInvalidRequest, []string{"body"}},
		{"null", `null`, []string{jsonCT}, 400, typeInvalidRequest, []string{"body"}},
		{"empty", ``, []string{jsonCT}, 400, typeInvalidRequest, []string{"body"}},
		{"two values", `{"indicator":"example.com"} {}`, []string{jsonCT}, 400, typeInvalidRequest, []string{"body"}},
		{"unknown field", `{"indicator":"example.com","section":["X"]}`, []string{jsonCT}, 400, typeInvalidRequest, []string{"section"}},
		{"wrong types", `{"indicator":5,"type":true,"sections":7,"limit":"x","format":1,"cache_only":"true"}`, []string{jsonCT}, 400, typeInvalidRequest,
			[]string{"indicator", "type", "sections", "limit", "format", "cache_only"}},
		{"sections with a number", `{"indicator":"example.com","sections":["A",1]}`, []string{jsonCT}, 400, typeInvalidRequest, []string{"sections"}},
		{"form body", `indicator=example.com`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, typeUnsupportedMediaType, nil},
		{"text body", `example.com`, []string{"Content-Type: text/plain"}, 415, typeUnsupportedMediaType, nil},
		{"no content type, not JSON", `example.com`, nil, 415, typeUnsupportedMediaType, nil},
		{"too large", `{"indicator":"` + strings.Repeat("a", 2<<20) + `"}`, []string{jsonCT}, 413, typePayloadTooLarge, nil},
	}
	for _, tt := range tests {
		for _, path := range []string{"/v1/lookup", "/v1/refresh"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				e := newTestEnv(t)
				w := e.do(t, "POST", path, tt.body, append([]string{bearer(keyOps)}, tt.headers...)...)
				if w.Code != tt.wantStatus {
					t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
				}
				p := decodeProblem(t, w)
				if p.Type != tt.wantType {
					t.Errorf("type = %q, want %q", p.Type, tt.wantType)
				}
				if got := paramNames(p); !slices.Equal(got, tt.wantParams) {
					t.Errorf("invalid_params names = %q, want %q", got, tt.wantParams)
				}
				if n := e.svc.lookups(); n != 0 {
					t.Errorf("Lookup called %d times, want 0", n)
				}
			})
		}
	}
}

func TestJSONBodyWithOtherContentTypes(t *testing.T) {
	for _, ct := range []string{
		"Content-Type: application/json; charset=utf-8",
		"Content-Type: application/x-www-form-urlencoded", // curl -d's default
		"Content-Type: text/plain",
		"Content-Type: application/vnd.tipgate+json",
	} {
		t.Run(ct, func(t *testing.T) {
			e := newTestEnv(t)
			w := e.do(t, "POST", "/v1/lookup", `{"indicator":"example.com"}`, bearer(keySIEM), ct)
			if w.Code != 200 {
				t.Errorf("status = %d, want 200 (body %s)", w.Code, w.Body)
			}
		})
	}
}

func TestLookupResponse(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
		return &lookup.Result{
			Indicator: req.Indicator,
			Zone:      "Red",
			Found:     true,
			Limit:     req.Limit,
			// In the catalog's order; the answer sorts them by name.
			Sections: []lookup.Section{
				lookup.NewSection("DomainGeneralInfo", json.RawMessage(`{"Domain":"example.com","HitsCount":7}`), receivedAt),
				lookup.NewSection("DomainDnsResolutions", json.RawMessage(`[{"Ip":"1.2.3.4","Url":"http://x/?a=1&b=<2>"}]`),
					receivedAt.Add(time.Second+5*time.Millisecond)),
			},
			// A zone other than UTC, and nanoseconds, to check the layout.
			ReceivedAt: receivedAt.In(time.FixedZone("CET", 3600)),
			Cache:      lookup.CachePartial,
		}, nil
	}
	w := e.do(t, "GET", "/v1/lookup?indicator=EXAMPLE.com&sections=DomainGeneralInfo,DomainDnsResolutions", "", bearer(keySIEM))
	if w.Code != 200 {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	want := `{"indicator":"example.com","type":"domain","zone":"Red","found":true,"limit":10,` +
		`"sections":{"DomainDnsResolutions":[{"Ip":"1.2.3.4","Url":"http://x/?a=1&b=<2>"}],"DomainGeneralInfo":{"Domain":"example.com","HitsCount":7}},` +
		`"received_at":"2026-11-23T14:00:00.123Z",` +
		`"sections_received_at":{"DomainDnsResolutions":"2026-11-23T14:00:01.128Z","DomainGeneralInfo":"2026-11-23T14:00:00.123Z"},` +
		`"cache":"partial"}` + "\n"
	if got := w.Body.String(); got != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
	for name, want := range map[string]string{
		"Content-Type":   "application/json",
		"Content-Length": strconv.Itoa(len(want)), // not chunked
		"X-Cache":        "PARTIAL",
		"Age":            "90",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestCacheHeaders(t *testing.T) {
	tests := []struct {
		cache    lookup.CacheState
		received time.Time
		wantX    string
		wantAge  string
	}{
		{lookup.CacheHit, receivedAt, "HIT", "90"},
		{lookup.CacheMiss, testNow, "MISS", "0"},
		{lookup.CachePartial, testNow.Add(-999 * time.Millisecond), "PARTIAL", "0"},
		{lookup.CacheRefreshed, testNow.Add(-time.Second), "REFRESHED", "1"},
		{lookup.CacheStale, testNow.Add(-48 * time.Hour), "STALE", "172800"},
		{lookup.CacheMiss, testNow.Add(time.Minute), "MISS", "0"}, // a clock ahead of ours
	}
	for _, tt := range tests {
		t.Run(string(tt.cache)+" "+tt.wantAge, func(t *testing.T) {
			e := newTestEnv(t)
			e.svc.lookupFn = func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
				res := hitResult(req)
				res.Cache, res.ReceivedAt = tt.cache, tt.received
				return res, nil
			}
			w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
			if got := w.Header().Get("X-Cache"); got != tt.wantX {
				t.Errorf("X-Cache = %q, want %q", got, tt.wantX)
			}
			if got := w.Header().Get("Age"); got != tt.wantAge {
				t.Errorf("Age = %q, want %q", got, tt.wantAge)
			}
			var body struct{ Cache string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Cache != string(tt.cache) {
				t.Errorf("cache = %q (err %v), want %q", body.Cache, err, tt.cache)
			}
		})
	}
}

func TestNotFoundResult(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
		return &lookup.Result{Indicator: req.Indicator, Zone: "Grey", Found: false, Limit: req.Limit,
			ReceivedAt: receivedAt, Cache: lookup.CacheMiss}, nil
	}
	w := e.do(t, "GET", "/v1/lookup?indicator=d41d8cd98f00b204e9800998ecf8427e", "", bearer(keySIEM))
	if w.Code != 200 {
		t.Fatalf("status = %d, want 200", w.Code)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"found": "false", "zone": `"Grey"`, "sections": "{}", "sections_received_at": "{}", "type": `"hash"`,
	} {
		if got := string(body[field]); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantType   string
		wantDetail string // a substring
		wantLogged string // a substring of the logs, "" for none
	}{
		{"not cached", fmt.Errorf("lookup: %w", lookup.ErrNotCached), 404, "not-cached", "cache_only", ""},
		{"tip bad request", &tip.Error{Kind: tip.KindBadRequest, Status: 400, Detail: "the URL is too long"}, 400, "tip-bad-request", "the URL is too long", ""},
		{"tip unauthorized", &tip.Error{Kind: tip.KindUnauthorized, Status: 401, Detail: "401"}, 502, "tip-unauthorized", "Terms and Conditions", "tip-unauthorized"},
		{"tip forbidden", &tip.Error{Kind: tip.KindForbidden, Status: 403, Detail: "403"}, 502, "tip-forbidden", "quota", "tip-forbidden"},
		{"tip rate limited", &tip.Error{Kind: tip.KindRateLimited, Status: 429}, 502, "tip-rate-limited", "try again", "tip-rate-limited"},
		{"tip unavailable", fmt.Errorf("fetch: %w", &tip.Error{Kind: tip.KindUnavailable, Status: 503}), 502, "tip-unavailable", "try again later", "tip-unavailable"},
		{"tip timeout", &tip.Error{Kind: tip.KindTimeout, Err: context.DeadlineExceeded}, 504, "tip-timeout", "in time", "tip-timeout"},
		{"breaker open", &tip.Error{Kind: tip.KindUnavailable, Refused: true, RetryAfter: 1500 * time.Millisecond}, 503, "tip-unavailable", "circuit breaker", ""},
		{"budget spent", &tip.Error{Kind: tip.KindBudgetSpent, Refused: true, RetryAfter: time.Hour, Detail: "the gateway's daily TIP budget of 3 requests is spent"}, 503, "tip-budget-spent", "budget of 3", ""},
		{"own deadline", fmt.Errorf("store: %w", context.DeadlineExceeded), 504, "timeout", "deadline", "timeout"},
		{"invalid from lookup", &lookup.InvalidError{Params: []lookup.InvalidParam{{Name: "sections", Reason: "bad"}}}, 400, "invalid-request", "sections: bad", ""},
		{"indicator error", &indicator.Error{Reason: "not a domain"}, 400, "invalid-request", "not a domain", ""},
		{"internal", errors.New("redis: secret-cause-xyz"), 500, "internal", "request id", "secret-cause-xyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.svc.lookupFn = func(context.Context, lookup.Request) (*lookup.Result, error) { return nil, tt.err }
			w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM), "X-Request-Id: req-42")
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Type != tt.wantType {
				t.Errorf("type = %q, want %q", p.Type, tt.wantType)
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not contain %q", p.Detail, tt.wantDetail)
			}
			if strings.Contains(w.Body.String(), "secret-cause") {
				t.Errorf("body reveals the internal cause: %s", w.Body)
			}
			if w.Header().Get("X-Cache") != "" || w.Header().Get("Age") != "" {
				t.Errorf("an error carries X-Cache %q / Age %q", w.Header().Get("X-Cache"), w.Header().Get("Age"))
			}
			logs := e.logs.String()
			if tt.wantLogged != "" && !strings.Contains(logs, tt.wantLogged) {
				t.Errorf("logs lack %q:\n%s", tt.wantLogged, logs)
			}
			if tt.wantLogged != "" && !strings.Contains(logs, `"request_id":"req-42"`) {
				t.Errorf("error log lacks the request id:\n%s", logs)
			}
			if tt.name == "internal" && !strings.Contains(p.Detail, "req-42") {
				t.Errorf("internal detail %q does not give the request id", p.Detail)
			}
			// A 503 says when to come back, rounded up to whole seconds.
			wantRetry := map[string]string{"breaker open": "2", "budget spent": "3600"}[tt.name]
			if got := w.Header().Get("Retry-After"); got != wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, wantRetry)
			}
		})
	}
}

func TestStaleAndLocalAnswers(t *testing.T) {
	received := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		cache       lookup.CacheState
		staleReason string
		wantXCache  string
	}{
		{"stale with its reason", lookup.CacheStale, "tip-rate-limited", "STALE"},
		{"cache-only past freshness", lookup.CacheStale, lookup.StaleCacheOnly, "STALE"},
		{"local", lookup.CacheLocal, "", "LOCAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.svc.lookupFn = func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
				return &lookup.Result{Indicator: req.Indicator, Zone: "Grey", Limit: req.Limit, ReceivedAt: received, Cache: tt.cache, StaleReason: tt.staleReason}, nil
			}
			w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
			if w.Code != 200 {
				t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
			}
			if got := w.Header().Get("X-Cache"); got != tt.wantXCache {
				t.Errorf("X-Cache = %q, want %q", got, tt.wantXCache)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			got, present := body["stale_reason"]
			if tt.staleReason == "" && present {
				t.Errorf("stale_reason = %v on a %s answer, want none", got, tt.cache)
			}
			if tt.staleReason != "" && got != tt.staleReason {
				t.Errorf("stale_reason = %v, want %q", got, tt.staleReason)
			}
		})
	}
}

func TestNilResultIsInternal(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(context.Context, lookup.Request) (*lookup.Result, error) { return nil, nil }
	w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
	if w.Code != 500 {
		t.Fatalf("status = %d, want 500", w.Code)
	}
}

func TestRequestDeadline(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.RequestTimeout = time.Millisecond })
	e.svc.lookupFn = func(ctx context.Context, _ lookup.Request) (*lookup.Result, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("the lookup context has no deadline")
		}
		<-ctx.Done()
		return nil, fmt.Errorf("waiting for TIP: %w", ctx.Err())
	}
	w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
	if w.Code != 504 {
		t.Fatalf("status = %d, want 504 (body %s)", w.Code, w.Body)
	}
	if p := decodeProblem(t, w); p.Type != typeTimeout {
		t.Errorf("type = %q, want %q", p.Type, typeTimeout)
	}
}

func TestClientGoneAway(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(ctx context.Context, _ lookup.Request) (*lookup.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := request(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM)).WithContext(ctx)
	w := e.serve(r)
	if w.Code != statusClientClosed {
		t.Errorf("status = %d, want %d", w.Code, statusClientClosed)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a caller going away was logged as an error:\n%s", e.logs)
	}
}

func TestFlatFormat(t *testing.T) {
	t.Run("available", func(t *testing.T) {
		e := newTestEnv(t)
		w := e.do(t, "GET", "/v1/lookup?indicator=example.com&format=FLAT", "", bearer(keySIEM))
		if w.Code != 200 {
			t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
		}
		want := `{"KLZone":"Red","cache":"hit","received_at":"2026-11-23T14:00:00.123Z"}` + "\n"
		if got := w.Body.String(); got != want {
			t.Errorf("body = %s, want %s", got, want)
		}
		if got := w.Header().Get("X-Cache"); got != "HIT" {
			t.Errorf("X-Cache = %q, want HIT", got)
		}
	})
	t.Run("not in this build", func(t *testing.T) {
		e := newTestEnv(t, func(o *Options) { o.Flatten = nil })
		w := e.do(t, "POST", "/v1/lookup", `{"indicator":"example.com","format":"flat"}`, bearer(keySIEM), jsonCT)
		if w.Code != 501 {
			t.Fatalf("status = %d, want 501", w.Code)
		}
		p := decodeProblem(t, w)
		if p.Detail != "Flat output is not available in this build." {
			t.Errorf("detail = %q", p.Detail)
		}
		if n := e.svc.lookups(); n != 0 {
			t.Errorf("Lookup called %d times, want 0: no quota for an answer that cannot be given", n)
		}
	})
}

func TestRefresh(t *testing.T) {
	e := newTestEnv(t)
	w := e.do(t, "POST", "/v1/refresh", `{"indicator":"example.com","sections":"DomainGeneralInfo","limit":3}`, bearer(keySOAR), jsonCT)
	if w.Code != 200 {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	if got := e.svc.lastQuery(t); got.Mode != lookup.Refresh || got.Limit != 3 {
		t.Errorf("query = %+v, want Mode Refresh, Limit 3", got)
	}
	if got := w.Header().Get("X-Cache"); got != "REFRESHED" {
		t.Errorf("X-Cache = %q, want REFRESHED", got)
	}

	w = e.do(t, "POST", "/v1/refresh", `{"indicator":"example.com","cache_only":true}`, bearer(keySOAR), jsonCT)
	if w.Code != 400 {
		t.Fatalf("refresh with cache_only: status = %d, want 400", w.Code)
	}
	if got := paramNames(decodeProblem(t, w)); !slices.Equal(got, []string{"cache_only"}) {
		t.Errorf("invalid_params = %q, want [cache_only]", got)
	}
}

func TestModes(t *testing.T) {
	e := newTestEnv(t)
	for _, tt := range []struct {
		method, target, body string
		want                 lookup.Mode
	}{
		{"GET", "/v1/lookup?indicator=example.com", "", lookup.Normal},
		{"GET", "/v1/lookup?indicator=example.com&cache_only=TRUE", "", lookup.CacheOnly},
		{"GET", "/v1/lookup?indicator=example.com&cache_only=1", "", lookup.CacheOnly},
		{"POST", "/v1/lookup", `{"indicator":"example.com","cache_only":true}`, lookup.CacheOnly},
		{"POST", "/v1/refresh", `{"indicator":"example.com"}`, lookup.Refresh},
	} {
		w := e.do(t, tt.method, tt.target, tt.body, bearer(keyOps), jsonCT)
		if w.Code != 200 {
			t.Errorf("%s %s = %d, want 200", tt.method, tt.target, w.Code)
			continue
		}
		if got := e.svc.lastQuery(t).Mode; got != tt.want {
			t.Errorf("%s %s %s: mode = %v, want %v", tt.method, tt.target, tt.body, got, tt.want)
		}
	}
}

func TestPurge(t *testing.T) {
	e := newTestEnv(t)
	w := e.do(t, "DELETE", "/v1/cache?indicator=EXAMPLE.com&type=domain", "", bearer(keyOps))
	if w.Code != 204 {
		t.Fatalf("status = %d, want 204 (body %s)", w.Code, w.Body)
	}
	if w.Body.Len() != 0 {
		t.Errorf("204 has a body: %s", w.Body)
	}
	want := indicator.Indicator{Type: indicator.Domain, Value: "example.com"}
	if len(e.svc.forgotten) != 1 || e.svc.forgotten[0] != want {
		t.Errorf("forgotten = %v, want [%v]", e.svc.forgotten, want)
	}
	if !strings.Contains(e.logs.String(), `"msg":"audit","audit":true,"action":"purge","outcome":"ok","key":"ops"`) {
		t.Errorf("the purge was not audited:\n%s", e.logs)
	}

	for _, tt := range []struct {
		target     string
		wantParams []string
	}{
		{"/v1/cache", []string{"indicator"}},
		{"/v1/cache?indicator=example.com&sections=X", []string{"sections"}},
		{"/v1/cache?indicator=example.com&type=nope", []string{"type"}},
	} {
		w := e.do(t, "DELETE", tt.target, "", bearer(keyOps))
		if w.Code != 400 {
			t.Errorf("DELETE %s = %d, want 400", tt.target, w.Code)
			continue
		}
		if got := paramNames(decodeProblem(t, w)); !slices.Equal(got, tt.wantParams) {
			t.Errorf("DELETE %s invalid_params = %q, want %q", tt.target, got, tt.wantParams)
		}
	}

	e.svc.forgetFn = func(context.Context, indicator.Indicator) error { return errors.New("redis down") }
	if w := e.do(t, "DELETE", "/v1/cache?indicator=example.com", "", bearer(keyOps)); w.Code != 500 {
		t.Errorf("failed Forget = %d, want 500", w.Code)
	}
}

func TestSectionsListing(t *testing.T) {
	e := newTestEnv(t)
	w := e.do(t, "GET", "/v1/sections", "", bearer(keySIEM))
	if w.Code != 200 {
		t.Fatalf("status = %d", w.Code)
	}
	body := w.Body.String()
	// The types come in DESIGN.md's order, not a map's.
	idx := func(s string) int { return strings.Index(body, s) }
	if !(idx(`"hash"`) < idx(`"ip"`) && idx(`"ip"`) < idx(`"domain"`) && idx(`"domain"`) < idx(`"url"`)) {
		t.Errorf("types out of order: %s", body)
	}
	var got map[string][]sectionInfo
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Errorf("listing has %d types, want 4: %s", len(got), body)
	}
	cat := tip.NewCatalog()
	for _, typ := range indicator.Types() {
		var want []sectionInfo
		for _, s := range cat.Lookup(typ) {
			want = append(want, sectionInfo{Name: s.Name, Kind: string(s.Kind), Default: s.Default})
		}
		if !slices.Equal(got[string(typ)], want) {
			t.Errorf("%s = %+v, want %+v", typ, got[string(typ)], want)
		}
		for _, s := range got[string(typ)] {
			if s.Name == tip.SectionZone || s.Name == tip.SectionLicense {
				t.Errorf("%s lists %s", typ, s.Name)
			}
		}
	}
	if !strings.Contains(body, `{"name":"FileGeneralInfo","kind":"object","default":true}`) {
		t.Errorf("body lacks FileGeneralInfo in the contract's shape: %s", body)
	}
}

func TestStatus(t *testing.T) {
	e := newTestEnv(t)
	w := e.do(t, "GET", "/v1/status", "", bearer(keyAudit))
	if got, want := w.Body.String(), `{"store":{"backend":"memory","status":"ok"},"tip":{"auth":"token","health":{"status":"ok"},"quota":{"DayQuota":1000,"DayRequests":5},"url":"https://tip.example"},"version":"test"}`+"\n"; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	e = newTestEnv(t, func(o *Options) { o.Status = nil })
	w = e.do(t, "GET", "/v1/status", "", bearer(keyAudit))
	if w.Code != 501 {
		t.Errorf("status without a Status func = %d, want 501", w.Code)
	}
	decodeProblem(t, w)
}

func TestHealthAndReadiness(t *testing.T) {
	tests := []struct {
		name       string
		ready      func(context.Context) (bool, any)
		wantStatus int
		wantBody   string
	}{
		{"ready", func(context.Context) (bool, any) {
			return true, map[string]string{"status": "ready", "store": "degraded"}
		},
			200, `{"status":"ready","store":"degraded"}`},
		{"not ready", func(context.Context) (bool, any) {
			return false, map[string]string{"status": "unavailable", "tip": "certificate expired"}
		},
			503, `{"status":"unavailable","tip":"certificate expired"}`},
		{"not ready, no report", func(context.Context) (bool, any) { return false, nil }, 503, `{"status":"unavailable"}`},
		{"no Ready func", nil, 200, `{"status":"ready"}`},
		{"ready has a deadline", func(ctx context.Context) (bool, any) { _, ok := ctx.Deadline(); return ok, nil }, 200, `{"status":"ready"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(o *Options) { o.Ready = tt.ready })
			w := e.do(t, "GET", "/readyz", "")
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := strings.TrimSpace(w.Body.String()); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
		})
	}
	e := newTestEnv(t, func(o *Options) {
		o.Ready = func(context.Context) (bool, any) { t.Error("healthz called Ready"); return false, nil }
	})
	w := e.do(t, "GET", "/healthz", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %s, want 200 {\"status\":\"ok\"}", w.Code, w.Body)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newTestEnv(t)
	w := e.do(t, "GET", "/openapi.yaml", "")
	if got := w.Header().Get("Content-Type"); got != "application/yaml" {
		t.Errorf("Content-Type = %q, want application/yaml", got)
	}
	if w.Body.String() != string(api.Spec()) {
		t.Error("the served document differs from api.Spec()")
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		method, target string
		wantStatus     int
		wantType       string
		wantAllow      string
	}{
		{"GET", "/v2/lookup", 404, typeNotFound, ""},
		{"GET", "/", 404, typeNotFound, ""},
		{"GET", "/v1/lookup/extra", 404, typeNotFound, ""},
		{"PUT", "/v1/lookup", 405, typeMethodNotAllowed, "GET, HEAD, POST"},
		{"GET", "/v1/refresh", 405, typeMethodNotAllowed, "POST"},
		{"POST", "/v1/cache", 405, typeMethodNotAllowed, "DELETE"},
		{"DELETE", "/healthz", 405, typeMethodNotAllowed, "GET, HEAD"},
		{"BREW", "/v1/lookup", 405, typeMethodNotAllowed, "GET, HEAD, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			// No key: the route is resolved before authentication.
			w := e.do(t, tt.method, tt.target, "")
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if p := decodeProblem(t, w); p.Type != tt.wantType {
				t.Errorf("type = %q, want %q", p.Type, tt.wantType)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name, sent string
		wantEcho   bool
	}{
		{"sane", "soar-run-17:step.3", true},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000", true},
		{"spaces", "a b", false},
		{"too long", strings.Repeat("a", 129), false},
		{"newline", "a\nb", false},
		{"absent", "", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
			if tt.sent != "" {
				r.Header["X-Request-Id"] = []string{tt.sent}
			}
			w := e.serve(r)
			got := w.Header().Get("X-Request-Id")
			if tt.wantEcho {
				if got != tt.sent {
					t.Errorf("X-Request-Id = %q, want %q", got, tt.sent)
				}
				return
			}
			if got == "" || got == tt.sent || !saneRequestID(got) {
				t.Errorf("X-Request-Id = %q, want a fresh sane id", got)
			}
			if seen[got] {
				t.Errorf("id %q generated twice", got)
			}
			seen[got] = true
		})
	}
	// The id reaches the access log.
	e.do(t, "GET", "/healthz", "", "X-Request-Id: trace-me-123")
	if !strings.Contains(e.logs.String(), `"request_id":"trace-me-123"`) {
		t.Errorf("access log lacks the request id:\n%s", e.logs)
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(context.Context, lookup.Request) (*lookup.Result, error) { panic("boom") }
	w := e.do(t, "GET", "/v1/lookup?indicator=example.com", "", bearer(keySIEM))
	if w.Code != 500 {
		t.Fatalf("status = %d, want 500", w.Code)
	}
	if p := decodeProblem(t, w); p.Type != typeInternal || strings.Contains(p.Detail, "boom") {
		t.Errorf("problem = %+v, want internal without the panic value", p)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "handler panicked") || !strings.Contains(logs, `"status":500`) {
		t.Errorf("logs lack the panic or its 500 access line:\n%s", logs)
	}
}

func TestAccessLog(t *testing.T) {
	e := newTestEnv(t)
	e.do(t, "GET", "/v1/lookup?indicator=secret-looking.example", "", bearer(keySOAR), "X-Request-Id: r1")
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(e.logs.String()), "\n") {
		if strings.Contains(l, `"msg":"http request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line:\n%s", e.logs)
	}
	want := map[string]any{"method": "GET", "route": "/v1/lookup", "status": float64(200), "request_id": "r1", "key": "soar", "level": "INFO"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"bytes", "duration_ms"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log lacks %s", k)
		}
	}
}

func TestNewValidatesOptions(t *testing.T) {
	good := func() Options {
		reg := prometheus.NewRegistry()
		return Options{Service: newFakeService(), Registerer: reg, Logger: discardLogger()}
	}
	tests := []struct {
		name   string
		modify func(*Options)
		want   string // "" for success
	}{
		{"minimal", func(*Options) {}, ""},
		{"no service", func(o *Options) { o.Service = nil }, "Service"},
		{"no logger", func(o *Options) { o.Logger = nil }, "Logger"},
		{"no registerer", func(o *Options) { o.Registerer = nil }, "Registerer"},
		{"registerer not a gatherer", func(o *Options) { o.Registerer = prometheus.WrapRegistererWith(nil, prometheus.NewRegistry()) }, "Gatherer"},
		{"negative timeout", func(o *Options) { o.RequestTimeout = -time.Second }, "RequestTimeout"},
		{"negative body", func(o *Options) { o.MaxBodyBytes = -1 }, "MaxBodyBytes"},
		{"bad default limit", func(o *Options) { o.DefaultLimit = 5000 }, "DefaultLimit"},
		{"functions", func(o *Options) { o.Functions = testFunctions }, ""},
		{"function named twice", func(o *Options) { o.Functions = append(slices.Clone(testFunctions), testFunctions[0]) }, "Functions"},
		{"function name not a path segment", func(o *Options) { o.Functions = []Function{{Name: "a/b", Type: indicator.IP}} }, "Functions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.modify(&o)
			h, err := New(o)
			if tt.want == "" {
				if err != nil || h == nil {
					t.Fatalf("New = %v, %v; want a handler", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
	// Every missing dependency is reported at once.
	_, err := New(Options{})
	for _, f := range []string{"Service", "Logger", "Registerer"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("New(Options{}) error %v does not name %s", err, f)
		}
	}
}

func TestDefaults(t *testing.T) {
	s, err := newServer(Options{Service: newFakeService(), Registerer: prometheus.NewRegistry(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.RequestTimeout != 60*time.Second || s.opts.MaxBodyBytes != 1<<20 {
		t.Errorf("defaults = %v, %d; want 60s, 1 MiB", s.opts.RequestTimeout, s.opts.MaxBodyBytes)
	}
}

func TestFormatTime(t *testing.T) {
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC), "2026-01-02T03:04:05.999Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", -5*3600)), "2026-01-02T08:04:05.000Z"},
	} {
		if got := formatTime(tt.in); got != tt.want {
			t.Errorf("formatTime(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
