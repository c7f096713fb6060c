package lookup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// The upstream failures a cached answer may stand in for, as the upstream
// layers raise them.
var staleableErrors = []*tip.Error{
	{Kind: tip.KindRateLimited, Status: 429, Detail: "TIP answered 429"},
	{Kind: tip.KindUnavailable, Status: 503, Detail: "TIP answered 503"},
	{Kind: tip.KindTimeout, Detail: "TIP did not answer"},
	{Kind: tip.KindUnauthorized, Status: 401, Detail: "TIP answered 401"},
	{Kind: tip.KindForbidden, Status: 403, Detail: "TIP answered 403"},
	{Kind: tip.KindBudgetSpent, Refused: true, Detail: "the daily budget is spent"},
	{Kind: tip.KindUnavailable, Refused: true, Detail: "the breaker is open"},
}

func errName(e *tip.Error) string {
	if e.Refused {
		return string(e.Kind) + "/refused"
	}
	return string(e.Kind)
}

// TestStaleOnError: when TIP cannot answer, what the cache holds past its
// freshness (but within StaleFor) answers, labelled with the problem type
// that would have been returned; the caller's own mistake, or a cache that
// does not hold the whole answer, is the error.
func TestStaleOnError(t *testing.T) {
	cached := []string{"DomainGeneralInfo", "DomainDnsResolutions"}
	type row struct {
		name      string
		seed      []string // sections cached first; nil caches nothing
		notFound  bool     // the cached answer is TIP's 404
		ask       []string
		err       *tip.Error
		wantStale bool
	}
	var tests []row
	for _, e := range staleableErrors {
		tests = append(tests, row{name: errName(e), seed: cached, ask: cached, err: e, wantStale: true})
	}
	badRequest := &tip.Error{Kind: tip.KindBadRequest, Status: 400, Detail: "TIP rejected the indicator"}
	unavailable := &tip.Error{Kind: tip.KindUnavailable, Status: 503, Detail: "TIP answered 503"}
	tests = append(tests,
		row{name: "bad request is the error", seed: cached, ask: cached, err: badRequest},
		row{name: "nothing cached", ask: cached, err: unavailable},
		row{name: "only some sections cached", seed: cached, ask: []string{"DomainGeneralInfo", "Subdomains"}, err: unavailable},
		row{name: "stale not-found", seed: cached, notFound: true, ask: cached, err: unavailable, wantStale: true},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			var seed *Result
			if tt.seed != nil {
				fx.tip.set(func(f *fakeTIP) { f.notFound = tt.notFound })
				seed = fx.lookup(t, domainReq(tt.seed, 10, Normal))
			}
			// Past the Red TTL (24h) and the Grey one (1h), within StaleFor (168h).
			fx.clock.Advance(25 * time.Hour)
			fx.tip.set(func(f *fakeTIP) { f.err = tt.err })
			calls := len(fx.tip.Calls())

			res, err := fx.svc.Lookup(context.Background(), domainReq(tt.ask, 10, Normal))
			if got := len(fx.tip.Calls()); got != calls+1 {
				t.Fatalf("TIP calls = %d, want %d: a stale entry must not stop the lookup from asking TIP", got, calls+1)
			}
			if !tt.wantStale {
				var te *tip.Error
				if !errors.As(err, &te) || te != tt.err {
					t.Fatalf("Lookup = %+v, %v; want the TIP error %v", res, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup error = %v, want a stale answer", err)
			}
			reason := string(tt.err.Kind)
			if res.Cache != CacheStale || res.StaleReason != reason {
				t.Fatalf("cache = %q, stale_reason = %q; want %q, %q", res.Cache, res.StaleReason, CacheStale, reason)
			}
			if res.Found != !tt.notFound || !res.ReceivedAt.Equal(seed.ReceivedAt) {
				t.Fatalf("found = %v at %v, want found = %v at the cached %v", res.Found, res.ReceivedAt, !tt.notFound, seed.ReceivedAt)
			}
			assertSameSections(t, res, seed)
			if got := testutil.ToFloat64(fx.svc.metrics.stale.WithLabelValues(reason)); got != 1 {
				t.Fatalf("tipgate_stale_answers_total{reason=%q} = %v, want 1", reason, got)
			}
		})
	}
}

