package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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
	_ cachetest.Store = (*cache.Guard)(nil)
	_ cache.Backend   = (*cache.Redis)(nil)
	_ cache.Backend   = (*cache.Memory)(nil)
)

// Messages the Guard logs once per change of state.
const (
	downLine = "cache store unreachable"
	upLine   = "cache store is back"
)

// spyStore wraps a store, counts the calls that reach it and, while fail is
// set, fails them as fail says; op is "get", "set", "delete" or "ping".
type spyStore struct {
	cache.Backend
	calls atomic.Int64 // Get, Set and Delete
	pings atomic.Int64

	mu   sync.Mutex
	fail func(ctx context.Context, op string) error
}

func (s *spyStore) setFail(fn func(ctx context.Context, op string) error) {
	s.mu.Lock()
	s.fail = fn
	s.mu.Unlock()
}

func (s *spyStore) check(ctx context.Context, op string) error {
	s.mu.Lock()
	fn := s.fail
	s.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx, op)
}

func (s *spyStore) Get(ctx context.Context, keys []string) ([][]byte, error) {
	s.calls.Add(1)
	if err := s.check(ctx, "get"); err != nil {
		return nil, err
	}
	return s.Backend.Get(ctx, keys)
}

func (s *spyStore) Set(ctx context.Context, items []cache.Item) error {
	s.calls.Add(1)
	if err := s.check(ctx, "set"); err != nil {
		return err
	}
	return s.Backend.Set(ctx, items)
}

func (s *spyStore) Delete(ctx context.Context, keys []string) error {
	s.calls.Add(1)
	if err := s.check(ctx, "delete"); err != nil {
		return err
	}
	return s.Backend.Delete(ctx, keys)
}

func (s *spyStore) Ping(ctx context.Context) error {
	s.pings.Add(1)
	if err := s.check(ctx, "ping"); err != nil {
		return err
	}
	return s.Backend.Ping(ctx)
}

var errIO = errors.New("read tcp 127.0.0.1:6379: connection reset by peer")

// failAll fails every call, probes included, like a dead store.
func failAll(context.Context, string) error { return errIO }

// replyError is an error the Redis server sent back, as go-redis types it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

type guardEnv struct {
	guard *cache.Guard
	spy   *spyStore
	logs  *logbuf.Buffer
	reg   *prometheus.Registry
}

func newGuardEnv(t *testing.T, backend cache.Backend, probeInterval time.Duration) *guardEnv {
	t.Helper()
	e := &guardEnv{spy: &spyStore{Backend: backend}, logs: &logbuf.Buffer{}, reg: prometheus.NewRegistry()}
	o := cache.GuardOptions{
		ProbeInterval: probeInterval,
		Logger:        slog.New(slog.NewTextHandler(e.logs, nil)),
		Registerer:    e.reg,
	}
	g, err := cache.NewGuard(e.spy, o)
	if err != nil {
		t.Fatalf("NewGuard: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	e.guard = g
	return e
}

// lines counts the log lines holding msg.
func (e *guardEnv) lines(msg string) int { return strings.Count(e.logs.String(), msg) }

// waitBack waits for the n-th "back" line: Healthy turns true first, and
// the line is the last thing a recovery does (OnUp, metrics, then the log).
func (e *guardEnv) waitBack(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "the store back", func() bool { return e.lines(upLine) >= n })
}

func (e *guardEnv) metric(t *testing.T, name string) float64 {
	t.Helper()
	return metricValue(t, e.reg, name)
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// waitFor polls cond for up to 5s: long enough for a loaded machine, and the
// test fails rather than hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noGoroutineIn fails when, after a short grace, a goroutine still runs fn.
func noGoroutineIn(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(fn)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine still runs %s:\n%s", fn, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func gkey(name string) string { return "tipgate:v2:0123abcd:{guardtest}:" + name }

func gitem(name, value string) cache.Item {
	return cache.Item{Key: gkey(name), Value: []byte(value), TTL: time.Hour}
}

// TestGuardSuite shows the Guard is transparent while its store is healthy.
func TestGuardSuite(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		clock := fakeclock.New(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC))
		cachetest.Run(t, func(t *testing.T) cachetest.Store {
			g, err := cache.NewGuard(cache.NewMemory(64<<20, cache.WithClock(clock.Now)), cache.GuardOptions{})
			if err != nil {
				t.Fatalf("NewGuard: %v", err)
			}
			t.Cleanup(func() {
				if !g.Healthy() {
					t.Errorf("the Guard marked a healthy store down")
				}
				_ = g.Close()
			})
			return g
		}, clock.Advance)
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.New(t)
		cachetest.Run(t, func(t *testing.T) cachetest.Store {
			g, err := cache.NewGuard(openRedis(t, srv.URL(), cache.RedisOptions{}), cache.GuardOptions{})
			if err != nil {
				t.Fatalf("NewGuard: %v", err)
			}
			t.Cleanup(func() {
				if !g.Healthy() {
					t.Errorf("the Guard marked a healthy store down")
				}
				_ = g.Close()
			})
			return g
		}, time.Sleep)
	})
}

