package upstream

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/fakeclock"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/tip"
)

var _ DayCounter = (*LocalCounter)(nil)

// 14:00 UTC: ten hours to midnight.
var budgetStart = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

type budgetRig struct {
	b     *Budget
	inner *fake
	clock *fakeclock.Clock
	reg   *prometheus.Registry
	log   *logbuf.Buffer
}

func newBudgetRig(t *testing.T, counter DayCounter, o BudgetOptions) *budgetRig {
	t.Helper()
	r := &budgetRig{inner: &fake{}, clock: fakeclock.New(budgetStart), reg: prometheus.NewRegistry()}
	if counter == nil {
		counter = NewLocalCounter()
	}
	o.Now = r.clock.Now
	logger, buf := testLogger()
	r.log = buf
	b, err := NewBudget(r.inner, counter, r.reg, logger, o)
	if err != nil {
		t.Fatal(err)
	}
	r.b = b
	return r
}

func (r *budgetRig) lookup(key string, keyBudget int) error {
	ctx := context.Background()
	if key != "" {
		ctx = apikey.NewContext(ctx, apikey.Key{Name: key, Roles: apikey.Roles{apikey.Lookup}, TIPDailyBudget: keyBudget})
	}
	_, err := r.b.Lookup(ctx, testInd, nil, 10)
	return err
}

// refusal checks err is a budget refusal with Retry-After to the next UTC
// midnight and a Detail naming the budget.
func refusal(t *testing.T, err error, now time.Time, detail ...string) {
	t.Helper()
	var te *tip.Error
	if !errors.As(err, &te) || te.Kind != tip.KindBudgetSpent || !te.Refused {
		t.Fatalf("error = %#v, want a Refused tip-budget-spent", err)
	}
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	if want := midnight.Sub(now); te.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v (until midnight UTC)", te.RetryAfter, want)
	}
	if !contains(te.Detail, detail...) {
		t.Errorf("Detail = %q, want it to contain %q", te.Detail, detail)
	}
}

func TestBudgetGateway(t *testing.T) {
	r := newBudgetRig(t, nil, BudgetOptions{DailyBudget: 3})
	for i := range 3 {
		if err := r.lookup("", 0); err != nil {
			t.Fatalf("lookup %d: %v", i+1, err)
		}
	}
	err := r.lookup("", 0)
	refusal(t, err, budgetStart, "daily budget of 3 TIP requests", "TIPGATE_TIP_DAILY_BUDGET", "2026-11-23")
	if got := r.inner.Calls(); got != 3 {
		t.Errorf("inner calls = %d, want 3", got)
	}
	// Later the same day: still refused, Retry-After shorter.
	r.clock.Advance(9*time.Hour + 59*time.Minute + 30*time.Second)
	refusal(t, r.lookup("siem", 0), r.clock.Now(), "TIPGATE_TIP_DAILY_BUDGET")
	// A new UTC day renews it.
	r.clock.Advance(time.Minute)
	if err := r.lookup("", 0); err != nil {
		t.Fatalf("the next UTC day: %v", err)
	}
	if got := metric(t, r.reg, "tipgate_tip_budget_refused_total", "reason", "gateway"); got != 2 {
		t.Errorf("refused{gateway} = %v, want 2", got)
	}
	if got := metric(t, r.reg, "tipgate_tip_budget_requests_total", "key", "-"); got != 4 {
		t.Errorf("requests{key=-} = %v, want 4", got)
	}
	// A spent budget refuses every lookup until midnight: logged once a day.
	if got := strings.Count(r.log.String(), "budget is spent"); got != 1 {
		t.Errorf("logged the refusal %d times, want once:\n%s", got, r.log)
	}
	lint(t, r.reg)
}

