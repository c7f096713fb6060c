package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/cache/cachetest"
	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/redistest"
)

var (
	_ cachetest.Store = (*cache.Hot)(nil)
	_ cache.Bus       = (*cache.Redis)(nil)
)

// The hot tier's test lifetimes: how long an entry serves without asking
// the backend, and how long one read from the backend is kept.
const (
	hotTTL  = 5 * time.Second
	fillTTL = time.Hour
)

// hotBackend is the store behind a Hot in its unit tests: a Memory that
// counts the calls reaching it, fails them with err while it is set, runs
// afterRead between reading and answering a Get (to race it), and takes an
// OnUp hook as a Guard does.
type hotBackend struct {
	*cache.Memory
	gets, sets, deletes atomic.Int64

	mu        sync.Mutex
	err       error
	afterRead func()
	onUp      func()
}

func newHotBackend(clock *fakeclock.Clock) *hotBackend {
	return &hotBackend{Memory: cache.NewMemory(64<<20, cache.WithClock(clock.Now))}
}

func (b *hotBackend) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

func (b *hotBackend) failing() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *hotBackend) Get(ctx context.Context, keys []string) ([][]byte, error) {
	b.gets.Add(1)
	if err := b.failing(); err != nil {
		return nil, err
	}
	vals, err := b.Memory.Get(ctx, keys)
	b.mu.Lock()
	hook := b.afterRead
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	return vals, err
}

func (b *hotBackend) Set(ctx context.Context, items []cache.Item) error {
	b.sets.Add(1)
	if err := b.failing(); err != nil {
		return err
	}
	return b.Memory.Set(ctx, items)
}

func (b *hotBackend) Delete(ctx context.Context, keys []string) error {
	b.deletes.Add(1)
	if err := b.failing(); err != nil {
		return err
	}
	return b.Memory.Delete(ctx, keys)
}

func (b *hotBackend) OnUp(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onUp = fn
}

// up tells the Hot the store is back, as a Guard's prober would.
func (b *hotBackend) up() {
	b.mu.Lock()
	fn := b.onUp
	b.mu.Unlock()
	fn()
}

// fakeBus delivers every publish synchronously to every subscriber, the
// sender included, as Redis does. A subscription is confirmed only when
// the test says so.
type fakeBus struct {
	mu        sync.Mutex
	subs      map[int]fakeSub
	next      int
	published []string
	err       error // Publish fails with it while set
}

type fakeSub struct {
	channel    string
	deliver    func(string)
	subscribed func()
}

func newFakeBus() *fakeBus { return &fakeBus{subs: map[int]fakeSub{}} }

func (b *fakeBus) Publish(_ context.Context, channel string, payload []byte) error {
	b.mu.Lock()
	if b.err != nil {
		defer b.mu.Unlock()
		return b.err
	}
	b.published = append(b.published, string(payload))
	var subs []fakeSub
	for _, s := range b.subs {
		if s.channel == channel {
			subs = append(subs, s)
		}
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.deliver(string(payload))
	}
	return nil
}

func (b *fakeBus) Subscribe(channel string, deliver func(string), subscribed func()) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs[id] = fakeSub{channel, deliver, subscribed}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, id)
	}
}

// confirm (re)confirms every subscription, as after a reconnection.
func (b *fakeBus) confirm() {
	b.mu.Lock()
	var subs []fakeSub
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.subscribed()
	}
}

// send publishes raw as another process would.
func (b *fakeBus) send(channel, raw string) {
	_ = b.Publish(context.Background(), channel, []byte(raw))
}

func (b *fakeBus) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *fakeBus) failPublish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

const hotChannel = "tipgate:test:hot"

type hotEnv struct {
	hot     *cache.Hot
	backend *hotBackend
	clock   *fakeclock.Clock
	reg     *prometheus.Registry
	logs    *logbuf.Buffer
	ctx     context.Context
}