// TestGuardRedisOutage takes a real redis-server away, killed or frozen,
// and brings it back.
func TestGuardRedisOutage(t *testing.T) {
	tests := []struct {
		name       string
		outage     func(*redistest.Server)
		recover    func(*redistest.Server)
		wantBefore string // what Redis holds afterwards of the entry written before the outage
	}{
		{"killed", (*redistest.Server).Stop, (*redistest.Server).Start, ""},
		{"paused", (*redistest.Server).Pause, (*redistest.Server).Resume, "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.New(t)
			e := newGuardEnv(t, openRedis(t, srv.URL(), cache.RedisOptions{}), 0)
			g, ctx := e.guard, context.Background()
			var ups atomic.Int64
			g.OnUp(func() { ups.Add(1) })

			if err := g.Set(ctx, []cache.Item{gitem("before", "B")}); err != nil {
				t.Fatalf("Set while healthy: %v", err)
			}
			tt.outage(srv)

			// Detection: the first call waits for the store and fails
			// (a paused Redis: at its read deadline).
			if _, err := g.Get(ctx, []string{gkey("before")}); err == nil || errors.Is(err, cache.ErrUnavailable) {
				t.Fatalf("first Get in the outage: got %v, want the store's own error", err)
			}
			if g.Healthy() {
				t.Fatalf("Healthy() after a failed call: got true, want false")
			}
			if got := e.metric(t, "tipgate_cache_store_up"); got != 0 {
				t.Errorf("tipgate_cache_store_up while down: got %v, want 0", got)
			}

			// From now on nothing reaches the store: every call fails fast.
			reached := e.spy.calls.Load()
			for i := range 50 {
				if _, err := g.Get(ctx, []string{gkey("before")}); !errors.Is(err, cache.ErrUnavailable) {
					t.Fatalf("Get %d during the outage: got %v, want ErrUnavailable", i, err)
				}
			}
			if err := g.Set(ctx, []cache.Item{gitem("during", "D")}); !errors.Is(err, cache.ErrUnavailable) {
				t.Errorf("Set during the outage: got %v, want ErrUnavailable", err)
			}
			if err := g.Delete(ctx, []string{gkey("before")}); !errors.Is(err, cache.ErrUnavailable) {
				t.Errorf("Delete during the outage: got %v, want ErrUnavailable (the store keeps the key)", err)
			}
			if err := g.Ping(ctx); !errors.Is(err, cache.ErrUnavailable) {
				t.Errorf("Ping during the outage: got %v, want ErrUnavailable", err)
			}
			if n := e.spy.calls.Load() - reached; n != 0 {
				t.Errorf("calls that reached the store during the outage: got %d, want 0", n)
			}

			tt.recover(srv)
			e.waitBack(t, 1)
			if n := ups.Load(); n != 1 {
				t.Errorf("OnUp calls after recovery: got %d, want 1", n)
			}
			reached = e.spy.calls.Load()
			got, err := g.Get(ctx, []string{gkey("during"), gkey("before")})
			if err != nil {
				t.Fatalf("Get after recovery: %v", err)
			}
			if e.spy.calls.Load() == reached {
				t.Errorf("Get after recovery did not reach the store")
			}
			if got[0] != nil || string(got[1]) != tt.wantBefore {
				t.Errorf("Get after recovery: got %q, want [<nil> %q] from the store", got, tt.wantBefore)
			}
			if err := g.Set(ctx, []cache.Item{gitem("after", "A")}); err != nil {
				t.Errorf("Set after recovery: %v", err)
			}

			if down, up := e.lines(downLine), e.lines(upLine); down != 1 || up != 1 {
				t.Errorf("log lines: got %d %q and %d %q, want one of each:\n%s", down, downLine, up, upLine, e.logs)
			}
			if got := e.metric(t, "tipgate_cache_store_up"); got != 1 {
				t.Errorf("tipgate_cache_store_up after recovery: got %v, want 1", got)
			}
			if got := e.metric(t, "tipgate_cache_store_state_changes_total"); got != 2 {
				t.Errorf("tipgate_cache_store_state_changes_total: got %v, want 2", got)
			}
		})
	}
}

