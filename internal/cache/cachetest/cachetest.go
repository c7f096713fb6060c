// Package cachetest owns the behaviour every cache backend must share: one
// suite, run against the memory store and against a real Redis, so that the
// lookup service cannot tell them apart.
package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
)

// Store is the contract under test, as internal/lookup declares it.
type Store interface {
	Get(ctx context.Context, keys []string) ([][]byte, error)
	Set(ctx context.Context, items []cache.Item) error
	Delete(ctx context.Context, keys []string) error
	Ping(ctx context.Context) error
	Name() string
	Close() error
}

// The suite's TTLs: short enough that a real Redis test sleeps little, far
// enough apart that scheduling noise cannot blur expired and alive.
const (
	shortTTL = 200 * time.Millisecond
	longTTL  = time.Hour
)

// Run runs the suite. newStore returns an empty (or shared, since every case
// uses its own keys) open store and arranges its Close; sleep lets time pass
// for the store, advancing a fake clock or really sleeping. Stores must hold
// at least 64 MiB.
func Run(t *testing.T, newStore func(t *testing.T) Store, sleep func(time.Duration)) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s Store, k keyer, sleep func(time.Duration))
	}{
		{"Name", testName},
		{"Ping", testPing},
		{"MissingKeysAreNilInPlace", testMissing},
		{"MultiSetMultiGetInOrder", testMultiSetGet},
		{"Overwrite", testOverwrite},
		{"LastItemOfABatchWins", testBatchLastWins},
		{"Delete", testDelete},
		{"TTLExpiry", testTTL},
		{"NonPositiveTTLRejected", testBadTTL},
		{"BinaryValues", testBinary},
		{"EmptyValueIsPresent", testEmptyValue},
		{"LargeValue", testLarge},
		{"EmptyKeyLists", testEmptyLists},
		{"HashTaggedKeys", testHashTags},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceled},
		{"Closed", testClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t), newKeyer(t), sleep)
		})
	}
}

// keyer builds keys the way the lookup service does, one hash tag per
// case, so that cases sharing a Redis cannot see each other's entries.
type keyer struct{ tag string }

func newKeyer(t *testing.T) keyer {
	return keyer{tag: fmt.Sprintf("cachetest:%s:%d", t.Name(), time.Now().UnixNano())}
}

func (k keyer) key(name string) string {
	return "tipgate:v1:{" + k.tag + "}:" + name
}

func (k keyer) keys(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = k.key(n)
	}
	return out
}

func set(t *testing.T, s Store, items ...cache.Item) {
	t.Helper()
	if err := s.Set(context.Background(), items); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

func get(t *testing.T, s Store, keys ...string) [][]byte {
	t.Helper()
	got, err := s.Get(context.Background(), keys)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Get of %d keys returned %d values, want %d", len(keys), len(got), len(keys))
	}
	return got
}

// wantValues compares got with want, where a nil want means absent.
func wantValues(t *testing.T, keys []string, got, want [][]byte) {
	t.Helper()
	for i := range want {
		switch {
		case want[i] == nil && got[i] != nil:
			t.Errorf("%s: got %q, want absent (nil)", keys[i], abbrev(got[i]))
		case want[i] != nil && got[i] == nil:
			t.Errorf("%s: got absent (nil), want %q", keys[i], abbrev(want[i]))
		case !bytes.Equal(got[i], want[i]):
			t.Errorf("%s: got %q, want %q", keys[i], abbrev(got[i]), abbrev(want[i]))
		}
	}
}

func abbrev(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "…"...)
	}
	return b
}

func item(key, value string, ttl time.Duration) cache.Item {
	return cache.Item{Key: key, Value: []byte(value), TTL: ttl}
}

func testName(t *testing.T, s Store, _ keyer, _ func(time.Duration)) {
	if got := s.Name(); got != "memory" && got != "redis" {
		t.Errorf("Name() = %q, want \"memory\" or \"redis\"", got)
	}
}

func testPing(t *testing.T, s Store, _ keyer, _ func(time.Duration)) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
}

func testMissing(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	set(t, s, item(k.key("b"), "B", longTTL), item(k.key("d"), "D", longTTL))
	tests := []struct {
		name  string
		names []string
		want  []string // "" means absent
	}{
		{"all missing", []string{"x", "y"}, []string{"", ""}},
		{"missing first and last", []string{"a", "b", "c"}, []string{"", "B", ""}},
		{"present first and last", []string{"b", "c", "d"}, []string{"B", "", "D"}},
		{"single missing", []string{"z"}, []string{""}},
		{"same key twice", []string{"b", "a", "b"}, []string{"B", "", "B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := k.keys(tt.names...)
			want := make([][]byte, len(tt.want))
			for i, w := range tt.want {
				if w != "" {
					want[i] = []byte(w)
				}
			}
			wantValues(t, keys, get(t, s, keys...), want)
		})
	}
}

