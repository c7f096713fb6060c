package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// mapStore is a Store honouring TTLs on the test clock.
type mapStore struct {
	mu    sync.Mutex
	clock *fakeclock.Clock
	m     map[string]stored
	fail  atomic.Bool
	gets  atomic.Int64
	// onGet, when set, runs before the n-th Get (from 1) reads anything.
	onGet func(n int64)
}

type stored struct {
	v   []byte
	exp time.Time
}

func (s *mapStore) Get(_ context.Context, keys []string) ([][]byte, error) {
	if n := s.gets.Add(1); s.onGet != nil {
		s.onGet(n)
	}
	if s.fail.Load() {
		return nil, errors.New("store down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := s.m[k]; ok && s.clock.Now().Before(e.exp) {
			out[i] = e.v
		}
	}
	return out, nil
}

func (s *mapStore) Set(_ context.Context, items []cache.Item) error {
	if s.fail.Load() {
		return errors.New("store down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		s.m[it.Key] = stored{v: slices.Clone(it.Value), exp: s.clock.Now().Add(it.TTL)}
	}
	return nil
}

func (s *mapStore) Delete(_ context.Context, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.m, k)
	}
	return nil
}

// fakeTIP answers like TIP: every requested section, lists of listSize
// records cut to count, with a configurable zone, 404 or error.
type fakeTIP struct {
	mu       sync.Mutex
	clock    *fakeclock.Clock
	catalog  *tip.Catalog
	calls    []call
	zone     string
	notFound bool
	err      error
	absent   map[string]bool // sections TIP leaves out
	listSize int
	gate     chan struct{} // when set, Lookup waits for it
}

type call struct {
	ind      indicator.Indicator
	sections []string
	count    int
}

func (f *fakeTIP) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{ind, slices.Clone(sections), count})
	gate, err, notFound, zone := f.gate, f.err, f.notFound, f.zone
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	res := &tip.Result{Found: !notFound, ReceivedAt: f.clock.Now(), Sections: map[string]json.RawMessage{}}
	if notFound {
		return res, nil
	}
	for _, name := range sections {
		if f.absent[name] {
			continue
		}
		sec, _ := f.catalog.Find(ind.Type, name)
		switch {
		case name == tip.SectionZone:
			res.Sections[name] = json.RawMessage(fmt.Sprintf("%q", zone))
		case name == tip.SectionLicense:
			res.Sections[name] = json.RawMessage(`{"DayRequests":5,"DayQuota":100}`)
			res.License = &tip.License{DayRequests: 5, DayQuota: 100}
		case sec.Kind == tip.List:
			n := f.listSize
			if !sec.Uncounted && count < n {
				n = count
			}
			items := make([]map[string]any, n)
			for i := range items {
				items[i] = map[string]any{"N": i, "Zone": "Red"}
			}
			b, _ := json.Marshal(items)
			res.Sections[name] = b
		default:
			res.Sections[name] = json.RawMessage(fmt.Sprintf(`{"Section":%q}`, name))
		}
	}
	return res, nil
}

func (f *fakeTIP) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeTIP) set(fn func(f *fakeTIP)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type fixture struct {
	svc   *Service
	tip   *fakeTIP
	store *mapStore
	clock *fakeclock.Clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clk := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	return newFixtureOn(t, &mapStore{clock: clk, m: map[string]stored{}})
}

// newFixtureOn builds a service on st, as a second replica sharing a store.
// opts adjust the Options (locks, a writer, a wrapped upstream) before New.
func newFixtureOn(t testing.TB, st *mapStore, opts ...func(*Options)) *fixture {
	t.Helper()
	clk := st.clock
	cat := tip.NewCatalog()
	ft := &fakeTIP{clock: clk, catalog: cat, zone: "Red", listSize: 25, absent: map[string]bool{}}
	o := Options{
		Store: st, Upstream: ft, Catalog: cat,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
		TTL:        24 * time.Hour, GreyTTL: time.Hour, StaleFor: 168 * time.Hour,
		DefaultLimit: 10, Now: clk.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, tip: ft, store: st, clock: clk}
}

func domainReq(sections []string, limit int, mode Mode) Request {
	return Request{Indicator: indicator.Indicator{Type: indicator.Domain, Value: "example.com"}, Sections: sections, Limit: limit, Mode: mode}
}

func (fx *fixture) lookup(t *testing.T, req Request) *Result {
	t.Helper()
	res, err := fx.svc.Lookup(context.Background(), req)
	if err != nil {
		t.Fatalf("Lookup(%v) error: %v", req, err)
	}
	return res
}

// sectionOf is the named section's JSON, nil when res has none.
func sectionOf(res *Result, name string) json.RawMessage {
	raw, _ := res.Section(name)
	return raw
}

// receivedOf is when TIP sent the named section; zero when res has none.
func receivedOf(res *Result, name string) time.Time {
	for _, s := range res.Sections {
		if s.Name == name {
			return s.ReceivedAt
		}
	}
	return time.Time{}
}

func listLenOf(t *testing.T, raw json.RawMessage) int {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatalf("section %s is not a list: %v", raw, err)
	}
	return len(items)
}