// newHotEnv builds a Hot with the given TTL (0: off) over backend (nil: a
// new one on a new clock) and bus (nil: none).
func newHotEnv(t *testing.T, ttl time.Duration, backend *hotBackend, clock *fakeclock.Clock, bus cache.Bus) *hotEnv {
	t.Helper()
	if clock == nil {
		clock = fakeclock.New(time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC))
	}
	if backend == nil {
		backend = newHotBackend(clock)
	}
	e := &hotEnv{backend: backend, clock: clock, reg: prometheus.NewRegistry(), logs: &logbuf.Buffer{}, ctx: context.Background()}
	o := cache.HotOptions{
		Bytes:      1 << 20,
		TTL:        ttl,
		FillTTL:    fillTTL,
		Now:        clock.Now,
		Logger:     slog.New(slog.NewTextHandler(e.logs, nil)),
		Registerer: e.reg,
	}
	if bus != nil {
		o.Bus, o.Channel = bus, hotChannel
	}
	h, err := cache.NewHot(backend, o)
	if err != nil {
		t.Fatalf("NewHot: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	e.hot = h
	return e
}

// get reads keys through the Hot and returns the values as strings, "-"
// for absent, and how many Gets reached the backend meanwhile.
func (e *hotEnv) get(t *testing.T, keys ...string) (string, int64) {
	t.Helper()
	before := e.backend.gets.Load()
	vals, err := e.hot.Get(e.ctx, keys)
	if err != nil {
		t.Fatalf("Get %v: %v", keys, err)
	}
	return show(vals), e.backend.gets.Load() - before
}

func (e *hotEnv) set(t *testing.T, items ...cache.Item) {
	t.Helper()
	if err := e.hot.Set(e.ctx, items); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

// behind writes to the backend directly, as another replica would.
func (e *hotEnv) behind(t *testing.T, items ...cache.Item) {
	t.Helper()
	if err := e.backend.Memory.Set(e.ctx, items); err != nil {
		t.Fatalf("backend Set: %v", err)
	}
}

func (e *hotEnv) requests(t *testing.T, result string) float64 {
	t.Helper()
	return hotRequests(t, e.reg, result)
}

// hotRequests reads tipgate_cache_hot_requests_total{result}.
func hotRequests(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tipgate_cache_hot_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func show(vals [][]byte) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil {
			out[i] = "-"
		} else {
			out[i] = string(v)
		}
	}
	return strings.Join(out, " ")
}

func TestHotSuite(t *testing.T) {
	for _, ttl := range []time.Duration{hotTTL, 0} {
		name := "on"
		if ttl == 0 {
			name = "off"
		}
		t.Run("memory/"+name, func(t *testing.T) {
			clock := fakeclock.New(time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC))
			cachetest.Run(t, func(t *testing.T) cachetest.Store {
				return newHotEnv(t, ttl, newHotBackend(clock), clock, newFakeBus()).hot
			}, clock.Advance)
		})
	}
	t.Run("redis/on", func(t *testing.T) {
		srv := redistest.New(t)
		cachetest.Run(t, func(t *testing.T) cachetest.Store {
			r := openRedis(t, srv.URL(), cache.RedisOptions{})
			h, err := cache.NewHot(r, cache.HotOptions{Bytes: 64 << 20, TTL: hotTTL, FillTTL: fillTTL, Bus: r, Channel: hotChannel})
			if err != nil {
				t.Fatalf("NewHot: %v", err)
			}
			t.Cleanup(func() { _ = h.Close() })
			return h
		}, time.Sleep)
	})
}