// TestRefreshNeverServesStale: a caller who forces a refresh learns that it
// failed, whatever the cache holds.
func TestRefreshNeverServesStale(t *testing.T) {
	type row struct {
		name    string
		advance time.Duration
		err     *tip.Error
	}
	var tests []row
	for _, e := range staleableErrors {
		tests = append(tests, row{name: errName(e) + "/stale cache", advance: 25 * time.Hour, err: e})
	}
	tests = append(tests, row{name: "fresh cache", advance: time.Hour, err: staleableErrors[1]})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			sections := []string{"DomainGeneralInfo", "DomainDnsResolutions"}
			fx.lookup(t, domainReq(sections, 10, Normal))
			fx.clock.Advance(tt.advance)
			fx.tip.set(func(f *fakeTIP) { f.err = tt.err })
			res, err := fx.svc.Lookup(context.Background(), domainReq(sections, 10, Refresh))
			if !errors.Is(err, tt.err) {
				t.Fatalf("refresh = %+v, %v; want the TIP error %v", res, err, tt.err)
			}
			if n := len(fx.tip.Calls()); n != 2 {
				t.Fatalf("TIP calls = %d, want 2", n)
			}
		})
	}
}

// TestCacheOnlyStates: cache-only answers whatever the cache holds, saying
// when it is past freshness, and otherwise names what is cached.
func TestCacheOnlyStates(t *testing.T) {
	tests := []struct {
		name       string
		seed       []string // sections cached first, at limit 10; nil caches nothing
		notFound   bool
		advance    time.Duration
		ask        []string
		askLimit   int
		want       CacheState
		wantReason string
		wantCached []string // non-nil: want a *NotCachedError listing these
	}{
		{name: "fresh", seed: []string{"DomainGeneralInfo"}, advance: time.Hour, ask: []string{"DomainGeneralInfo"}, askLimit: 10,
			want: CacheHit},
		{name: "past freshness", seed: []string{"DomainGeneralInfo"}, advance: 25 * time.Hour, ask: []string{"DomainGeneralInfo"}, askLimit: 10,
			want: CacheStale, wantReason: StaleCacheOnly},
		{name: "not-found past freshness", seed: []string{"DomainGeneralInfo"}, notFound: true, advance: 2 * time.Hour, ask: []string{"Subdomains"}, askLimit: 10,
			want: CacheStale, wantReason: StaleCacheOnly},
		{name: "other section cached", seed: []string{"DomainGeneralInfo"}, advance: time.Hour, ask: []string{"DomainWhoIsInfo"}, askLimit: 10,
			wantCached: []string{"DomainGeneralInfo"}},
		{name: "list cached at a smaller limit", seed: []string{"DomainGeneralInfo", "DomainDnsResolutions"}, advance: time.Hour, ask: []string{"DomainDnsResolutions"}, askLimit: 20,
			wantCached: []string{"DomainGeneralInfo", "DomainDnsResolutions"}},
		{name: "nothing cached", ask: []string{"DomainGeneralInfo"}, askLimit: 10,
			wantCached: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			var seed *Result
			if tt.seed != nil {
				fx.tip.set(func(f *fakeTIP) { f.notFound = tt.notFound })
				seed = fx.lookup(t, domainReq(tt.seed, 10, Normal))
			}
			fx.clock.Advance(tt.advance)
			calls := len(fx.tip.Calls())
			res, err := fx.svc.Lookup(context.Background(), domainReq(tt.ask, tt.askLimit, CacheOnly))
			if n := len(fx.tip.Calls()); n != calls {
				t.Fatalf("cache-only called TIP (%d calls, want %d)", n, calls)
			}
			if tt.wantCached != nil {
				var nc *NotCachedError
				if !errors.As(err, &nc) || !errors.Is(err, ErrNotCached) {
					t.Fatalf("Lookup = %+v, %v; want a *NotCachedError matching ErrNotCached", res, err)
				}
				if !slices.Equal(nc.Cached, tt.wantCached) {
					t.Fatalf("Cached = %q, want %q", nc.Cached, tt.wantCached)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup error = %v", err)
			}
			if res.Cache != tt.want || res.StaleReason != tt.wantReason {
				t.Fatalf("cache = %q, stale_reason = %q; want %q, %q", res.Cache, res.StaleReason, tt.want, tt.wantReason)
			}
			if res.Found == tt.notFound || !res.ReceivedAt.Equal(seed.ReceivedAt) {
				t.Fatalf("found = %v at %v, want found = %v at the cached %v", res.Found, res.ReceivedAt, !tt.notFound, seed.ReceivedAt)
			}
		})
	}
}

