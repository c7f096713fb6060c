package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

// The test clock: data was received at receivedAt and "now" is 90.9 s later.
var (
	receivedAt = time.Date(2026, 11, 23, 14, 0, 0, 123456789, time.UTC)
	testNow    = receivedAt.Add(90*time.Second + 900*time.Millisecond)
)

// Test keys, one per role mix.
const (
	keySIEM  = "tg_siem-key"  // lookup
	keySOAR  = "tg_soar-key"  // lookup, refresh
	keyOps   = "tg_ops-key"   // lookup, refresh, admin
	keyAudit = "tg_audit-key" // admin only
)

func testKeyring(t *testing.T) *apikey.Keyring {
	t.Helper()
	data := fmt.Sprintf(`{"keys": [
		{"name": "siem", "sha256": %q, "roles": ["lookup"]},
		{"name": "soar", "sha256": %q, "roles": ["lookup", "refresh"]},
		{"name": "ops", "sha256": %q, "roles": ["lookup", "refresh", "admin"]},
		{"name": "audit", "sha256": %q, "roles": ["admin"]}
	]}`, apikey.Hash(keySIEM), apikey.Hash(keySOAR), apikey.Hash(keyOps), apikey.Hash(keyAudit))
	kr, err := apikey.Load([]byte(data))
	if err != nil {
		t.Fatalf("load test keys: %v", err)
	}
	return kr
}

// fakeService imitates the lookup service closely enough for the HTTP layer:
// Prepare detects and lower-cases, canonicalises section names through the
// catalog and applies a default limit; Lookup answers a hit by default.
type fakeService struct {
	catalog *tip.Catalog

	mu        sync.Mutex
	queries   []lookup.Query
	requests  []lookup.Request
	forgotten []indicator.Indicator
	batches   [][]lookup.Request

	// Overrides; nil means the default behaviour.
	lookupFn func(ctx context.Context, req lookup.Request) (*lookup.Result, error)
	forgetFn func(ctx context.Context, ind indicator.Indicator) error
}

func newFakeService() *fakeService { return &fakeService{catalog: tip.NewCatalog()} }

