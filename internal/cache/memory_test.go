package cache_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/cache/cachetest"
	"github.com/tipgate/tipgate/internal/fakeclock"
)

var _ cachetest.Store = (*cache.Memory)(nil)

func TestMemorySuite(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	cachetest.Run(t, func(t *testing.T) cachetest.Store {
		m := cache.NewMemory(64<<20, cache.WithClock(clock.Now))
		t.Cleanup(func() { _ = m.Close() })
		return m
	}, clock.Advance)
}

// entrySize is what an entry with a chunk of its own is charged: every
// entry has one in the small stores of the eviction tests, which makes
// eviction one entry at a time.
func entrySize(key, value string) int64 { return cache.MemoryEntrySize(key, value) }

// longestValue is the longest value stored under key that is charged at
// most size.
func longestValue(t *testing.T, key string, size int64) string {
	t.Helper()
	n := 0
	for entrySize(key, strings.Repeat("x", n+1)) <= size {
		n++
	}
	if entrySize(key, strings.Repeat("x", n)) > size {
		t.Fatalf("no value under %q is charged at most %d", key, size)
	}
	return strings.Repeat("x", n)
}

func mustSet(t *testing.T, m *cache.Memory, items ...cache.Item) {
	t.Helper()
	if err := m.Set(context.Background(), items); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

// present lists which of keys the store returns a value for.
func present(t *testing.T, m *cache.Memory, keys ...string) string {
	t.Helper()
	got, err := m.Get(context.Background(), keys)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	var out []string
	for i, v := range got {
		if v != nil {
			out = append(out, keys[i])
		}
	}
	return strings.Join(out, ",")
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	// Every entry is charged the same, and the bound holds exactly three.
	bound := 3 * entrySize("a", "vvvv")
	tests := []struct {
		name string
		ops  []string // "set k" or "get k"
		want string   // keys still held, in a,b,c,d,e order
	}{
		{"under the bound nothing goes", []string{"set a", "set b", "set c"}, "a,b,c"},
		{"oldest goes first", []string{"set a", "set b", "set c", "set d"}, "b,c,d"},
		{"a read makes an entry young", []string{"set a", "set b", "set c", "get a", "set d"}, "a,c,d"},
		{"an overwrite makes an entry young", []string{"set a", "set b", "set c", "set a", "set d"}, "a,c,d"},
		{"a miss changes nothing", []string{"set a", "set b", "set c", "get e", "set d"}, "b,c,d"},
		{"two evictions", []string{"set a", "set b", "set c", "get b", "set d", "set e"}, "b,d,e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := cache.NewMemory(bound)
			for _, op := range tt.ops {
				verb, key, _ := strings.Cut(op, " ")
				switch verb {
				case "set":
					mustSet(t, m, cache.Item{Key: key, Value: []byte("vvvv"), TTL: time.Hour})
				case "get":
					present(t, m, key)
				default:
					t.Fatalf("bad op %q", op)
				}
			}
			// Reading every key one by one would itself reorder them, so
			// check in one call, after all the operations.
			if got := present(t, m, "a", "b", "c", "d", "e"); got != tt.want {
				t.Errorf("held after %v: got %q, want %q", tt.ops, got, tt.want)
			}
			if m.Bytes() > bound {
				t.Errorf("Bytes() = %d, want at most the bound %d", m.Bytes(), bound)
			}
		})
	}
}

func TestMemoryEvictsToFitALargerItem(t *testing.T) {
	small := entrySize("a", "v")
	m := cache.NewMemory(4 * small)
	for _, k := range []string{"a", "b", "c", "d"} {
		mustSet(t, m, cache.Item{Key: k, Value: []byte("v"), TTL: time.Hour})
	}
	// "big" needs the space of two and a half small entries: three must go.
	big := longestValue(t, "big", 2*small+small/2)
	if entrySize("big", big) <= 2*small {
		t.Fatalf("big is charged %d, want more than two small entries (%d)", entrySize("big", big), 2*small)
	}
	mustSet(t, m, cache.Item{Key: "big", Value: []byte(big), TTL: time.Hour})
	if got, want := present(t, m, "a", "b", "c", "d", "big"), "d,big"; got != want {
		t.Errorf("held: got %q, want %q", got, want)
	}
}