// TestLocalIndicators: the organisation's own indicators are answered at
// once in every mode, without TIP and without the store.
func TestLocalIndicators(t *testing.T) {
	tests := []struct {
		value     string
		mode      Mode
		wantLocal bool
	}{
		{value: "10.1.2.3", mode: Normal, wantLocal: true},
		{value: "10.1.2.3", mode: CacheOnly, wantLocal: true},
		{value: "10.1.2.3", mode: Refresh, wantLocal: true},
		{value: "8.8.8.8", mode: Normal}, // the matcher decides, per indicator
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/mode=%d", tt.value, tt.mode), func(t *testing.T) {
			fx := newFixtureOn(t, newMapStore(), func(o *Options) { o.Local = localSet{"10.1.2.3": true} })
			req := Request{Indicator: indicator.Indicator{Type: indicator.IP, Value: tt.value}, Sections: []string{"IpGeneralInfo"}, Limit: 10, Mode: tt.mode}
			res := fx.lookup(t, req)
			calls, gets := len(fx.tip.Calls()), fx.store.gets.Load()
			if !tt.wantLocal {
				if res.Cache != CacheMiss || calls != 1 {
					t.Fatalf("cache = %q with %d TIP calls, want a miss asking TIP once", res.Cache, calls)
				}
				return
			}
			if res.Cache != CacheLocal || res.Found || res.Zone != "Grey" || len(res.Sections) != 0 || res.StaleReason != "" {
				t.Fatalf("local answer = %+v, want cache local, not found, Grey, no sections", res)
			}
			if !res.ReceivedAt.Equal(fx.clock.Now()) {
				t.Fatalf("received_at = %v, want now (%v)", res.ReceivedAt, fx.clock.Now())
			}
			if calls != 0 || gets != 0 {
				t.Fatalf("TIP calls = %d, store gets = %d; want 0 and 0", calls, gets)
			}
		})
	}
}

// TestCoveringFlights: concurrent lookups of one question at different
// limits, arriving in any order, cost at most two TIP requests (the first
// at its caller's limit, the second at MaxLimit), and each caller gets its
// own limit's records.
func TestCoveringFlights(t *testing.T) {
	tests := []struct {
		limits    []int // in order of arrival
		wantCalls int
	}{
		{limits: []int{5, 10, 1000}, wantCalls: 2},
		{limits: []int{5, 1000, 10}, wantCalls: 2},
		{limits: []int{10, 5, 1000}, wantCalls: 2},
		{limits: []int{10, 1000, 5}, wantCalls: 2},
		{limits: []int{1000, 5, 10}, wantCalls: 1},
		{limits: []int{1000, 10, 5}, wantCalls: 1},
		{limits: []int{5, 20}, wantCalls: 2},
		{limits: []int{20, 5}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limits), func(t *testing.T) {
			fx := newFixture(t)
			open := gateTIP(t, fx.tip)
			fx.tip.set(func(f *fakeTIP) { f.listSize = 2000 })
			sections := []string{"DomainGeneralInfo", "DomainDnsResolutions"}
			answers := make([]<-chan outcome, len(tt.limits))
			for i, limit := range tt.limits {
				joined, calls := testutil.ToFloat64(fx.svc.metrics.coalesced), len(fx.tip.Calls())
				answers[i] = fx.start(context.Background(), domainReq(sections, limit, Normal))
				waitFor(t, fmt.Sprintf("caller %d (limit %d) joins a flight or asks TIP", i+1, limit), func() bool {
					return testutil.ToFloat64(fx.svc.metrics.coalesced) > joined || len(fx.tip.Calls()) > calls
				})
			}
			open()
			for i, limit := range tt.limits {
				o := await(t, answers[i])
				if o.err != nil {
					t.Fatalf("caller %d (limit %d): %v", i+1, limit, o.err)
				}
				if got := listLenOf(t, sectionOf(o.res, "DomainDnsResolutions")); got != limit || o.res.Limit != limit {
					t.Fatalf("caller %d: %d records at limit %d, want %d", i+1, got, o.res.Limit, limit)
				}
			}
			calls := fx.tip.Calls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("TIP calls = %d, want %d", len(calls), tt.wantCalls)
			}
			if calls[0].count != tt.limits[0] {
				t.Fatalf("first TIP call count = %d, want the first caller's %d", calls[0].count, tt.limits[0])
			}
			if len(calls) == 2 && calls[1].count != MaxLimit {
				t.Fatalf("second TIP call count = %d, want MaxLimit", calls[1].count)
			}
		})
	}
}