func TestMissThenHit(t *testing.T) {
	fx := newFixture(t)
	req := domainReq([]string{"DomainGeneralInfo", "DomainDnsResolutions"}, 10, Normal)
	first := fx.lookup(t, req)
	if first.Cache != CacheMiss || !first.Found || first.Zone != "Red" {
		t.Fatalf("first = %+v, want a found Red miss", first)
	}
	if got := fx.tip.Calls(); len(got) != 1 {
		t.Fatalf("TIP calls = %d, want 1", len(got))
	}
	c := fx.tip.Calls()[0]
	wantSections := []string{"DomainGeneralInfo", "DomainDnsResolutions", "Zone", "LicenseInfo"}
	if !slices.Equal(c.sections, wantSections) || c.count != 10 {
		t.Fatalf("TIP asked for %v count %d, want %v count 10", c.sections, c.count, wantSections)
	}
	fx.clock.Advance(time.Minute)
	second := fx.lookup(t, req)
	if second.Cache != CacheHit {
		t.Fatalf("second cache = %q, want hit", second.Cache)
	}
	if !second.ReceivedAt.Equal(first.ReceivedAt) {
		t.Fatalf("received_at changed on a hit: %v then %v", first.ReceivedAt, second.ReceivedAt)
	}
	if len(fx.tip.Calls()) != 1 {
		t.Fatalf("a hit called TIP")
	}
	if _, ok := second.Section("Zone"); ok {
		t.Fatalf("Zone must not appear inside sections")
	}
	if got := listLenOf(t, sectionOf(second, "DomainDnsResolutions")); got != 10 {
		t.Fatalf("DomainDnsResolutions has %d records, want 10", got)
	}
}

