package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/tip"
)

func newTestLimit(t *testing.T, inner Fetcher, n int) (*Limit, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	log, _ := testLogger()
	l, err := NewLimit(inner, reg, log, LimitOptions{Concurrency: n})
	if err != nil {
		t.Fatal(err)
	}
	return l, reg
}

// blocking is an inner Fetcher whose calls wait for release, recording how
// many ran at once.
type blocking struct {
	release chan struct{}
	entered chan struct{}
	now     atomic.Int64
	max     atomic.Int64
	calls   atomic.Int64
}

func newBlocking() *blocking {
	return &blocking{release: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (b *blocking) fn(ctx context.Context, _ int) (*tip.Result, error) {
	b.calls.Add(1)
	n := b.now.Add(1)
	defer b.now.Add(-1)
	for {
		m := b.max.Load()
		if n <= m || b.max.CompareAndSwap(m, n) {
			break
		}
	}
	b.entered <- struct{}{}
	<-b.release
	return &tip.Result{Found: true}, nil
}

func TestLimitBoundsConcurrency(t *testing.T) {
	bl := newBlocking()
	l, reg := newTestLimit(t, &fake{fn: bl.fn}, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := l.Lookup(context.Background(), testInd, nil, 10)
			errs <- err
		})
	}
	for range 4 {
		<-bl.entered
	}
	if got := l.InFlight(); got != 4 {
		t.Errorf("InFlight = %d with 20 callers and 4 slots, want 4", got)
	}
	if got := metric(t, reg, "tipgate_tip_inflight"); got != 4 {
		t.Errorf("tipgate_tip_inflight = %v, want 4", got)
	}
	close(bl.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued caller failed: %v", err)
		}
	}
	if got := bl.max.Load(); got != 4 {
		t.Errorf("most in flight at once = %d, want 4", got)
	}
	if got := bl.calls.Load(); got != 20 {
		t.Errorf("inner calls = %d, want 20 (every queued caller served)", got)
	}
	if got := l.InFlight(); got != 0 {
		t.Errorf("InFlight after all = %d, want 0", got)
	}
	lint(t, reg)
}

func TestLimitQueueTimeout(t *testing.T) {
	bl := newBlocking()
	defer close(bl.release)
	l, reg := newTestLimit(t, &fake{fn: bl.fn}, 1)
	go func() { _, _ = l.Lookup(context.Background(), testInd, nil, 10) }()
	<-bl.entered

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Lookup(ctx, testInd, nil, 10)
	var te *tip.Error
	if !errors.As(err, &te) || te.Kind != tip.KindTimeout || te.Refused {
		t.Fatalf("error = %#v, want a tip-timeout", err)
	}
	if !contains(te.Detail, "one of the 1 TIP request slots") {
		t.Errorf("Detail = %q, want it to say it waited for a slot", te.Detail)
	}
	// Retry and Breaker must know no request was made.
	if transientFailure(err) || !excluded(err) {
		t.Error("a queue wait counts as TIP failing")
	}
	if got := bl.calls.Load(); got != 1 {
		t.Errorf("inner calls = %d, want 1", got)
	}
	if got := metric(t, reg, "tipgate_tip_queue_timeouts_total"); got != 1 {
		t.Errorf("tipgate_tip_queue_timeouts_total = %v, want 1", got)
	}
}

func TestLimitCallerLeavesTheQueue(t *testing.T) {
	bl := newBlocking()
	defer close(bl.release)
	l, reg := newTestLimit(t, &fake{fn: bl.fn}, 1)
	go func() { _, _ = l.Lookup(context.Background(), testInd, nil, 10) }()
	<-bl.entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Lookup(ctx, testInd, nil, 10)
	var te *tip.Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Errorf("error = %v, want the caller's cancellation", err)
	}
	if got := metric(t, reg, "tipgate_tip_queue_timeouts_total"); got != 0 {
		t.Errorf("tipgate_tip_queue_timeouts_total = %v, want 0", got)
	}
}