// TestLastWaiterCancelsFetch: a shared fetch is cancelled when its last
// waiter leaves (TIP's request sees it), and only then.
func TestLastWaiterCancelsFetch(t *testing.T) {
	tests := []struct {
		name   string
		others int // callers that join and stay
	}{
		{name: "alone", others: 0},
		{name: "with a waiter", others: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &watchedTIP{returned: make(chan error, 4)}
			fx := newFixtureOn(t, newMapStore(), w.wrap)
			open := gateTIP(t, fx.tip)
			req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := fx.start(ctx, req)
			waitFor(t, "the first caller is in TIP", func() bool { return len(fx.tip.Calls()) == 1 })
			var others []<-chan outcome
			for i := range tt.others {
				others = append(others, fx.start(context.Background(), req))
				waitFor(t, "the other caller joins", func() bool { return testutil.ToFloat64(fx.svc.metrics.coalesced) == float64(i+1) })
			}

			cancel()
			if o := await(t, first); !errors.Is(o.err, context.Canceled) {
				t.Fatalf("cancelled caller = %+v, %v; want an error wrapping context.Canceled", o.res, o.err)
			}
			fetchCtx := w.ctx(0)
			if tt.others == 0 {
				if !errors.Is(fetchCtx.Err(), context.Canceled) {
					t.Fatalf("the fetch's context err = %v once its only caller left, want context.Canceled", fetchCtx.Err())
				}
				if got := awaitErr(t, w.returned); !errors.Is(got, context.Canceled) {
					t.Fatalf("TIP's request returned with ctx err %v, want context.Canceled", got)
				}
				if n := flightCount(fx.svc); n != 0 {
					t.Fatalf("%d flights left in the table; a cancelled flight must not be joined", n)
				}
				return
			}
			if err := fetchCtx.Err(); err != nil {
				t.Fatalf("the fetch's context err = %v while a waiter remains, want nil", err)
			}
			open()
			for _, ch := range others {
				if o := await(t, ch); o.err != nil || !o.res.Found {
					t.Fatalf("remaining waiter = %+v, %v; want its answer", o.res, o.err)
				}
			}
			if got := awaitErr(t, w.returned); got != nil {
				t.Fatalf("TIP's request returned with ctx err %v, want nil", got)
			}
			if n := len(fx.tip.Calls()); n != 1 {
				t.Fatalf("TIP calls = %d, want 1", n)
			}
		})
	}
}

// TestReplicasShareOneFetch: replicas sharing a store and locks ask TIP
// once per question; the others wait and re-read the store. A replica that
// needs more records than the holder asks for takes the question's second
// lock and asks TIP at MaxLimit at once.
func TestReplicasShareOneFetch(t *testing.T) {
	tests := []struct {
		name      string
		limitB    int // A asks at 10
		wantWait  bool
		wantCache CacheState // B's
	}{
		{name: "same limit waits", limitB: 10, wantWait: true, wantCache: CacheHit},
		{name: "smaller limit waits", limitB: 5, wantWait: true, wantCache: CacheHit},
		{name: "larger limit takes the second lock", limitB: 20, wantCache: CacheMiss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			locks := newLockTable()
			st := newMapStore()
			a := newFixtureOn(t, st, withLocks(locks))
			b := newFixtureOn(t, st, withLocks(locks))
			open := gateTIP(t, a.tip)
			sections := []string{"DomainGeneralInfo", "DomainDnsResolutions"}

			fromA := a.start(context.Background(), domainReq(sections, 10, Normal))
			waitFor(t, "replica A is in TIP", func() bool { return len(a.tip.Calls()) == 1 })
			fromB := b.start(context.Background(), domainReq(sections, tt.limitB, Normal))
			if tt.wantWait {
				waitFor(t, "replica B waits on the lock", func() bool { return locks.waitCount() == 1 })
				if n := len(b.tip.Calls()); n != 0 {
					t.Fatalf("replica B asked TIP %d times while A held the lock", n)
				}
				open()
			}
			oB := await(t, fromB) // with the second lock, B answers while A is still in TIP
			open()
			oA := await(t, fromA)
			if oA.err != nil || oB.err != nil {
				t.Fatalf("A: %v; B: %v", oA.err, oB.err)
			}
			if oA.res.Cache != CacheMiss || oB.res.Cache != tt.wantCache {
				t.Fatalf("A cache = %q, B cache = %q; want miss and %q", oA.res.Cache, oB.res.Cache, tt.wantCache)
			}
			if got := listLenOf(t, sectionOf(oB.res, "DomainDnsResolutions")); got != tt.limitB {
				t.Fatalf("B got %d records, want %d", got, tt.limitB)
			}
			callsB := b.tip.Calls()
			wantCallsB, wantWaits := 0, 1
			if !tt.wantWait {
				wantCallsB, wantWaits = 1, 0
				if len(callsB) == 1 && callsB[0].count != MaxLimit {
					t.Fatalf("B asked TIP for %d records, want MaxLimit", callsB[0].count)
				}
			}
			if len(a.tip.Calls()) != 1 || len(callsB) != wantCallsB {
				t.Fatalf("TIP calls: A %d, B %d; want 1 and %d", len(a.tip.Calls()), len(callsB), wantCallsB)
			}
			if got := testutil.ToFloat64(b.svc.metrics.lockWaits); got != float64(wantWaits) || locks.waitCount() != wantWaits {
				t.Fatalf("B's tipgate_tip_lock_waits_total = %v, Wait calls = %d; want %d", got, locks.waitCount(), wantWaits)
			}
			if n := locks.heldCount(); n != 0 {
				t.Fatalf("%d locks still held after both answered", n)
			}
		})
	}
}

