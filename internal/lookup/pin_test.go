package lookup

// These tests pin the lookup policy before issue 5 moves it into several
// files. Each one is a bug that hand-made mutations of service.go showed the
// rest of the suite lets through; they go through Prepare/Lookup/Forget where
// they can, so that they survive the split unchanged.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// A later fetch of another section rewrites the indicator's Zone entry with
// a new freshness; that must not make an older section fresh again. Each
// section keeps its own freshness.
func TestPinZoneRefreshDoesNotRefreshOlderSections(t *testing.T) {
	fx := newFixture(t)
	a := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	b := domainReq([]string{"DomainWhoIsInfo"}, 10, Normal)

	fx.lookup(t, a) // A fresh for 24 h (Red)
	fx.clock.Advance(20 * time.Hour)
	if res := fx.lookup(t, b); res.Cache != CacheMiss {
		t.Fatalf("B: cache = %q, want miss", res.Cache)
	}
	fx.clock.Advance(5 * time.Hour) // A is 25 h old; the Zone entry 5 h

	cacheOnly := a
	cacheOnly.Mode = CacheOnly
	if res := fx.lookup(t, cacheOnly); res.Cache != CacheStale {
		t.Fatalf("cache_only A past its freshness: cache = %q, want stale (the Zone entry is fresh, A is not)", res.Cache)
	}
	if n := len(fx.tip.Calls()); n != 2 {
		t.Fatalf("TIP calls = %d, want 2: cache_only must not call TIP", n)
	}

	res := fx.lookup(t, a)
	if res.Cache != CacheMiss {
		t.Fatalf("A past its freshness: cache = %q, want miss", res.Cache)
	}
	calls := fx.tip.Calls()
	if len(calls) != 3 {
		t.Fatalf("TIP calls = %d, want 3: A past its freshness must be fetched again", len(calls))
	}
	if want := []string{"DomainGeneralInfo", "Zone", "LicenseInfo"}; !slices.Equal(calls[2].sections, want) {
		t.Fatalf("third TIP call asked %v, want %v", calls[2].sections, want)
	}
	if !res.ReceivedAt.Equal(fx.clock.Now().UTC().Truncate(time.Millisecond)) {
		t.Fatalf("received_at = %v, want the new fetch's %v", res.ReceivedAt, fx.clock.Now())
	}
}

// Two concurrent lookups of one list at limits 5 and 20 are different
// questions: the limit-20 caller must not be handed the limit-5 fetch's
// records.
func TestPinConcurrentLimitsDoNotShareASmallerFetch(t *testing.T) {
	fx := newFixture(t)
	gate := make(chan struct{})
	fx.tip.set(func(f *fakeTIP) { f.gate = gate; f.listSize = 25 })
	section := "DomainDnsResolutions"

	type answer struct {
		res *Result
		err error
	}
	start := func(limit int) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			res, err := fx.svc.Lookup(context.Background(), domainReq([]string{section}, limit, Normal))
			ch <- answer{res, err}
		}()
		return ch
	}
	waitCalls := func(n int) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if len(fx.tip.Calls()) >= n {
				return true
			}
		}
		return false
	}

	five := start(5)
	if !waitCalls(1) {
		close(gate)
		t.Fatal("the limit-5 lookup never reached TIP")
	}
	// The limit-5 fetch is now held at TIP. The limit-20 lookup must make
	// its own request; if it joins the limit-5 flight instead, TIP never
	// sees a second call and the records below tell.
	twenty := start(20)
	waitCalls(2)
	close(gate)

	for _, c := range []struct {
		limit int
		ch    <-chan answer
	}{{5, five}, {20, twenty}} {
		a := <-c.ch
		if a.err != nil {
			t.Fatalf("limit %d: %v", c.limit, a.err)
		}
		if got := listLenOf(t, sectionOf(a.res, section)); got != c.limit {
			t.Fatalf("limit %d caller got %d records, want %d", c.limit, got, c.limit)
		}
		if a.res.Limit != c.limit {
			t.Fatalf("limit %d caller's result says limit %d", c.limit, a.res.Limit)
		}
	}
	calls := fx.tip.Calls()
	counts := make([]int, 0, len(calls))
	for _, c := range calls {
		counts = append(counts, c.count)
	}
	slices.Sort(counts)
	// The second flight of a question asks for the most records (so that a
	// third caller with any limit joins it); what matters is that it asked
	// for at least 20.
	if len(counts) != 2 || counts[0] != 5 || counts[1] < 20 {
		t.Fatalf("TIP was asked with counts %v, want 5 and at least 20", counts)
	}
}

