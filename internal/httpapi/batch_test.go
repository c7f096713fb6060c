package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

// batchItemJSON is one result of a batch as a caller reads it.
type batchItemJSON struct {
	Input     string          `json:"input"`
	Indicator string          `json:"indicator"`
	Type      string          `json:"type"`
	Cache     string          `json:"cache"`
	Zone      string          `json:"zone"`
	KLZone    string          `json:"KLZone"`
	Sections  map[string]any  `json:"sections"`
	Error     *problem        `json:"error"`
	Raw       json.RawMessage `json:"-"`
}

func decodeBatch(t *testing.T, w *httptest.ResponseRecorder) []batchItemJSON {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %.500s)", w.Code, w.Body)
	}
	var body struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("batch body %.300s: %v", w.Body, err)
	}
	out := make([]batchItemJSON, len(body.Results))
	for i, raw := range body.Results {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("result %d %s: %v", i, raw, err)
		}
		out[i].Raw = raw
	}
	return out
}

func batchBody(indicators ...any) string {
	b, _ := json.Marshal(map[string]any{"indicators": indicators})
	return string(b)
}

// TestBatchOrderAndPartialFailure: results come in input order, each with
// the indicator as given and its normalised form; a bad element or a failed
// lookup is a problem in its place and the rest are answered.
func TestBatchOrderAndPartialFailure(t *testing.T) {
	e := newTestEnv(t)
	e.svc.lookupFn = func(_ context.Context, req lookup.Request) (*lookup.Result, error) {
		if req.Indicator.Value == "down.example.com" {
			return nil, &tip.Error{Kind: tip.KindUnavailable, Status: 503, Detail: "TIP answered 503"}
		}
		return hitResult(req), nil
	}
	body := batchBody(
		"Example.COM",
		"not an indicator",
		map[string]any{"indicator": "1.2.3.4", "type": "ip"},
		map[string]any{"indicator": "1.2.3.4", "type": "hash"},
		5,
		map[string]any{"indicator": "a.example", "count": 3},
		"down.example.com",
		"example.com",
	)
	w := e.do(t, "POST", "/v1/lookup/batch", body, bearer(keySIEM), jsonCT)
	// Past net/http's 2 KB buffer, a body without a length goes out chunked.
	if got, want := w.Header().Get("Content-Length"), strconv.Itoa(w.Body.Len()); w.Body.Len() <= 2048 || got != want {
		t.Errorf("Content-Length = %q for a %d-byte batch answer, want %s", got, w.Body.Len(), want)
	}
	items := decodeBatch(t, w)
	want := []struct {
		input, indicator, errType string
		errStatus                 int
		errParam                  string
	}{
		{"Example.COM", "example.com", "", 0, ""},
		{"not an indicator", "not an indicator", typeInvalidRequest, 400, "indicator"},
		{"1.2.3.4", "1.2.3.4", "", 0, ""},
		{"1.2.3.4", "1.2.3.4", typeInvalidRequest, 400, "indicator"},
		{"5", "5", typeInvalidRequest, 400, "indicators[4]"},
		{"a.example", "a.example", typeInvalidRequest, 400, "count"},
		{"down.example.com", "down.example.com", "tip-unavailable", 502, ""},
		{"example.com", "example.com", "", 0, ""},
	}
	if len(items) != len(want) {
		t.Fatalf("%d results for %d indicators", len(items), len(want))
	}
	for i, w := range want {
		it := items[i]
		if it.Input != w.input || it.Indicator != w.indicator {
			t.Errorf("result %d: input %q indicator %q, want %q %q", i, it.Input, it.Indicator, w.input, w.indicator)
		}
		if w.errType == "" {
			if it.Error != nil || it.Cache != "hit" || it.Zone != "Red" {
				t.Errorf("result %d = %s, want a hit", i, it.Raw)
			}
			continue
		}
		if it.Error == nil {
			t.Errorf("result %d = %s, want a %s problem", i, it.Raw, w.errType)
			continue
		}
		if it.Error.Type != w.errType || it.Error.Status != w.errStatus || it.Error.Title == "" || it.Error.Detail == "" {
			t.Errorf("result %d problem = %+v, want %s %d", i, *it.Error, w.errType, w.errStatus)
		}
		if w.errParam != "" && !slices.Contains(paramNames(*it.Error), w.errParam) {
			t.Errorf("result %d invalid_params = %q, want %q among them", i, paramNames(*it.Error), w.errParam)
		}
	}
	// Only the valid items reached the service, in one batch.
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	if len(e.svc.batches) != 1 || len(e.svc.batches[0]) != 4 {
		t.Fatalf("LookupBatch calls = %v, want one of 4 requests", e.svc.batches)
	}
	if !strings.Contains(e.logs.String(), `"problem":"tip-unavailable"`) {
		t.Errorf("the failed item was not logged: %s", e.logs)
	}
}