// TestReplicaHolderFails: when the replica holding the lock dies without
// storing (its lock expires) or its TIP request fails, a waiting replica
// asks TIP itself.
func TestReplicaHolderFails(t *testing.T) {
	unavailable := &tip.Error{Kind: tip.KindUnavailable, Status: 503, Detail: "TIP answered 503"}
	tests := []struct {
		name    string
		expires bool // A hangs in TIP and its lock expires; otherwise A's TIP fails
	}{
		{name: "holder dies, lock expires", expires: true},
		{name: "holder's TIP fails"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			locks := newLockTable()
			st := newMapStore()
			a := newFixtureOn(t, st, withLocks(locks))
			b := newFixtureOn(t, st, withLocks(locks))
			open := gateTIP(t, a.tip)
			req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)

			if !tt.expires {
				a.tip.set(func(f *fakeTIP) { f.err = unavailable }) // answered once the gate opens
			}
			ctxA, cancelA := context.WithCancel(context.Background())
			defer cancelA()
			fromA := a.start(ctxA, req)
			waitFor(t, "replica A is in TIP", func() bool { return len(a.tip.Calls()) == 1 })
			fromB := b.start(context.Background(), req)
			waitFor(t, "replica B waits on the lock", func() bool { return locks.waitCount() == 1 })

			if tt.expires {
				if n := locks.expireAll(); n != 1 {
					t.Fatalf("expired %d locks, want A's one", n)
				}
			} else {
				open()
				if o := await(t, fromA); !errors.Is(o.err, unavailable) {
					t.Fatalf("A = %+v, %v; want the TIP error", o.res, o.err)
				}
			}
			o := await(t, fromB)
			if o.err != nil || !o.res.Found || o.res.Cache != CacheMiss {
				t.Fatalf("B = %+v, %v; want its own found miss", o.res, o.err)
			}
			if n := len(b.tip.Calls()); n != 1 {
				t.Fatalf("B's TIP calls = %d, want 1 after the holder failed", n)
			}
			if tt.expires {
				cancelA()
				if o := await(t, fromA); !errors.Is(o.err, context.Canceled) {
					t.Fatalf("A = %+v, %v; want context.Canceled", o.res, o.err)
				}
			}
			if n := locks.heldCount(); n != 0 {
				t.Fatalf("%d locks still held", n)
			}
		})
	}
}

// TestLocksFailing: coordination saves quota but never stops a lookup.
func TestLocksFailing(t *testing.T) {
	locks := newLockTable()
	locks.err = errors.New("redis down")
	fx := newFixtureOn(t, newMapStore(), withLocks(locks))
	res := fx.lookup(t, domainReq([]string{"DomainGeneralInfo"}, 10, Normal))
	if res.Cache != CacheMiss || !res.Found {
		t.Fatalf("lookup = %+v, want a found miss", res)
	}
	if n := len(fx.tip.Calls()); n != 1 {
		t.Fatalf("TIP calls = %d, want 1", n)
	}
	if n := locks.waitCount(); n != 0 {
		t.Fatalf("Wait called %d times after Acquire failed", n)
	}
}