func testMultiSetGet(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	const n = 25
	var items []cache.Item
	var keys []string
	var want [][]byte
	for i := range n {
		key := k.key(fmt.Sprintf("section%02d", i))
		v := fmt.Sprintf(`{"section":%d}`, i)
		items = append(items, item(key, v, longTTL))
		keys = append(keys, key)
		want = append(want, []byte(v))
	}
	set(t, s, items...)
	wantValues(t, keys, get(t, s, keys...), want)

	// Reversed order must come back reversed: values follow keys, not
	// insertion.
	for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
		keys[i], keys[j] = keys[j], keys[i]
		want[i], want[j] = want[j], want[i]
	}
	wantValues(t, keys, get(t, s, keys...), want)
}

func testOverwrite(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	key := k.key("a")
	set(t, s, item(key, "first value, longer", longTTL))
	set(t, s, item(key, "second", longTTL))
	wantValues(t, []string{key}, get(t, s, key), [][]byte{[]byte("second")})
}

func testBatchLastWins(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	key := k.key("a")
	set(t, s, item(key, "one", longTTL), item(k.key("b"), "B", longTTL), item(key, "two", longTTL))
	wantValues(t, []string{key}, get(t, s, key), [][]byte{[]byte("two")})
}

func testDelete(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	keys := k.keys("a", "b", "c")
	set(t, s, item(keys[0], "A", longTTL), item(keys[1], "B", longTTL), item(keys[2], "C", longTTL))
	if err := s.Delete(context.Background(), []string{keys[0], k.key("absent"), keys[2]}); err != nil {
		t.Fatalf("Delete with an absent key: got %v, want nil", err)
	}
	wantValues(t, keys, get(t, s, keys...), [][]byte{nil, []byte("B"), nil})

	if err := s.Delete(context.Background(), []string{keys[0]}); err != nil {
		t.Errorf("Delete of an already deleted key: got %v, want nil", err)
	}
	// A deleted key can be stored again.
	set(t, s, item(keys[0], "A2", longTTL))
	wantValues(t, keys[:1], get(t, s, keys[0]), [][]byte{[]byte("A2")})
}

func testTTL(t *testing.T, s Store, k keyer, sleep func(time.Duration)) {
	short, long := k.key("short"), k.key("long")
	set(t, s, item(short, "S", shortTTL), item(long, "L", longTTL))
	wantValues(t, []string{short, long}, get(t, s, short, long), [][]byte{[]byte("S"), []byte("L")})

	sleep(shortTTL + 50*time.Millisecond)
	wantValues(t, []string{short, long}, get(t, s, short, long), [][]byte{nil, []byte("L")})

	// Overwriting renews the lifetime rather than keeping the old one.
	set(t, s, item(long, "L2", shortTTL))
	sleep(shortTTL + 50*time.Millisecond)
	wantValues(t, []string{long}, get(t, s, long), [][]byte{nil})
}

func testBadTTL(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			good, bad := k.key("good"+ttl.String()), k.key("bad"+ttl.String())
			err := s.Set(context.Background(), []cache.Item{item(good, "G", longTTL), item(bad, "B", ttl)})
			if err == nil {
				t.Fatalf("Set with TTL %v: got nil error, want an error", ttl)
			}
			// Nothing of the batch may be written.
			wantValues(t, []string{good, bad}, get(t, s, good, bad), [][]byte{nil, nil})
		})
	}
}

func testBinary(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	every := make([]byte, 512)
	for i := range every {
		every[i] = byte(i)
	}
	tests := []struct {
		name  string
		value []byte
	}{
		{"single NUL", []byte{0}},
		{"NULs around text", []byte("\x00a\x00b\x00")},
		{"every byte value twice", every},
		{"CRLF like the protocol", []byte("$3\r\nfoo\r\n")},
		{"invalid UTF-8", []byte{0xff, 0xfe, 0xc3, 0x28}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := k.key(tt.name)
			set(t, s, cache.Item{Key: key, Value: tt.value, TTL: longTTL})
			wantValues(t, []string{key}, get(t, s, key), [][]byte{tt.value})
		})
	}
}

func testEmptyValue(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	key := k.key("empty")
	set(t, s, cache.Item{Key: key, Value: []byte{}, TTL: longTTL})
	got := get(t, s, key)
	if got[0] == nil || len(got[0]) != 0 {
		t.Errorf("empty value: got %#v, want a non-nil empty slice (present, not absent)", got[0])
	}
}

func testLarge(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	big[len(big)/2] = 0
	key := k.key("big")
	set(t, s, cache.Item{Key: key, Value: big, TTL: longTTL})
	got := get(t, s, key)
	if !bytes.Equal(got[0], big) {
		t.Errorf("1 MiB value: got %d bytes, want %d equal bytes", len(got[0]), len(big))
	}
}

