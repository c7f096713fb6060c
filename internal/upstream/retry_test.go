package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/tip"
)

// sleeps records the waits a Retry asked for, returning at once.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
	err   error // returned by every sleep, when set
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return s.err
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func newTestRetry(t *testing.T, inner Fetcher, o RetryOptions) (*Retry, *sleeps, *prometheus.Registry) {
	t.Helper()
	s := &sleeps{}
	if o.Sleep == nil {
		o.Sleep = s.sleep
	}
	if o.Rand == nil {
		o.Rand = func() float64 { return 0.5 }
	}
	reg := prometheus.NewRegistry()
	log, _ := testLogger()
	r, err := NewRetry(inner, reg, log, o)
	if err != nil {
		t.Fatal(err)
	}
	return r, s, reg
}

func TestRetry(t *testing.T) {
	e500 := status(tip.KindUnavailable, 500)
	e429 := &tip.Error{Kind: tip.KindRateLimited, Status: 429, RetryAfter: 2 * time.Second, Detail: "TIP is limiting the request rate"}
	timeout := &tip.Error{Kind: tip.KindTimeout, Detail: "TIP did not answer within 30s"}
	tlsFail := &tip.Error{Kind: tip.KindUnavailable, Detail: "the TLS handshake with TIP failed"}
	breakerOpen := &tip.Error{Kind: tip.KindUnavailable, Refused: true, RetryAfter: 30 * time.Second}
	budget := &tip.Error{Kind: tip.KindBudgetSpent, Refused: true}
	canceled := fmt.Errorf("abandoned: %w", context.Canceled)
	notFound := func(context.Context, int) (*tip.Result, error) { return &tip.Result{Found: false}, nil }

	tests := []struct {
		name      string
		fn        func(context.Context, int) (*tip.Result, error)
		wantCalls int
		wantErr   error // nil means success
		wantWaits []time.Duration
	}{
		{"ok", nil, 1, nil, nil},
		{"500 once then ok", answers(e500, nil), 2, nil, []time.Duration{100 * time.Millisecond}},
		{"timeout once then ok", answers(timeout, nil), 2, nil, []time.Duration{100 * time.Millisecond}},
		{"TLS failure once then ok", answers(tlsFail, nil), 2, nil, []time.Duration{100 * time.Millisecond}},
		// Retry-After is a lower bound: 2s beats the 100ms of jitter.
		{"429 with Retry-After", answers(e429, nil), 2, nil, []time.Duration{2 * time.Second}},
		// Base 200ms, doubled: jitter 0.5 of 200ms, then of 400ms.
		{"500 for good", answers(e500), 3, e500, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"400 never retried", answers(status(tip.KindBadRequest, 400)), 1, status(tip.KindBadRequest, 400), nil},
		{"401 never retried", answers(status(tip.KindUnauthorized, 401)), 1, status(tip.KindUnauthorized, 401), nil},
		{"403 never retried", answers(status(tip.KindForbidden, 403)), 1, status(tip.KindForbidden, 403), nil},
		{"404 never retried", notFound, 1, nil, nil},
		{"breaker refusal never retried", answers(breakerOpen), 1, breakerOpen, nil},
		{"budget refusal never retried", answers(budget), 1, budget, nil},
		{"caller cancellation never retried", answers(canceled), 1, context.Canceled, nil},
		{"refused after a failure is returned as is", answers(e500, budget), 2, budget, []time.Duration{100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fake{fn: tt.fn}
			r, s, reg := newTestRetry(t, inner, RetryOptions{})
			res, err := r.Lookup(context.Background(), testInd, nil, 10)
			if got := inner.Calls(); got != tt.wantCalls {
				t.Errorf("inner calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil || res == nil {
					t.Fatalf("Lookup = %v, %v; want a result", res, err)
				}
			} else {
				var want, got *tip.Error
				switch {
				case errors.As(tt.wantErr, &want):
					if !errors.As(err, &got) || got.Kind != want.Kind || got.Refused != want.Refused || got.RetryAfter != want.RetryAfter {
						t.Fatalf("Lookup error = %#v, want like %#v", err, tt.wantErr)
					}
				case !errors.Is(err, tt.wantErr):
					t.Fatalf("Lookup error = %v, want %v", err, tt.wantErr)
				}
			}
			if got := s.all(); fmt.Sprint(got) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			if got, want := metric(t, reg, "tipgate_tip_retries_total"), float64(len(tt.wantWaits)); got != want {
				t.Errorf("tipgate_tip_retries_total = %v, want %v", got, want)
			}
		})
	}
}

// The final error says how often TIP was asked, without changing the error
// the inner layer returned (it may be shared).
func TestRetryDetailCountsAttempts(t *testing.T) {
	e503 := status(tip.KindUnavailable, 503)
	r, _, _ := newTestRetry(t, &fake{fn: answers(e503)}, RetryOptions{})
	_, err := r.Lookup(context.Background(), testInd, nil, 10)
	var te *tip.Error
	if !errors.As(err, &te) || !strings.HasSuffix(te.Detail, "(tipgate asked 3 times)") || te.Status != 503 {
		t.Fatalf("error = %#v, want the 503 saying it was asked 3 times", err)
	}
	if strings.Contains(e503.Detail, "asked") {
		t.Errorf("the inner error was changed: %q", e503.Detail)
	}
}