// TestLockReleasedAfterStore: the lock is given up only once the answer is
// in the store, so the replicas it wakes find it there; with a Writer the
// write is behind the answer.
func TestLockReleasedAfterStore(t *testing.T) {
	tests := []struct {
		name        string
		writeBehind bool
	}{
		{name: "store written before the answer"},
		{name: "write behind", writeBehind: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := &eventLog{}
			locks := newLockTable()
			locks.onRelease = func() { events.add("release") }
			st := newMapStore()
			w := &gatedWriter{store: st, log: events, proceed: make(chan struct{})}
			t.Cleanup(w.letGo)
			opts := []func(*Options){withLocks(locks), func(o *Options) {
				if tt.writeBehind {
					o.Writer = w
				} else {
					o.Store = &recordingStore{mapStore: st, log: events}
				}
			}}
			a := newFixtureOn(t, st, opts...)
			b := newFixtureOn(t, st, withLocks(locks))
			req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)

			if o := await(t, a.start(context.Background(), req)); o.err != nil || o.res.Cache != CacheMiss {
				t.Fatalf("A = %+v, %v; want a miss answered before its write finishes", o.res, o.err)
			}
			if tt.writeBehind {
				if got := events.list(); len(got) != 0 || locks.heldCount() != 1 {
					t.Fatalf("with the write pending: events %v, %d locks held; want none and A's lock", got, locks.heldCount())
				}
				// A reads its own pending answer: a hit, no second TIP call.
				if o := await(t, a.start(context.Background(), req)); o.err != nil || o.res.Cache != CacheHit {
					t.Fatalf("A again with its write pending = %+v, %v; want a hit", o.res, o.err)
				}
				// B, on another replica, waits for the write rather than asking TIP.
				fromB := b.start(context.Background(), req)
				waitFor(t, "replica B waits on the lock", func() bool { return locks.waitCount() == 1 })
				w.letGo()
				if o := await(t, fromB); o.err != nil || o.res.Cache != CacheHit {
					t.Fatalf("B = %+v, %v; want a hit from A's write", o.res, o.err)
				}
				if n := len(b.tip.Calls()); n != 0 {
					t.Fatalf("B's TIP calls = %d, want 0", n)
				}
			}
			waitFor(t, "the write and the release", func() bool { return len(events.list()) >= 2 })
			if got, want := events.list(), []string{"write", "release"}; !slices.Equal(got, want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
		})
	}
}

// --- helpers ---

func newMapStore() *mapStore {
	clk := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	return &mapStore{clock: clk, m: map[string]stored{}}
}

func withLocks(l Locks) func(*Options) {
	return func(o *Options) { o.Locks = l }
}

// outcome is what one Lookup returned.
type outcome struct {
	res *Result
	err error
}

// start runs a lookup in the background.
func (fx *fixture) start(ctx context.Context, req Request) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := fx.svc.Lookup(ctx, req)
		ch <- outcome{res, err}
	}()
	return ch
}

const patience = 5 * time.Second

func await(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(patience):
		t.Fatalf("no answer within %v", patience)
		return outcome{}
	}
}

func awaitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatalf("TIP's request did not return within %v", patience)
		return nil
	}
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// gateTIP makes ft's requests wait until the returned func is called (it
// is also called when the test ends, so nothing is left hanging).
func gateTIP(t *testing.T, ft *fakeTIP) (open func()) {
	t.Helper()
	gate := make(chan struct{})
	ft.set(func(f *fakeTIP) { f.gate = gate })
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	return open
}

func flightCount(s *Service) int {
	s.flights.mu.Lock()
	defer s.flights.mu.Unlock()
	return len(s.flights.m)
}

func assertSameSections(t *testing.T, got, want *Result) {
	t.Helper()
	if !slices.Equal(keys(got.Sections), keys(want.Sections)) {
		t.Fatalf("sections %v, want the cached %v", keys(got.Sections), keys(want.Sections))
	}
	for i, w := range want.Sections {
		if g := got.Sections[i]; !bytes.Equal(g.JSON(), w.JSON()) || !g.ReceivedAt.Equal(w.ReceivedAt) {
			t.Fatalf("section %s differs from the cached copy", w.Name)
		}
	}
}

// localSet is a Local matcher over exact values.
type localSet map[string]bool

func (l localSet) Local(ind indicator.Indicator) bool { return l[ind.Value] }

// watchedTIP wraps the fixture's upstream to record the context each
// request ran under and its error once the request returned.
type watchedTIP struct {
	inner    Upstream
	returned chan error // ctx.Err() as each request returned
	mu       sync.Mutex
	ctxs     []context.Context
}

func (w *watchedTIP) wrap(o *Options) {
	w.inner, o.Upstream = o.Upstream, w
}

func (w *watchedTIP) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	w.mu.Lock()
	w.ctxs = append(w.ctxs, ctx)
	w.mu.Unlock()
	res, err := w.inner.Lookup(ctx, ind, sections, count)
	w.returned <- ctx.Err()
	return res, err
}

func (w *watchedTIP) ctx(i int) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctxs[i]
}

// lockTable is an in-memory Locks shared by replicas, with a test hook to
// expire a lock as a dead holder's would.
type lockTable struct {
	mu        sync.Mutex
	held      map[string]*heldLock
	err       error  // Acquire fails with it when set
	onRelease func() // runs on every release by a holder
	// beforeAcquire, when set, runs at the start of every Acquire.
	beforeAcquire func()
	waits         int
}

