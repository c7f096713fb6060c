package lookup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

type bulkMark struct{}

// bulkTIP wraps the fixture's upstream: it records whether each request ran
// as bulk work, and holds the requests for the values in slow until the
// request's context ends.
type bulkTIP struct {
	inner Upstream
	slow  map[string]bool

	mu   sync.Mutex
	bulk map[string]bool // value -> the request was marked bulk
	n    int
}

func (b *bulkTIP) wrap(o *Options) {
	b.inner, o.Upstream = o.Upstream, b
	o.Bulk = func(ctx context.Context) context.Context { return context.WithValue(ctx, bulkMark{}, true) }
}

func (b *bulkTIP) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	b.mu.Lock()
	b.n++
	isBulk, _ := ctx.Value(bulkMark{}).(bool)
	b.bulk[ind.Value] = isBulk
	slow := b.slow[ind.Value]
	b.mu.Unlock()
	if slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return b.inner.Lookup(ctx, ind, sections, count)
}

func (b *bulkTIP) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func newBatchFixture(t *testing.T, slow ...string) (*fixture, *bulkTIP) {
	t.Helper()
	b := &bulkTIP{slow: map[string]bool{}, bulk: map[string]bool{}}
	for _, v := range slow {
		b.slow[v] = true
	}
	return newFixtureOn(t, newMapStore(), b.wrap), b
}

func (fx *fixture) prepare(t *testing.T, indicator string) Request {
	t.Helper()
	req, err := fx.svc.Prepare(Query{Indicator: indicator})
	if err != nil {
		t.Fatalf("Prepare(%q): %v", indicator, err)
	}
	return req
}

// TestLookupBatchDeduplicates: equivalent spellings and repeats are one
// question, asked of TIP once; cached and local items cost nothing; results
// come back in input order; misses are fetched as bulk work.
func TestLookupBatchDeduplicates(t *testing.T) {
	fx, up := newBatchFixture(t)
	cached := fx.prepare(t, "cached.example.com")
	fx.lookup(t, cached)
	if up.calls() != 1 {
		t.Fatalf("TIP calls after warming the cache = %d, want 1", up.calls())
	}
	fx.svc.local = localSet{"intranet.corp": true}

	inputs := []string{
		"Example.com", "example.com.", "example[.]com", // one domain
		"cached.example.com",                     // a hit
		"3935AAE80FAF8D03781C2D611A4E183F",       // a hash,
		"3935aae80faf8d03781c2d611a4e183f",       // twice
		"intranet.corp",                          // local
		"example.com",                            // again, last
		"other.example.org", "other.example.org", // a second miss, twice
	}
	var reqs []Request
	for _, in := range inputs {
		reqs = append(reqs, fx.prepare(t, in))
	}
	items := fx.svc.LookupBatch(context.Background(), reqs)
	if len(items) != len(inputs) {
		t.Fatalf("%d items for %d requests", len(items), len(inputs))
	}
	want := []struct {
		value string
		cache CacheState
	}{
		{"example.com", CacheMiss}, {"example.com", CacheMiss}, {"example.com", CacheMiss},
		{"cached.example.com", CacheHit},
		{"3935aae80faf8d03781c2d611a4e183f", CacheMiss}, {"3935aae80faf8d03781c2d611a4e183f", CacheMiss},
		{"intranet.corp", CacheLocal},
		{"example.com", CacheMiss},
		{"other.example.org", CacheMiss}, {"other.example.org", CacheMiss},
	}
	for i, it := range items {
		if it.Err != nil || it.Result == nil {
			t.Fatalf("item %d (%q): %v", i, inputs[i], it.Err)
		}
		if it.Result.Indicator.Value != want[i].value || it.Result.Cache != want[i].cache {
			t.Errorf("item %d (%q) = %s %s, want %s %s", i, inputs[i], it.Result.Indicator.Value, it.Result.Cache, want[i].value, want[i].cache)
		}
	}
	// One warm-up, then example.com, the hash and other.example.org.
	if got := up.calls(); got != 4 {
		t.Errorf("TIP calls = %d, want 4 (one per distinct miss)", got)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, v := range []string{"example.com", "3935aae80faf8d03781c2d611a4e183f", "other.example.org"} {
		if !up.bulk[v] {
			t.Errorf("the fetch of %s was not marked as bulk work", v)
		}
	}
	if up.bulk["cached.example.com"] {
		t.Error("a single lookup was marked as bulk work")
	}
}

// TestLookupBatchKeysTheWholeQuestion: the same indicator at another limit
// or with other sections is another question.
func TestLookupBatchKeysTheWholeQuestion(t *testing.T) {
	fx, up := newBatchFixture(t)
	a := domainReq([]string{"DomainGeneralInfo"}, 10, Normal)
	b := domainReq([]string{"DomainGeneralInfo", "DomainDnsResolutions"}, 10, Normal)
	c := domainReq([]string{"DomainDnsResolutions"}, 20, Normal)
	items := fx.svc.LookupBatch(context.Background(), []Request{a, b, c, a})
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("item %d: %v", i, it.Err)
		}
	}
	if got := len(items[1].Result.Sections); got != 2 {
		t.Errorf("item 1 has %d sections, want 2", got)
	}
	if items[0].Result != items[3].Result {
		t.Error("the repeated request was not answered by the same lookup")
	}
	if n := up.calls(); n < 2 || n > 3 {
		t.Errorf("TIP calls = %d, want 2 or 3 (three questions, which may share a fetch)", n)
	}
}