func TestLimitsAndSubsets(t *testing.T) {
	tests := []struct {
		name          string
		firstLimit    int
		listSize      int
		second        []string
		secondLimit   int
		wantCache     CacheState
		wantFetched   []string // sections (besides Zone, LicenseInfo) of the second TIP call; nil means no call
		wantListLen   int
		listToInspect string
	}{
		{name: "subset is a hit", firstLimit: 10, listSize: 25, second: []string{"DomainDnsResolutions"}, secondLimit: 10,
			wantCache: CacheHit, wantListLen: 10, listToInspect: "DomainDnsResolutions"},
		{name: "smaller limit is a hit cut to the limit", firstLimit: 20, listSize: 25, second: []string{"DomainGeneralInfo", "DomainDnsResolutions"}, secondLimit: 3,
			wantCache: CacheHit, wantListLen: 3, listToInspect: "DomainDnsResolutions"},
		{name: "larger limit refetches only the incomplete list", firstLimit: 10, listSize: 25, second: []string{"DomainGeneralInfo", "DomainDnsResolutions"}, secondLimit: 20,
			wantCache: CachePartial, wantFetched: []string{"DomainDnsResolutions"}, wantListLen: 20, listToInspect: "DomainDnsResolutions"},
		{name: "complete list serves any limit", firstLimit: 10, listSize: 4, second: []string{"DomainDnsResolutions"}, secondLimit: 1000,
			wantCache: CacheHit, wantListLen: 4, listToInspect: "DomainDnsResolutions"},
		{name: "new section is fetched alone", firstLimit: 10, listSize: 25, second: []string{"DomainGeneralInfo", "Subdomains"}, secondLimit: 10,
			wantCache: CachePartial, wantFetched: []string{"Subdomains"}, wantListLen: 10, listToInspect: "Subdomains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.tip.set(func(f *fakeTIP) { f.listSize = tt.listSize })
			fx.lookup(t, domainReq([]string{"DomainGeneralInfo", "DomainDnsResolutions"}, tt.firstLimit, Normal))
			fx.clock.Advance(time.Second)
			res := fx.lookup(t, domainReq(tt.second, tt.secondLimit, Normal))
			if res.Cache != tt.wantCache {
				t.Fatalf("cache = %q, want %q", res.Cache, tt.wantCache)
			}
			calls := fx.tip.Calls()
			if tt.wantFetched == nil {
				if len(calls) != 1 {
					t.Fatalf("TIP calls = %d, want 1", len(calls))
				}
			} else {
				if len(calls) != 2 {
					t.Fatalf("TIP calls = %d, want 2", len(calls))
				}
				want := append(slices.Clone(tt.wantFetched), "Zone", "LicenseInfo")
				if !slices.Equal(calls[1].sections, want) {
					t.Fatalf("second TIP call asked %v, want %v", calls[1].sections, want)
				}
			}
			if got := listLenOf(t, sectionOf(res, tt.listToInspect)); got != tt.wantListLen {
				t.Fatalf("%s has %d records, want %d", tt.listToInspect, got, tt.wantListLen)
			}
			if len(res.Sections) != len(tt.second) {
				t.Fatalf("sections = %v, want exactly %v", keys(res.Sections), tt.second)
			}
			if res.Cache == CachePartial {
				old, fresh := receivedOf(res, "DomainGeneralInfo"), receivedOf(res, tt.listToInspect)
				if !fresh.After(old) || !res.ReceivedAt.Equal(old) {
					t.Fatalf("received_at %v, sections %v: want the oldest section's time", res.ReceivedAt, res.Sections)
				}
			}
		})
	}
}