// Purging an indicator forgets a cached not-found too: TIP's 404 is stored
// on the Zone entry, so Forget must delete Zone as well as the sections.
func TestPinForgetDropsACachedNotFound(t *testing.T) {
	fx := newFixture(t)
	fx.tip.set(func(f *fakeTIP) { f.notFound = true })
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	if res := fx.lookup(t, req); res.Found || res.Cache != CacheMiss {
		t.Fatalf("first lookup = %+v, want a not-found miss", res)
	}
	if res := fx.lookup(t, req); res.Cache != CacheHit {
		t.Fatalf("second lookup: cache = %q, want hit (the not-found is cached)", res.Cache)
	}
	if err := fx.svc.Forget(context.Background(), req.Indicator); err != nil {
		t.Fatal(err)
	}
	if res := fx.lookup(t, req); res.Found || res.Cache != CacheMiss {
		t.Fatalf("after Forget: %+v, want a not-found miss", res)
	}
	if n := len(fx.tip.Calls()); n != 2 {
		t.Fatalf("TIP calls = %d, want 2: after Forget TIP must be asked again", n)
	}
}

// reshapeTIP is fakeTIP with some sections replaced by the given raw JSON,
// for TIP answers whose shape the catalog does not expect.
type reshapeTIP struct {
	*fakeTIP
	raw map[string]json.RawMessage
}

func (r reshapeTIP) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	res, err := r.fakeTIP.Lookup(ctx, ind, sections, count)
	if err != nil || !res.Found {
		return res, err
	}
	for name, raw := range r.raw {
		if _, ok := res.Sections[name]; ok {
			res.Sections[name] = raw
		}
	}
	return res, nil
}