// TestLookupBatchDeadline: at the batch's deadline the finished items are
// returned, a slow one carries ErrBatchTimeout, a slow one with a cached
// copy is served stale, and the slow fetches are abandoned.
func TestLookupBatchDeadline(t *testing.T) {
	fx, up := newBatchFixture(t, "slow.example.com", "stale.example.com")
	cached := fx.prepare(t, "cached.example.com")
	fx.lookup(t, cached)

	// A copy of stale.example.com, past its freshness.
	up.mu.Lock()
	delete(up.slow, "stale.example.com")
	up.mu.Unlock()
	staleReq := fx.prepare(t, "stale.example.com")
	fx.lookup(t, staleReq)
	up.mu.Lock()
	up.slow["stale.example.com"] = true
	up.mu.Unlock()
	fx.clock.Advance(25 * time.Hour)
	fx.lookup(t, cached) // fetched again, fresh

	reqs := []Request{cached, fx.prepare(t, "slow.example.com"), fx.prepare(t, "fast.example.com"), staleReq, fx.prepare(t, "slow.example.com")}
	// The items stop a tenth of this before it (at most batchMargin), so
	// that the stale copy and the timeouts are in the answer.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	items := fx.svc.LookupBatch(ctx, reqs)
	if it := items[0]; it.Err != nil || it.Result.Cache != CacheHit {
		t.Errorf("cached item = %+v, %v; want a hit", it.Result, it.Err)
	}
	if it := items[2]; it.Err != nil || it.Result.Cache != CacheMiss {
		t.Errorf("fast item = %+v, %v; want a miss", it.Result, it.Err)
	}
	for _, i := range []int{1, 4} {
		if it := items[i]; !errors.Is(it.Err, ErrBatchTimeout) || !errors.Is(it.Err, context.DeadlineExceeded) || it.Result != nil {
			t.Errorf("slow item %d = %+v, %v; want ErrBatchTimeout", i, it.Result, it.Err)
		}
	}
	if it := items[3]; it.Err != nil || it.Result.Cache != CacheStale || it.Result.StaleReason != string(tip.KindTimeout) {
		t.Errorf("stale item = %+v, %v; want a stale copy (tip-timeout)", it.Result, it.Err)
	}
	waitFor(t, "the abandoned fetches are cancelled", func() bool { return flightCount(fx.svc) == 0 })
}

// TestLookupBatchCallerLeaves: a caller that goes away gets every unfinished
// item as abandoned, not as a timeout.
func TestLookupBatchCallerLeaves(t *testing.T) {
	fx, _ := newBatchFixture(t, "slow.example.com")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []BatchItem, 1)
	go func() { done <- fx.svc.LookupBatch(ctx, []Request{fx.prepare(t, "slow.example.com")}) }()
	waitFor(t, "the fetch starts", func() bool { return flightCount(fx.svc) == 1 })
	cancel()
	var items []BatchItem
	select {
	case items = <-done:
	case <-time.After(patience):
		t.Fatal("LookupBatch did not return when its caller left")
	}
	if err := items[0].Err; !errors.Is(err, context.Canceled) || errors.Is(err, ErrBatchTimeout) {
		t.Errorf("error = %v, want the caller's cancellation", err)
	}
}

// TestLookupBatchBoundsFetches: a batch of many misses has at most
// batchFetchers of them fetching at once, and cache-only batches none.
func TestLookupBatchBoundsFetches(t *testing.T) {
	fx, up := newBatchFixture(t)
	open := gateTIP(t, fx.tip)
	var reqs []Request
	for i := range 3 * batchFetchers {
		reqs = append(reqs, fx.prepare(t, fmt.Sprintf("d%d.example.com", i)))
	}
	done := make(chan []BatchItem, 1)
	go func() { done <- fx.svc.LookupBatch(context.Background(), reqs) }()
	waitFor(t, "the fetchers are busy", func() bool { return up.calls() == batchFetchers })
	time.Sleep(20 * time.Millisecond) // room for a fetch past the bound to show up
	if got := up.calls(); got != batchFetchers {
		t.Fatalf("TIP calls in flight = %d, want %d", got, batchFetchers)
	}
	open()
	items := <-done
	for i, it := range items {
		if it.Err != nil {
			t.Fatalf("item %d: %v", i, it.Err)
		}
	}
	if got := up.calls(); got != len(reqs) {
		t.Errorf("TIP calls = %d, want %d", got, len(reqs))
	}

	var cacheOnly []Request
	for i := range 5 {
		r := fx.prepare(t, fmt.Sprintf("new%d.example.com", i))
		r.Mode = CacheOnly
		cacheOnly = append(cacheOnly, r)
	}
	cacheOnly = append(cacheOnly, reqs[0])
	cacheOnly[5].Mode = CacheOnly
	items = fx.svc.LookupBatch(context.Background(), cacheOnly)
	for i, it := range items[:5] {
		if !errors.Is(it.Err, ErrNotCached) {
			t.Errorf("cache-only item %d = %v, want not cached", i, it.Err)
		}
	}
	if it := items[5]; it.Err != nil || it.Result.Cache != CacheHit {
		t.Errorf("cached cache-only item = %+v, %v", it.Result, it.Err)
	}
	if got := up.calls(); got != len(reqs) {
		t.Errorf("a cache-only batch asked TIP: %d calls, want %d", got, len(reqs))
	}
	if !strings.Contains(ErrBatchTimeout.Error(), "deadline") {
		t.Errorf("ErrBatchTimeout says %q", ErrBatchTimeout)
	}
}
