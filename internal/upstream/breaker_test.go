package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/tip"
)

func newTestBreaker(t *testing.T, inner Fetcher, o BreakerOptions) (*Breaker, *prometheus.Registry, *logbuf.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	log, buf := testLogger()
	b, err := NewBreaker(inner, reg, log, o)
	if err != nil {
		t.Fatal(err)
	}
	return b, reg, buf
}

// waitState polls until the breaker reports want. gobreaker moves from open
// to half-open by the wall clock, so the half-open tests use a short
// OpenFor and wait for it, bounded.
func waitState(t *testing.T, b *Breaker, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker state = %s, want %s", b.State(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestBreakerOpensAfterSustainedFailure(t *testing.T) {
	// Once open, TIP would hang: any call that reached it would block until
	// the test ends. An open breaker must answer without it.
	hang := make(chan struct{})
	defer close(hang)
	failing := true
	inner := &fake{}
	inner.fn = func(ctx context.Context, call int) (*tip.Result, error) {
		if !failing {
			select {
			case <-hang:
			case <-ctx.Done():
			}
			return nil, errors.New("hung")
		}
		return nil, status(tip.KindUnavailable, 503)
	}
	b, reg, buf := newTestBreaker(t, inner, BreakerOptions{})
	for i := 1; i <= 5; i++ {
		if got := b.State(); got != "closed" {
			t.Fatalf("state after %d failures = %s, want closed", i-1, got)
		}
		_, err := b.Lookup(context.Background(), testInd, nil, 10)
		var te *tip.Error
		if !errors.As(err, &te) || te.Refused {
			t.Fatalf("failure %d: error = %v, want TIP's own 503", i, err)
		}
	}
	if got := b.State(); got != "open" {
		t.Fatalf("state after 5 failures = %s, want open", got)
	}
	failing = false

	for range 100 {
		_, err := b.Lookup(context.Background(), testInd, nil, 10)
		var te *tip.Error
		if !errors.As(err, &te) || !te.Refused || te.Kind != tip.KindUnavailable {
			t.Fatalf("error = %#v, want a Refused tip-unavailable", err)
		}
		// Default OpenFor 30s; whole seconds, never 0.
		if te.RetryAfter < 29*time.Second || te.RetryAfter > 30*time.Second || te.RetryAfter%time.Second != 0 {
			t.Fatalf("RetryAfter = %v, want the ~30s left open, in whole seconds", te.RetryAfter)
		}
		if !strings.Contains(te.Detail, "circuit breaker open") {
			t.Fatalf("Detail = %q", te.Detail)
		}
	}
	if got := inner.Calls(); got != 5 {
		t.Errorf("inner calls = %d, want 5: an open breaker asks TIP nothing", got)
	}
	if got := metric(t, reg, "tipgate_tip_breaker_state"); got != 2 {
		t.Errorf("tipgate_tip_breaker_state = %v, want 2 (open)", got)
	}
	if got := strings.Count(buf.String(), "circuit breaker open"); got != 1 {
		t.Errorf("logged the opening %d times, want once:\n%s", got, buf)
	}
	lint(t, reg)
}

// Only transient failures of requests actually made count; answers that
// prove TIP reachable are successes, and nothing else counts at all.
func TestBreakerIgnoresWhatIsNotTIPFailing(t *testing.T) {
	queueWait := &tip.Error{Kind: tip.KindTimeout, Detail: "waited for a slot", Err: fmt.Errorf("%w: %w", errQueueWait, context.DeadlineExceeded)}
	tests := []struct {
		name string
		err  error
		res  *tip.Result
	}{
		{"404", nil, &tip.Result{Found: false}},
		{"400", status(tip.KindBadRequest, 400), nil},
		{"401", status(tip.KindUnauthorized, 401), nil},
		{"403", status(tip.KindForbidden, 403), nil},
		{"budget refusal", &tip.Error{Kind: tip.KindBudgetSpent, Refused: true}, nil},
		{"caller cancellation", fmt.Errorf("gone: %w", context.Canceled), nil},
		{"deadline before asking", fmt.Errorf("abandoned: %w", context.DeadlineExceeded), nil},
		{"queue wait past the deadline", queueWait, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fake{fn: func(context.Context, int) (*tip.Result, error) { return tt.res, tt.err }}
			b, _, _ := newTestBreaker(t, inner, BreakerOptions{TripAfter: 3})
			for range 20 {
				_, _ = b.Lookup(context.Background(), testInd, nil, 10)
			}
			if got := b.State(); got != "closed" {
				t.Errorf("state after 20 × %s = %s, want closed", tt.name, got)
			}
			if got := inner.Calls(); got != 20 {
				t.Errorf("inner calls = %d, want 20", got)
			}
		})
	}
}