// TestBatchSharedParameters: sections, limit and cache_only apply to every
// item; sections of several types go each to its own type, and an item whose
// type none fits gets its zone alone.
func TestBatchSharedParameters(t *testing.T) {
	e := newTestEnv(t)
	body := `{"indicators": ["example.com", "1.2.3.4", "d41d8cd98f00b204e9800998ecf8427e", "http://example.com/x"],
		"sections": ["domaingeneralinfo", "IpGeneralInfo", "DomainDnsResolutions"], "limit": 7, "cache_only": true}`
	items := decodeBatch(t, e.do(t, "POST", "/v1/lookup/batch", body, bearer(keySIEM), jsonCT))
	want := [][]string{{"DomainDnsResolutions", "DomainGeneralInfo"}, {"IpGeneralInfo"}, nil, {"DomainDnsResolutions"}}
	for i, it := range items {
		var got []string
		for name := range it.Sections {
			got = append(got, name)
		}
		slices.Sort(got)
		if it.Error != nil || !slices.Equal(got, want[i]) {
			t.Errorf("result %d sections = %q, want %q (%s)", i, got, want[i], it.Raw)
		}
	}
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	for _, req := range e.svc.batches[0] {
		if req.Limit != 7 || req.Mode != lookup.CacheOnly {
			t.Errorf("request %+v: want limit 7, cache only", req)
		}
	}
}

func TestBadBatches(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantType   string
		wantParams []string
	}{
		{"no indicators", `{"sections":["DomainGeneralInfo"]}`, 400, typeInvalidRequest, []string{"indicators"}},
		{"indicators not a list", `{"indicators":"example.com"}`, 400, typeInvalidRequest, []string{"indicators"}},
		{"empty", `{"indicators":[]}`, 400, typeInvalidRequest, []string{"indicators"}},
		{"single-lookup member", `{"indicators":["a.com"],"indicator":"b.com"}`, 400, typeInvalidRequest, []string{"indicator"}},
		{"every problem at once", `{"limit":0,"format":"xml","cache_only":"yes","zz":1}`, 400, typeInvalidRequest,
			[]string{"indicators", "limit", "format", "cache_only", "zz"}},
		{"section of no type", `{"indicators":["a.com"],"sections":["DomainGeneralInfo","Nope"]}`, 400, typeInvalidRequest, []string{"sections"}},
		{"LicenseInfo", `{"indicators":["a.com"],"sections":"LicenseInfo"}`, 400, typeInvalidRequest, []string{"sections"}},
		{"not an object", `["a.com"]`, 400, typeInvalidRequest, []string{"body"}},
		{"duplicate shared member", `{"indicators":["a.com"],"limit":1,"limit":1000}`, 400, typeInvalidRequest, []string{"limit"}},
		{"1001 indicators", batchBody(manyIndicators(1001)...), 413, typePayloadTooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			w := e.do(t, "POST", "/v1/lookup/batch", tt.body, bearer(keySIEM), jsonCT)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %.300s)", w.Code, tt.wantStatus, w.Body)
			}
			p := decodeProblem(t, w)
			if p.Type != tt.wantType {
				t.Errorf("type = %q, want %q", p.Type, tt.wantType)
			}
			if got := paramNames(p); !slices.Equal(got, tt.wantParams) {
				t.Errorf("invalid_params = %q, want %q", got, tt.wantParams)
			}
			if tt.wantStatus == 413 && !strings.Contains(p.Detail, "1000") {
				t.Errorf("detail %q does not name the limit", p.Detail)
			}
			if n := e.svc.lookups(); n != 0 {
				t.Errorf("Lookup called %d times, want 0", n)
			}
			e.svc.mu.Lock()
			defer e.svc.mu.Unlock()
			if len(e.svc.queries) != 0 {
				t.Errorf("Prepare called %d times for a rejected batch, want 0", len(e.svc.queries))
			}
		})
	}
}

