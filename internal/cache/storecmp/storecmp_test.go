package storecmp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"

	"github.com/tipgate/tipgate/internal/cache"
)

// store is what the comparison asks of each contender: the memory store's
// contract, reduced to what a lookup does.
type store interface {
	get(keys []string, out [][]byte) // out[i] nil where absent
	set(key string, value []byte, ttl time.Duration)
	close()
}

type contender struct {
	name string
	new  func(bound int64) store
}

var contenders = []contender{
	{"memory", func(b int64) store { return &memoryStore{cache.NewMemory(b)} }},
	{"list-lru", func(b int64) store { return &listStore{newListMemory(b)} }},
	{"otter", newOtter},
	{"ristretto", newRistretto},
}

type memoryStore struct{ m *cache.Memory }

func (s *memoryStore) get(keys []string, out [][]byte) {
	v, _ := s.m.Get(context.Background(), keys)
	copy(out, v)
}
func (s *memoryStore) set(k string, v []byte, ttl time.Duration) {
	_ = s.m.Set(context.Background(), []cache.Item{{Key: k, Value: v, TTL: ttl}})
}
func (s *memoryStore) close() { _ = s.m.Close() }

type listStore struct{ m *listMemory }

func (s *listStore) get(keys []string, out [][]byte) {
	v, _ := s.m.Get(context.Background(), keys)
	copy(out, v)
}
func (s *listStore) set(k string, v []byte, ttl time.Duration) {
	_ = s.m.Set(context.Background(), []cache.Item{{Key: k, Value: v, TTL: ttl}})
}
func (s *listStore) close() { _ = s.m.Close() }

// otterValue carries each entry's own lifetime, which otter reads through
// its expiry calculator: tipgate's TTLs differ per entry.
type otterValue struct {
	b   []byte
	ttl time.Duration
}

type otterStore struct {
	c *otter.Cache[string, otterValue]
}

func newOtter(bound int64) store {
	return &otterStore{otter.Must(&otter.Options[string, otterValue]{
		MaximumWeight: uint64(bound),
		Weigher:       func(k string, v otterValue) uint32 { return uint32(len(k) + len(v.b)) },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, otterValue]) time.Duration {
			return e.Value.ttl
		}),
	})}
}

func (s *otterStore) get(keys []string, out [][]byte) {
	for i, k := range keys {
		v, _ := s.c.GetIfPresent(k)
		out[i] = v.b
	}
}
func (s *otterStore) set(k string, v []byte, ttl time.Duration) {
	// A copy, as the memory store makes: the caller's buffer is its own.
	s.c.Set(k, otterValue{b: append([]byte(nil), v...), ttl: ttl})
}
func (s *otterStore) close() { s.c.InvalidateAll(); s.c.StopAllGoroutines() }

type ristrettoStore struct {
	c *ristretto.Cache[string, []byte]
}

func newRistretto(bound int64) store {
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		// Ten counters per entry expected, as its documentation asks,
		// for entries of about 200 bytes.
		NumCounters: max(bound/20, 1000),
		MaxCost:     bound,
		BufferItems: 64,
	})
	if err != nil {
		panic(err)
	}
	return &ristrettoStore{c}
}

func (s *ristrettoStore) get(keys []string, out [][]byte) {
	for i, k := range keys {
		out[i], _ = s.c.Get(k)
	}
}
func (s *ristrettoStore) set(k string, v []byte, ttl time.Duration) {
	s.c.SetWithTTL(k, append([]byte(nil), v...), int64(len(k)+len(v)), ttl)
}
func (s *ristrettoStore) close() { s.c.Close() }

// The workload: indicators of three entries (the Zone and two sections),
// about 200 bytes of sections each, keyed as internal/lookup keys them.
func lookupKeys(i int) []string {
	tag := "tipgate:v2:1a2b3c4d:{domain:host" + strconv.Itoa(i) + ".example.com}:"
	return []string{tag + "Zone", tag + "DomainGeneralInfo", tag + "DomainDnsResolutions"}
}

var lookupValues = [][]byte{
	make([]byte, 26+7),
	make([]byte, 26+110),
	make([]byte, 26+75),
}

func indicatorKeys(indicators int) [][]string {
	keys := make([][]string, indicators)
	for i := range keys {
		keys[i] = lookupKeys(i)
	}
	return keys
}

// fill stores every indicator of keys, and waits for the background work
// the libraries defer. Each key is a copy of its own, as a lookup builds
// one per request, so that a store keeping the caller's string is charged
// for it.
func fill(s store, keys [][]string) {
	for i, ks := range keys {
		for j, k := range ks {
			s.set(strings.Clone(k), lookupValues[j], time.Hour)
		}
		if i%256 == 0 {
			settle(s)
		}
	}
	settle(s)
}