// A list section that TIP sends as something other than an array cannot be
// counted, but it was fetched at a limit: a lookup at that limit (or a
// smaller one) is served from the cache, not fetched again every time.
func TestPinNonArrayListIsServedFromCache(t *testing.T) {
	fx := newFixture(t)
	odd := json.RawMessage(`{"Subdomains":["a.example.com","b.example.com"]}`)
	svc, err := New(Options{
		Store: fx.store, Upstream: reshapeTIP{fx.tip, map[string]json.RawMessage{"Subdomains": odd}},
		Catalog:    fx.tip.catalog,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
		TTL:        24 * time.Hour, GreyTTL: time.Hour, StaleFor: 168 * time.Hour,
		DefaultLimit: 10, Now: fx.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sec, _ := fx.tip.catalog.Find(indicator.Domain, "Subdomains"); sec.Kind != tip.List {
		t.Fatalf("Subdomains is %q in the catalog; this test needs a list section", sec.Kind)
	}
	for i, tt := range []struct {
		limit int
		want  CacheState
	}{
		{10, CacheMiss},
		{10, CacheHit},
		{3, CacheHit},
	} {
		res, err := svc.Lookup(context.Background(), domainReq([]string{"Subdomains"}, tt.limit, Normal))
		if err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
		if res.Cache != tt.want {
			t.Fatalf("lookup %d at limit %d: cache = %q, want %q", i, tt.limit, res.Cache, tt.want)
		}
		if got := sectionOf(res, "Subdomains"); string(got) != string(odd) {
			t.Fatalf("lookup %d: Subdomains = %s, want TIP's %s unchanged", i, got, odd)
		}
	}
	if n := len(fx.tip.Calls()); n != 1 {
		t.Fatalf("TIP calls = %d, want 1", n)
	}
}

// A partial lookup (some sections cached) whose fetch finds that TIP no
// longer knows the object returns nothing from the cache: it is a miss.
func TestPinPartialThatTurnsNotFoundIsAMiss(t *testing.T) {
	fx := newFixture(t)
	fx.lookup(t, domainReq([]string{"DomainGeneralInfo"}, 10, Normal))
	fx.clock.Advance(time.Minute)
	fx.tip.set(func(f *fakeTIP) { f.notFound = true })

	res := fx.lookup(t, domainReq([]string{"DomainGeneralInfo", "Subdomains"}, 10, Normal))
	if res.Cache != CacheMiss || res.Found || res.Zone != "Grey" || len(res.Sections) != 0 {
		t.Fatalf("partial lookup answered not-found = cache %q found %v zone %q sections %v, want a not-found Grey miss with no sections",
			res.Cache, res.Found, res.Zone, keys(res.Sections))
	}
	calls := fx.tip.Calls()
	if len(calls) != 2 {
		t.Fatalf("TIP calls = %d, want 2", len(calls))
	}
	if want := []string{"Subdomains", "Zone", "LicenseInfo"}; !slices.Equal(calls[1].sections, want) {
		t.Fatalf("second TIP call asked %v, want %v (only the missing section)", calls[1].sections, want)
	}
}

// Every zone TIP may send, in any case or spelling, maps to its own
// canonical name and freshness: Orange and Yellow are verdicts kept for the
// full TTL, not Grey.
func TestPinZoneMapping(t *testing.T) {
	const ttl, greyTTL = 24 * time.Hour, time.Hour
	tests := []struct {
		raw       string // TIP's Zone value, JSON
		wantZone  string
		wantFresh time.Duration
	}{
		{`"Red"`, "Red", ttl},
		{`"red"`, "Red", ttl},
		{`"Orange"`, "Orange", ttl},
		{`"orange"`, "Orange", ttl},
		{`"ORANGE"`, "Orange", ttl},
		{`"Yellow"`, "Yellow", ttl},
		{`"YELLOW"`, "Yellow", ttl},
		{`" yellow "`, "Yellow", ttl},
		{`"Green"`, "Green", ttl},
		{`"gReEn"`, "Green", ttl},
		{`"Grey"`, "Grey", greyTTL},
		{`"Gray"`, "Grey", greyTTL},
		{`"gray"`, "Grey", greyTTL},
		{`"Purple"`, "Grey", greyTTL},
		{`""`, "Grey", greyTTL},
		{`null`, "Grey", greyTTL},
		{`42`, "Grey", greyTTL},
		{``, "Grey", greyTTL},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := canonicalZone(json.RawMessage(tt.raw)); got != tt.wantZone {
				t.Fatalf("canonicalZone(%s) = %q, want %q", tt.raw, got, tt.wantZone)
			}

			// The same through the service: the zone reported, and how
			// long the answer stays fresh.
			fx := newFixture(t)
			var zone string
			if err := json.Unmarshal([]byte(tt.raw), &zone); err != nil {
				return // not a string: fakeTIP sends strings only
			}
			fx.tip.set(func(f *fakeTIP) { f.zone = zone })
			req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
			if res := fx.lookup(t, req); res.Zone != tt.wantZone {
				t.Fatalf("TIP zone %s: result zone %q, want %q", tt.raw, res.Zone, tt.wantZone)
			}
			fx.clock.Advance(tt.wantFresh - time.Minute)
			if got := fx.lookup(t, req).Cache; got != CacheHit {
				t.Fatalf("TIP zone %s, %v later: cache = %q, want hit", tt.raw, tt.wantFresh-time.Minute, got)
			}
			fx.clock.Advance(2 * time.Minute)
			if got := fx.lookup(t, req).Cache; got != CacheMiss {
				t.Fatalf("TIP zone %s, %v later: cache = %q, want miss", tt.raw, tt.wantFresh+time.Minute, got)
			}
		})
	}
}