func manyIndicators(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("d%d.example.com", i)
	}
	return out
}

// TestBatchSizes: a thousand long URLs fit (the body is far larger than a
// single lookup's bound), a body over 8 MiB does not, and single lookups
// keep their own bound.
func TestBatchSizes(t *testing.T) {
	e := newTestEnv(t)
	urls := make([]any, MaxBatchItems)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://example.com/%d/%s", i, strings.Repeat("a", 2000))
	}
	body := batchBody(urls...)
	if len(body) <= DefaultMaxBodyBytes {
		t.Fatalf("the test body is only %d bytes", len(body))
	}
	items := decodeBatch(t, e.do(t, "POST", "/v1/lookup/batch", body, bearer(keySIEM), jsonCT))
	if len(items) != MaxBatchItems {
		t.Fatalf("%d results, want %d", len(items), MaxBatchItems)
	}
	for i, it := range items {
		if it.Error != nil || it.Input != urls[i] {
			t.Fatalf("result %d = %.200s", i, it.Raw)
		}
	}

	big := `{"indicators":["` + strings.Repeat("a", MaxBatchBodyBytes) + `"]}`
	w := e.do(t, "POST", "/v1/lookup/batch", big, bearer(keySIEM), jsonCT)
	if w.Code != 413 || decodeProblem(t, w).Type != typePayloadTooLarge {
		t.Errorf("a body over 8 MiB: status %d, want a 413 problem", w.Code)
	}
	w = e.do(t, "POST", "/v1/lookup", `{"indicator":"`+strings.Repeat("a", 2<<20)+`"}`, bearer(keySIEM), jsonCT)
	if w.Code != 413 {
		t.Errorf("a 2 MiB single lookup: status %d, want 413", w.Code)
	}
}

// TestBatchDeadline: at the request's deadline the finished items are
// returned and the others carry a timeout problem with status 504.
func TestBatchDeadline(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.RequestTimeout = 200 * time.Millisecond })
	e.svc.lookupFn = func(ctx context.Context, req lookup.Request) (*lookup.Result, error) {
		if strings.HasPrefix(req.Indicator.Value, "slow") {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return hitResult(req), nil
	}
	items := decodeBatch(t, e.do(t, "POST", "/v1/lookup/batch", batchBody("a.example.com", "slow.example.com", "b.example.com", "slow2.example.com"), bearer(keySIEM), jsonCT))
	for i, it := range items {
		slow := strings.HasPrefix(it.Input, "slow")
		switch {
		case slow && (it.Error == nil || it.Error.Type != typeTimeout || it.Error.Status != 504):
			t.Errorf("result %d = %s, want a timeout problem with status 504", i, it.Raw)
		case slow && !strings.Contains(it.Error.Detail, "batch"):
			t.Errorf("result %d detail %q does not say the batch's deadline passed", i, it.Error.Detail)
		case !slow && (it.Error != nil || it.Cache != "hit"):
			t.Errorf("result %d = %s, want its answer", i, it.Raw)
		}
	}
}