// TestHotReads: which reads the process answers alone, and which ask the
// backend, on and off.
func TestHotReads(t *testing.T) {
	a, b := gitem("a", "A"), gitem("b", "B")
	tests := []struct {
		name string
		ttl  time.Duration
		// prepare runs first; then the keys are read and the answer and the
		// backend Gets it made are compared.
		prepare   func(t *testing.T, e *hotEnv)
		keys      []string
		want      string
		wantCalls int64
	}{
		{
			name:    "written through and young",
			ttl:     hotTTL,
			prepare: func(t *testing.T, e *hotEnv) { e.set(t, a, b) },
			keys:    []string{a.Key, b.Key}, want: "A B", wantCalls: 0,
		},
		{
			name: "read once and young",
			ttl:  hotTTL,
			prepare: func(t *testing.T, e *hotEnv) {
				e.behind(t, a)
				e.get(t, a.Key)
				e.clock.Advance(hotTTL - time.Millisecond)
			},
			keys: []string{a.Key}, want: "A", wantCalls: 0,
		},
		{
			name: "read once and old",
			ttl:  hotTTL,
			prepare: func(t *testing.T, e *hotEnv) {
				e.behind(t, a)
				e.get(t, a.Key)
				e.behind(t, gitem("a", "A2"))
				e.clock.Advance(hotTTL)
			},
			keys: []string{a.Key}, want: "A2", wantCalls: 1,
		},
		{
			name: "one key held, one not: one call for both",
			ttl:  hotTTL,
			prepare: func(t *testing.T, e *hotEnv) {
				e.set(t, a)
				e.behind(t, b)
			},
			keys: []string{a.Key, b.Key}, want: "A B", wantCalls: 1,
		},
		{
			name: "absent here is not an answer",
			ttl:  hotTTL,
			prepare: func(t *testing.T, e *hotEnv) {
				e.get(t, a.Key) // absent everywhere: nothing kept
				e.behind(t, a)
			},
			keys: []string{a.Key}, want: "A", wantCalls: 1,
		},
		{
			name: "absent in the backend is forgotten here",
			ttl:  hotTTL,
			prepare: func(t *testing.T, e *hotEnv) {
				e.set(t, a)
				if err := e.backend.Memory.Delete(e.ctx, []string{a.Key}); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(hotTTL)
				e.get(t, a.Key)
				e.backend.fail(errIO)
			},
			keys: []string{a.Key}, want: "-", wantCalls: 1,
		},
		{
			name: "a written item keeps its own TTL",
			ttl:  hotTTL,
			prepare: func(t *testing.T, e *hotEnv) {
				e.set(t, cache.Item{Key: a.Key, Value: []byte("A"), TTL: time.Second})
				e.clock.Advance(time.Second)
			},
			keys: []string{a.Key}, want: "-", wantCalls: 1,
		},
		{
			name:    "off: written through, the backend is asked",
			ttl:     0,
			prepare: func(t *testing.T, e *hotEnv) { e.set(t, a) },
			keys:    []string{a.Key}, want: "A", wantCalls: 1,
		},
		{
			name: "off: read before, the backend is asked",
			ttl:  0,
			prepare: func(t *testing.T, e *hotEnv) {
				e.behind(t, a)
				e.get(t, a.Key)
				e.behind(t, gitem("a", "A2"))
			},
			keys: []string{a.Key}, want: "A2", wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHotEnv(t, tt.ttl, nil, nil, nil)
			tt.prepare(t, e)
			got, calls := e.get(t, tt.keys...)
			if got != tt.want || calls != tt.wantCalls {
				t.Errorf("Get: got %q with %d backend calls, want %q with %d", got, calls, tt.want, tt.wantCalls)
			}
		})
	}
}

// TestHotOffKeepsNothingItReads: with the tier off, the process holds
// nothing while the backend answers, so Redis is really asked and no
// memory is spent.
func TestHotOffKeepsNothingItReads(t *testing.T) {
	e := newHotEnv(t, 0, nil, nil, newFakeBus())
	e.behind(t, gitem("a", "A"))
	e.set(t, gitem("b", "B"))
	e.get(t, gkey("a"), gkey("b"))
	e.backend.fail(errIO)
	if got, _ := e.get(t, gkey("a"), gkey("b")); got != "- -" {
		t.Errorf("Get with the backend failing: got %q, want nothing held (- -)", got)
	}
	if got := e.requests(t, "hit"); got != 0 {
		t.Errorf("hits with the tier off: got %v, want 0", got)
	}
}

// TestHotFallback: when the backend fails, the process answers; on and
// off alike, what the failed writes kept is served, and the errors still
// say the store did not do what was asked.
func TestHotFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		err  error
	}{
		{"on/down", hotTTL, cache.ErrUnavailable},
		{"on/failing", hotTTL, errIO},
		{"off/down", 0, cache.ErrUnavailable},
		{"off/failing", 0, errIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHotEnv(t, tc.ttl, nil, nil, newFakeBus())
			ctx := e.ctx
			e.set(t, gitem("before", "B"))
			e.get(t, gkey("before"))
			e.clock.Advance(time.Hour - time.Second) // old, still alive
			e.backend.fail(tc.err)

			if err := e.hot.Set(ctx, []cache.Item{gitem("during", "D")}); !errors.Is(err, tc.err) {
				t.Fatalf("Set with the backend failing: got %v, want %v (the store does not have it)", err, tc.err)
			}
			want := "D B"
			if tc.ttl == 0 {
				want = "D -" // off: nothing read or written while up is held
			}
			for i := range 3 {
				got, calls := e.get(t, gkey("during"), gkey("before"))
				if got != want || calls != 1 {
					t.Fatalf("Get %d with the backend failing: got %q with %d calls, want %q after asking it once", i, got, calls, want)
				}
			}
			if err := e.hot.Delete(ctx, []string{gkey("during")}); !errors.Is(err, tc.err) {
				t.Errorf("Delete with the backend failing: got %v, want %v (the store keeps the key)", err, tc.err)
			}
			if got, _ := e.get(t, gkey("during")); got != "-" {
				t.Errorf("Get after a failed Delete: got %q, want it forgotten here", got)
			}
			if got := e.requests(t, "fallback"); got != 4 {
				t.Errorf("fallback answers: got %v, want 4", got)
			}
			// A young entry held: no call at all when on.
			if tc.ttl > 0 {
				e.backend.fail(nil)
				e.set(t, gitem("young", "Y"))
				e.backend.fail(tc.err)
				if got, calls := e.get(t, gkey("young")); got != "Y" || calls != 0 {
					t.Errorf("young entry while down: got %q with %d calls, want Y with none", got, calls)
				}
			}
		})
	}
}