func TestMemorySkipsOversizeItem(t *testing.T) {
	// Charges grow in the allocator's steps: the bound is exactly what
	// the longest value charged at most 1000 bytes costs.
	fits := longestValue(t, "k", 1000)
	bound := entrySize("k", fits)
	tooBig := fits + "!"
	tests := []struct {
		name  string
		items []cache.Item
		want  string
	}{
		{"exactly the bound is stored", []cache.Item{{Key: "k", Value: []byte(fits), TTL: time.Hour}}, "k"},
		{"one byte over is skipped", []cache.Item{{Key: "k", Value: []byte(tooBig), TTL: time.Hour}}, "old"},
		{"the rest of the batch is stored", []cache.Item{
			{Key: "k", Value: []byte(tooBig), TTL: time.Hour},
			{Key: "small", Value: []byte("s"), TTL: time.Hour},
		}, "old,small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := cache.NewMemory(bound)
			mustSet(t, m, cache.Item{Key: "old", Value: []byte("o"), TTL: time.Hour})
			if err := m.Set(context.Background(), tt.items); err != nil {
				t.Fatalf("Set: got %v, want nil (an oversize item is skipped, not an error)", err)
			}
			if got := present(t, m, "old", "k", "small"); got != tt.want {
				t.Errorf("held: got %q, want %q", got, tt.want)
			}
			if m.Bytes() > bound {
				t.Errorf("Bytes() = %d, want at most %d", m.Bytes(), bound)
			}
		})
	}
}

func TestMemoryOversizeOverwriteDropsOldValue(t *testing.T) {
	m := cache.NewMemory(500)
	mustSet(t, m, cache.Item{Key: "k", Value: []byte("old"), TTL: time.Hour})
	mustSet(t, m, cache.Item{Key: "k", Value: make([]byte, 500), TTL: time.Hour})
	if got := present(t, m, "k"); got != "" {
		t.Errorf("after an oversize overwrite: got %q held, want nothing (the old value is out of date)", got)
	}
	if m.Len() != 0 || m.Bytes() != 0 {
		t.Errorf("Len, Bytes: got %d, %d; want 0, 0", m.Len(), m.Bytes())
	}
}

func TestMemoryZeroBoundStoresNothing(t *testing.T) {
	for _, bound := range []int64{0, -1} {
		m := cache.NewMemory(bound)
		mustSet(t, m, cache.Item{Key: "k", Value: []byte("v"), TTL: time.Hour})
		if m.Len() != 0 {
			t.Errorf("bound %d: Len() = %d, want 0", bound, m.Len())
		}
	}
}

// TestMemoryAccounting: Bytes is the chunks held, dead records in them
// included, and each live entry's bookkeeping. Small records share a
// chunk; a chunk goes when its last live record does.
func TestMemoryAccounting(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	m := cache.NewMemory(1<<20, cache.WithClock(clock.Now))
	chunk := int64(cache.MemoryChunkBytes(m))
	ctx := context.Background()
	steps := []struct {
		name      string
		do        func() error
		wantLen   int
		wantBytes int64
	}{
		{"empty", func() error { return nil }, 0, 0},
		{"two entries share a chunk", func() error {
			return m.Set(ctx, []cache.Item{
				{Key: "alpha", Value: []byte("12345"), TTL: time.Hour},
				{Key: "b", Value: []byte("1"), TTL: time.Minute},
			})
		}, 2, chunk + 2*cache.MemoryEntryOverhead},
		{"an overwrite leaves the old record in the chunk", func() error {
			return m.Set(ctx, []cache.Item{{Key: "alpha", Value: []byte("1234567890"), TTL: time.Hour}})
		}, 2, chunk + 2*cache.MemoryEntryOverhead},
		{"expired entries are held until touched", func() error {
			clock.Advance(2 * time.Minute)
			return nil
		}, 2, chunk + 2*cache.MemoryEntryOverhead},
		{"a read reclaims an expired entry", func() error {
			_, err := m.Get(ctx, []string{"b"})
			return err
		}, 1, chunk + cache.MemoryEntryOverhead},
		{"the last delete frees the chunk", func() error { return m.Delete(ctx, []string{"alpha", "absent"}) }, 0, 0},
		{"empty value", func() error {
			return m.Set(ctx, []cache.Item{{Key: "e", Value: nil, TTL: time.Hour}})
		}, 1, chunk + cache.MemoryEntryOverhead},
		{"a large value has a chunk of its own", func() error {
			return m.Set(ctx, []cache.Item{{Key: "large", Value: make([]byte, chunk), TTL: time.Hour}})
		}, 2, chunk + cache.MemoryEntryOverhead + entrySize("large", string(make([]byte, chunk)))},
		{"clear", func() error { m.Clear(); return nil }, 0, 0},
		{"close", func() error {
			mustSet(t, m, cache.Item{Key: "e", Value: nil, TTL: time.Hour})
			return m.Close()
		}, 0, 0},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := m.Len(); got != st.wantLen {
			t.Errorf("%s: Len() = %d, want %d", st.name, got, st.wantLen)
		}
		if got := m.Bytes(); got != st.wantBytes {
			t.Errorf("%s: Bytes() = %d, want %d", st.name, got, st.wantBytes)
		}
	}
}