func TestBatchFlat(t *testing.T) {
	e := newTestEnv(t)
	items := decodeBatch(t, e.do(t, "POST", "/v1/lookup/batch", `{"indicators":["Example.com","bad"],"format":"flat"}`, bearer(keySIEM), jsonCT))
	var flat map[string]any
	if err := json.Unmarshal(items[0].Raw, &flat); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"KLZone": "Red", "input": "Example.com", "indicator": "example.com", "type": "domain", "cache": "hit", "received_at": "2026-11-23T14:00:00.123Z"}
	if fmt.Sprint(flat) != fmt.Sprint(want) {
		t.Errorf("flat result = %v, want %v", flat, want)
	}
	if items[1].Error == nil || items[1].Input != "bad" {
		t.Errorf("bad item = %s", items[1].Raw)
	}

	e = newTestEnv(t, func(o *Options) { o.Flatten = nil })
	w := e.do(t, "POST", "/v1/lookup/batch", `{"indicators":["example.com"],"format":"flat"}`, bearer(keySIEM), jsonCT)
	if w.Code != 501 || e.svc.lookups() != 0 {
		t.Errorf("flat batch without Flatten: status %d, %d lookups; want 501 and none", w.Code, e.svc.lookups())
	}
}

func TestBatchRoleAndMethod(t *testing.T) {
	e := newTestEnv(t)
	body := batchBody("example.com")
	for _, tt := range []struct {
		headers []string
		want    int
	}{
		{nil, 401},
		{[]string{bearer(keyAudit)}, 403},
		{[]string{bearer(keySIEM)}, 200},
	} {
		if w := e.do(t, "POST", "/v1/lookup/batch", body, append(tt.headers, jsonCT)...); w.Code != tt.want {
			t.Errorf("headers %v: status %d, want %d", tt.headers, w.Code, tt.want)
		}
	}
	w := e.do(t, "GET", "/v1/lookup/batch", "", bearer(keySIEM))
	if w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET: status %d, Allow %q; want 405, POST", w.Code, w.Header().Get("Allow"))
	}
}

// TestDuplicateKeys: a JSON body that gives a member twice, at any depth,
// is refused naming it; in a batch only the item that holds it fails.
func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		name, path, body string
		wantParams       []string
	}{
		{"indicator twice", "/v1/lookup", `{"indicator":"a.com","indicator":"evil.com"}`, []string{"indicator"}},
		{"refresh", "/v1/refresh", `{"indicator":"a.com","limit":1,"limit":2}`, []string{"limit"}},
		{"nested", "/v1/lookup", `{"indicator":"a.com","x":[{"k":1},{"k":1,"j":{"k":2,"k":3}}]}`, []string{"x[1].j.k"}},
		{"several", "/v1/lookup", `{"type":"ip","indicator":"a.com","type":"domain","indicator":"b"}`, []string{"type", "indicator"}},
		{"batch member", "/v1/lookup/batch", `{"indicators":["a.com"],"indicators":["evil.com"]}`, []string{"indicators"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			w := e.do(t, "POST", tt.path, tt.body, bearer(keyOps), jsonCT)
			if w.Code != 400 {
				t.Fatalf("status = %d, want 400 (body %s)", w.Code, w.Body)
			}
			p := decodeProblem(t, w)
			if got := paramNames(p); !slices.Equal(got, tt.wantParams) {
				t.Errorf("invalid_params = %q, want %q", got, tt.wantParams)
			}
			if !strings.Contains(p.InvalidParams[0].Reason, "more than once") {
				t.Errorf("reason %q", p.InvalidParams[0].Reason)
			}
			if n := e.svc.lookups(); n != 0 {
				t.Errorf("Lookup called %d times, want 0", n)
			}
		})
	}

	t.Run("batch item", func(t *testing.T) {
		e := newTestEnv(t)
		body := `{"indicators":["a.com",{"indicator":"b.com","indicator":"evil.com"},{"indicator":"c.com","type":"domain","type":"url"},"d.com"]}`
		items := decodeBatch(t, e.do(t, "POST", "/v1/lookup/batch", body, bearer(keySIEM), jsonCT))
		for i, wantParam := range []string{"", "indicators[1].indicator", "indicators[2].type", ""} {
			it := items[i]
			if wantParam == "" {
				if it.Error != nil {
					t.Errorf("result %d = %s, want an answer", i, it.Raw)
				}
				continue
			}
			if it.Error == nil || !slices.Equal(paramNames(*it.Error), []string{wantParam}) {
				t.Errorf("result %d = %s, want a problem naming %s", i, it.Raw, wantParam)
			}
		}
		e.svc.mu.Lock()
		defer e.svc.mu.Unlock()
		for _, q := range e.svc.queries {
			if q.Indicator == "evil.com" || q.Indicator == "b.com" {
				t.Errorf("the item with a duplicate member was prepared: %+v", q)
			}
		}
	})
}