func testEmptyLists(t *testing.T, s Store, _ keyer, _ func(time.Duration)) {
	ctx := context.Background()
	for _, keys := range [][]string{nil, {}} {
		got, err := s.Get(ctx, keys)
		if err != nil || len(got) != 0 {
			t.Errorf("Get(%#v): got %d values, %v; want 0 values, nil", keys, len(got), err)
		}
		if err := s.Delete(ctx, keys); err != nil {
			t.Errorf("Delete(%#v): got %v, want nil", keys, err)
		}
	}
	for _, items := range [][]cache.Item{nil, {}} {
		if err := s.Set(ctx, items); err != nil {
			t.Errorf("Set(%#v): got %v, want nil", items, err)
		}
	}
}

func testHashTags(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	// Keys as the lookup service builds them, braces and all; other tags in
	// the same store must not collide.
	keys := []string{
		"tipgate:v1:{domain:example.com}:DomainGeneralInfo:" + k.tag,
		"tipgate:v1:{domain:example.com}:DomainDnsResolutions:" + k.tag,
		"tipgate:v1:{url:http://example.com/a?b={c}}:UrlGeneralInfo:" + k.tag,
		"tipgate:v1:{}:empty-tag:" + k.tag,
		"tipgate:v1:{ip:2.2.2.2}:IpGeneralInfo:" + k.tag,
	}
	var items []cache.Item
	var want [][]byte
	for i, key := range keys {
		v := []byte(fmt.Sprintf("value %d", i))
		items = append(items, cache.Item{Key: key, Value: v, TTL: longTTL})
		want = append(want, v)
	}
	// One call per tag, as a cluster requires.
	for _, it := range items {
		set(t, s, it)
	}
	wantValues(t, keys[:2], get(t, s, keys[:2]...), want[:2])
	for i := 2; i < len(keys); i++ {
		wantValues(t, keys[i:i+1], get(t, s, keys[i]), want[i:i+1])
	}
	similar := strings.Replace(keys[0], "example.com", "example.co", 1)
	wantValues(t, []string{similar}, get(t, s, similar), [][]byte{nil})
}

func testConcurrent(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	const (
		workers = 16
		rounds  = 50
	)
	shared := k.keys("shared0", "shared1", "shared2")
	set(t, s, item(shared[0], "s", longTTL), item(shared[1], "s", longTTL), item(shared[2], "s", longTTL))

	ctx := context.Background()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			own := k.key(fmt.Sprintf("worker%d", w))
			for r := range rounds {
				v := fmt.Sprintf("w%d r%d", w, r)
				items := []cache.Item{item(own, v, longTTL), item(shared[r%len(shared)], v, longTTL)}
				if err := s.Set(ctx, items); err != nil {
					errs <- fmt.Errorf("worker %d: Set: %w", w, err)
					return
				}
				got, err := s.Get(ctx, append([]string{own}, shared...))
				if err != nil {
					errs <- fmt.Errorf("worker %d: Get: %w", w, err)
					return
				}
				// Only this worker writes own, so it must read its own write.
				if string(got[0]) != v {
					errs <- fmt.Errorf("worker %d round %d: own key: got %q, want %q", w, r, got[0], v)
					return
				}
				for i, g := range got[1:] {
					if g == nil {
						errs <- fmt.Errorf("worker %d round %d: shared key %d: got absent, want a value", w, r, i)
						return
					}
				}
				if r%10 == 9 {
					if err := s.Delete(ctx, []string{own}); err != nil {
						errs <- fmt.Errorf("worker %d: Delete: %w", w, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testCanceled(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	key := k.key("a")
	set(t, s, item(key, "A", longTTL))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, []string{key}); return err }},
		{"Set", func() error { return s.Set(ctx, []cache.Item{item(k.key("b"), "B", longTTL)}) }},
		{"Delete", func() error { return s.Delete(ctx, []string{key}) }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context: got %v, want an error wrapping context.Canceled", c.name, err)
			}
		})
	}
	// The canceled calls changed nothing.
	wantValues(t, k.keys("a", "b"), get(t, s, k.keys("a", "b")...), [][]byte{[]byte("A"), nil})
}

func testClosed(t *testing.T, s Store, k keyer, _ func(time.Duration)) {
	key := k.key("a")
	set(t, s, item(key, "A", longTTL))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, []string{key}); return err }},
		{"Set", func() error { return s.Set(ctx, []cache.Item{item(key, "B", longTTL)}) }},
		{"Delete", func() error { return s.Delete(ctx, []string{key}) }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, cache.ErrClosed) {
			t.Errorf("%s after Close: got %v, want an error wrapping cache.ErrClosed", c.name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}