func TestMemoryExpiresAtTheTTL(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	m := cache.NewMemory(1<<20, cache.WithClock(clock.Now))
	mustSet(t, m, cache.Item{Key: "k", Value: []byte("v"), TTL: time.Minute})
	clock.Advance(time.Minute - time.Nanosecond)
	if got := present(t, m, "k"); got != "k" {
		t.Errorf("just before the TTL: got %q held, want k", got)
	}
	clock.Advance(time.Nanosecond)
	if got := present(t, m, "k"); got != "" {
		t.Errorf("at the TTL: got %q held, want nothing", got)
	}
	// A lifetime past the end of int64 nanoseconds is forever, not the past.
	mustSet(t, m, cache.Item{Key: "forever", Value: []byte("v"), TTL: math.MaxInt64})
	if got := present(t, m, "forever"); got != "forever" {
		t.Errorf("with the longest TTL: got %q held, want forever", got)
	}
}

// TestMemoryValuesAreShared: Set keeps its own copy, and Get hands out
// that copy itself, without allocating one per value; appending to it
// leaves the stored value alone.
func TestMemoryValuesAreShared(t *testing.T) {
	m := cache.NewMemory(1 << 20)
	in := []byte("original")
	mustSet(t, m, cache.Item{Key: "k", Value: in, TTL: time.Hour})
	in[0] = 'X'
	ctx := context.Background()
	got, err := m.Get(ctx, []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != "original" {
		t.Fatalf("after changing the Set argument: got %q, want %q", got[0], "original")
	}
	_ = append(got[0], "-appended"...)
	again, err := m.Get(ctx, []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	if string(again[0]) != "original" || unsafe.SliceData(again[0]) != unsafe.SliceData(got[0]) {
		t.Errorf("after appending to a returned value: got %q at %p, want %q at %p", again[0], again[0], "original", got[0])
	}
	keys := []string{"k", "absent", "k"}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = m.Get(ctx, keys) }); allocs > 1 {
		t.Errorf("Get of %d keys: %v allocations, want 1 (the result slice)", len(keys), allocs)
	}
}

// TestMemoryBoundUnderConcurrency checks the bound holds while many
// goroutines write more than fits; run with -race.
func TestMemoryBoundUnderConcurrency(t *testing.T) {
	const bound = 50 << 10
	m := cache.NewMemory(bound)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := range 500 {
				key := fmt.Sprintf("w%d-%d", w, i%97)
				_ = m.Set(ctx, []cache.Item{{Key: key, Value: make([]byte, i%300), TTL: time.Hour}})
				_, _ = m.Get(ctx, []string{key, fmt.Sprintf("w%d-%d", (w+1)%8, i%97)})
				if b := m.Bytes(); b > bound {
					t.Errorf("Bytes() = %d, want at most %d", b, bound)
					return
				}
			}
		})
	}
	wg.Wait()
}

