package kuma

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

var receivedAt = time.Date(2026, 11, 23, 14, 0, 0, 123456789, time.UTC)

// Test keys.
const (
	keySIEM  = "tg_siem-key"  // lookup
	keyAudit = "tg_audit-key" // admin only
)

func testKeyring(t *testing.T) *apikey.Keyring {
	t.Helper()
	kr, err := apikey.Load(fmt.Appendf(nil, `{"keys": [
		{"name": "siem", "sha256": %q, "roles": ["lookup"]},
		{"name": "audit", "sha256": %q, "roles": ["admin"]}
	]}`, apikey.Hash(keySIEM), apikey.Hash(keyAudit)))
	if err != nil {
		t.Fatalf("load test keys: %v", err)
	}
	return kr
}

// entry is what the fake knows of one normalised indicator.
type entry struct {
	zone     string
	notFound bool
	// sections are the context sections TIP (and, when cached, the cache)
	// holds.
	sections map[string]json.RawMessage
	// cached: the context sections are cached; zoneCached: only the Zone
	// entry is. stale: what is cached is past freshness.
	cached, zoneCached, stale bool
	// err is what a normal lookup (TIP) fails with.
	err error
	// hang makes a normal lookup wait for release, ignoring its context,
	// like a Looker stuck in I/O.
	hang bool
}

type call struct {
	value    string
	mode     lookup.Mode
	sections []string
	key      string // the API key name in the context
}

// fakeLooker imitates lookup.Service: Prepare detects and normalises
// through the indicator package; Lookup answers from entries by mode.
type fakeLooker struct {
	mu       sync.Mutex
	entries  map[string]*entry // by normalised value
	calls    []call
	prepares int
	inflight int
	peak     int
	delay    time.Duration // of a normal lookup, to let them overlap
	release  chan struct{}
}

func newFake() *fakeLooker {
	return &fakeLooker{entries: map[string]*entry{}, release: make(chan struct{})}
}

// set registers e for raw, returning the normalised indicator.
func (f *fakeLooker) set(t *testing.T, raw string, e *entry) indicator.Indicator {
	t.Helper()
	ind, err := indicator.Parse(raw, "")
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	f.mu.Lock()
	f.entries[ind.Value] = e
	f.mu.Unlock()
	return ind
}

func (f *fakeLooker) Prepare(q lookup.Query) (lookup.Request, error) {
	f.mu.Lock()
	f.prepares++
	f.mu.Unlock()
	if !slices.Equal(q.Sections, []string{"Zone"}) || q.Type != "" {
		return lookup.Request{}, fmt.Errorf("unexpected query %+v", q)
	}
	ind, err := indicator.Parse(q.Indicator, "")
	if err != nil {
		return lookup.Request{}, &lookup.InvalidError{Params: []lookup.InvalidParam{{Name: "indicator", Reason: err.Error()}}}
	}
	return lookup.Request{Indicator: ind, Limit: 10, Mode: q.Mode}, nil
}

func (f *fakeLooker) Lookup(ctx context.Context, req lookup.Request) (*lookup.Result, error) {
	k, _ := apikey.FromContext(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, call{value: req.Indicator.Value, mode: req.Mode, sections: slices.Clone(req.Sections), key: k.Name})
	e := f.entries[req.Indicator.Value]
	f.mu.Unlock()
	if e == nil {
		e = &entry{notFound: true}
	}
	result := func(state lookup.CacheState) *lookup.Result {
		res := &lookup.Result{
			Indicator: req.Indicator, Zone: e.zone, Found: !e.notFound, Limit: req.Limit,
			ReceivedAt: receivedAt, Cache: state,
		}
		if e.notFound {
			res.Zone = "Grey"
			return res
		}
		for _, s := range req.Sections {
			if raw, ok := e.sections[s]; ok {
				res.Sections = append(res.Sections, lookup.NewSection(s, raw, receivedAt))
			}
		}
		return res
	}
	cachedState := lookup.CacheHit
	if e.stale {
		cachedState = lookup.CacheStale
	}
	switch req.Mode {
	case lookup.CacheOnly:
		if e.cached || (e.zoneCached && len(req.Sections) == 0) {
			return result(cachedState), nil
		}
		return nil, &lookup.NotCachedError{Indicator: req.Indicator, Cached: []string{}}
	case lookup.Normal:
		f.mu.Lock()
		f.inflight++
		f.peak = max(f.peak, f.inflight)
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.inflight--
			f.mu.Unlock()
		}()
		if e.hang {
			<-f.release
			return nil, &lookup.UpstreamError{Kind: lookup.KindTimeout, Detail: "hung"}
		}
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-ctx.Done():
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.err != nil {
			return nil, e.err
		}
		return result(lookup.CacheMiss), nil
	}
	return nil, fmt.Errorf("unexpected mode %v", req.Mode)
}

// callsFor returns the calls for value in mode.
func (f *fakeLooker) callsFor(value string, mode lookup.Mode) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.value == value && c.mode == mode {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeLooker) allCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type testServer struct {
	h    http.Handler
	fake *fakeLooker
	reg  *prometheus.Registry
}

func newServer(t *testing.T, configure func(*Options)) *testServer {
	t.Helper()
	fake := newFake()
	t.Cleanup(func() { close(fake.release) })
	reg := prometheus.NewRegistry()
	o := Options{
		Looker:     fake,
		Keys:       testKeyring(t),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: reg,
	}
	if configure != nil {
		configure(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testServer{h: h, fake: fake, reg: reg}
}

// req builds a well-formed KUMA request; mods change it.
func req(path, body string, mods ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Content-Type", "application/json")
	r.SetBasicAuth("siem", keySIEM)
	for _, m := range mods {
		m(r)
	}
	return r
}

func (s *testServer) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	return w
}

// lookup posts objects to /api/1.1/lookup and decodes the 200 answer.
func (s *testServer) lookup(t *testing.T, objects ...string) []answer {
	t.Helper()
	w := s.do(req("/api/1.1/lookup", body(objects...)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	return decodeAnswers(t, w.Body.Bytes(), len(objects))
}

func body(objects ...string) string {
	els := make([]map[string]string, len(objects))
	for i, o := range objects {
		els[i] = map[string]string{"object": o}
	}
	b, _ := json.Marshal(els)
	return string(b)
}

// decodeAnswers decodes a 200 body, checking that every context value is a
// string and that categories is never null.
func decodeAnswers(t *testing.T, b []byte, n int) []answer {
	t.Helper()
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if len(raw) != n {
		t.Fatalf("%d answers, want %d: %s", len(raw), n, b)
	}
	for i, el := range raw {
		if string(el["categories"]) == "null" || el["categories"] == nil {
			t.Errorf("answer %d: categories is %s, want an array", i, el["categories"])
		}
		var cats []map[string]json.RawMessage
		_ = json.Unmarshal(el["categories"], &cats)
		for _, c := range cats {
			var ctx map[string]any
			if err := json.Unmarshal(c["context"], &ctx); err != nil {
				t.Errorf("answer %d: context %s: %v", i, c["context"], err)
			}
			for k, v := range ctx {
				if _, ok := v.(string); !ok {
					t.Errorf("answer %d: context[%q] = %v (%T), want a string", i, k, v, v)
				}
			}
		}
	}
	var out []answer
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return out
}

func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