func TestBudgetKey(t *testing.T) {
	r := newBudgetRig(t, nil, BudgetOptions{DailyBudget: 100})
	for i := range 2 {
		if err := r.lookup("playbook", 2); err != nil {
			t.Fatalf("lookup %d: %v", i+1, err)
		}
	}
	refusal(t, r.lookup("playbook", 2), budgetStart, `API key "playbook"`, "own daily budget of 2", "tip_daily_budget")
	// Other keys, and callers without a key, still have the gateway's budget.
	if err := r.lookup("siem", 0); err != nil {
		t.Errorf("another key: %v", err)
	}
	if err := r.lookup("", 0); err != nil {
		t.Errorf("no key: %v", err)
	}
	if got := r.inner.Calls(); got != 4 {
		t.Errorf("inner calls = %d, want 4", got)
	}
	if got := metric(t, r.reg, "tipgate_tip_budget_refused_total", "reason", "key"); got != 1 {
		t.Errorf("refused{key} = %v, want 1", got)
	}
	if got := metric(t, r.reg, "tipgate_tip_budget_requests_total", "key", "playbook"); got != 2 {
		t.Errorf("requests{key=playbook} = %v, want 2", got)
	}

	c, err := r.b.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Day != "2026-11-23" || c.Total != 4 || c.Budget != 100 || c.Keys["playbook"] != 2 || c.Keys["siem"] != 1 || len(c.Keys) != 2 {
		t.Errorf("Counts = %+v, want day 2026-11-23, total 4, budget 100, playbook 2, siem 1", c)
	}
}

func TestBudgetLicenseQuota(t *testing.T) {
	var mu sync.Mutex
	var license *tip.License
	var licenseAt time.Time
	quota := func() (*tip.License, time.Time) {
		mu.Lock()
		defer mu.Unlock()
		return license, licenseAt
	}
	set := func(l *tip.License, at time.Time) {
		mu.Lock()
		license, licenseAt = l, at
		mu.Unlock()
	}
	r := newBudgetRig(t, nil, BudgetOptions{Quota: quota})

	tests := []struct {
		name    string
		license *tip.License
		at      time.Time
		refused bool
	}{
		{"no LicenseInfo yet", nil, time.Time{}, false},
		{"below quota", &tip.License{DayRequests: 9999, DayQuota: 10000}, budgetStart.Add(-time.Hour), false},
		{"at quota today", &tip.License{DayRequests: 10000, DayQuota: 10000}, budgetStart.Add(-time.Hour), true},
		{"past quota today", &tip.License{DayRequests: 10007, DayQuota: 10000}, budgetStart.Add(-13 * time.Hour), true},
		{"at quota yesterday", &tip.License{DayRequests: 10000, DayQuota: 10000}, budgetStart.Add(-15 * time.Hour), false},
		{"no quota (0)", &tip.License{DayRequests: 50, DayQuota: 0}, budgetStart, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set(tt.license, tt.at)
			before := r.inner.Calls()
			err := r.lookup("siem", 0)
			if !tt.refused {
				if err != nil {
					t.Fatalf("error = %v, want TIP asked", err)
				}
				return
			}
			refusal(t, err, budgetStart, "TIP's own daily quota", "LicenseInfo", "of 10000")
			if got := r.inner.Calls(); got != before {
				t.Errorf("inner calls went from %d to %d, want none", before, got)
			}
		})
	}

	// At quota today; the next UTC day TIP is asked again.
	set(&tip.License{DayRequests: 10000, DayQuota: 10000}, budgetStart)
	refusal(t, r.lookup("siem", 0), budgetStart, "LicenseInfo")
	r.clock.Advance(10 * time.Hour)
	if err := r.lookup("siem", 0); err != nil {
		t.Errorf("the next UTC day: %v", err)
	}
	if got := metric(t, r.reg, "tipgate_tip_budget_refused_total", "reason", "quota"); got != 3 {
		t.Errorf("refused{quota} = %v, want 3", got)
	}
}

// failingCounter is a DayCounter whose store is down.
type failingCounter struct{}

func (failingCounter) Take(context.Context, string, string, int, int) (string, error) {
	return "", errors.New("redis: connection refused")
}
func (failingCounter) Count(context.Context, string, string) (int, error) {
	return 0, errors.New("redis: connection refused")
}