func TestNewLimitDefaults(t *testing.T) {
	l, _ := newTestLimit(t, &fake{}, 0)
	if l.n != 16 {
		t.Errorf("default concurrency = %d, want 16", l.n)
	}
	log, _ := testLogger()
	if _, err := NewLimit(&fake{}, prometheus.NewRegistry(), log, LimitOptions{Concurrency: -1}); err == nil {
		t.Error("NewLimit accepted a negative concurrency")
	}
}

// TestLimitBulkTakesAtMostHalf fills Limit with bulk requests and checks
// that they hold at most half of the slots, that a single lookup still gets
// one of the rest at once, and that every bulk request is served in the end.
func TestLimitBulkTakesAtMostHalf(t *testing.T) {
	tests := []struct {
		slots, wantBulk int
	}{
		{4, 2},
		{5, 2},
		{16, 8},
		{1, 1}, // at least one, or a batch could never fetch
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.slots), func(t *testing.T) {
			bl := newBlocking()
			var bulkNow, bulkMax atomic.Int64
			fn := func(ctx context.Context, call int) (*tip.Result, error) {
				if isBulk(ctx) {
					n := bulkNow.Add(1)
					defer bulkNow.Add(-1)
					for m := bulkMax.Load(); n > m && !bulkMax.CompareAndSwap(m, n); m = bulkMax.Load() {
					}
				}
				return bl.fn(ctx, call)
			}
			l, _ := newTestLimit(t, &fake{fn: fn}, tt.slots)
			var wg sync.WaitGroup
			errs := make(chan error, 3*tt.slots+1)
			bulk := WithBulk(context.Background())
			for range 3 * tt.slots {
				wg.Go(func() {
					_, err := l.Lookup(bulk, testInd, nil, 10)
					errs <- err
				})
			}
			for range tt.wantBulk {
				<-bl.entered
			}
			if tt.slots > 1 {
				// A single lookup is not queued behind the batch.
				wg.Go(func() {
					_, err := l.Lookup(context.Background(), testInd, nil, 10)
					errs <- err
				})
				<-bl.entered
				if got := l.InFlight(); got != tt.wantBulk+1 {
					t.Errorf("InFlight = %d with the bulk share full and one single lookup, want %d", got, tt.wantBulk+1)
				}
			}
			if got := bulkNow.Load(); got != int64(tt.wantBulk) {
				t.Errorf("bulk requests in flight = %d, want %d", got, tt.wantBulk)
			}
			close(bl.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("a caller failed: %v", err)
				}
			}
			if got := bulkMax.Load(); got != int64(tt.wantBulk) {
				t.Errorf("most bulk requests in flight at once = %d, want %d", got, tt.wantBulk)
			}
			want := int64(3 * tt.slots)
			if tt.slots > 1 {
				want++
			}
			if got := bl.calls.Load(); got != want {
				t.Errorf("inner calls = %d, want %d (every caller served)", got, want)
			}
		})
	}
}

// TestLimitBulkQueueTimeout: a bulk request that waits for the bulk share
// past its deadline is a queue-wait timeout, not TIP's failure, while the
// free slots stay free.
func TestLimitBulkQueueTimeout(t *testing.T) {
	bl := newBlocking()
	defer close(bl.release)
	l, reg := newTestLimit(t, &fake{fn: bl.fn}, 4)
	bulk := WithBulk(context.Background())
	for range 2 {
		go func() { _, _ = l.Lookup(bulk, testInd, nil, 10) }()
		<-bl.entered
	}
	ctx, cancel := context.WithTimeout(bulk, 20*time.Millisecond)
	defer cancel()
	_, err := l.Lookup(ctx, testInd, nil, 10)
	var te *tip.Error
	if !errors.As(err, &te) || te.Kind != tip.KindTimeout || !contains(te.Detail, "2 bulk TIP request slots") {
		t.Fatalf("error = %v, want a tip-timeout naming the 2 bulk slots", err)
	}
	if transientFailure(err) || !excluded(err) {
		t.Error("a bulk queue wait counts as TIP failing")
	}
	if got := l.InFlight(); got != 2 {
		t.Errorf("InFlight = %d, want 2 (the waiting bulk request held no slot)", got)
	}
	if got := metric(t, reg, "tipgate_tip_queue_timeouts_total"); got != 1 {
		t.Errorf("tipgate_tip_queue_timeouts_total = %v, want 1", got)
	}
}