// TestGuardWhatCountsAsAnOutage pins which failed calls mark the store down.
func TestGuardWhatCountsAsAnOutage(t *testing.T) {
	// The caller's context ends once the store has the call, which hangs
	// until then: the caller's deadline passing, or the caller leaving.
	endsInTheStore := func(end error) func(ctx context.Context, op string) error {
		return func(ctx context.Context, op string) error {
			if op == "ping" {
				return nil
			}
			ctx.(*endingCtx).end(end)
			<-ctx.Done()
			return fmt.Errorf("store: %w", ctx.Err())
		}
	}
	tests := []struct {
		name      string
		fail      func(ctx context.Context, op string) error
		call      func(ctx context.Context, g *cache.Guard) error
		ctx       func() (context.Context, context.CancelFunc)
		wantDown  bool
		wantCalls int64
	}{
		{
			name:      "I/O error",
			fail:      failAll,
			wantDown:  true,
			wantCalls: 1,
		},
		{
			name:      "the store's own deadline",
			fail:      func(context.Context, string) error { return fmt.Errorf("redis get: %w", context.DeadlineExceeded) },
			wantDown:  true,
			wantCalls: 1,
		},
		{
			name:      "the caller's deadline passing while the store hangs",
			fail:      endsInTheStore(context.DeadlineExceeded),
			ctx:       newEndingCtx,
			wantDown:  true,
			wantCalls: 1,
		},
		{
			name:      "the caller canceling while the store hangs",
			fail:      endsInTheStore(context.Canceled),
			ctx:       newEndingCtx,
			wantCalls: 1,
		},
		{
			name: "a context ended before the call",
			fail: failAll,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantCalls: 0,
		},
		{
			name: "a reply from the server",
			fail: func(context.Context, string) error {
				return replyError("OOM command not allowed when used memory > 'maxmemory'")
			},
			wantCalls: 1,
		},
		{
			name:      "the store closed under the Guard",
			fail:      func(context.Context, string) error { return cache.ErrClosed },
			wantCalls: 1,
		},
		{
			name: "a batch with no TTL",
			fail: failAll,
			call: func(ctx context.Context, g *cache.Guard) error {
				return g.Set(ctx, []cache.Item{{Key: gkey("a"), Value: []byte("v")}})
			},
			wantCalls: 0,
		},
		{
			name: "a failed Set",
			fail: failAll,
			call: func(ctx context.Context, g *cache.Guard) error {
				return g.Set(ctx, []cache.Item{gitem("a", "v")})
			},
			wantDown:  true,
			wantCalls: 1,
		},
		{
			name:      "a failed Delete",
			fail:      failAll,
			call:      func(ctx context.Context, g *cache.Guard) error { return g.Delete(ctx, []string{gkey("a")}) },
			wantDown:  true,
			wantCalls: 1,
		},
		{
			name:     "a failed Ping",
			fail:     failAll,
			call:     func(ctx context.Context, g *cache.Guard) error { return g.Ping(ctx) },
			wantDown: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An hour between probes: the state seen is the call's doing.
			e := newGuardEnv(t, cache.NewMemory(1<<20), time.Hour)
			e.spy.setFail(tt.fail)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			call := tt.call
			if call == nil {
				call = func(ctx context.Context, g *cache.Guard) error { _, err := g.Get(ctx, []string{gkey("a")}); return err }
			}
			if err := call(ctx, e.guard); err == nil {
				t.Fatalf("call: got nil error, want one")
			}
			if got := !e.guard.Healthy(); got != tt.wantDown {
				t.Errorf("marked down: got %v, want %v", got, tt.wantDown)
			}
			if got := e.spy.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls that reached the store: got %d, want %d", got, tt.wantCalls)
			}
			wantLines := 0
			if tt.wantDown {
				wantLines = 1
			}
			if got := e.lines(downLine); got != wantLines {
				t.Errorf("%q lines: got %d, want %d", downLine, got, wantLines)
			}
		})
	}
}

