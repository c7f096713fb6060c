package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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

// entrySize is what one entry is charged against the bound.
func entrySize(key, value string) int64 {
	return int64(len(key)+len(value)) + cache.MemoryEntryOverhead
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
	big := strings.Repeat("x", int(2*small+small/2)-len("big")-cache.MemoryEntryOverhead)
	mustSet(t, m, cache.Item{Key: "big", Value: []byte(big), TTL: time.Hour})
	if got, want := present(t, m, "a", "b", "c", "d", "big"), "d,big"; got != want {
		t.Errorf("held: got %q, want %q", got, want)
	}
}

func TestMemorySkipsOversizeItem(t *testing.T) {
	const bound = 1000
	fits := strings.Repeat("f", bound-cache.MemoryEntryOverhead-len("k"))
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

func TestMemoryAccounting(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
	m := cache.NewMemory(1<<20, cache.WithClock(clock.Now))
	ctx := context.Background()
	steps := []struct {
		name      string
		do        func() error
		wantLen   int
		wantBytes int64
	}{
		{"empty", func() error { return nil }, 0, 0},
		{"two entries", func() error {
			return m.Set(ctx, []cache.Item{
				{Key: "alpha", Value: []byte("12345"), TTL: time.Hour},
				{Key: "b", Value: []byte("1"), TTL: time.Minute},
			})
		}, 2, entrySize("alpha", "12345") + entrySize("b", "1")},
		{"overwrite with a longer value", func() error {
			return m.Set(ctx, []cache.Item{{Key: "alpha", Value: []byte("1234567890"), TTL: time.Hour}})
		}, 2, entrySize("alpha", "1234567890") + entrySize("b", "1")},
		{"expired entries keep their space until touched", func() error {
			clock.Advance(2 * time.Minute)
			return nil
		}, 2, entrySize("alpha", "1234567890") + entrySize("b", "1")},
		{"a read reclaims an expired entry", func() error {
			_, err := m.Get(ctx, []string{"b"})
			return err
		}, 1, entrySize("alpha", "1234567890")},
		{"delete", func() error { return m.Delete(ctx, []string{"alpha", "absent"}) }, 0, 0},
		{"empty value", func() error {
			return m.Set(ctx, []cache.Item{{Key: "e", Value: nil, TTL: time.Hour}})
		}, 1, entrySize("e", "")},
		{"close", m.Close, 0, 0},
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
}

func TestMemoryValuesAreCopies(t *testing.T) {
	m := cache.NewMemory(1 << 20)
	in := []byte("original")
	mustSet(t, m, cache.Item{Key: "k", Value: in, TTL: time.Hour})
	in[0] = 'X'
	got, err := m.Get(context.Background(), []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != "original" {
		t.Fatalf("after changing the Set argument: got %q, want %q", got[0], "original")
	}
	got[0][0] = 'Y'
	again, err := m.Get(context.Background(), []string{"k"})
	if err != nil {
		t.Fatal(err)
	}
	if string(again[0]) != "original" {
		t.Errorf("after changing a returned value: got %q, want %q", again[0], "original")
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