// settle waits for the work a library defers: ristretto applies Sets from a
// buffer, and drops them when it is full; otter evicts in maintenance.
func settle(s store) {
	switch s := s.(type) {
	case *ristrettoStore:
		s.c.Wait()
	case *otterStore:
		s.c.CleanUp()
	}
}

// BenchmarkGetParallel: every goroutine reads indicators (three keys) in
// its own random order from a store of 10^5 of them.
func BenchmarkGetParallel(b *testing.B) {
	const indicators = 100_000
	keys := indicatorKeys(indicators)
	for _, c := range contenders {
		s := c.new(1 << 30)
		fill(s, keys)
		runtime.GC()
		b.Run(c.name, func(b *testing.B) {
			var misses atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
				out := make([][]byte, 3)
				for pb.Next() {
					s.get(keys[rng.IntN(indicators)], out)
					if out[2] == nil {
						misses.Add(1)
					}
				}
			})
			b.ReportMetric(100*float64(misses.Load())/float64(b.N), "miss-%")
		})
		s.close()
	}
}

// BenchmarkSet stores new indicators (three entries each) into a full
// store of 16 MiB, each Set evicting.
func BenchmarkSet(b *testing.B) {
	for _, c := range contenders {
		b.Run(c.name, func(b *testing.B) {
			s := c.new(16 << 20)
			defer s.close()
			fill(s, indicatorKeys(100_000))
			runtime.GC()
			i := 100_000
			b.ReportAllocs()
			for b.Loop() {
				for j, k := range lookupKeys(i) {
					s.set(k, lookupValues[j], time.Hour)
				}
				i++
			}
			// What the library deferred is part of the cost.
			settle(s)
		})
	}
}

// BenchmarkHit reads indicators (three keys in one call, as a lookup does)
// in a random order from a store holding n of them, with keys built in the
// order they are read so that the benchmark's own memory is read in
// sequence. It also reports the heap each entry takes beyond its key and
// value bytes, and the collector's CPU time for one full collection with
// the store live.
func BenchmarkHit(b *testing.B) {
	for _, c := range contenders {
		for _, n := range []int{1_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/indicators=%d", c.name, n), func(b *testing.B) {
				keys := indicatorKeys(n)
				payload := 0
				for _, ks := range keys {
					for j, k := range ks {
						payload += len(k) + len(lookupValues[j])
					}
				}
				before := liveHeap()
				s := c.new(4 << 30)
				defer s.close()
				fill(s, keys)
				heap := liveHeap() - before
				runtime.KeepAlive(keys) // out of the count of both
				// The collector's work with the store alone live, in CPU
				// rather than wall time: the machine is shared.
				var gcs []float64
				for range 5 {
					before := gcCPU()
					runtime.GC()
					gcs = append(gcs, gcCPU()-before)
				}
				sort.Float64s(gcs)
				reads := make([][]string, n)
				for i, ind := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
					reads[i] = lookupKeys(ind)
				}
				runtime.GC()
				out := make([][]byte, 3)
				misses, i := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					s.get(reads[i], out)
					if out[2] == nil {
						misses++
					}
					if i++; i == n {
						i = 0
					}
				}
				// After the loop, which forgets what was reported before.
				b.ReportMetric(100*float64(misses)/float64(b.N), "miss-%")
				b.ReportMetric(float64(heap-int64(payload))/float64(3*n), "overhead-B/entry")
				b.ReportMetric(gcs[2]*1000, "gc-cpu-ms")
			})
		}
	}
}

// gcCPU is the CPU time the collector has used, as of the last cycle's end.
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}

func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestSemantics records what each contender does with what the memory
// store promises: a value readable right after Set, the byte bound never
// exceeded, an item larger than the bound not stored.
func TestSemantics(t *testing.T) {
	for _, c := range contenders {
		t.Run(c.name, func(t *testing.T) {
			const bound = 1 << 20
			s := c.new(bound)
			defer s.close()
			out := make([][]byte, 1)
			missedAfterSet := 0
			var maxWeight uint64 // otter's own count, the only one it exposes
			for i := range 20_000 {
				k := fmt.Sprintf("k%d", i)
				s.set(k, make([]byte, 200), time.Hour)
				s.get([]string{k}, out)
				if out[0] == nil {
					missedAfterSet++
				}
				if o, ok := s.(*otterStore); ok {
					maxWeight = max(maxWeight, o.c.WeightedSize())
				}
			}
			s.set("huge", make([]byte, 2*bound), time.Hour)
			if r, ok := s.(*ristrettoStore); ok {
				r.c.Wait()
			}
			s.get([]string{"huge"}, out)
			t.Logf("%s: %d of 20000 values not readable right after their Set; larger-than-bound item stored: %v; most weight held (otter) %d of %d", c.name, missedAfterSet, out[0] != nil, maxWeight, bound)
		})
	}
}