func (f *fakeService) Sections(t indicator.Type) []lookup.SectionInfo {
	var out []lookup.SectionInfo
	for _, s := range f.catalog.Lookup(t) {
		out = append(out, lookup.SectionInfo{Name: s.Name, Kind: string(s.Kind), Default: s.Default})
	}
	return out
}

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]{32}([0-9a-fA-F]{8})?([0-9a-fA-F]{24})?$`)

func (f *fakeService) Prepare(q lookup.Query) (lookup.Request, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()

	var bad []lookup.InvalidParam
	value := strings.ToLower(strings.TrimSpace(q.Indicator))
	typ, err := indicator.ParseType(q.Type)
	if err != nil {
		bad = append(bad, lookup.InvalidParam{Name: "type", Reason: err.Error()})
	}
	switch {
	case value == "":
		bad = append(bad, lookup.InvalidParam{Name: "indicator", Reason: "is required"})
	case typ == indicator.Hash && !hexRE.MatchString(value), typ == indicator.IP && net.ParseIP(value) == nil:
		bad = append(bad, lookup.InvalidParam{Name: "indicator", Reason: "is not a valid " + string(typ)})
	case typ != "":
	case hexRE.MatchString(value):
		typ = indicator.Hash
	case strings.Contains(value, "://"):
		typ = indicator.URL
	case net.ParseIP(value) != nil:
		typ = indicator.IP
	case strings.Contains(value, "."):
		typ = indicator.Domain
	default:
		bad = append(bad, lookup.InvalidParam{Name: "indicator", Reason: "is not a hash, IPv4 address, domain or URL"})
	}
	var sections []string
	for _, name := range q.Sections {
		s, ok := f.catalog.Find(typ, name)
		if ok && s.Name == tip.SectionZone {
			continue // always reported at the top level, as the real service does
		}
		if !ok || s.Name == tip.SectionLicense {
			bad = append(bad, lookup.InvalidParam{Name: "sections", Reason: fmt.Sprintf("unknown section %q", name)})
			continue
		}
		sections = append(sections, s.Name)
	}
	if len(q.Sections) == 0 && typ != "" {
		sections = f.catalog.Defaults(typ)
	}
	limit := q.Limit
	if limit == 0 {
		limit = 10
	}
	if limit < lookup.MinLimit || limit > lookup.MaxLimit {
		bad = append(bad, lookup.InvalidParam{Name: "limit", Reason: "must be from 1 to 1000"})
	}
	if len(bad) > 0 {
		return lookup.Request{}, &lookup.InvalidError{Params: bad}
	}
	return lookup.Request{
		Indicator: indicator.Indicator{Type: typ, Value: value},
		Sections:  sections,
		Limit:     limit,
		Mode:      q.Mode,
	}, nil
}

func (f *fakeService) Lookup(ctx context.Context, req lookup.Request) (*lookup.Result, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	fn := f.lookupFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	return hitResult(req), nil
}

// LookupBatch answers each request through Lookup, all at once, and gives
// lookup.ErrBatchTimeout to those not done when ctx ends, as the real
// service does (without its de-duplication).
func (f *fakeService) LookupBatch(ctx context.Context, reqs []lookup.Request) []lookup.BatchItem {
	f.mu.Lock()
	f.batches = append(f.batches, slices.Clone(reqs))
	f.mu.Unlock()
	type done struct {
		i    int
		item lookup.BatchItem
	}
	ch := make(chan done, len(reqs))
	for i, req := range reqs {
		go func() {
			res, err := f.Lookup(ctx, req)
			ch <- done{i, lookup.BatchItem{Result: res, Err: err}}
		}()
	}
	out := make([]lookup.BatchItem, len(reqs))
	answered := make([]bool, len(reqs))
	for range reqs {
		select {
		case d := <-ch:
			out[d.i], answered[d.i] = d.item, true
		case <-ctx.Done():
			for i, ok := range answered {
				if !ok {
					out[i] = lookup.BatchItem{Err: lookup.ErrBatchTimeout}
				}
			}
			return out
		}
	}
	return out
}

func (f *fakeService) Forget(ctx context.Context, ind indicator.Indicator) error {
	f.mu.Lock()
	f.forgotten = append(f.forgotten, ind)
	fn := f.forgetFn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, ind)
	}
	return nil
}

func (f *fakeService) lastQuery(t *testing.T) lookup.Query {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		t.Fatal("Prepare was never called")
	}
	return f.queries[len(f.queries)-1]
}

func (f *fakeService) lookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// hitResult answers every requested section from the "cache".
func hitResult(req lookup.Request) *lookup.Result {
	res := &lookup.Result{
		Indicator:  req.Indicator,
		Zone:       "Red",
		Found:      true,
		Limit:      req.Limit,
		ReceivedAt: receivedAt,
		Cache:      lookup.CacheHit,
	}
	switch req.Mode {
	case lookup.Refresh:
		res.Cache = lookup.CacheRefreshed
	}
	cat := tip.NewCatalog()
	for _, name := range req.Sections {
		s, _ := cat.Find(req.Indicator.Type, name)
		raw := json.RawMessage(`{"Name":"` + name + `"}`)
		if s.Kind == tip.List {
			raw = json.RawMessage(`[{"Url":"http://a.example/?x=1&y=2"}]`)
		}
		res.Sections = append(res.Sections, lookup.NewSection(name, raw, receivedAt))
	}
	return res
}

// testFunctions stand in for the SIEM plugin's.
var testFunctions = []Function{
	{Name: "get_ip_report", Type: indicator.IP, Sections: []string{"IpGeneralInfo", "IpWhoIs"}},
	{Name: "get_url_report", Type: indicator.URL, Sections: []string{"UrlGeneralInfo"}},
	{Name: "get_hash_report", Type: indicator.Hash, Sections: []string{"Zone", "FileGeneralInfo"}},
}

// testEnv is one handler under test with its fakes.
type testEnv struct {
	h    http.Handler
	svc  *fakeService
	reg  *prometheus.Registry
	logs *logbuf.Buffer
}

func newTestEnv(t *testing.T, modify ...func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{svc: newFakeService(), reg: prometheus.NewRegistry(), logs: &logbuf.Buffer{}}
	opts := Options{
		Service:    e.svc,
		Keys:       testKeyring(t),
		Registerer: e.reg,
		Gatherer:   e.reg,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready: func(context.Context) (bool, any) {
			return true, map[string]any{"status": "ready", "store": "ok"}
		},
		Status: func(context.Context) any {
			return map[string]any{"version": "test", "store": map[string]any{"status": "ok", "backend": "memory"}, "tip": map[string]any{"url": "https://tip.example", "auth": "token", "health": map[string]any{"status": "ok"}, "quota": map[string]any{"DayRequests": 5, "DayQuota": 1000}}}
		},
		Flatten: func(r *lookup.Result) map[string]any {
			return map[string]any{"KLZone": r.Zone}
		},
		Functions:    testFunctions,
		DefaultLimit: 10,
	}
	for _, m := range modify {
		m(&opts)
	}
	s, err := newServer(opts)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	s.now = func() time.Time { return testNow }
	e.h = s.routes()
	return e
}

// request builds a request; headers come as "Name: value" strings.
func request(t *testing.T, method, target, body string, headers ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			t.Fatalf("bad header %q", h)
		}
		r.Header.Add(name, strings.TrimSpace(value))
	}
	return r
}

func (e *testEnv) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *testEnv) do(t *testing.T, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return e.serve(request(t, method, target, body, headers...))
}

func bearer(key string) string { return "Authorization: Bearer " + key }

const jsonCT = "Content-Type: application/json"

// decodeProblem checks the problem+json shape common to every error and
// returns the body.
func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) problem {
	t.Helper()
	if got := w.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json (body %s)", got, w.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("problem body %q is not a JSON object: %v", w.Body, err)
	}
	for _, f := range []string{"type", "title", "status", "detail"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("problem body %s lacks %q", w.Body, f)
		}
	}
	for f := range raw {
		switch f {
		case "type", "title", "status", "detail", "invalid_params", "cached_sections", "indicator", "indicator_type":
		default:
			t.Errorf("problem body has unexpected member %q", f)
		}
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem: %v", err)
	}
	if p.Status != w.Code {
		t.Errorf("problem status = %d, want the response's %d", p.Status, w.Code)
	}
	if p.Detail == "" || p.Title == "" || p.Type == "" {
		t.Errorf("problem %+v has an empty member", p)
	}
	return p
}

func paramNames(p problem) []string {
	var out []string
	for _, ip := range p.InvalidParams {
		out = append(out, ip.Name)
	}
	return out
}
