package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/logbuf"
)

// recSetter records what it stores. While hold is set, a write of a key
// named "hold" says so on entered and waits for release or its context.
type recSetter struct {
	err error // returned by every Set when not nil

	mu       sync.Mutex
	stored   map[string]string
	finished int // Set calls returned

	entered     chan struct{}
	release     chan struct{}
	releaseOnce sync.Once
}

// let lets the held writes go, now and from then on.
func (r *recSetter) let() { r.releaseOnce.Do(func() { close(r.release) }) }

func newRecSetter() *recSetter {
	return &recSetter{stored: map[string]string{}, entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (r *recSetter) Set(ctx context.Context, items []cache.Item) error {
	defer func() {
		r.mu.Lock()
		r.finished++
		r.mu.Unlock()
	}()
	if len(items) > 0 && items[0].Key == "hold" {
		r.entered <- struct{}{}
		select {
		case <-r.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range items {
		r.stored[it.Key] = string(it.Value)
	}
	return nil
}

func (r *recSetter) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.stored[key]
	return ok
}

func (r *recSetter) finishedCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished
}

func witem(key string) []cache.Item {
	return []cache.Item{{Key: key, Value: []byte("v"), TTL: time.Hour}}
}

type writerEnv struct {
	w    *cache.Writer
	set  *recSetter
	logs *logbuf.Buffer
	reg  *prometheus.Registry
}

func newWriterEnv(t *testing.T, set *recSetter, o cache.WriterOptions) *writerEnv {
	t.Helper()
	e := &writerEnv{set: set, logs: &logbuf.Buffer{}, reg: prometheus.NewRegistry()}
	o.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	o.Registerer = e.reg
	w, err := cache.NewWriter(set, o)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	t.Cleanup(func() {
		set.let() // anything still held
		_ = w.Close(context.Background())
	})
	e.w = w
	return e
}

func TestWriterCallsDoneAfterTheWrite(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStored bool
		wantErrors float64
	}{
		{"write succeeds", nil, true, 0},
		{"write fails", errIO, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := newRecSetter()
			set.err = tt.err
			e := newWriterEnv(t, set, cache.WriterOptions{})
			type seen struct {
				finished int
				stored   bool
			}
			done := make(chan seen, 1)
			e.w.Write(witem("k"), func() { done <- seen{set.finishedCalls(), set.has("k")} })
			select {
			case s := <-done:
				if s.finished != 1 || s.stored != tt.wantStored {
					t.Errorf("when done ran: %d Set calls returned, stored %v; want 1, %v", s.finished, s.stored, tt.wantStored)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("done not called within 5s")
			}
			if err := e.w.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := metricValue(t, e.reg, "tipgate_cache_write_behind_errors_total"); got != tt.wantErrors {
				t.Errorf("tipgate_cache_write_behind_errors_total: got %v, want %v", got, tt.wantErrors)
			}
		})
	}
}

func TestWriterDrainsOnClose(t *testing.T) {
	const n = 10
	set := newRecSetter()
	e := newWriterEnv(t, set, cache.WriterOptions{Workers: 1, Queue: 16})
	var dones atomic.Int32
	e.w.Write(witem("hold"), func() { dones.Add(1) })
	<-set.entered // the worker holds the first write; the rest queue
	for i := range n - 1 {
		e.w.Write(witem(string(rune('a'+i))), func() { dones.Add(1) })
	}
	if got := metricValue(t, e.reg, "tipgate_cache_write_behind_queue"); got != n-1 {
		t.Errorf("tipgate_cache_write_behind_queue: got %v, want %d", got, n-1)
	}
	closed := make(chan error)
	go func() { closed <- e.w.Close(context.Background()) }()
	set.let()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := dones.Load(); got != n {
		t.Errorf("done calls when Close returned: got %d, want %d", got, n)
	}
	for i := range n - 1 {
		if k := string(rune('a' + i)); !set.has(k) {
			t.Errorf("%s not written when Close returned", k)
		}
	}
	noGoroutineIn(t, "cache.(*Writer).work")
}

func TestWriterFullQueueWritesInTheCaller(t *testing.T) {
	set := newRecSetter()
	e := newWriterEnv(t, set, cache.WriterOptions{Workers: 1, Queue: 1})
	e.w.Write(witem("hold"), nil)
	<-set.entered
	e.w.Write(witem("queued"), nil) // fills the queue

	var doneRan bool
	e.w.Write(witem("sync"), func() { doneRan = true })
	if !set.has("sync") || !doneRan {
		t.Errorf("after Write on a full queue returned: stored %v, done ran %v; want both (written in the caller)", set.has("sync"), doneRan)
	}
	if set.has("queued") {
		t.Errorf("the queued write ran before the held one finished")
	}
	if got := metricValue(t, e.reg, "tipgate_cache_write_behind_sync_total"); got != 1 {
		t.Errorf("tipgate_cache_write_behind_sync_total: got %v, want 1", got)
	}
	if got := metricValue(t, e.reg, "tipgate_cache_write_behind_queue"); got != 1 {
		t.Errorf("tipgate_cache_write_behind_queue: got %v, want 1", got)
	}
}

func TestWriterCloseIsBoundedByItsContext(t *testing.T) {
	const n = 5
	set := newRecSetter()
	e := newWriterEnv(t, set, cache.WriterOptions{Workers: 1, Queue: 8, Timeout: time.Hour})
	var dones atomic.Int32
	for range n {
		e.w.Write(witem("hold"), func() { dones.Add(1) })
	}
	<-set.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.w.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended context while a write hangs: got %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "4 queued writes dropped") {
		t.Errorf("Close error %q: want it to say 4 queued writes were dropped", err)
	}
	if got := dones.Load(); got != n {
		t.Errorf("done calls when Close returned: got %d, want %d (dropped writes are done too)", got, n)
	}
	if got := metricValue(t, e.reg, "tipgate_cache_write_behind_errors_total"); got != n {
		t.Errorf("tipgate_cache_write_behind_errors_total: got %v, want %d (1 canceled, 4 dropped)", got, n)
	}
	noGoroutineIn(t, "cache.(*Writer).work")
}