// TestHotErrorsThatAreNotAnOutage: the caller leaving, a closed store, a
// reply from the server are returned as they are and keep nothing.
func TestHotErrorsThatAreNotAnOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"closed", cache.ErrClosed},
		{"reply", replyError("OOM command not allowed when used memory > 'maxmemory'")},
	} {
		for _, ttl := range []time.Duration{hotTTL, 0} {
			t.Run(tc.name+"/ttl="+ttl.String(), func(t *testing.T) {
				e := newHotEnv(t, ttl, nil, nil, nil)
				e.backend.fail(tc.err)
				if _, err := e.hot.Get(e.ctx, []string{gkey("a")}); !errors.Is(err, tc.err) {
					t.Errorf("Get: got %v, want %v", err, tc.err)
				}
				if err := e.hot.Set(e.ctx, []cache.Item{gitem("a", "A")}); !errors.Is(err, tc.err) {
					t.Errorf("Set: got %v, want %v", err, tc.err)
				}
				e.backend.fail(errIO)
				if got, _ := e.get(t, gkey("a")); got != "-" {
					t.Errorf("Get in a later outage: got %q, want nothing kept from the refused Set", got)
				}
			})
		}
	}
}

// TestHotRecovery: the store back, what the outage kept is dropped, and a
// write that failed while it came back does not survive the clean-up.
func TestHotRecovery(t *testing.T) {
	for _, ttl := range []time.Duration{hotTTL, 0} {
		t.Run("ttl="+ttl.String(), func(t *testing.T) {
			e := newHotEnv(t, ttl, nil, nil, nil)
			e.backend.fail(cache.ErrUnavailable)
			if err := e.hot.Set(e.ctx, []cache.Item{gitem("a", "A")}); err == nil {
				t.Fatal("Set while down: got nil, want the error")
			}
			e.backend.up()
			// Another outage: what the first one kept must not come back.
			if got, _ := e.get(t, gkey("a")); got != "-" {
				t.Errorf("Get in the next outage: got %q, want the first outage's entry dropped", got)
			}

			// A failed write racing the recovery.
			e.backend.fail(errIO)
			racing := &hotBackendRace{hotBackend: e.backend}
			h, err := cache.NewHot(racing, cache.HotOptions{Bytes: 1 << 20, TTL: ttl, FillTTL: fillTTL, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Set(e.ctx, []cache.Item{gitem("b", "B")}); err == nil {
				t.Fatal("racing Set: got nil, want the error")
			}
			if vals, err := h.Get(e.ctx, []string{gkey("b")}); err != nil || vals[0] != nil {
				t.Errorf("Get after a write that failed as the store came back: got %q, %v; want nothing kept", vals, err)
			}
		})
	}
}

// hotBackendRace reports the store back in the middle of each Set, after
// the Set failed.
type hotBackendRace struct{ *hotBackend }

func (b *hotBackendRace) Set(ctx context.Context, items []cache.Item) error {
	err := b.hotBackend.Set(ctx, items)
	b.up()
	return err
}

// TestHotInvalidation: two processes on one store and one bus.
func TestHotInvalidation(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC))
	backend := newHotBackend(clock)
	bus := newFakeBus()
	a := newHotEnv(t, hotTTL, backend, clock, bus)
	b := newHotEnv(t, hotTTL, backend, clock, bus)
	k := gkey("k")

	a.set(t, gitem("k", "1"))
	if got, calls := a.get(t, k); got != "1" || calls != 0 {
		t.Fatalf("A after its own write: got %q with %d calls, want 1 from the process (its own message ignored)", got, calls)
	}
	if got := metricValue(t, a.reg, "tipgate_cache_hot_invalidations_total"); got != 0 {
		t.Errorf("A's invalidations after its own message: got %v, want 0", got)
	}
	if got, _ := b.get(t, k); got != "1" {
		t.Fatalf("B: got %q, want 1", got)
	}

	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"B writes", func() { b.set(t, gitem("k", "2")) }, "2"},
		{"B writes again", func() { b.set(t, gitem("k", "3")) }, "3"},
		{"B deletes", func() {
			if err := b.hot.Delete(b.ctx, []string{k}); err != nil {
				t.Fatal(err)
			}
		}, "-"},
	}
	for _, s := range steps {
		a.get(t, k) // held and young in A
		if _, calls := a.get(t, k); calls != 0 {
			t.Fatalf("%s: A's read before the change reached the backend", s.name)
		}
		s.change()
		if got, calls := a.get(t, k); got != s.want || calls != 1 {
			t.Errorf("%s: A got %q with %d calls, want %q from the backend", s.name, got, calls, s.want)
		}
	}
	if got := metricValue(t, a.reg, "tipgate_cache_hot_invalidations_total"); got != 3 {
		t.Errorf("A's invalidations: got %v, want 3", got)
	}

	var m struct {
		From string   `json:"from"`
		Keys []string `json:"keys"`
	}
	bus.mu.Lock()
	last := bus.published[len(bus.published)-1]
	bus.mu.Unlock()
	if err := json.Unmarshal([]byte(last), &m); err != nil || m.From == "" || !slices.Equal(m.Keys, []string{k}) {
		t.Errorf("published %s (%v), want {from, keys: [%s]}", last, err, k)
	}

	// Messages that are not invalidations are ignored.
	b.set(t, gitem("k", "4"))
	a.get(t, k)
	for _, raw := range []string{"not json", `{"from":"x"}`, `{"keys":5}`} {
		bus.send(hotChannel, raw)
	}
	if _, calls := a.get(t, k); calls != 0 {
		t.Errorf("A after malformed messages: asked the backend, want its young entry served")
	}
}

