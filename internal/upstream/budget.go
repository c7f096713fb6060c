package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/promreg"
	"github.com/tipgate/tipgate/internal/tip"
)

// dayLayout names a UTC day in DayCounter calls and Counts.
const dayLayout = "2006-01-02"

// DayCounter counts TIP requests per UTC day, shared by every replica that
// shares it. internal/coord implements it over Redis; LocalCounter in
// process, for the memory store.
type DayCounter interface {
	// Take counts one TIP request for day (UTC "2006-01-02") against the
	// gateway's limit and, when key != "", the key's own keyLimit (0 = no
	// limit). It counts nothing and returns the word of the budget that is
	// spent ("gateway" or "key") when one is; "" when counted.
	Take(ctx context.Context, day, key string, limit, keyLimit int) (spent string, err error)
	// Count returns day's count for key ("" = the gateway's total).
	Count(ctx context.Context, day, key string) (int, error)
}

// BudgetOptions configures a Budget.
type BudgetOptions struct {
	// DailyBudget is the most TIP requests per UTC day across every replica
	// sharing the counter (TIPGATE_TIP_DAILY_BUDGET); 0 means none.
	DailyBudget int
	// Quota returns TIP's LicenseInfo as last reported, and when
	// (Observe.License); nil means TIP's own quota is not checked.
	Quota func() (*tip.License, time.Time)
	// Keys names the API keys Counts reports even before this process has
	// seen them (the keyring's names).
	Keys []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Counts is today's use of the budgets, for /v1/status.
type Counts struct {
	Day    string         // the UTC day, "2006-01-02"
	Total  int            // TIP requests counted today
	Budget int            // the gateway's daily budget, 0 = none
	Keys   map[string]int // TIP requests counted today per API key name
}

// Budget refuses to ask TIP once a daily budget is spent: the gateway's
// (DailyBudget), the calling key's (apikey.Key.TIPDailyBudget), or TIP's own
// quota when its LicenseInfo said today that DayRequests >= DayQuota. It
// counts every request it lets through, retries included, because each one
// spends TIP quota. A refusal is a Refused tip-budget-spent error with
// Retry-After until the next UTC midnight, when every budget renews.
//
// When the counter fails, the request goes through uncounted and the
// failure is logged at most once a minute. The counter is bookkeeping for
// the quota, not the quota itself: coord's Redis counter already falls back
// to counting in memory when Redis is unreachable, so an error here is
// unexpected, and failing every lookup on it would turn a bookkeeping fault
// into an outage. TIP's LicenseInfo check above still applies, and TIP
// itself answers 403 when its quota is truly spent.
type Budget struct {
	inner   Fetcher
	counter DayCounter
	log     *slog.Logger
	daily   int
	quota   func() (*tip.License, time.Time)
	now     func() time.Time

	requests *prometheus.CounterVec
	refused  *prometheus.CounterVec

	mu         sync.Mutex
	keys       []string            // names Counts reports: configured and seen
	logged     map[string]struct{} // budgets whose refusal was logged today
	loggedDay  string
	errLogged  time.Time // when a counter failure was last logged
	errSkipped int       // counter failures since, not logged
}

// NewBudget wraps inner, counting with counter, and registers its metrics
// with reg.
func NewBudget(inner Fetcher, counter DayCounter, reg prometheus.Registerer, log *slog.Logger, o BudgetOptions) (*Budget, error) {
	if inner == nil || counter == nil || reg == nil || log == nil {
		return nil, errors.New("upstream: NewBudget needs an inner Fetcher, a DayCounter, a Registerer and a Logger")
	}
	if o.DailyBudget < 0 {
		return nil, fmt.Errorf("upstream: the daily TIP budget must not be negative, not %d", o.DailyBudget)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Budget{
		inner:   inner,
		counter: counter,
		log:     log,
		daily:   o.DailyBudget,
		quota:   o.Quota,
		now:     o.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_tip_budget_requests_total",
			Help: `TIP requests let through the daily budget, by API key ("-" for requests without one).`,
		}, []string{"key"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_tip_budget_refused_total",
			Help: "Lookups refused because a daily budget was spent: gateway (TIPGATE_TIP_DAILY_BUDGET), key (the API key's tip_daily_budget) or quota (TIP's LicenseInfo).",
		}, []string{"reason"}),
		logged: map[string]struct{}{},
	}
	for _, k := range o.Keys {
		b.remember(k)
	}
	if err := promreg.All(reg, b.requests, b.refused); err != nil {
		return nil, err
	}
	return b, nil
}