// endingCtx is a caller's context that the test ends at a chosen point,
// with context.Canceled or context.DeadlineExceeded, instead of at a time.
type endingCtx struct {
	context.Context
	done chan struct{}

	mu  sync.Mutex
	err error
}

func newEndingCtx() (context.Context, context.CancelFunc) {
	c := &endingCtx{Context: context.Background(), done: make(chan struct{})}
	return c, func() { c.end(context.Canceled) }
}

func (c *endingCtx) Done() <-chan struct{} { return c.done }

func (c *endingCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *endingCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.done)
	}
}

// TestGuardFailsFastWhileDown: after the detecting call, nothing reaches
// the store until a probe succeeds.
func TestGuardFailsFastWhileDown(t *testing.T) {
	e := newGuardEnv(t, cache.NewMemory(1<<20), time.Hour)
	e.spy.setFail(failAll)
	g, ctx := e.guard, context.Background()
	if _, err := g.Get(ctx, []string{gkey("a")}); !errors.Is(err, errIO) {
		t.Fatalf("first Get: got %v, want the store's error", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := g.Get(ctx, []string{gkey("a")}); return err }},
		{"Set", func() error { return g.Set(ctx, []cache.Item{gitem("a", "v")}) }},
		{"Delete", func() error { return g.Delete(ctx, []string{gkey("a")}) }},
		{"Ping", func() error { return g.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, cache.ErrUnavailable) {
			t.Errorf("%s while down: got %v, want ErrUnavailable", c.name, err)
		}
	}
	if n := e.spy.calls.Load(); n != 1 {
		t.Errorf("calls that reached the store: got %d, want 1 (the first)", n)
	}
}

// TestGuardLogsOncePerOutage fails many concurrent calls in each of three
// outages: each outage is one line down and one line back.
func TestGuardLogsOncePerOutage(t *testing.T) {
	const (
		outages = 3
		callers = 32
	)
	e := newGuardEnv(t, cache.NewMemory(1<<20), 5*time.Millisecond)
	g := e.guard
	var ups atomic.Int64
	g.OnUp(func() { ups.Add(1) })
	for i := range outages {
		e.spy.setFail(failAll)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				<-start
				_, _ = g.Get(context.Background(), []string{gkey("a")})
			})
		}
		close(start)
		wg.Wait()
		if g.Healthy() {
			t.Fatalf("outage %d: Healthy() = true after failed calls", i)
		}
		e.spy.setFail(nil)
		e.waitBack(t, i+1)
	}
	if down, up := e.lines(downLine), e.lines(upLine); down != outages || up != outages {
		t.Errorf("log lines: got %d down and %d back, want %d of each:\n%s", down, up, outages, e.logs)
	}
	if got := e.metric(t, "tipgate_cache_store_state_changes_total"); got != 2*outages {
		t.Errorf("state changes: got %v, want %d", got, 2*outages)
	}
	if got := ups.Load(); got != outages {
		t.Errorf("OnUp calls: got %d, want one per outage (%d)", got, outages)
	}
}