// TestErrorEchoIsBounded: a 45 kB request full of unknown parameters gets a
// problem under 8 KiB listing at most 20 of them, names cut to 64 bytes.
func TestErrorEchoIsBounded(t *testing.T) {
	var query, body strings.Builder
	body.WriteString(`{"indicator":"example.com"`)
	query.WriteString("indicator=example.com")
	for i := 0; query.Len() < 45000; i++ {
		name := fmt.Sprintf("unknown%04d_%s", i, strings.Repeat("x", 100))
		fmt.Fprintf(&query, "&%s=1", name)
		fmt.Fprintf(&body, `,%q:1`, name)
	}
	body.WriteString("}")
	huge := strings.Repeat("n", 40000)
	e := newTestEnv(t)
	for _, w := range []*httptest.ResponseRecorder{
		e.do(t, "GET", "/v1/lookup?"+query.String(), "", bearer(keySIEM)),
		e.do(t, "POST", "/v1/lookup", body.String(), bearer(keySIEM), jsonCT),
		e.do(t, "POST", "/v1/lookup/batch", `{"indicators":["a.com"],`+body.String()[len(`{"indicator":"example.com",`):], bearer(keySIEM), jsonCT),
		e.do(t, "GET", "/v1/functions/get_ip_report?indicator=1.2.3.4&"+query.String()[len("indicator=example.com&"):], "", bearer(keySIEM)),
		e.do(t, "GET", "/v1/lookup?indicator=example.com&"+huge+"=1", "", bearer(keySIEM)),
		e.do(t, "POST", "/v1/lookup", `{"indicator":"example.com","`+huge+`":1,"`+huge+`":2}`, bearer(keySIEM), jsonCT),
	} {
		if w.Code != 400 {
			t.Fatalf("status = %d, want 400", w.Code)
		}
		if n := w.Body.Len(); n >= 8<<10 {
			t.Errorf("the problem is %d bytes, want under 8 KiB", n)
		}
		p := decodeProblem(t, w)
		if n := len(p.InvalidParams); n == 0 || n > 20 {
			t.Errorf("%d invalid_params, want 1 to 20", n)
		}
		for _, ip := range p.InvalidParams {
			if len(ip.Name) > 64 {
				t.Errorf("param name of %d bytes echoed", len(ip.Name))
			}
		}
	}
	p := decodeProblem(t, e.do(t, "GET", "/v1/lookup?"+query.String(), "", bearer(keySIEM)))
	if !strings.Contains(p.Detail, "the first 20 are listed") {
		t.Errorf("detail %q does not say the list is cut", p.Detail)
	}
}