func benchMemory(b *testing.B, keys int, valueSize int) (*cache.Memory, []string) {
	b.Helper()
	m := cache.NewMemory(256 << 20)
	ks := make([]string, keys)
	items := make([]cache.Item, keys)
	for i := range ks {
		ks[i] = fmt.Sprintf("tipgate:v1:{domain:example.com}:Section%02d", i)
		items[i] = cache.Item{Key: ks[i], Value: make([]byte, valueSize), TTL: time.Hour}
	}
	if err := m.Set(context.Background(), items); err != nil {
		b.Fatal(err)
	}
	return m, ks
}

func BenchmarkMemoryGet(b *testing.B) {
	for _, keys := range []int{1, 10} {
		b.Run(fmt.Sprintf("keys=%d/value=1KiB", keys), func(b *testing.B) {
			m, ks := benchMemory(b, keys, 1<<10)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Get(ctx, ks); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMemoryGetParallel(b *testing.B) {
	m, ks := benchMemory(b, 10, 1<<10)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Get(ctx, ks); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMemorySet(b *testing.B) {
	m, ks := benchMemory(b, 10, 1<<10)
	items := make([]cache.Item, len(ks))
	for i, k := range ks {
		items[i] = cache.Item{Key: k, Value: make([]byte, 1<<10), TTL: time.Hour}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Set(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMemoryClear(t *testing.T) {
	m := cache.NewMemory(1 << 20)
	mustSet(t, m, cache.Item{Key: "a", Value: []byte("A"), TTL: time.Hour}, cache.Item{Key: "b", Value: []byte("B"), TTL: time.Hour})
	m.Clear()
	if m.Len() != 0 || m.Bytes() != 0 {
		t.Errorf("after Clear: Len %d, Bytes %d; want 0, 0", m.Len(), m.Bytes())
	}
	if got := present(t, m, "a", "b"); got != "" {
		t.Errorf("after Clear: present %q, want none", got)
	}
	// The store stays open.
	mustSet(t, m, cache.Item{Key: "c", Value: []byte("C"), TTL: time.Hour})
	if got := present(t, m, "c"); got != "c" {
		t.Errorf("Set after Clear: present %q, want c", got)
	}
	_ = m.Close()
	m.Clear() // on a closed store: nothing to do, no panic
}

// lookupKeys are the keys one lookup of indicator i reads: its Zone entry
// and two sections, named the way internal/lookup names them.
func lookupKeys(i int) []string {
	tag := fmt.Sprintf("tipgate:v2:1a2b3c4d:{domain:host%07d.example.com}:", i)
	return []string{tag + "Zone", tag + "DomainGeneralInfo", tag + "DomainDnsResolutions"}
}

// lookupValues are what lookup stores under lookupKeys: a 26-byte header and
// compact JSON, about 200 bytes of sections per indicator.
func lookupValues() [][]byte {
	header := string(make([]byte, 26))
	return [][]byte{
		[]byte(header + `"Green"`),
		[]byte(header + `{"Domain":"host.example.com","Categories":["Search engines"],"HitsCount":12345,"Ipv4Count":4,"FilesCount":0}`),
		[]byte(header + `[{"Ip":"192.0.2.10","Zone":"Green","FirstSeen":"2026-01-02T03:04:05Z"}]`),
	}
}

// BenchmarkMemoryHit is a lookup's read of a cached indicator (three keys in
// one Get) from a store holding n indicators, filled through Set, read in a
// random order so that a large store is not read from the CPU cache alone.
// The keys are built in the order they are read, as a lookup builds them
// per request, so that the benchmark's own memory is read in sequence and
// what is measured is the store's. The target is that 10^6 indicators cost
// within 10 % of 10^3.
func BenchmarkMemoryHit(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("indicators=%d", n), func(b *testing.B) {
			m := cache.NewMemory(4 << 30)
			defer m.Close()
			ctx := context.Background()
			vals := lookupValues()
			for i := range n {
				keys := lookupKeys(i)
				items := make([]cache.Item, len(keys))
				for j, k := range keys {
					items[j] = cache.Item{Key: k, Value: vals[j], TTL: time.Hour}
				}
				if err := m.Set(ctx, items); err != nil {
					b.Fatal(err)
				}
			}
			reads := make([][]string, n)
			for i, ind := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
				reads[i] = lookupKeys(ind)
			}
			runtime.GC()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				got, err := m.Get(ctx, reads[i])
				if err != nil || got[2] == nil {
					b.Fatalf("Get: %v, %d values", err, len(got))
				}
				if i++; i == n {
					i = 0
				}
			}
		})
	}
}

// TestMemoryFootprint checks that what the store charges is what it takes
// from the heap: filled with entries of several sizes, the live heap it
// adds is within 10 % of Bytes(). A store that under-counts lets the
// process outgrow the bound it was given.
func TestMemoryFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("fills tens of megabytes")
	}
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		entries int
		value   int
	}{
		{"empty values", 200_000, 0},
		{"lookup sections", 150_000, 130},
		{"1 KB", 30_000, 1000},
		{"4 KB", 8_000, 4000},
		{"40 KB", 800, 40_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			value := make([]byte, tt.value+7)
			before := liveHeap()
			m := cache.NewMemory(1 << 40)
			for i := range tt.entries {
				key := fmt.Sprintf("tipgate:v2:1a2b3c4d:{domain:host%07d.example.com}:DomainGeneralInfo", i)
				// Values spread over a few size classes.
				if err := m.Set(ctx, []cache.Item{{Key: key, Value: value[:tt.value+i%7], TTL: time.Hour}}); err != nil {
					t.Fatal(err)
				}
			}
			heap := liveHeap() - before
			charged := m.Bytes()
			drift := float64(charged-heap) / float64(heap)
			t.Logf("%d entries: charged %d, heap %d (%+.1f%%), %.1f bytes of heap per entry", m.Len(), charged, heap, 100*drift, float64(heap)/float64(m.Len()))
			if drift > 0.1 || drift < -0.1 {
				t.Errorf("charged %d bytes for %d bytes of heap (%+.1f%%), want within 10%%", charged, heap, 100*drift)
			}
			runtime.KeepAlive(m)
		})
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestMemorySharedHash: keys whose hashes collide are told apart by the
// key each record holds, and cannot both be held.
func TestMemorySharedHash(t *testing.T) {
	m := cache.NewMemory(1<<20, cache.WithHashBits(0))
	mustSet(t, m, cache.Item{Key: "a", Value: []byte("A"), TTL: time.Hour})
	if got := present(t, m, "a", "b"); got != "a" {
		t.Errorf("held: got %q, want a (b shares its hash and was never stored)", got)
	}
	mustSet(t, m, cache.Item{Key: "b", Value: []byte("B"), TTL: time.Hour})
	got, err := m.Get(context.Background(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != nil || string(got[1]) != "B" {
		t.Errorf("after storing b: got %q, %q; want a evicted and B", got[0], got[1])
	}
	if err := m.Delete(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := present(t, m, "b"); got != "b" || m.Len() != 1 {
		t.Errorf("deleting a, which shares b's hash: b held %q, Len %d; want b, 1", got, m.Len())
	}
}

// TestMemoryValuesOutliveTheirEntries: a value Get returned keeps its bytes
// after its entry is replaced, evicted or cleared, as a response being
// written from it needs.
func TestMemoryValuesOutliveTheirEntries(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(64 << 10)
	value := func(i int) []byte { return []byte(fmt.Sprintf("value %d %s", i, strings.Repeat("v", 80))) }
	for i := range 10 {
		mustSet(t, m, cache.Item{Key: fmt.Sprint(i), Value: value(i), TTL: time.Hour})
	}
	got, err := m.Get(ctx, []string{"0", "1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, m, cache.Item{Key: "1", Value: []byte("replaced"), TTL: time.Hour})
	if err := m.Delete(ctx, []string{"2"}); err != nil {
		t.Fatal(err)
	}
	// Far more than the bound: every chunk of the first entries is
	// dropped.
	for i := 10; i < 5000; i++ {
		mustSet(t, m, cache.Item{Key: fmt.Sprint(i), Value: value(i), TTL: time.Hour})
	}
	m.Clear()
	for i, v := range got {
		if string(v) != string(value(i)) {
			t.Errorf("value %d: got %q, want %q", i, v, value(i))
		}
	}
}

// TestMemorySecondChance: when the oldest chunk goes, what was read since
// it was written stays, and what was not goes.
func TestMemorySecondChance(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(64 << 10)
	// Records of 128 bytes, header included.
	perChunk := cache.MemoryChunkBytes(m) / 128
	if perChunk < 4 {
		t.Fatalf("chunks of %d bytes hold %d records of 128 bytes; want several", cache.MemoryChunkBytes(m), perChunk)
	}
	key := func(i int) string { return fmt.Sprintf("k%04d", i) }
	set := func(i int) {
		mustSet(t, m, cache.Item{Key: key(i), Value: make([]byte, 128-24-len(key(i))), TTL: time.Hour})
	}
	// Up to the first eviction.
	n := 0
	for ; m.Len() == n; n++ {
		set(n)
	}
	// The first chunk went; read half of the second, then write until it
	// goes too.
	first := 0
	for present(t, m, key(first)) == "" {
		first++
	}
	var read, unread []string
	for i := first; i < first+perChunk/2; i++ {
		read = append(read, key(i))
		unread = append(unread, key(i+perChunk/2))
	}
	if _, err := m.Get(ctx, read); err != nil {
		t.Fatal(err)
	}
	for i := n; i < n+2*perChunk; i++ {
		set(i)
	}
	if got, want := present(t, m, read...), strings.Join(read, ","); got != want {
		t.Errorf("read entries held: got %q, want all of %q", got, want)
	}
	if got := present(t, m, unread...); got != "" {
		t.Errorf("unread entries of the same age held: got %q, want none", got)
	}
	if m.Bytes() > 64<<10 {
		t.Errorf("Bytes() = %d, want at most the bound", m.Bytes())
	}
}

// TestMemoryRandomOps runs random operations against a model of what the
// store may answer: a value is either absent (evicted, expired, deleted)
// or the last one stored under its key, and the bookkeeping adds up after
// every step.
func TestMemoryRandomOps(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
		opts := []cache.MemoryOption{cache.WithClock(clock.Now)}
		if seed%4 == 0 {
			opts = append(opts, cache.WithHashBits(3)) // collisions galore
		}
		bound := int64(4<<10 + rng.IntN(16<<10))
		m := cache.NewMemory(bound, opts...)
		ctx := context.Background()
		type stored struct {
			value   string
			expires time.Time
		}
		model := map[string]stored{}
		type held struct {
			got  []byte
			want string
		}
		var kept []held
		for step := range 3000 {
			key := fmt.Sprintf("key-%d", rng.IntN(60))
			switch op := rng.IntN(10); {
			case op < 4:
				// Some values large enough for a chunk of their own.
				v := strings.Repeat(string(rune('a'+step%26)), rng.IntN(40)+rng.IntN(2)*rng.IntN(600))
				ttl := time.Duration(1+rng.IntN(100)) * time.Second
				mustSet(t, m, cache.Item{Key: key, Value: []byte(v), TTL: ttl})
				model[key] = stored{v, clock.Now().Add(ttl)}
			case op < 8:
				got, err := m.Get(ctx, []string{key})
				if err != nil {
					t.Fatal(err)
				}
				want, ok := model[key]
				alive := ok && clock.Now().Before(want.expires)
				switch {
				case got[0] != nil && !alive:
					t.Fatalf("seed %d step %d: %s = %q, want absent", seed, step, key, got[0])
				case got[0] != nil && string(got[0]) != want.value:
					t.Fatalf("seed %d step %d: %s = %q, want %q", seed, step, key, got[0], want.value)
				case got[0] != nil && len(kept) < 200:
					kept = append(kept, held{got[0], want.value})
				}
			case op < 9:
				if err := m.Delete(ctx, []string{key}); err != nil {
					t.Fatal(err)
				}
				delete(model, key)
			default:
				clock.Advance(time.Duration(rng.IntN(10)) * time.Second)
			}
			if err := m.Check(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
		}
		for _, h := range kept {
			if string(h.got) != h.want {
				t.Fatalf("seed %d: a value read earlier changed to %q, want %q", seed, h.got, h.want)
			}
		}
	}
}