// TestGuardStaleFailureAfterRecovery: a call stuck on the store since before
// an outage, failing only after the store came back, does not start a new
// outage.
func TestGuardStaleFailureAfterRecovery(t *testing.T) {
	e := newGuardEnv(t, cache.NewMemory(1<<20), 5*time.Millisecond)
	g := e.guard
	var failing atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	e.spy.setFail(func(_ context.Context, op string) error {
		switch {
		case op == "get":
			close(entered)
			<-release
			return errIO
		case failing.Load():
			return errIO
		}
		return nil
	})
	stuck := make(chan error)
	go func() {
		_, err := g.Get(context.Background(), []string{gkey("a")})
		stuck <- err
	}()
	<-entered

	failing.Store(true)
	if err := g.Set(context.Background(), []cache.Item{gitem("b", "B")}); !errors.Is(err, errIO) {
		t.Fatalf("Set: got %v, want the store's error", err)
	}
	failing.Store(false)
	e.waitBack(t, 1)

	close(release)
	if err := <-stuck; !errors.Is(err, errIO) {
		t.Fatalf("stuck Get: got %v, want the store's error", err)
	}
	if !g.Healthy() {
		t.Errorf("Healthy() after a stale failure: got false, want true")
	}
	if down, up := e.lines(downLine), e.lines(upLine); down != 1 || up != 1 {
		t.Errorf("log lines: got %d down and %d back, want 1 and 1:\n%s", down, up, e.logs)
	}
}

// TestGuardCloseStopsTheProber closes a Guard whose prober is stuck in a
// Ping on a hung store.
func TestGuardCloseStopsTheProber(t *testing.T) {
	e := newGuardEnv(t, cache.NewMemory(1<<20), time.Millisecond)
	e.spy.setFail(func(ctx context.Context, op string) error {
		if op == "ping" {
			<-ctx.Done()
			return ctx.Err()
		}
		return errIO
	})
	if _, err := e.guard.Get(context.Background(), []string{gkey("a")}); err == nil {
		t.Fatal("Get: got nil error, want the store's")
	}
	waitFor(t, "a probe", func() bool { return e.spy.pings.Load() > 0 })
	if err := e.guard.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	noGoroutineIn(t, "cache.(*Guard).probe")
	if _, err := e.guard.Get(context.Background(), []string{gkey("a")}); !errors.Is(err, cache.ErrClosed) {
		t.Errorf("Get after Close: got %v, want ErrClosed", err)
	}
	if err := e.guard.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGuardMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	g, err := cache.NewGuard(cache.NewMemory(1<<10), cache.GuardOptions{Registerer: reg})
	if err != nil {
		t.Fatalf("NewGuard: %v", err)
	}
	defer g.Close()
	if got := metricValue(t, reg, "tipgate_cache_store_up"); got != 1 {
		t.Errorf("tipgate_cache_store_up at start: got %v, want 1", got)
	}
	if _, err := cache.NewGuard(cache.NewMemory(1<<10), cache.GuardOptions{Registerer: reg}); err == nil {
		t.Errorf("a second Guard on the same registry: got nil error, want a registration error")
	}
	if _, err := cache.NewGuard(nil, cache.GuardOptions{}); err == nil {
		t.Errorf("NewGuard(nil): got nil error, want one")
	}
}