// TestOneParser: a lookup's parameters mean the same in a query string, a
// body, a batch and a function, and are refused alike.
func TestOneParser(t *testing.T) {
	e := newTestEnv(t)
	want := lookup.Query{Indicator: "1.2.3.4", Type: "ip", Limit: 5, Mode: lookup.CacheOnly}
	for _, c := range []struct{ method, target, body string }{
		{"GET", "/v1/lookup?indicator=1.2.3.4&type=ip&limit=5&cache_only=true", ""},
		{"POST", "/v1/lookup", `{"indicator":"1.2.3.4","type":"ip","limit":5,"cache_only":true}`},
		{"POST", "/v1/lookup/batch", `{"indicators":[{"indicator":"1.2.3.4","type":"ip"}],"limit":5,"cache_only":true}`},
		{"GET", "/v1/functions/get_ip_report?indicator=1.2.3.4&limit=5&cache_only=true", ""},
	} {
		w := e.do(t, c.method, c.target, c.body, bearer(keySIEM), jsonCT)
		if w.Code != 200 {
			t.Errorf("%s %s = %d %s", c.method, c.target, w.Code, w.Body)
			continue
		}
		got := e.svc.lastQuery(t)
		got.Sections = nil
		if !queriesEqual(got, want) {
			t.Errorf("%s %s: query %+v, want %+v", c.method, c.target, got, want)
		}
	}
	var reasons []string
	for _, c := range []struct{ method, target, body string }{
		{"GET", "/v1/lookup?indicator=1.2.3.4&limit=0", ""},
		{"POST", "/v1/lookup", `{"indicator":"1.2.3.4","limit":0}`},
		{"POST", "/v1/lookup/batch", `{"indicators":["1.2.3.4"],"limit":0}`},
		{"GET", "/v1/functions/get_ip_report?indicator=1.2.3.4&limit=0", ""},
	} {
		w := e.do(t, c.method, c.target, c.body, bearer(keySIEM), jsonCT)
		p := decodeProblem(t, w)
		if w.Code != 400 || !slices.Equal(paramNames(p), []string{"limit"}) {
			t.Errorf("%s %s = %d %q, want 400 naming limit", c.method, c.target, w.Code, paramNames(p))
			continue
		}
		reasons = append(reasons, p.InvalidParams[0].Reason)
	}
	if len(slices.Compact(reasons)) != 1 {
		t.Errorf("the same mistake is explained differently: %q", reasons)
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		wantStatus int
		wantQuery  lookup.Query
		wantParams []string
	}{
		{"fixes the type", "/v1/functions/get_url_report?indicator=example.com", 200,
			lookup.Query{Indicator: "example.com", Type: "url", Sections: []string{"UrlGeneralInfo"}}, nil},
		{"limit and cache_only", "/v1/functions/get_ip_report?indicator=1.2.3.4&limit=3&cache_only=1", 200,
			lookup.Query{Indicator: "1.2.3.4", Type: "ip", Sections: []string{"IpGeneralInfo", "IpWhoIs"}, Limit: 3, Mode: lookup.CacheOnly}, nil},
		{"Zone in the function's sections", "/v1/functions/get_hash_report?indicator=D41D8CD98F00B204E9800998ECF8427E", 200,
			lookup.Query{Indicator: "D41D8CD98F00B204E9800998ECF8427E", Type: "hash", Sections: []string{"Zone", "FileGeneralInfo"}}, nil},
		{"a value not of the type", "/v1/functions/get_hash_report?indicator=example.com", 400, lookup.Query{}, []string{"indicator"}},
		{"an ip that is not one", "/v1/functions/get_ip_report?indicator=example.com", 400, lookup.Query{}, []string{"indicator"}},
		{"no indicator", "/v1/functions/get_ip_report", 400, lookup.Query{}, []string{"indicator"}},
		{"type and sections are the function's", "/v1/functions/get_ip_report?indicator=1.2.3.4&type=domain&sections=X&format=json", 400,
			lookup.Query{}, []string{"format", "sections", "type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			w := e.do(t, "GET", tt.target, "", bearer(keySIEM))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != 200 {
				if got := paramNames(decodeProblem(t, w)); !slices.Equal(got, tt.wantParams) {
					t.Errorf("invalid_params = %q, want %q", got, tt.wantParams)
				}
				if e.svc.lookups() != 0 {
					t.Error("a bad function call reached Lookup")
				}
				return
			}
			if got := e.svc.lastQuery(t); !queriesEqual(got, tt.wantQuery) {
				t.Errorf("query = %+v, want %+v", got, tt.wantQuery)
			}
			var flat map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &flat); err != nil || flat["KLZone"] != "Red" || flat["cache"] != "hit" {
				t.Errorf("body = %s, want the flat form", w.Body)
			}
			if w.Header().Get("X-Cache") != "HIT" || w.Header().Get("Age") == "" {
				t.Errorf("headers = %v", w.Header())
			}
		})
	}

	t.Run("unknown name", func(t *testing.T) {
		e := newTestEnv(t)
		w := e.do(t, "GET", "/v1/functions/get_email_report?indicator=a@b.c", "", bearer(keySIEM))
		if w.Code != 404 {
			t.Fatalf("status = %d, want 404", w.Code)
		}
		p := decodeProblem(t, w)
		if p.Type != typeNotFound || !strings.Contains(p.Detail, "get_ip_report, get_url_report, get_hash_report") || !strings.Contains(p.Detail, `"get_email_report"`) {
			t.Errorf("problem = %+v, want one naming the function and listing the valid ones", p)
		}
	})
	t.Run("role", func(t *testing.T) {
		e := newTestEnv(t)
		if w := e.do(t, "GET", "/v1/functions/get_ip_report?indicator=1.2.3.4", "", bearer(keyAudit)); w.Code != 403 {
			t.Errorf("admin-only key: status %d, want 403", w.Code)
		}
		if w := e.do(t, "GET", "/v1/functions/get_ip_report?indicator=1.2.3.4", ""); w.Code != 401 {
			t.Errorf("no key: status %d, want 401", w.Code)
		}
	})
	for name, modify := range map[string]func(*Options){
		"no functions": func(o *Options) { o.Functions = nil },
		"no flatten":   func(o *Options) { o.Flatten = nil },
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, modify)
			w := e.do(t, "GET", "/v1/functions/get_ip_report?indicator=1.2.3.4", "", bearer(keySIEM))
			if w.Code != 501 || decodeProblem(t, w).Type != typeNotImplemented || e.svc.lookups() != 0 {
				t.Errorf("status %d, %d lookups; want 501 and none", w.Code, e.svc.lookups())
			}
		})
	}
}