// keys are the names of sections, sorted.
func keys(sections []Section) []string {
	var out []string
	for _, s := range sections {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestUncountedSectionIsComplete(t *testing.T) {
	fx := newFixture(t)
	req := Request{Indicator: indicator.Indicator{Type: indicator.Hash, Value: "3935aae80faf8d03781c2d611a4e183f"}, Sections: []string{"DetectionsInfo"}, Limit: 5}
	res := fx.lookup(t, req)
	if got := listLenOf(t, sectionOf(res, "DetectionsInfo")); got != 5 {
		t.Fatalf("DetectionsInfo = %d records, want cut to 5", got)
	}
	req.Limit = 100
	res = fx.lookup(t, req)
	if res.Cache != CacheHit {
		t.Fatalf("uncounted section at a larger limit: cache = %q, want hit", res.Cache)
	}
	if got := listLenOf(t, sectionOf(res, "DetectionsInfo")); got != 25 {
		t.Fatalf("DetectionsInfo = %d records, want all 25", got)
	}
}

func TestFreshnessFollowsZone(t *testing.T) {
	tests := []struct {
		zone     string
		notFound bool
		after    time.Duration
		want     CacheState
	}{
		{zone: "Red", after: 23 * time.Hour, want: CacheHit},
		{zone: "Red", after: 25 * time.Hour, want: CacheMiss},
		{zone: "Green", after: 2 * time.Hour, want: CacheHit},
		{zone: "Grey", after: 59 * time.Minute, want: CacheHit},
		{zone: "Grey", after: 61 * time.Minute, want: CacheMiss},
		{notFound: true, after: 59 * time.Minute, want: CacheHit},
		{notFound: true, after: 61 * time.Minute, want: CacheMiss},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/notfound=%v/%v", tt.zone, tt.notFound, tt.after), func(t *testing.T) {
			fx := newFixture(t)
			fx.tip.set(func(f *fakeTIP) { f.zone, f.notFound = tt.zone, tt.notFound })
			req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
			fx.lookup(t, req)
			fx.clock.Advance(tt.after)
			if got := fx.lookup(t, req).Cache; got != tt.want {
				t.Fatalf("after %v: cache = %q, want %q", tt.after, got, tt.want)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	fx := newFixture(t)
	fx.tip.set(func(f *fakeTIP) { f.notFound = true })
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	res := fx.lookup(t, req)
	if res.Found || res.Zone != "Grey" || res.Cache != CacheMiss || len(res.Sections) != 0 {
		t.Fatalf("not found = %+v, want found=false, Grey, miss, empty sections", res)
	}
	// Any sections of a not-found object are answered from the one entry.
	res = fx.lookup(t, domainReq([]string{"Subdomains", "FilesDownloaded"}, 50, Normal))
	if res.Cache != CacheHit || res.Found {
		t.Fatalf("second not-found lookup = %+v, want a hit", res)
	}
	if n := len(fx.tip.Calls()); n != 1 {
		t.Fatalf("TIP calls = %d, want 1", n)
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	fx := newFixture(t)
	upstreamErr := &tip.Error{Kind: tip.KindUnavailable, Status: 503, Detail: "TIP answered 503"}
	fx.tip.set(func(f *fakeTIP) { f.err = upstreamErr })
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	for i := 0; i < 2; i++ {
		if _, err := fx.svc.Lookup(context.Background(), req); !errors.Is(err, upstreamErr) {
			t.Fatalf("Lookup error = %v, want the TIP error", err)
		}
	}
	fx.tip.set(func(f *fakeTIP) { f.err = nil })
	if res := fx.lookup(t, req); res.Cache != CacheMiss {
		t.Fatalf("after recovery cache = %q, want miss", res.Cache)
	}
	if n := len(fx.tip.Calls()); n != 3 {
		t.Fatalf("TIP calls = %d, want 3 (errors are not cached)", n)
	}
}

func TestRefresh(t *testing.T) {
	fx := newFixture(t)
	req := domainReq([]string{"DomainGeneralInfo", "DomainDnsResolutions"}, 10, Normal)
	first := fx.lookup(t, req)
	fx.clock.Advance(time.Hour)
	req.Mode = Refresh
	refreshed := fx.lookup(t, req)
	if refreshed.Cache != CacheRefreshed || !refreshed.ReceivedAt.After(first.ReceivedAt) {
		t.Fatalf("refresh = %q at %v, want refreshed after %v", refreshed.Cache, refreshed.ReceivedAt, first.ReceivedAt)
	}
	req.Mode = Normal
	hit := fx.lookup(t, req)
	if hit.Cache != CacheHit || !hit.ReceivedAt.Equal(refreshed.ReceivedAt) {
		t.Fatalf("after refresh: %q at %v, want a hit at %v", hit.Cache, hit.ReceivedAt, refreshed.ReceivedAt)
	}
}

func TestCacheOnly(t *testing.T) {
	fx := newFixture(t)
	req := domainReq([]string{"DomainGeneralInfo"}, 10, CacheOnly)
	if _, err := fx.svc.Lookup(context.Background(), req); !errors.Is(err, ErrNotCached) {
		t.Fatalf("cold cache_only error = %v, want ErrNotCached", err)
	}
	fx.lookup(t, domainReq([]string{"DomainGeneralInfo"}, 10, Normal))
	if got := fx.lookup(t, req).Cache; got != CacheHit {
		t.Fatalf("warm cache_only = %q, want hit", got)
	}
	fx.clock.Advance(48 * time.Hour)
	if got := fx.lookup(t, req).Cache; got != CacheStale {
		t.Fatalf("cache_only past freshness = %q, want stale", got)
	}
	req.Sections = []string{"DomainGeneralInfo", "Subdomains"}
	if _, err := fx.svc.Lookup(context.Background(), req); !errors.Is(err, ErrNotCached) {
		t.Fatalf("cache_only with an uncached section: error = %v, want ErrNotCached", err)
	}
	if n := len(fx.tip.Calls()); n != 1 {
		t.Fatalf("TIP calls = %d, want 1: cache_only must never call TIP", n)
	}
}

func TestAbsentSectionIsCachedAndOmitted(t *testing.T) {
	fx := newFixture(t)
	fx.tip.set(func(f *fakeTIP) { f.absent["Subdomains"] = true })
	req := domainReq([]string{"DomainGeneralInfo", "Subdomains"}, 10, Normal)
	res := fx.lookup(t, req)
	if _, ok := res.Section("Subdomains"); ok {
		t.Fatalf("a section TIP did not send appears in the answer")
	}
	if res = fx.lookup(t, req); res.Cache != CacheHit {
		t.Fatalf("second lookup = %q, want hit", res.Cache)
	}
}

func TestCoalescesConcurrentMisses(t *testing.T) {
	fx := newFixture(t)
	gate := make(chan struct{})
	fx.tip.set(func(f *fakeTIP) { f.gate = gate })
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := fx.svc.Lookup(context.Background(), req)
			if err == nil && res.Cache != CacheMiss {
				err = fmt.Errorf("cache = %q, want miss", res.Cache)
			}
			errs <- err
		}()
	}
	// Let every goroutine reach the flight before TIP answers: n reads by
	// the callers and one by the flight's own second look.
	for deadline := time.Now().Add(5 * time.Second); fx.store.gets.Load() < n+1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(fx.tip.Calls()); got != 1 {
		t.Fatalf("TIP calls = %d, want 1 for %d concurrent identical misses", got, n)
	}
	// The leader is not counted as coalesced; the others are (all of them
	// unless the scheduler delayed one past the flight).
	if got := testutil.ToFloat64(fx.svc.metrics.coalesced); got < 1 || got > n-1 {
		t.Fatalf("tipgate_tip_coalesced_total = %v, want 1..%d", got, n-1)
	}
}

func TestCallerCancelDoesNotFailWaiters(t *testing.T) {
	fx := newFixture(t)
	gate := make(chan struct{})
	fx.tip.set(func(f *fakeTIP) { f.gate = gate })
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	ctx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() { _, err := fx.svc.Lookup(ctx, req); leaderDone <- err }()
	for fx.store.gets.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	waiter := make(chan error, 1)
	go func() { _, err := fx.svc.Lookup(context.Background(), req); waiter <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller error = %v, want context.Canceled", err)
	}
	close(gate)
	if err := <-waiter; err != nil {
		t.Fatalf("waiter error = %v, want its answer despite the first caller leaving", err)
	}
}

func TestStoreDownGoesStraightToTIP(t *testing.T) {
	fx := newFixture(t)
	fx.store.fail.Store(true)
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	for i := 0; i < 2; i++ {
		if res := fx.lookup(t, req); res.Cache != CacheMiss || !res.Found {
			t.Fatalf("with the store down: %+v, want a found miss", res)
		}
	}
	fx.store.fail.Store(false)
	fx.lookup(t, req)
	if got := fx.lookup(t, req).Cache; got != CacheHit {
		t.Fatalf("after the store returns: cache = %q, want hit", got)
	}
}

func TestForget(t *testing.T) {
	fx := newFixture(t)
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	fx.lookup(t, req)
	if err := fx.svc.Forget(context.Background(), req.Indicator); err != nil {
		t.Fatal(err)
	}
	if got := fx.lookup(t, req).Cache; got != CacheMiss {
		t.Fatalf("after Forget: cache = %q, want miss", got)
	}
}

func TestPrepare(t *testing.T) {
	fx := newFixture(t)
	tests := []struct {
		name         string
		q            Query
		wantSections []string
		wantLimit    int
		wantBad      []string // names of invalid params
	}{
		{name: "defaults", q: Query{Indicator: "example.com"}, wantLimit: 10,
			wantSections: []string{"RelatedObjects", "DomainGeneralInfo", "DomainWhoIsInfo", "DomainDnsResolutions", "FilesDownloaded", "FilesAccessed", "UrlReferrals", "UrlReferredTo", "Subdomains", "FeedMasks", "Industries"}},
		{name: "case-insensitive, canonical order, Zone dropped", q: Query{Indicator: "example.com", Sections: []string{"zone", "domaindnsresolutions", "DOMAINGENERALINFO", "DomainGeneralInfo"}, Limit: 3},
			wantSections: []string{"DomainGeneralInfo", "DomainDnsResolutions"}, wantLimit: 3},
		{name: "only Zone", q: Query{Indicator: "example.com", Sections: []string{"Zone"}}, wantSections: nil, wantLimit: 10},
		{name: "unknown section", q: Query{Indicator: "example.com", Sections: []string{"IpWhoIs"}}, wantBad: []string{"sections"}},
		{name: "LicenseInfo", q: Query{Indicator: "example.com", Sections: []string{"LicenseInfo"}}, wantBad: []string{"sections"}},
		{name: "limit too big", q: Query{Indicator: "example.com", Limit: 1001}, wantBad: []string{"limit"}},
		{name: "limit negative", q: Query{Indicator: "example.com", Limit: -1}, wantBad: []string{"limit"}},
		{name: "no indicator", q: Query{}, wantBad: []string{"indicator"}},
		{name: "bad type and limit", q: Query{Indicator: "example.com", Type: "email", Limit: 5000}, wantBad: []string{"type", "limit"}},
		{name: "mismatched type", q: Query{Indicator: "example.com", Type: "ip"}, wantBad: []string{"indicator"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := fx.svc.Prepare(tt.q)
			if tt.wantBad != nil {
				var ie *InvalidError
				if !errors.As(err, &ie) {
					t.Fatalf("Prepare error = %v, want *InvalidError", err)
				}
				var names []string
				for _, p := range ie.Params {
					names = append(names, p.Name)
					if p.Reason == "" {
						t.Errorf("param %s has no reason", p.Name)
					}
				}
				if !slices.Equal(names, tt.wantBad) {
					t.Fatalf("invalid params = %v, want %v", names, tt.wantBad)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare error: %v", err)
			}
			if !slices.Equal(req.Sections, tt.wantSections) || req.Limit != tt.wantLimit {
				t.Fatalf("Prepare = sections %v limit %d, want %v limit %d", req.Sections, req.Limit, tt.wantSections, tt.wantLimit)
			}
		})
	}
}

// BenchmarkLookupHit is the policy's own cost on a hit: one store read of
// three entries, decoding their headers, assembling the result.
func BenchmarkLookupHit(b *testing.B) {
	fx := newFixture(b)
	req := domainReq([]string{"DomainGeneralInfo", "DomainDnsResolutions"}, 10, Normal)
	if _, err := fx.svc.Lookup(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := fx.svc.Lookup(context.Background(), req)
		if err != nil || res.Cache != CacheHit {
			b.Fatalf("lookup %d: %v %v", i, res, err)
		}
	}
}

// TestFlightLooksAgainBeforeAskingTIP is another replica (or an earlier
// flight) storing the answer between this lookup's read and its fetch: the
// fetch finds it and TIP is not asked twice.
func TestFlightLooksAgainBeforeAskingTIP(t *testing.T) {
	fx := newFixture(t)
	other := newFixtureOn(t, fx.store)
	req := domainReq([]string{"DomainGeneralInfo", "DomainDnsResolutions"}, 10, Normal)
	fx.store.onGet = func(n int64) {
		if n == 2 { // after this lookup's own read, before its flight's second look
			fx.store.onGet = nil
			if _, err := other.svc.Lookup(context.Background(), req); err != nil {
				t.Errorf("the other replica's lookup: %v", err)
			}
		}
	}
	res := fx.lookup(t, req)
	if res.Cache != CacheHit {
		t.Fatalf("cache = %q, want hit: the flight should have found the other replica's answer", res.Cache)
	}
	if n := len(fx.tip.Calls()); n != 0 {
		t.Fatalf("TIP calls from this replica = %d, want 0", n)
	}
	if n := len(other.tip.Calls()); n != 1 {
		t.Fatalf("TIP calls from the other replica = %d, want 1", n)
	}
}