type heldLock struct {
	limit int
	gone  chan struct{}
	once  sync.Once
}

func (h *heldLock) drop() { h.once.Do(func() { close(h.gone) }) }

func newLockTable() *lockTable { return &lockTable{held: map[string]*heldLock{}} }

func (l *lockTable) Acquire(_ context.Context, key string, limit int) (func(), int, error) {
	l.mu.Lock()
	hook := l.beforeAcquire
	l.mu.Unlock()
	if hook != nil {
		hook()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, 0, l.err
	}
	if h, ok := l.held[key]; ok {
		return nil, h.limit, nil
	}
	h := &heldLock{limit: limit, gone: make(chan struct{})}
	l.held[key] = h
	return func() { l.release(key, h) }, 0, nil
}

// release deletes the lock only if it is still h (not expired and taken
// by another), and wakes its waiters.
func (l *lockTable) release(key string, h *heldLock) {
	l.mu.Lock()
	if l.held[key] == h {
		delete(l.held, key)
	}
	hook := l.onRelease
	l.mu.Unlock()
	h.drop()
	if hook != nil {
		hook()
	}
}

func (l *lockTable) Wait(ctx context.Context, key string) error {
	l.mu.Lock()
	l.waits++
	h, ok := l.held[key]
	l.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-h.gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// expireAll drops every lock without its holder, waking the waiters.
func (l *lockTable) Held(_ context.Context, key string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false, l.err
	}
	_, ok := l.held[key]
	return ok, nil
}

func (l *lockTable) expireAll() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.held)
	for key, h := range l.held {
		delete(l.held, key)
		h.drop()
	}
	return n
}

func (l *lockTable) waitCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waits
}

func (l *lockTable) heldCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held)
}

// eventLog records the order of writes and releases.
type eventLog struct {
	mu sync.Mutex
	ev []string
}

func (e *eventLog) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *eventLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.ev)
}

// gatedWriter is a Writer whose writes wait until letGo; like
// cache.Writer, it shows its pending values to its own process.
type gatedWriter struct {
	store   *mapStore
	log     *eventLog
	proceed chan struct{}
	once    sync.Once

	mu      sync.Mutex
	pending map[string][]byte
}

func (w *gatedWriter) Write(items []cache.Item, done func()) {
	w.mu.Lock()
	if w.pending == nil {
		w.pending = map[string][]byte{}
	}
	for _, it := range items {
		w.pending[it.Key] = it.Value
	}
	w.mu.Unlock()
	go func() {
		<-w.proceed
		_ = w.store.Set(context.Background(), items)
		w.mu.Lock()
		for _, it := range items {
			delete(w.pending, it.Key)
		}
		w.mu.Unlock()
		w.log.add("write")
		done()
	}()
}