// TestHotResubscriptionAges: messages may have been lost while the
// subscription was down, so every entry held is asked for again.
func TestHotResubscriptionAges(t *testing.T) {
	bus := newFakeBus()
	e := newHotEnv(t, hotTTL, nil, nil, bus)
	e.set(t, gitem("a", "A"), gitem("b", "B"))
	if bus.subscribers() != 1 {
		t.Fatalf("subscribers after the first call: got %d, want 1", bus.subscribers())
	}
	bus.confirm()
	if got, calls := e.get(t, gkey("a"), gkey("b")); got != "A B" || calls != 1 {
		t.Errorf("after a resubscription: got %q with %d calls, want A B from the backend", got, calls)
	}
	e.clock.Advance(time.Millisecond)
	e.get(t, gkey("a"), gkey("b"))
	if _, calls := e.get(t, gkey("a"), gkey("b")); calls != 0 {
		t.Errorf("read again after the resubscription: %d calls, want the young entries served", calls)
	}
}

// TestHotReadRacingAChange: a value read from the backend before another
// replica changed it is not kept when the invalidation arrives while the
// read is in flight.
func TestHotReadRacingAChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, a, b *hotEnv)
		want   string
	}{
		{"another replica writes", func(t *testing.T, _, b *hotEnv) { b.set(t, gitem("k", "new")) }, "new"},
		{"another replica deletes", func(t *testing.T, _, b *hotEnv) { _ = b.hot.Delete(b.ctx, []string{gkey("k")}) }, "-"},
		{"this process writes", func(t *testing.T, a, _ *hotEnv) { a.set(t, gitem("k", "new")) }, "new"},
		{"this process deletes", func(t *testing.T, a, _ *hotEnv) { _ = a.hot.Delete(a.ctx, []string{gkey("k")}) }, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := fakeclock.New(time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC))
			backend, bus := newHotBackend(clock), newFakeBus()
			a := newHotEnv(t, hotTTL, backend, clock, bus)
			b := newHotEnv(t, hotTTL, backend, clock, bus)
			a.behind(t, gitem("k", "old"))
			var once sync.Once
			backend.mu.Lock()
			backend.afterRead = func() { once.Do(func() { tc.change(t, a, b) }) }
			backend.mu.Unlock()
			if got, _ := a.get(t, gkey("k")); got != "old" {
				t.Fatalf("racing read: got %q, want old (read before the change)", got)
			}
			if got, _ := a.get(t, gkey("k")); got != tc.want {
				t.Errorf("the next read: got %q, want %q: the old value read in the race was kept", got, tc.want)
			}
		})
	}
}