func TestBudgetCounterFailureLetsRequestsThrough(t *testing.T) {
	r := newBudgetRig(t, failingCounter{}, BudgetOptions{DailyBudget: 3})
	for i := range 10 {
		if err := r.lookup("siem", 0); err != nil {
			t.Fatalf("lookup %d: %v; a counter failure must not fail lookups", i+1, err)
		}
		r.clock.Advance(10 * time.Second)
	}
	if got := r.inner.Calls(); got != 10 {
		t.Errorf("inner calls = %d, want 10", got)
	}
	// 100 s of failures at once a minute: two lines, the second counting
	// the ones it skipped.
	if got := strings.Count(r.log.String(), "could not be counted"); got != 2 {
		t.Errorf("logged %d counter failures, want 2:\n%s", got, r.log)
	}
	if !strings.Contains(r.log.String(), "unlogged_since_last=5") {
		t.Errorf("the second line does not count the 5 unlogged failures:\n%s", r.log)
	}
	if _, err := r.b.Counts(context.Background()); err == nil {
		t.Error("Counts hid the counter's failure")
	}
}

// A caller gone before its request was counted is not let through.
func TestBudgetCallerGoneWhileCounting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newBudgetRig(t, failingCounter{}, BudgetOptions{})
	_, err := r.b.Lookup(ctx, testInd, nil, 10)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want the caller's cancellation", err)
	}
	if got := r.inner.Calls(); got != 0 {
		t.Errorf("inner calls = %d, want 0", got)
	}
}

func TestBudgetCountsConfiguredKeys(t *testing.T) {
	r := newBudgetRig(t, nil, BudgetOptions{Keys: []string{"siem", "soar"}})
	if err := r.lookup("siem", 0); err != nil {
		t.Fatal(err)
	}
	c, err := r.b.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Total != 1 || c.Budget != 0 || len(c.Keys) != 2 || c.Keys["siem"] != 1 || c.Keys["soar"] != 0 {
		t.Errorf("Counts = %+v, want total 1, no budget, siem 1, soar 0", c)
	}
}

func TestLocalCounter(t *testing.T) {
	ctx := context.Background()
	c := NewLocalCounter()
	steps := []struct {
		day, key        string
		limit, keyLimit int
		want            string
	}{
		{"2026-11-23", "a", 3, 1, ""},
		{"2026-11-23", "a", 3, 1, "key"}, // a's own limit
		{"2026-11-23", "b", 3, 0, ""},
		{"2026-11-23", "", 3, 0, ""},
		{"2026-11-23", "b", 3, 0, "gateway"}, // 3 counted
		{"2026-11-23", "a", 0, 0, ""},        // no limits at all: counted
		{"2026-11-24", "a", 3, 1, ""},        // a new day
	}
	for i, s := range steps {
		got, err := c.Take(ctx, s.day, s.key, s.limit, s.keyLimit)
		if err != nil || got != s.want {
			t.Fatalf("step %d: Take(%s, %q, %d, %d) = %q, %v; want %q", i, s.day, s.key, s.limit, s.keyLimit, got, err, s.want)
		}
	}
	for _, tt := range []struct {
		day, key string
		want     int
	}{
		{"2026-11-24", "", 1},
		{"2026-11-24", "a", 1},
		{"2026-11-24", "b", 0},
		{"2026-11-23", "", 0}, // dropped once the next day was counted
	} {
		if got, _ := c.Count(ctx, tt.day, tt.key); got != tt.want {
			t.Errorf("Count(%s, %q) = %d, want %d", tt.day, tt.key, got, tt.want)
		}
	}
	if len(c.days) != 1 {
		t.Errorf("LocalCounter holds %d days, want 1", len(c.days))
	}
}

// Concurrent takes never count past the limit.
func TestLocalCounterConcurrent(t *testing.T) {
	c := NewLocalCounter()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counted := 0
	for range 50 {
		wg.Go(func() {
			if spent, _ := c.Take(context.Background(), "2026-11-23", "k", 20, 0); spent == "" {
				mu.Lock()
				counted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if counted != 20 {
		t.Errorf("counted %d, want 20", counted)
	}
}

func TestNewBudgetValidates(t *testing.T) {
	logger, _ := testLogger()
	if _, err := NewBudget(&fake{}, NewLocalCounter(), prometheus.NewRegistry(), logger, BudgetOptions{DailyBudget: -1}); err == nil {
		t.Error("NewBudget accepted a negative budget")
	}
	if _, err := NewBudget(&fake{}, nil, prometheus.NewRegistry(), logger, BudgetOptions{}); err == nil {
		t.Error("NewBudget accepted a nil counter")
	}
}