func (w *gatedWriter) Pending(keys []string, vals [][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, k := range keys {
		if v, ok := w.pending[k]; ok {
			vals[i] = v
		}
	}
}

func (w *gatedWriter) letGo() { w.once.Do(func() { close(w.proceed) }) }

// recordingStore logs each Set of the store it wraps.
type recordingStore struct {
	*mapStore
	log *eventLog
}

func (s *recordingStore) Set(ctx context.Context, items []cache.Item) error {
	err := s.mapStore.Set(ctx, items)
	s.log.add("write")
	return err
}

// A fetch for fewer records that answers while a fetch of the most records
// for the same question runs (another replica's) leaves the list to it, and
// one that answers after such a fetch was stored does not shrink it: the
// next caller who needs the longer list is a hit.
func TestSmallerAnswerDoesNotShrinkTheCache(t *testing.T) {
	for _, maxRunning := range []bool{true, false} {
		t.Run(fmt.Sprintf("max fetch running %v", maxRunning), func(t *testing.T) {
			clk := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
			st := &mapStore{clock: clk, m: map[string]stored{}}
			locks := newLockTable()
			small := newFixtureOn(t, st, withLocks(locks))
			big := newFixtureOn(t, st, withLocks(locks))
			big.tip.set(func(f *fakeTIP) { f.listSize = 40 })
			small.tip.set(func(f *fakeTIP) { f.listSize = 40; f.gate = make(chan struct{}) })
			sections := []string{"DomainDnsResolutions"}

			fromSmall := small.start(context.Background(), domainReq(sections, 5, Normal))
			waitFor(t, "the small fetch in TIP", func() bool { return len(small.tip.Calls()) == 1 })
			var release func()
			if maxRunning {
				// Another replica's fetch of the most records holds the
				// question's second lock while the small one answers.
				r, _, err := locks.Acquire(context.Background(), small.svc.lockKey(question{ind: domainReq(nil, 0, Normal).Indicator, sections: sections})+maxLockSuffix, MaxLimit)
				if err != nil || r == nil {
					t.Fatalf("take the max lock: %v", err)
				}
				release = r
			} else if res := big.lookup(t, Request{Indicator: domainReq(nil, 0, Normal).Indicator, Sections: sections, Limit: MaxLimit, Mode: Refresh}); listLenOf(t, sectionOf(res, "DomainDnsResolutions")) != 40 {
				t.Fatalf("the big fetch got %s", sectionOf(res, "DomainDnsResolutions"))
			}
			small.tip.set(func(f *fakeTIP) { close(f.gate); f.gate = nil })
			if o := await(t, fromSmall); o.err != nil || listLenOf(t, sectionOf(o.res, "DomainDnsResolutions")) != 5 {
				t.Fatalf("small caller = %+v, %v; want its 5 records", o.res, o.err)
			}
			if release != nil {
				// The small answer left the list to the running max fetch.
				if _, err := small.svc.Lookup(context.Background(), domainReq(sections, 5, CacheOnly)); !errors.Is(err, ErrNotCached) {
					t.Fatalf("cache-only at 5 while the max fetch runs: err = %v, want not cached (the small list left to it)", err)
				}
				// The max fetch ends (a real one stores its answer first;
				// here the other replica's answer is stored right after).
				release()
				big.lookup(t, Request{Indicator: domainReq(nil, 0, Normal).Indicator, Sections: sections, Limit: MaxLimit, Mode: Refresh})
			}
			calls := len(big.tip.Calls())
			res := big.lookup(t, domainReq(sections, 30, Normal))
			if res.Cache != CacheHit || len(big.tip.Calls()) != calls {
				t.Fatalf("a limit-30 lookup after both = %s with %d new TIP calls; want a hit from the longer list", res.Cache, len(big.tip.Calls())-calls)
			}
		})
	}
}

// A replica whose read missed just before another replica stored the
// answer and let the lock go takes the free lock and must look once more
// before asking TIP: the answer is there.
func TestLooksAgainAfterTakingTheLock(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	st := &mapStore{clock: clk, m: map[string]stored{}}
	locks := newLockTable()
	a := newFixtureOn(t, st, withLocks(locks))
	b := newFixtureOn(t, st, withLocks(locks))
	req := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	var started sync.Mutex
	first := true
	locks.beforeAcquire = func() {
		// B's reads have missed and it is about to take the lock; A now
		// fetches, stores and lets go (A's own Acquire comes back here and
		// passes).
		started.Lock()
		run := first
		first = false
		started.Unlock()
		if run {
			a.lookup(t, req)
		}
	}
	res := b.lookup(t, req)
	if res.Cache != CacheHit || len(b.tip.Calls()) != 0 || len(a.tip.Calls()) != 1 {
		t.Fatalf("B = %s with %d TIP calls (A %d); want a hit from A's answer and no TIP call of its own", res.Cache, len(b.tip.Calls()), len(a.tip.Calls()))
	}
}

// While another replica fetches the most records for a question, a lookup
// of that question waits for it rather than taking the free base lock: two
// fetches side by side would pay twice, and the smaller one would leave its
// list to the larger.
func TestWaitsForARunningFetchOfTheMostRecords(t *testing.T) {
	locks := newLockTable()
	fx := newFixtureOn(t, &mapStore{clock: fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)), m: map[string]stored{}}, withLocks(locks))
	req := domainReq([]string{"DomainDnsResolutions"}, 10, Normal)
	release, _, err := locks.Acquire(context.Background(), fx.svc.lockKey(question{ind: req.Indicator, sections: req.Sections})+maxLockSuffix, MaxLimit)
	if err != nil || release == nil {
		t.Fatalf("take the max lock: %v", err)
	}
	got := fx.start(context.Background(), req)
	waitFor(t, "the lookup to wait on the max lock", func() bool { return locks.waitCount() == 1 })
	if n := len(fx.tip.Calls()); n != 0 {
		t.Fatalf("%d TIP calls while the max fetch runs, want 0", n)
	}
	release() // it ended without storing: the waiter fetches for itself
	if o := await(t, got); o.err != nil || o.res.Cache != CacheMiss || len(fx.tip.Calls()) != 1 {
		t.Fatalf("after the max fetch ended = %+v, %v with %d TIP calls; want a miss of its own", o.res, o.err, len(fx.tip.Calls()))
	}
}