func TestWriterAfterClose(t *testing.T) {
	set := newRecSetter()
	e := newWriterEnv(t, set, cache.WriterOptions{})
	for range 2 {
		if err := e.w.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	noGoroutineIn(t, "cache.(*Writer).work")
	var doneRan bool
	e.w.Write(witem("late"), func() { doneRan = true })
	if !set.has("late") || !doneRan {
		t.Errorf("Write after Close: stored %v, done ran %v; want both, in the caller", set.has("late"), doneRan)
	}
}

func TestWriterLogsFailuresAtMostOnceASecond(t *testing.T) {
	const n = 100
	set := newRecSetter()
	set.err = errIO
	e := newWriterEnv(t, set, cache.WriterOptions{})
	start := time.Now()
	for range n {
		e.w.Write(witem("k"), nil)
	}
	if err := e.w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	elapsed := time.Since(start)
	if got := metricValue(t, e.reg, "tipgate_cache_write_behind_errors_total"); got != n {
		t.Errorf("tipgate_cache_write_behind_errors_total: got %v, want %d", got, n)
	}
	lines := strings.Count(e.logs.String(), "cache write failed")
	if maxLines := 1 + int(elapsed/time.Second); lines < 1 || lines > maxLines {
		t.Errorf("log lines for %d failures in %v: got %d, want 1..%d:\n%s", n, elapsed, lines, maxLines, e.logs)
	}
}

func TestWriterOverAGuardedStoreThatIsDown(t *testing.T) {
	// The pieces as the gateway wires them: write behind into a Hot over a
	// Guard. A write during an outage lands in the process without waiting
	// on the store.
	e := newGuardEnv(t, cache.NewMemory(1<<20), time.Hour)
	hot, err := cache.NewHot(e.guard, cache.HotOptions{Bytes: 1 << 20})
	if err != nil {
		t.Fatalf("NewHot: %v", err)
	}
	t.Cleanup(func() { _ = hot.Close() })
	e.spy.setFail(failAll)
	if _, err := e.guard.Get(context.Background(), []string{gkey("a")}); err == nil {
		t.Fatal("Get: got nil error, want the store's")
	}
	w, err := cache.NewWriter(hot, cache.WriterOptions{})
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	done := make(chan struct{})
	w.Write([]cache.Item{gitem("a", "A")}, func() { close(done) })
	<-done
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := hot.Get(context.Background(), []string{gkey("a")})
	if err != nil || string(got[0]) != "A" {
		t.Errorf("Get: got %q, %v; want [A] from the process", got, err)
	}
	if n := e.spy.calls.Load(); n != 1 {
		t.Errorf("calls that reached the store: got %d, want 1 (the detecting Get)", n)
	}
}

// A value being written behind is readable through Pending until its write
// is over, so the process that fetched it never asks TIP for it twice; a
// later write of the same key is not undone by the earlier one finishing.
func TestWriterPendingShowsUnfinishedWrites(t *testing.T) {
	set := newRecSetter()
	e := newWriterEnv(t, set, cache.WriterOptions{Workers: 1})
	pending := func(keys ...string) []string {
		vals := make([][]byte, len(keys))
		e.w.Pending(keys, vals)
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = string(v)
		}
		return out
	}
	held := make(chan struct{})
	e.w.Write([]cache.Item{{Key: "hold", Value: []byte("h1"), TTL: time.Hour}, {Key: "k", Value: []byte("v1"), TTL: time.Hour}}, func() { close(held) })
	<-set.entered
	if got := pending("hold", "k", "absent"); got[0] != "h1" || got[1] != "v1" || got[2] != "" {
		t.Fatalf("while the write is held: Pending = %q, want [h1 v1 \"\"]", got)
	}
	second := make(chan struct{})
	e.w.Write([]cache.Item{{Key: "k", Value: []byte("v2"), TTL: time.Hour}}, func() { close(second) })
	if got := pending("k"); got[0] != "v2" {
		t.Fatalf("after a second write of k: Pending = %q, want v2", got)
	}
	set.let()
	<-held
	<-second
	if got := pending("hold", "k"); got[0] != "" || got[1] != "" {
		t.Fatalf("after both writes: Pending = %q, want nothing", got)
	}
}
