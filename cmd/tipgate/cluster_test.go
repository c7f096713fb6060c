package main

// Process-level tests of several tipgate replicas sharing one Redis: the
// built binary, run as an operator runs it (configured by environment,
// against the simulator over mTLS), several at once on a throwaway
// redis-server. They prove what only a cluster can show: one TIP request per
// question across replicas, a dead lock holder replaced, one daily budget,
// and store keys that say which upstream filled them.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/coord"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// Metric names the tests read from each replica's /metrics.
const (
	metricCoalesced = "tipgate_tip_coalesced_total"  // callers that joined a flight in their process
	metricLockWaits = "tipgate_tip_lock_waits_total" // flights that waited on another's fetch lock
)

// degraded reports whether r logged a warning from its store or its
// coordination: Redis did not answer within tipgate's own short deadlines,
// and by design the replica then stopped coordinating through it for a
// moment.
func (r *replica) degraded() bool {
	for line := range strings.Lines(r.stderr.String()) {
		var l struct{ Level, Component string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "WARN" && (l.Component == "store" || l.Component == "coord") {
			return true
		}
	}
	return false
}

// verdict collects a test's failed checks of coordination through Redis.
// Those checks hold only while Redis answers each replica within
// tipgate's deadlines (250 ms a call); on a machine loaded enough that
// it did not, the replicas fell back, as designed, to working alone, and
// the counts prove nothing either way: the test is skipped, saying so,
// rather than failed.
type verdict struct {
	t        *testing.T
	rs       []*replica
	fails    []string
	reported bool
}

func (v *verdict) errorf(format string, args ...any) {
	v.fails = append(v.fails, fmt.Sprintf(format, args...))
}

// fatalf records a failure and ends the test with the verdict.
func (v *verdict) fatalf(format string, args ...any) {
	v.t.Helper()
	v.errorf(format, args...)
	v.done()
	v.t.FailNow()
}

// done reports the failures, or skips the test when a replica had to work
// without Redis.
func (v *verdict) done() {
	v.t.Helper()
	if len(v.fails) == 0 || v.reported {
		return
	}
	v.reported = true
	var slow []string
	for _, r := range v.rs {
		if r.degraded() {
			slow = append(slow, r.name)
		}
	}
	if len(slow) > 0 {
		v.t.Skipf("replicas %v found Redis too slow on this loaded machine and worked without it for a while, as designed, so these checks prove nothing:\n%s", slow, strings.Join(v.fails, "\n"))
	}
	for _, f := range v.fails {
		v.t.Error(f)
	}
}

// answer is one lookup's outcome as a caller sees it.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
	at     time.Time // when the answer arrived

	Cache      string                     `json:"cache"`
	ReceivedAt string                     `json:"received_at"`
	Limit      int                        `json:"limit"`
	Sections   map[string]json.RawMessage `json:"sections"`
	Type       string                     `json:"type"` // of a problem
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	body := a.body
	if len(body) > 400 {
		body = append(body[:400:400], "…"...)
	}
	return fmt.Sprintf("%d %s", a.status, body)
}

// records is how many items a list section of the answer holds.
func (a answer) records(section string) (int, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(a.Sections[section], &items); err != nil {
		return 0, fmt.Errorf("section %s is not a list: %v", section, err)
	}
	return len(items), nil
}