func TestRetryFullJitter(t *testing.T) {
	e500 := status(tip.KindUnavailable, 500)
	tests := []struct {
		name string
		rand float64
		o    RetryOptions
		want []time.Duration
	}{
		// min(Cap, Base·2ⁿ) for n = 0..4: 1s, 2s, 4s, 5s, 5s
		{"top of the range", 0.999999, RetryOptions{Attempts: 6, Base: time.Second, Cap: 5 * time.Second},
			[]time.Duration{999999 * time.Microsecond, 1999998 * time.Microsecond, 3999996 * time.Microsecond, 4999995 * time.Microsecond, 4999995 * time.Microsecond}},
		{"bottom of the range", 0, RetryOptions{Attempts: 4}, []time.Duration{0, 0, 0}},
		{"defaults: 200ms doubling", 0.5, RetryOptions{Attempts: 5}, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Rand = func() float64 { return tt.rand }
			inner := &fake{fn: answers(e500)}
			r, s, _ := newTestRetry(t, inner, tt.o)
			_, _ = r.Lookup(context.Background(), testInd, nil, 10)
			if got := s.all(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
			if got := inner.Calls(); got != tt.o.Attempts {
				t.Errorf("inner calls = %d, want %d", got, tt.o.Attempts)
			}
		})
	}
}

func TestRetryNeverSleepsPastTheDeadline(t *testing.T) {
	// The clock stands still at the real start, so deadlines (which the
	// context measures in real time) are far enough for the test to run
	// while the waits are judged against a fixed now.
	now := time.Now()
	clock := func() time.Time { return now }
	e429 := &tip.Error{Kind: tip.KindRateLimited, Status: 429, RetryAfter: 3 * time.Second, Detail: "slow down"}
	tests := []struct {
		name      string
		deadline  time.Duration // from now; 0 means none
		fn        func(context.Context, int) (*tip.Result, error)
		wantCalls int
		wantWaits int
	}{
		{"Retry-After ends before the deadline", time.Minute, answers(&tip.Error{Kind: tip.KindRateLimited, RetryAfter: 3 * time.Second}, nil), 2, 1},
		{"Retry-After would end after the deadline", 2 * time.Second, answers(e429, nil), 1, 0},
		{"Retry-After would end after the deadline, with room for jitter", 3*time.Second - time.Millisecond, answers(e429, nil), 1, 0},
		// Jitter 0.5 of 200ms = 100ms: 50ms left is not enough.
		{"backoff would end after the deadline", 50 * time.Millisecond, answers(status(tip.KindUnavailable, 502), nil), 1, 0},
		// TIP asking for longer than Cap is not waited for even without a
		// deadline: the caller can serve stale data now.
		{"Retry-After longer than Cap", 0, answers(&tip.Error{Kind: tip.KindRateLimited, RetryAfter: time.Minute}, nil), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tt.deadline))
				defer cancel()
			}
			inner := &fake{fn: tt.fn}
			r, s, _ := newTestRetry(t, inner, RetryOptions{Now: clock})
			_, err := r.Lookup(ctx, testInd, nil, 10)
			if got := inner.Calls(); got != tt.wantCalls {
				t.Errorf("inner calls = %d, want %d", got, tt.wantCalls)
			}
			if got := len(s.all()); got != tt.wantWaits {
				t.Errorf("waits = %v, want %d of them", s.all(), tt.wantWaits)
			}
			if tt.wantCalls == 1 {
				// The last TIP error, not the context's, so the caller
				// knows what TIP said.
				var te *tip.Error
				if !errors.As(err, &te) {
					t.Errorf("error = %v, want TIP's error", err)
				}
			}
		})
	}
}

func TestRetryCallerLeavesDuringTheWait(t *testing.T) {
	e500 := status(tip.KindUnavailable, 500)
	s := &sleeps{err: context.Canceled}
	inner := &fake{fn: answers(e500, nil)}
	r, _, _ := newTestRetry(t, inner, RetryOptions{Sleep: s.sleep})
	_, err := r.Lookup(context.Background(), testInd, nil, 10)
	var te *tip.Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Errorf("error = %v, want the caller's cancellation", err)
	}
	if got := inner.Calls(); got != 1 {
		t.Errorf("inner calls = %d, want 1", got)
	}
}

// The default sleep really waits, and stops when the caller leaves.
func TestDefaultSleep(t *testing.T) {
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep with a canceled ctx = %v, want context.Canceled", err)
	}
}

func TestNewRetryValidates(t *testing.T) {
	log, _ := testLogger()
	if _, err := NewRetry(&fake{}, prometheus.NewRegistry(), log, RetryOptions{Attempts: -1}); err == nil {
		t.Error("NewRetry accepted negative Attempts")
	}
	if _, err := NewRetry(nil, prometheus.NewRegistry(), log, RetryOptions{}); err == nil {
		t.Error("NewRetry accepted a nil inner Fetcher")
	}
}