func TestHotPublishFailure(t *testing.T) {
	bus := newFakeBus()
	e := newHotEnv(t, hotTTL, nil, nil, bus)
	bus.failPublish(errIO)
	for range 3 {
		e.set(t, gitem("a", "A")) // the store has it: no error
	}
	if got := metricValue(t, e.reg, "tipgate_cache_hot_publish_errors_total"); got != 3 {
		t.Errorf("publish errors: got %v, want 3", got)
	}
	if n := strings.Count(e.logs.String(), "could not tell the other replicas"); n != 1 {
		t.Errorf("warnings for 3 failed publishes within a second: got %d, want 1:\n%s", n, e.logs)
	}
}

// TestHotOffDoesNotSubscribe but still publishes: replicas with the tier on
// must hear of its changes.
func TestHotOffDoesNotSubscribe(t *testing.T) {
	bus := newFakeBus()
	e := newHotEnv(t, 0, nil, nil, bus)
	e.set(t, gitem("a", "A"))
	e.get(t, gkey("a"))
	if n := bus.subscribers(); n != 0 {
		t.Errorf("subscribers with the tier off: got %d, want 0", n)
	}
	if len(bus.published) != 1 {
		t.Errorf("published with the tier off: got %d messages, want 1", len(bus.published))
	}
}

func TestHotCloseEndsTheSubscription(t *testing.T) {
	bus := newFakeBus()
	e := newHotEnv(t, hotTTL, nil, nil, bus)
	e.get(t, gkey("a"))
	if err := e.hot.Close(); err != nil {
		t.Fatal(err)
	}
	if n := bus.subscribers(); n != 0 {
		t.Errorf("subscribers after Close: got %d, want 0", n)
	}
	if _, err := e.hot.Get(e.ctx, []string{gkey("a")}); !errors.Is(err, cache.ErrClosed) {
		t.Errorf("Get after Close: got %v, want ErrClosed", err)
	}
}

func TestNewHotRefuses(t *testing.T) {
	m := cache.NewMemory(1 << 20)
	tests := []struct {
		name    string
		backend cache.Backend
		o       cache.HotOptions
	}{
		{"no backend", nil, cache.HotOptions{}},
		{"negative TTL", m, cache.HotOptions{TTL: -time.Second}},
		{"TTL over the bound", m, cache.HotOptions{TTL: cache.MaxHotTTL + time.Second, FillTTL: time.Hour}},
		{"on without FillTTL", m, cache.HotOptions{TTL: time.Second}},
		{"bus without channel", m, cache.HotOptions{Bus: newFakeBus()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cache.NewHot(tt.backend, tt.o); err == nil {
				t.Errorf("NewHot: got nil error, want one")
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := cache.NewHot(m, cache.HotOptions{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.NewHot(m, cache.HotOptions{Registerer: reg}); err == nil {
		t.Errorf("a second Hot on one registry: got nil error, want a registration error")
	}
}

// TestHotHitAllocations: a hit allocates what the process's Memory does
// and nothing per key on top (the result slice is Memory's).
func TestHotHitAllocations(t *testing.T) {
	keys := []string{gkey("a"), gkey("b"), gkey("c"), gkey("d")}
	var items []cache.Item
	for _, k := range keys {
		items = append(items, cache.Item{Key: k, Value: []byte("value"), TTL: time.Hour})
	}
	e := newHotEnv(t, hotTTL, nil, nil, nil)
	e.set(t, items...)
	mem := cache.NewMemory(1 << 20)
	if err := mem.Set(e.ctx, items); err != nil {
		t.Fatal(err)
	}
	memAllocs := testing.AllocsPerRun(100, func() { _, _ = mem.Get(e.ctx, keys) })
	hotAllocs := testing.AllocsPerRun(100, func() { _, _ = e.hot.Get(e.ctx, keys) })
	if hotAllocs > memAllocs {
		t.Errorf("allocations per hit of %d keys: Hot %v, its Memory alone %v; want no more", len(keys), hotAllocs, memAllocs)
	}
	if e.backend.gets.Load() != 0 {
		t.Errorf("the hits reached the backend")
	}
}