// lookup asks replica r with the cluster's key. It never fails the test, so
// that goroutines may call it; the answer carries any error.
func (c *fixture) lookup(r *replica, params url.Values) answer {
	req, err := http.NewRequest(http.MethodGet, r.base+"/v1/lookup?"+params.Encode(), nil)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.client.Do(req)
	if err != nil {
		return answer{err: fmt.Errorf("lookup on %s: %w", r.name, err), at: time.Now()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: body, err: err, at: time.Now()}
	if err == nil {
		if jerr := json.Unmarshal(body, &a); jerr != nil {
			a.err = fmt.Errorf("lookup on %s: answer is not JSON: %v: %s", r.name, jerr, body)
		}
	}
	return a
}

// metric returns the sum of every series of the metric name on r's
// /metrics (0 when it has none yet).
func (c *fixture) metric(r *replica, name string) (float64, error) {
	resp, err := c.client.Get(r.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics on %s: status %d", r.name, resp.StatusCode)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric whose name starts with this one
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			return 0, fmt.Errorf("/metrics on %s: no value in %q", r.name, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("/metrics on %s: %q: %v", r.name, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// mustMetric is metric for the test's own goroutine.
func (c *fixture) mustMetric(r *replica, name string) float64 {
	c.t.Helper()
	v, err := c.metric(r, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// parked is how many callers are accounted for: joined a flight in their
// process, or started one that waits on another's fetch lock, or started
// one that reached TIP (the gate). While TIP's answer is held, a caller
// counts once and only once.
func (c *fixture) parked(tip *tipServer, rs ...*replica) (int, error) {
	n := int(tip.arrived.Load())
	for _, r := range rs {
		for _, m := range []string{metricCoalesced, metricLockWaits} {
			v, err := c.metric(r, m)
			if err != nil {
				return 0, err
			}
			n += int(v)
		}
	}
	return n, nil
}

func indicatorQuery(ind string, kv ...string) url.Values {
	v := url.Values{"indicator": {ind}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestClusterColdBurstMakesOneTIPRequest: 200 identical cold lookups at once
// over three replicas sharing one Redis cost one TIP request, and every
// caller gets that one answer. TIP's answer is held until every caller is
// parked, so the overlap is certain rather than likely.
func TestClusterColdBurstMakesOneTIPRequest(t *testing.T) {
	c := newCluster(t)
	tip := startTIP(t, tipsim.Options{}, holdAll)
	rs := []*replica{c.start("A", tip), c.start("B", tip), c.start("C", tip)}
	v := &verdict{t: t, rs: rs}
	defer v.done()

	const callers = 200
	q := indicatorQuery("red.burst.example.com")
	answers := make([]answer, callers)
	var wg sync.WaitGroup
	burst := time.Now()
	for i := range callers {
		wg.Go(func() { answers[i] = c.lookup(rs[i%len(rs)], q) })
	}
	eventually(t, "every caller parked on a flight or a lock", func() (bool, error) {
		n, err := c.parked(tip, rs...)
		return n >= callers, err
	})
	opened := time.Now()
	tip.Open()
	waitGroup(t, &wg)

	if got := tip.sim.Requests(); got != 1 {
		v.errorf("TIP requests = %d, want 1 for %d identical lookups over %d replicas", got, callers, len(rs))
	}
	var last time.Time
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusOK {
			v.fatalf("caller %d: %v", i, a)
		}
		if a.ReceivedAt == "" || a.ReceivedAt != answers[0].ReceivedAt {
			v.errorf("caller %d: received_at %q, caller 0 %q: not one TIP answer", i, a.ReceivedAt, answers[0].ReceivedAt)
		}
		if a.at.After(last) {
			last = a.at
		}
	}
	// Two replicas did not hold the lock: each had one flight that waited on
	// it, every other caller joined a flight in its own process.
	waited := 0
	for _, r := range rs {
		switch w := c.mustMetric(r, metricLockWaits); w {
		case 0:
		case 1:
			waited++
		default:
			v.errorf("replica %s: %s = %v, want 0 or 1", r.name, metricLockWaits, w)
		}
	}
	if waited != len(rs)-1 {
		v.errorf("%d replicas waited on the fetch lock, want %d (all but the holder)", waited, len(rs)-1)
	}
	// The waiters were woken by the release notification, not by the lock's
	// expiry. The lock was taken after the burst began and lives
	// coord.DefaultLockTTL (renewal only pushes that later), so a waiter
	// relying on expiry could not have answered before burst+TTL. This is
	// not a latency assertion: TIP is held only until all callers are
	// parked, and once released the answers take milliseconds, a bound
	// seconds clear of any scheduling noise. If parking alone took so long
	// that the margin is gone, the check proves nothing and is only logged.
	ttl := coord.DefaultLockTTL
	t.Logf("parked after %v, last answer %v after release", opened.Sub(burst).Round(time.Millisecond), last.Sub(opened).Round(time.Millisecond))
	switch {
	case opened.Sub(burst) > ttl-2*time.Second:
		t.Logf("parking took %v, too close to the lock TTL %v to tell a notification from expiry", opened.Sub(burst), ttl)
	case !last.Before(burst.Add(ttl)):
		v.errorf("the last caller answered %v after the burst began, not before the lock TTL %v: waiters were woken by expiry, not by the release", last.Sub(burst), ttl)
	}
}

// TestClusterLockHolderKilledMidFetch: the replica holding the fetch lock
// is killed while TIP is answering it; the lock expires, a waiting replica
// fetches, and every caller on the surviving replicas is answered.
func TestClusterLockHolderKilledMidFetch(t *testing.T) {
	c := newCluster(t)
	tip := startTIP(t, tipsim.Options{}, nil)
	a, b, cc := c.start("A", tip), c.start("B", tip), c.start("C", tip)
	v := &verdict{t: t, rs: []*replica{a, b, cc}}
	defer v.done()

	tip.sim.Inject(tipsim.Fault{Hang: true, Times: 1})
	q := indicatorQuery("red.holder.example.com")
	holder := make(chan answer, 1)
	go func() { holder <- c.lookup(a, q) }()
	eventually(t, "A's fetch reached TIP", func() (bool, error) { return tip.sim.Requests() == 1, nil })

	const perReplica = 5
	survivors := []*replica{b, cc}
	answers := make([]answer, perReplica*len(survivors))
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { answers[i] = c.lookup(survivors[i%len(survivors)], q) })
	}
	eventually(t, "B's and C's callers parked behind A's lock", func() (bool, error) {
		for _, r := range survivors {
			w, err := c.metric(r, metricLockWaits)
			if err != nil || w < 1 {
				return false, err
			}
			j, err := c.metric(r, metricCoalesced)
			if err != nil || j < perReplica-1 {
				return false, err
			}
		}
		return true, nil
	})
	killed := time.Now()
	a.kill()
	if h := <-holder; h.err == nil {
		v.errorf("the caller on the killed replica got an answer: %v", h)
	}
	waitGroup(t, &wg)

	for i, ans := range answers {
		if ans.err != nil || ans.status != http.StatusOK {
			v.fatalf("caller %d on %s: %v", i, survivors[i%len(survivors)].name, ans)
		}
		if ans.ReceivedAt != answers[0].ReceivedAt {
			v.errorf("caller %d: received_at %q, caller 0 %q: not one TIP answer", i, ans.ReceivedAt, answers[0].ReceivedAt)
		}
	}
	if got := tip.sim.Requests(); got != 2 {
		v.errorf("TIP requests = %d, want 2 (the killed holder's and one waiter's)", got)
	}
	t.Logf("survivors answered %v after the kill (lock TTL %v)", time.Since(killed).Round(time.Millisecond), coord.DefaultLockTTL)
}

// TestClusterLimitsCoalesce: limits 5, 10 and 1000 at once for one list
// section, spread over three replicas, cost at most two TIP requests, and
// each caller gets as many records as it asked for, or all there are.
func TestClusterLimitsCoalesce(t *testing.T) {
	c := newCluster(t)
	available := limitsRecords(t)
	if available <= 10 {
		t.Fatalf("the simulator has %d %s records for %s; the test needs more than 10", available, limitsSection, limitsInd)
	}
	tip := startTIP(t, tipsim.Options{}, holdAll)
	rs := []*replica{c.start("A", tip), c.start("B", tip), c.start("C", tip)}
	v := &verdict{t: t, rs: rs}
	defer v.done()

	limits := []int{5, 10, 1000}
	const each = 3 // callers per limit per replica
	type call struct {
		r     *replica
		limit int
	}
	var calls []call
	for range each {
		for _, r := range rs {
			for _, l := range limits {
				calls = append(calls, call{r, l})
			}
		}
	}
	answers := make([]answer, len(calls))
	var wg sync.WaitGroup
	for i, cl := range calls {
		wg.Go(func() {
			answers[i] = c.lookup(cl.r, indicatorQuery(limitsInd, "sections", limitsSection, "limit", strconv.Itoa(cl.limit)))
		})
	}
	eventually(t, "every caller parked on a flight or a lock", func() (bool, error) {
		n, err := c.parked(tip, rs...)
		return n >= len(calls), err
	})
	tip.Open()
	waitGroup(t, &wg)

	if got := tip.sim.Requests(); got > 2 {
		v.errorf("TIP requests = %d, want at most 2 for limits %v at once", got, limits)
	}
	for i, a := range answers {
		cl := calls[i]
		if a.err != nil || a.status != http.StatusOK {
			v.fatalf("limit %d on %s: %v", cl.limit, cl.r.name, a)
		}
		n, err := a.records(limitsSection)
		if err != nil {
			v.fatalf("limit %d on %s: %v: %s", cl.limit, cl.r.name, err, a.body)
		}
		if want := min(cl.limit, available); n != want {
			v.errorf("limit %d on %s: %d records, want %d (%d available)", cl.limit, cl.r.name, n, want, available)
		}
	}
}

// TestClusterLimitsSmallerAnswerLast: when the small fetch of a 5-and-1000
// pair answers after the covering 1000 fetch has been stored, the store
// keeps the larger answer, so a later lookup at 1000 is a hit: the pair
// cost two TIP requests, not three.
func TestClusterLimitsSmallerAnswerLast(t *testing.T) {
	c := newCluster(t)
	available := limitsRecords(t)
	// Hold only the small fetch, so that it answers last.
	tip := startTIP(t, tipsim.Options{}, func(r *http.Request) bool { return r.URL.Query().Get("count") == "5" })
	a, b := c.start("A", tip), c.start("B", tip)
	v := &verdict{t: t, rs: []*replica{a, b}}
	defer v.done()

	query := func(limit int) url.Values {
		return indicatorQuery(limitsInd, "sections", limitsSection, "limit", strconv.Itoa(limit))
	}
	small := make(chan answer, 1)
	go func() { small <- c.lookup(a, query(5)) }()
	eventually(t, "the limit-5 fetch held at TIP", func() (bool, error) { return tip.arrived.Load() == 1, nil })
	if ans := c.lookup(b, query(1000)); ans.err != nil || ans.status != http.StatusOK {
		v.fatalf("limit 1000 on B: %v", ans)
	} else if n, _ := ans.records(limitsSection); n != available {
		v.fatalf("limit 1000 on B: %d records, want %d", n, available)
	}
	tip.Open()
	if ans := <-small; ans.err != nil || ans.status != http.StatusOK {
		v.fatalf("limit 5 on A: %v", ans)
	}
	// A gives up its fetch lock only once its answer is stored.
	eventually(t, "every fetch lock released", func() (bool, error) {
		keys, err := c.redis.Client().Keys(context.Background(), "tipgate:*:lock:*").Result()
		return err == nil && len(keys) == 0, err
	})
	for _, r := range []*replica{a, b} {
		ans := c.lookup(r, query(1000))
		if ans.err != nil || ans.status != http.StatusOK {
			v.fatalf("later limit 1000 on %s: %v", r.name, ans)
		}
		if n, _ := ans.records(limitsSection); n != available || ans.Cache != "hit" {
			v.errorf("later limit 1000 on %s: %d records, cache %q; want %d, hit", r.name, n, ans.Cache, available)
		}
	}
	if got := tip.sim.Requests(); got != 2 {
		v.errorf("TIP requests = %d, want 2", got)
	}
}

// The indicator and the list section of the limits tests.
const (
	limitsInd     = "red.limits2.example.com"
	limitsSection = "DomainDnsResolutions"
)

// limitsRecords is how many limitsSection records the simulator has for
// limitsInd.
func limitsRecords(t *testing.T) int {
	t.Helper()
	return simRecords(t, "domain", limitsInd, limitsSection)
}

// simRecords is how many records the simulator has for a list section, at
// the most a caller may ask for, asked of a simulator of its own (token
// mode, in process) so that the test's TIP counts nothing.
func simRecords(t *testing.T, typ, ind, section string) int {
	t.Helper()
	const token = "reference"
	ref := tipsim.New(tipsim.Options{Token: token})
	req := httptest.NewRequest(http.MethodGet, "/api/"+typ+"/"+url.PathEscape(ind)+"?sections="+section+"&count=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	ref.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("reference simulator: %d %s", rec.Code, rec.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw[section], &items); err != nil {
		t.Fatalf("reference simulator: %s is not a list: %s", section, raw[section])
	}
	return len(items)
}

// TestClusterDailyBudgetAcrossReplicas: a daily budget of 3 holds across two
// replicas: three distinct misses, alternating, are answered; the fourth is
// refused without asking TIP, with Retry-After at the next UTC midnight;
// what is cached is still served.
func TestClusterDailyBudgetAcrossReplicas(t *testing.T) {
	c := newFixture(t)
	t.Parallel()
	skipNearUTCMidnight(t)
	c.withRedis()
	tip := startTIP(t, tipsim.Options{}, nil)
	rs := []*replica{c.start("A", tip, "TIPGATE_TIP_DAILY_BUDGET=3"), c.start("B", tip, "TIPGATE_TIP_DAILY_BUDGET=3")}
	v := &verdict{t: t, rs: rs}
	defer v.done()

	for i := range 3 {
		r := rs[i%2]
		a := c.lookup(r, indicatorQuery(fmt.Sprintf("red.budget%d.example.com", i)))
		if a.err != nil || a.status != http.StatusOK || a.Cache != "miss" {
			v.fatalf("miss %d on %s: %v", i+1, r.name, a)
		}
	}
	for _, r := range []*replica{rs[1], rs[0]} {
		checkBudgetSpent(v, c, r, indicatorQuery("red.budget3.example.com"))
	}
	// A hit costs no budget: the first indicator, asked of the other replica.
	a := c.lookup(rs[1], indicatorQuery("red.budget0.example.com"))
	if a.err != nil || a.status != http.StatusOK || a.Cache != "hit" {
		v.errorf("repeat of the first indicator on B: %v, want a 200 hit", a)
	}
	if got := tip.sim.Requests(); got != 3 {
		v.errorf("TIP requests = %d, want 3 (the budget)", got)
	}
	for _, r := range rs {
		r.stop(t)
	}
}

// TestClusterBudgetCountsRequestsMadeDuringOutage: the TIP requests a
// replica counted in memory while Redis was unreachable still count
// against the shared daily budget once Redis is back.
func TestClusterBudgetCountsRequestsMadeDuringOutage(t *testing.T) {
	c := newFixture(t)
	t.Parallel()
	skipNearUTCMidnight(t)
	c.withRedis()
	tip := startTIP(t, tipsim.Options{}, nil)
	a, b := c.start("A", tip, "TIPGATE_TIP_DAILY_BUDGET=3"), c.start("B", tip, "TIPGATE_TIP_DAILY_BUDGET=3")

	miss := func(r *replica, i int) {
		t.Helper()
		ans := c.lookup(r, indicatorQuery(fmt.Sprintf("red.outage%d.example.com", i)))
		if ans.err != nil || ans.status != http.StatusOK {
			t.Fatalf("miss %d on %s: %v", i+1, r.name, ans)
		}
	}
	miss(a, 0)
	// Redis hangs (this test's own redis-server, frozen): B's miss is
	// counted in B's memory only.
	c.redis.Pause()
	miss(b, 1)
	c.redis.Resume()
	eventually(t, "B's store back up", func() (bool, error) {
		up, err := c.metric(b, "tipgate_cache_store_up")
		return up == 1, err
	})
	miss(a, 2)
	if got := tip.sim.Requests(); got != 3 {
		t.Fatalf("TIP requests = %d, want 3 before the budget is spent", got)
	}
	v := &verdict{t: t} // the outage is the point here: no skip for it
	defer v.done()
	checkBudgetSpent(v, c, b, indicatorQuery("red.outage3.example.com"))
	if got := tip.sim.Requests(); got != 3 {
		v.errorf("TIP requests = %d, want 3 (the budget)", got)
	}
}

// checkBudgetSpent asks r a new question with the daily budget spent: a 503
// tip-budget-spent problem with Retry-After at the next UTC midnight.
func checkBudgetSpent(v *verdict, c *fixture, r *replica, q url.Values) {
	v.t.Helper()
	before := time.Now()
	a := c.lookup(r, q)
	if a.status != http.StatusServiceUnavailable || a.Type != "tip-budget-spent" {
		v.fatalf("new indicator on %s with the budget spent: %v, want a 503 tip-budget-spent problem", r.name, a)
	}
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || ra <= 0 {
		v.fatalf("new indicator on %s with the budget spent: Retry-After %q, want seconds > 0", r.name, a.header.Get("Retry-After"))
	}
	// Seconds until the next UTC midnight, rounded up by the server; a few
	// seconds either way for the time the request took.
	lo, hi := untilUTCMidnight(a.at)-2*time.Second, untilUTCMidnight(before)+2*time.Second
	if got := time.Duration(ra) * time.Second; got < lo || got > hi {
		v.errorf("new indicator on %s with the budget spent: Retry-After %ds, want the time to the next UTC midnight (%v..%v)", r.name, ra, lo, hi)
	}
}

// skipNearUTCMidnight skips a budget test that could see the budget's day
// change under it.
func skipNearUTCMidnight(t *testing.T) {
	t.Helper()
	if left := untilUTCMidnight(time.Now()); left < time.Minute {
		t.Skipf("%v before UTC midnight: the budget's day would change during the test", left)
	}
}

func untilUTCMidnight(now time.Time) time.Duration {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
}

// TestClusterNamespacePerUpstream: two gateways on the same Redis database
// but different TIP URLs never serve each other's entries.
func TestClusterNamespacePerUpstream(t *testing.T) {
	c := newCluster(t)
	s1 := startTIP(t, tipsim.Options{}, nil)
	s2 := startTIP(t, tipsim.Options{}, nil)
	a, b := c.start("A", s1), c.start("B", s2)
	v := &verdict{t: t, rs: []*replica{a, b}}
	defer v.done()

	q := indicatorQuery("red.namespace.example.com")
	if ans := c.lookup(a, q); ans.err != nil || ans.status != http.StatusOK || ans.Cache != "miss" {
		v.fatalf("first lookup on A: %v", ans)
	}
	// A's entry is in Redis: A itself now hits it.
	if ans := c.lookup(a, q); ans.err != nil || ans.status != http.StatusOK || ans.Cache != "hit" {
		v.fatalf("repeat on A: %v, want a hit", ans)
	}
	ans := c.lookup(b, q)
	if ans.err != nil || ans.status != http.StatusOK || ans.Cache != "miss" {
		v.errorf("lookup on B (other TIP URL, same Redis DB): %v, want a miss", ans)
	}
	if got := s2.sim.Requests(); got != 1 {
		v.errorf("S2 requests = %d, want 1: B must ask its own TIP", got)
	}
	if got := s1.sim.Requests(); got != 1 {
		v.errorf("S1 requests = %d, want 1", got)
	}
	for _, r := range []*replica{a, b} {
		r.stop(t)
	}
}

// waitGroup waits for wg, bounded.
func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * clusterWait):
		t.Fatalf("callers still waiting after %v", 2*clusterWait)
	}
}
