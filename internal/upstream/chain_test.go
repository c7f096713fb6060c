package upstream

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/tip"
)

// The layers wired as internal/app wires them: every request sent to TIP is
// counted once by budget and observe, retries included, and a refusal
// reaches the caller untouched by retry and breaker.
func TestChain(t *testing.T) {
	reg := prometheus.NewRegistry()
	log, _ := testLogger()
	clock := fakeclock.New(budgetStart)
	tipFake := &fake{fn: answers(status(tip.KindUnavailable, 500), nil)}

	must := func(f Fetcher, err error) Fetcher {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	ob, err := NewObserve(tipFake, reg, log, ObserveOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	budget, err := NewBudget(ob, NewLocalCounter(), reg, log, BudgetOptions{DailyBudget: 3, Quota: ob.License, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	limit := must(NewLimit(budget, reg, log, LimitOptions{Concurrency: 4}))
	s := &sleeps{}
	retry := must(NewRetry(limit, reg, log, RetryOptions{Sleep: s.sleep, Rand: func() float64 { return 0 }}))
	breaker, err := NewBreaker(retry, reg, log, BreakerOptions{TripAfter: 1})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	if _, err := breaker.Lookup(ctx, testInd, nil, 10); err != nil {
		t.Fatalf("lookup 1 (500 then ok): %v", err)
	}
	if _, err := breaker.Lookup(ctx, testInd, nil, 10); err != nil {
		t.Fatalf("lookup 2: %v", err)
	}
	_, err = breaker.Lookup(ctx, testInd, nil, 10)
	var te *tip.Error
	if !errors.As(err, &te) || te.Kind != tip.KindBudgetSpent || !te.Refused {
		t.Fatalf("lookup 3: error = %#v, want the budget's refusal", err)
	}
	if got := tipFake.Calls(); got != 3 {
		t.Errorf("TIP requests = %d, want 3 (the retry counts against the budget)", got)
	}
	if got := breaker.State(); got != "closed" {
		t.Errorf("breaker = %s, want closed: neither the retried 500 nor the refusal is TIP failing", got)
	}
	c, _ := budget.Counts(ctx)
	if c.Total != 3 {
		t.Errorf("budget total = %d, want 3", c.Total)
	}
	if got := metric(t, reg, "tipgate_tip_requests_total", "outcome", "tip-unavailable") + metric(t, reg, "tipgate_tip_requests_total", "outcome", "ok"); got != 3 {
		t.Errorf("tipgate_tip_requests_total = %v, want 3", got)
	}
	if h := ob.Health(); h.LastSuccess.IsZero() || h.LastFailure.IsZero() {
		t.Errorf("Health = %+v, want both a failure and a later success", h)
	}
	lint(t, reg)
}