// Lookup asks inner unless a budget is spent.
func (b *Budget) Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error) {
	now := b.now().UTC()
	day := now.Format(dayLayout)
	key, _ := apikey.FromContext(ctx)

	if b.quota != nil {
		l, at := b.quota()
		if l != nil && l.DayQuota > 0 && l.DayRequests >= l.DayQuota && at.UTC().Format(dayLayout) == day {
			return nil, b.refuse(ctx, now, "quota", key.Name, fmt.Sprintf(
				"TIP's own daily quota is spent: its LicenseInfo said %d of %d requests were used today (UTC), "+
					"so tipgate does not ask TIP again before midnight UTC", l.DayRequests, l.DayQuota))
		}
	}

	spent, err := b.counter.Take(ctx, day, key.Name, b.daily, key.TIPDailyBudget)
	switch {
	case err != nil:
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("the TIP lookup was abandoned before it was counted against the daily budget: %w", cerr)
		}
		b.counterFailed(ctx, err, now)
	case spent == "key":
		return nil, b.refuse(ctx, now, "key", key.Name, fmt.Sprintf(
			"the API key %q has spent its own daily budget of %d TIP requests (tip_daily_budget in the keys file) "+
				"for %s (UTC); it renews at midnight UTC", key.Name, key.TIPDailyBudget, day))
	case spent != "":
		// "gateway", or a word this code does not know: refusing is the
		// side that cannot overspend.
		return nil, b.refuse(ctx, now, "gateway", key.Name, fmt.Sprintf(
			"tipgate's daily budget of %d TIP requests (TIPGATE_TIP_DAILY_BUDGET) is spent for %s (UTC); "+
				"it renews at midnight UTC", b.daily, day))
	}
	if key.Name != "" {
		b.remember(key.Name)
	}
	b.requests.WithLabelValues(keyLabel(key.Name)).Inc()
	return b.inner.Lookup(ctx, ind, sections, count)
}

// refuse builds the refusal and logs it once per day and budget (the
// gateway's, TIP's quota, or each key's): a spent budget refuses every
// lookup until midnight, and a line each would flood the log.
func (b *Budget) refuse(ctx context.Context, now time.Time, reason, key, detail string) error {
	b.refused.WithLabelValues(reason).Inc()
	day := now.Format(dayLayout)
	b.mu.Lock()
	if b.loggedDay != day {
		clear(b.logged)
		b.loggedDay = day
	}
	once := reason
	if reason == "key" {
		once += "\x00" + key
	}
	_, seen := b.logged[once]
	b.logged[once] = struct{}{}
	b.mu.Unlock()
	if !seen {
		b.log.WarnContext(ctx, "a daily TIP budget is spent; lookups that need TIP are refused until midnight UTC",
			"reason", reason, "key", keyLabel(key), "day", day)
	}
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return &tip.Error{Kind: tip.KindBudgetSpent, Refused: true, RetryAfter: ceilSeconds(next.Sub(now)), Detail: detail}
}

// counterFailed logs a counter failure at most once a minute, with how many
// went unlogged since.
func (b *Budget) counterFailed(ctx context.Context, err error, now time.Time) {
	b.mu.Lock()
	if !b.errLogged.IsZero() && now.Sub(b.errLogged) < time.Minute {
		b.errSkipped++
		b.mu.Unlock()
		return
	}
	skipped := b.errSkipped
	b.errLogged, b.errSkipped = now, 0
	b.mu.Unlock()
	b.log.WarnContext(ctx, "the daily TIP budget could not be counted; letting TIP requests through uncounted",
		"err", err, "unlogged_since_last", skipped)
}

func (b *Budget) remember(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Contains(b.keys, name) {
		b.keys = append(b.keys, name)
	}
}

// Counts reports today's use, for /v1/status: the total, the gateway's
// budget and the count of every key configured or seen. A counter error is
// returned with whatever could be read.
func (b *Budget) Counts(ctx context.Context) (Counts, error) {
	day := b.now().UTC().Format(dayLayout)
	c := Counts{Day: day, Budget: b.daily, Keys: map[string]int{}}
	var errs []error
	total, err := b.counter.Count(ctx, day, "")
	if err != nil {
		errs = append(errs, err)
	}
	c.Total = total
	b.mu.Lock()
	keys := slices.Clone(b.keys)
	b.mu.Unlock()
	for _, k := range keys {
		n, err := b.counter.Count(ctx, day, k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Keys[k] = n
	}
	return c, errors.Join(errs...)
}

// keyLabel is the metric label for a key name: requests made without a key
// (authentication off) are "-", never an empty label.
func keyLabel(name string) string {
	if name == "" {
		return "-"
	}
	return name
}

// LocalCounter is a DayCounter for one process, used with the memory store.
// Only the latest day is kept: a day's counts are dropped once a later day
// is counted. The zero value is ready to use.
type LocalCounter struct {
	mu     sync.Mutex
	latest string
	days   map[string]map[string]int // day -> key ("" = total) -> count
}

// NewLocalCounter returns an empty LocalCounter.
func NewLocalCounter() *LocalCounter { return &LocalCounter{} }

// Take implements DayCounter.
func (c *LocalCounter) Take(_ context.Context, day, key string, limit, keyLimit int) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.day(day)
	if limit > 0 && m[""] >= limit {
		return "gateway", nil
	}
	if key != "" && keyLimit > 0 && m[key] >= keyLimit {
		return "key", nil
	}
	m[""]++
	if key != "" {
		m[key]++
	}
	return "", nil
}

// Count implements DayCounter.
func (c *LocalCounter) Count(_ context.Context, day, key string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.days[day][key], nil
}

// day returns day's counts, dropping every earlier day. Callers hold c.mu.
func (c *LocalCounter) day(day string) map[string]int {
	if c.days == nil {
		c.days = map[string]map[string]int{}
	}
	if day > c.latest {
		c.latest = day
		for d := range c.days {
			if d < day {
				delete(c.days, d)
			}
		}
	}
	m := c.days[day]
	if m == nil {
		m = map[string]int{}
		c.days[day] = m
	}
	return m
}