// A success between failures means TIP is answering: the count starts again.
func TestBreakerNeedsConsecutiveFailures(t *testing.T) {
	e := status(tip.KindUnavailable, 502)
	inner := &fake{fn: func(_ context.Context, call int) (*tip.Result, error) {
		if call%3 == 0 {
			return &tip.Result{Found: true}, nil
		}
		return nil, e
	}}
	b, _, _ := newTestBreaker(t, inner, BreakerOptions{TripAfter: 3})
	for range 30 {
		_, _ = b.Lookup(context.Background(), testInd, nil, 10)
	}
	if got := b.State(); got != "closed" {
		t.Errorf("state = %s, want closed (never 3 failures in a row)", got)
	}
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	tests := []struct {
		name      string
		probe     error // the probe's outcome
		wantState string
	}{
		{"probe succeeds", nil, "closed"},
		{"probe fails", status(tip.KindUnavailable, 503), "open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			entered := make(chan struct{}, 1)
			inner := &fake{}
			inner.fn = func(_ context.Context, call int) (*tip.Result, error) {
				if call <= 2 {
					return nil, status(tip.KindUnavailable, 503)
				}
				entered <- struct{}{}
				<-release
				if tt.probe != nil {
					return nil, tt.probe
				}
				return &tip.Result{Found: true}, nil
			}
			b, reg, buf := newTestBreaker(t, inner, BreakerOptions{TripAfter: 2, OpenFor: 20 * time.Millisecond})
			for range 2 {
				_, _ = b.Lookup(context.Background(), testInd, nil, 10)
			}
			waitState(t, b, "half-open")
			if got := metric(t, reg, "tipgate_tip_breaker_state"); got != 1 {
				t.Errorf("tipgate_tip_breaker_state = %v, want 1 (half-open)", got)
			}

			probe := make(chan error, 1)
			go func() {
				_, err := b.Lookup(context.Background(), testInd, nil, 10)
				probe <- err
			}()
			<-entered
			// One probe at a time: others are refused at once.
			_, err := b.Lookup(context.Background(), testInd, nil, 10)
			var te *tip.Error
			if !errors.As(err, &te) || !te.Refused || te.RetryAfter < time.Second {
				t.Fatalf("during the probe: error = %#v, want Refused with a Retry-After", err)
			}
			if got := inner.Calls(); got != 3 {
				t.Fatalf("inner calls = %d, want 3 (2 failures and the probe)", got)
			}
			close(release)
			if err := <-probe; (err == nil) != (tt.probe == nil) {
				t.Fatalf("probe error = %v, want %v", err, tt.probe)
			}
			if got := b.State(); got != tt.wantState {
				t.Errorf("state after the probe = %s, want %s", got, tt.wantState)
			}
			if tt.wantState == "closed" && !strings.Contains(buf.String(), "circuit breaker closed") {
				t.Errorf("the closing was not logged:\n%s", buf)
			}
		})
	}
}

func TestCeilSeconds(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{-time.Second, time.Second},
		{0, time.Second},
		{time.Millisecond, time.Second},
		{time.Second, time.Second},
		{29*time.Second + time.Nanosecond, 30 * time.Second},
	} {
		if got := ceilSeconds(tt.in); got != tt.want {
			t.Errorf("ceilSeconds(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// A probe that tipgate itself refused (budget) says nothing about TIP: the
// breaker stays half-open and lets the next call probe.
func TestBreakerExcludedProbeLetsTheNextOneThrough(t *testing.T) {
	inner := &fake{fn: answers(
		status(tip.KindUnavailable, 503),
		&tip.Error{Kind: tip.KindBudgetSpent, Refused: true},
		nil,
	)}
	b, _, _ := newTestBreaker(t, inner, BreakerOptions{TripAfter: 1, OpenFor: 20 * time.Millisecond})
	_, _ = b.Lookup(context.Background(), testInd, nil, 10)
	waitState(t, b, "half-open")
	if _, err := b.Lookup(context.Background(), testInd, nil, 10); err == nil {
		t.Fatal("the budget refusal was lost")
	}
	if got := b.State(); got != "half-open" {
		t.Fatalf("state after a refused probe = %s, want half-open", got)
	}
	if _, err := b.Lookup(context.Background(), testInd, nil, 10); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if got, calls := b.State(), inner.Calls(); got != "closed" || calls != 3 {
		t.Errorf("state = %s after %d inner calls, want closed after 3", got, calls)
	}
}