// TestKUMAMount: the facade gets /api/... with its full path and its whole
// body (it bounds its own, up to 64 MiB); without it /api/ is a 404.
func TestKUMAMount(t *testing.T) {
	var gotPath string
	var gotBytes int
	kuma := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		var buf [32 << 10]byte
		for {
			n, err := r.Body.Read(buf[:])
			gotBytes += n
			if err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"object":"8.8.8.8","result":"not detected","categories":[]}]`))
	})
	e := newTestEnv(t, func(o *Options) { o.KUMA = kuma })
	for _, path := range []string{"/api/1.1/lookup", "/api/1.3/General/lookup"} {
		gotPath, gotBytes = "", 0
		body := `[{"object":"` + strings.Repeat("a", 3<<20) + `"}]`
		w := e.do(t, "POST", path, body, "Authorization: Basic c2llbTp4", jsonCT, "Accept: application/json")
		if w.Code != 200 || gotPath != path || gotBytes != len(body) {
			t.Errorf("%s: status %d, facade saw %q and %d of %d bytes", path, w.Code, gotPath, gotBytes, len(body))
		}
	}
	e = newTestEnv(t)
	w := e.do(t, "POST", "/api/1.1/lookup", `[{"object":"a"}]`, jsonCT)
	if w.Code != 404 || decodeProblem(t, w).Type != typeNotFound {
		t.Errorf("without a facade: status %d, want a 404 problem", w.Code)
	}
}
