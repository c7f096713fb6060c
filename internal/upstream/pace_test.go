package upstream

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestPaceHonoursRetryAfterForEveryCaller(t *testing.T) {
	limited := &tip.Error{Kind: tip.KindRateLimited, Status: 429, RetryAfter: 2 * time.Second, Detail: "slow down"}
	tests := []struct {
		name      string
		after     time.Duration // fake time between the 429 and the next call
		deadline  time.Duration // the next caller's deadline from then (0: none)
		wantCalls int           // inner calls in all, the 429 included
		wantSlept time.Duration
		wantErr   bool
	}{
		{"waits out the rest of Retry-After", 500 * time.Millisecond, 0, 2, 1500 * time.Millisecond, false},
		{"refused when the deadline comes first", 500 * time.Millisecond, time.Second, 1, 0, true},
		{"passes once Retry-After is over", 3 * time.Second, 0, 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
			f := &fake{fn: answers(limited, nil)}
			var (
				mu    sync.Mutex
				slept time.Duration
			)
			log, _ := testLogger()
			p, err := NewPace(f, prometheus.NewRegistry(), log, PaceOptions{
				Now: clk.Now,
				Sleep: func(_ context.Context, d time.Duration) error {
					mu.Lock()
					slept += d
					mu.Unlock()
					clk.Advance(d)
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Lookup(context.Background(), testInd, nil, 10); !errors.Is(err, limited) {
				t.Fatalf("first lookup: err = %v, want the 429", err)
			}
			clk.Advance(tt.after)
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tt.deadline))
				defer cancel()
			}
			_, err = p.Lookup(ctx, testInd, nil, 10)
			var te *tip.Error
			if tt.wantErr != (err != nil) || (err != nil && (!errors.As(err, &te) || !te.Refused || te.Kind != tip.KindRateLimited || te.RetryAfter <= 0)) {
				t.Fatalf("second lookup: err = %v, want error %v (a Refused tip-rate-limited with Retry-After)", err, tt.wantErr)
			}
			if f.Calls() != tt.wantCalls || slept != tt.wantSlept {
				t.Fatalf("inner calls %d, slept %v; want %d, %v", f.Calls(), slept, tt.wantCalls, tt.wantSlept)
			}
		})
	}
}

// A Retry-After longer than the caller may be held is refused at once, so
// that the caller can serve stale data instead of waiting.
func TestPaceRefusesLongPauses(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	f := &fake{fn: answers(&tip.Error{Kind: tip.KindRateLimited, Status: 429, RetryAfter: time.Minute}, nil)}
	log, _ := testLogger()
	p, err := NewPace(f, prometheus.NewRegistry(), log, PaceOptions{Now: clk.Now, Sleep: func(context.Context, time.Duration) error {
		t.Error("slept for a pause longer than MaxWait")
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Lookup(context.Background(), testInd, nil, 10)
	for range 3 {
		if _, err := p.Lookup(context.Background(), testInd, nil, 10); err == nil {
			t.Fatal("a lookup inside TIP's Retry-After was sent")
		}
	}
	if f.Calls() != 1 {
		t.Fatalf("inner calls = %d, want 1: nothing may be sent before Retry-After passes", f.Calls())
	}
}
