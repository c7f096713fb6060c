package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// Integration tests of the upstream path's resilience (issue 5): the
// breaker, stale-on-error, budgets, local indicators, a hung or dead Redis,
// the concurrency bound and write-behind at shutdown. They count TIP
// requests at the simulator and check mechanisms (the breaker's and the
// store guard's states); the few time bounds are seconds against waits of
// seconds, never milliseconds.
//
// On a heavily loaded machine a Redis read can outlast the store guard's
// 250 ms deadline although Redis is fine; the guard then serves from its
// fallback for a moment, and what the test expected of Redis is not there.
// Such a run is "disturbed": a failed check after an outage the test did not
// cause is retried with a new gateway (at most three attempts), never
// passed. A fault that trips the guard every time still fails.

const (
	// waitTimeout bounds every poll in this file.
	waitTimeout = 15 * time.Second
	// breakerOpenSeconds is how long the breaker stays open (upstream's
	// default), the longest Retry-After it may send.
	breakerOpenSeconds = 30
	// secondsPerDay bounds a budget's Retry-After: until the next UTC
	// midnight.
	secondsPerDay = 24 * 60 * 60
	// attempts is how many times a disturbed run is tried.
	attempts = 3
	// unreachableLine is the guard's WARN line when it finds the store down.
	unreachableLine = "cache store unreachable"
)

// checker fails a test, unless the store guard found Redis unreachable more
// often than the test itself made it so: then the run was disturbed and
// check's failure makes retryDisturbed try again.
type checker struct {
	t *testing.T
	g *gateway
	// outages is how many store outages the test caused so far.
	outages int
}

type disturbed struct{ msg string }

func (c *checker) fatalf(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if c.g != nil && c.g.redis != nil && c.g.logLines(unreachableLine) > c.outages {
		panic(disturbed{msg})
	}
	c.t.Fatal(msg)
}

// retryDisturbed runs a test that starts its own gateway, again when a run
// was disturbed.
func retryDisturbed(t *testing.T, run func(c *checker)) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		d, again := func() (d disturbed, again bool) {
			defer func() {
				if r := recover(); r != nil {
					if d, again = r.(disturbed); !again {
						panic(r)
					}
				}
			}()
			run(&checker{t: t})
			return d, false
		}()
		if !again {
			return
		}
		if attempt == attempts {
			t.Fatalf("%s\n(in each of %d attempts the store guard also found Redis unreachable while the test kept it up: "+
				"a machine too loaded for Redis to answer within the guard's deadline, or the guard flapping)", d.msg, attempts)
		}
		t.Logf("attempt %d disturbed (the store guard found Redis unreachable while the test kept it up), trying again: %s", attempt, d.msg)
	}
}

// forEachStoreWith runs fn against both stores, with environment overrides,
// retrying disturbed runs.
func forEachStoreWith(t *testing.T, env map[string]string, fn func(c *checker, g *gateway)) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			retryDisturbed(t, func(c *checker) {
				c.g = startGateway(t, store, env)
				fn(c, c.g)
			})
		})
	}
}

// testKey is one entry of a keys file written by startGatewayWithKeys.
type testKey struct {
	name   string
	roles  []string
	budget int // tip_daily_budget; 0 leaves it out
}

// startGatewayWithKeys runs tipgate with a keys file of the test's own
// instead of startGateway's siem/soar/ops; g.keys then holds these keys.
func startGatewayWithKeys(t *testing.T, store string, env map[string]string, keys []testKey) *gateway {
	t.Helper()
	generated := map[string]string{}
	var entries []apikey.FileEntry
	for _, k := range keys {
		key, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		generated[k.name] = key
		entries = append(entries, apikey.FileEntry{Name: k.name, Key: key, Roles: k.roles, TIPDailyBudget: k.budget})
	}
	raw := apikey.MarshalFile(entries)
	file := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TIPGATE_API_KEYS_FILE": file}
	for k, v := range env {
		vars[k] = v
	}
	g := startGateway(t, store, vars)
	g.keys = generated // also what the no-secrets-in-logs check looks for
	return g
}

// lookupPath is a GET lookup of one section of a domain.
func lookupPath(domain string) string {
	return "/v1/lookup?indicator=" + url.QueryEscape(domain) + "&sections=DomainGeneralInfo"
}

// lookup is gateway.lookup through the checker: a GET with the siem key
// that must answer 200.
func (c *checker) lookup(path string) response {
	c.t.Helper()
	return c.lookupAs(c.g.keys["siem"], path)
}

func (c *checker) lookupAs(key, path string) response {
	c.t.Helper()
	r := c.g.do(http.MethodGet, path, key, nil)
	if r.status != http.StatusOK {
		c.fatalf("GET %s = %d %s", path, r.status, r.raw)
	}
	return r
}

// tipRequestsFor counts the requests TIP received about value.
func (g *gateway) tipRequestsFor(value string) int {
	n := 0
	for _, r := range g.sim.Log() {
		if strings.EqualFold(r.Value, value) {
			n++
		}
	}
	return n
}

// metric reads one unlabelled sample from /metrics.
func (g *gateway) metric(name string) (float64, bool) {
	g.t.Helper()
	r := g.do(http.MethodGet, "/metrics", "", nil)
	sc := bufio.NewScanner(bytes.NewReader(r.raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			g.t.Fatalf("metric %s = %q: %v", name, v, err)
		}
		return f, true
	}
	return 0, false
}

// storeUp is the store guard's tipgate_cache_store_up.
func (g *gateway) storeUp() float64 {
	g.t.Helper()
	v, ok := g.metric("tipgate_cache_store_up")
	if !ok {
		g.t.Fatal("/metrics has no tipgate_cache_store_up")
	}
	return v
}

// tipStatus is the "tip" object of /v1/status, read with key.
func (g *gateway) tipStatus(key string) (map[string]any, []byte) {
	g.t.Helper()
	r := g.do(http.MethodGet, "/v1/status", key, nil)
	if r.status != http.StatusOK {
		g.t.Fatalf("GET /v1/status = %d %s", r.status, r.raw)
	}
	m, _ := r.body["tip"].(map[string]any)
	return m, r.raw
}

// logLines counts the gateway's log lines containing s.
func (g *gateway) logLines(s string) int {
	return strings.Count(g.logs.String(), s)
}

// storedInRedis reports whether every entry a lookup of domain's
// DomainGeneralInfo writes (the section and the Zone) is in Redis, read
// with redistest's own client.
func (g *gateway) storedInRedis(domain string) bool {
	g.t.Helper()
	ind := indicator.Indicator{Type: indicator.Domain, Value: domain}
	ns := lookup.Namespace(g.app.client.BaseURL())
	keys := []string{lookup.Key(ns, ind, "DomainGeneralInfo"), lookup.Key(ns, ind, tip.SectionZone)}
	for _, k := range keys {
		if !strings.HasPrefix(k, "tipgate:v2:") {
			g.t.Fatalf("store key %q does not start with tipgate:v2:", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := g.redis.Client().Exists(ctx, keys...).Result()
	if err != nil {
		g.t.Logf("EXISTS %v: %v", keys, err)
	}
	return err == nil && n == int64(len(keys))
}

// waitFor polls cond until it holds, failing after waitTimeout.
func (c *checker) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStored waits, on the Redis store, for a miss's entries to be written
// behind to Redis.
func (c *checker) waitStored(domain string) {
	c.t.Helper()
	if c.g.redis != nil {
		c.waitFor(domain+" to be written behind to Redis", func() bool { return c.g.storedInRedis(domain) })
	}
}

// wantProblem checks a problem answer: status, type and, when maxRetry > 0,
// a Retry-After of whole seconds from 1 to maxRetry.
func (c *checker) wantProblem(what string, r response, status int, typ string, maxRetry int) {
	c.t.Helper()
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" || r.str("type") != typ || r.str("detail") == "" {
		c.fatalf("%s = %d %s %s, want a %d %s problem", what, r.status, r.header.Get("Content-Type"), r.raw, status, typ)
	}
	if r.header.Get("X-Cache") != "" {
		c.fatalf("%s: a problem with X-Cache %q", what, r.header.Get("X-Cache"))
	}
	if maxRetry > 0 {
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > maxRetry {
			c.fatalf("%s: Retry-After %q, want whole seconds from 1 to %d", what, r.header.Get("Retry-After"), maxRetry)
		}
	}
}

// lookupAll looks up each path at once from its own goroutine and returns
// what failed: transport errors and answers other than 200 with cache want.
func (g *gateway) lookupAll(paths []string, want string) []string {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	for _, p := range paths {
		wg.Go(func() {
			r, err := g.try(http.MethodGet, p, g.keys["siem"], nil)
			msg := ""
			switch {
			case err != nil:
				msg = err.Error()
			case r.status != 200 || (want != "" && r.str("cache") != want):
				msg = fmt.Sprintf("%s = %d %s", p, r.status, r.raw)
			}
			if msg != "" {
				mu.Lock()
				failures = append(failures, msg)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failures
}

// TIP failing for good opens the breaker after 5 failed lookups (each
// retried 3 times); from then on lookups make no TIP request and are
// refused at once with a 503 tip-unavailable and Retry-After, or served
// stale data when there is some, whatever TIP does meanwhile: even a hung
// TIP or one answering after 5 s costs a caller nothing like the 5 s TIP
// timeout.
func TestBreakerOpensAndAnswersWithoutTIP(t *testing.T) {
	forEachStoreWith(t, map[string]string{"TIPGATE_CACHE_TTL": "1s", "TIPGATE_CACHE_TTL_GREY": "1s"}, func(c *checker, g *gateway) {
		// An indicator cached before TIP fails, past its freshness by the
		// time the breaker is open.
		const cached = "red.cached-before.example.com"
		first := c.lookup(lookupPath(cached))
		c.waitStored(cached)
		c.waitFor("the cached copy to go stale", func() bool {
			return c.lookup(lookupPath(cached)+"&cache_only=true").str("cache") == "stale"
		})
		g.sim.Reset()

		g.sim.Inject(tipsim.Fault{Status: 503})
		for i := range 5 {
			d := fmt.Sprintf("red.trip%d.example.com", i)
			r := g.do(http.MethodGet, lookupPath(d), g.keys["siem"], nil)
			c.wantProblem("failing lookup "+d, r, http.StatusBadGateway, "tip-unavailable", 0)
		}
		if got := g.sim.Requests(); got != 15 {
			c.fatalf("TIP requests = %d for 5 failing lookups, want 15 (3 attempts each)", got)
		}
		if st, raw := g.tipStatus(g.keys["ops"]); st["breaker"] != "open" {
			c.fatalf("status after 5 failed lookups = %s, want breaker open", raw)
		}
		if v, ok := g.metric("tipgate_tip_breaker_state"); !ok || v != 2 {
			c.fatalf("tipgate_tip_breaker_state = %v (found %v), want 2 (open)", v, ok)
		}

		// Against TIP's 5 s timeout (TIPGATE_TIP_TIMEOUT in startGateway)
		// and an answer 5 s late, "at once" is anything well under 5 s.
		const bound = 2500 * time.Millisecond
		faults := []struct {
			name  string
			fault tipsim.Fault
		}{
			{"503", tipsim.Fault{Status: 503}},
			{"hang", tipsim.Fault{Hang: true}},
			{"delay 5s", tipsim.Fault{Delay: 5 * time.Second}},
		}
		for i, f := range faults {
			g.sim.ClearFaults()
			g.sim.Inject(f.fault)
			before := g.sim.Requests()
			start := time.Now()
			r := g.do(http.MethodGet, lookupPath(fmt.Sprintf("red.open%d.example.com", i)), g.keys["siem"], nil)
			took := time.Since(start)
			c.wantProblem("lookup with the breaker open, TIP "+f.name, r, http.StatusServiceUnavailable, "tip-unavailable", breakerOpenSeconds)
			if took > bound {
				c.fatalf("TIP %s, breaker open: the lookup took %v, want it refused well before TIP's 5 s (bound %v)", f.name, took, bound)
			}
			if got := g.sim.Requests() - before; got != 0 {
				c.fatalf("TIP %s, breaker open: %d TIP requests, want 0", f.name, got)
			}
		}

		// With the breaker open (TIP still hung), stale data is served at
		// once, saying why.
		before := g.sim.Requests()
		start := time.Now()
		stale := c.lookup(lookupPath(cached))
		if took := time.Since(start); took > bound {
			c.fatalf("stale answer with the breaker open took %v, want well under TIP's 5 s (bound %v)", took, bound)
		}
		if stale.str("cache") != "stale" || stale.header.Get("X-Cache") != "STALE" || stale.str("stale_reason") != "tip-unavailable" || stale.str("received_at") != first.str("received_at") {
			c.fatalf("cached indicator with the breaker open = %s, want the cached copy, stale, reason tip-unavailable", stale.raw)
		}
		if got := g.sim.Requests() - before; got != 0 {
			c.fatalf("stale answer with the breaker open: %d TIP requests, want 0", got)
		}
		g.sim.ClearFaults()
	})
}

// Data past its freshness is served, labelled stale with the problem type
// TIP's failure would have given, when TIP fails; an uncached indicator gets
// that true error, and a refresh never falls back to stale data.
func TestStaleServedWhenTIPFails(t *testing.T) {
	forEachStoreWith(t, map[string]string{"TIPGATE_CACHE_TTL": "1s", "TIPGATE_CACHE_TTL_GREY": "1s"}, func(c *checker, g *gateway) {
		const d = "red.stale.example.com"
		first := c.lookup(lookupPath(d))
		if first.str("cache") != "miss" || first.str("zone") != "Red" {
			c.fatalf("first lookup = %s, want a Red miss", first.raw)
		}
		c.waitStored(d)
		// cache_only shows the entry passing its freshness without asking
		// TIP again.
		c.waitFor("the cached copy to go stale", func() bool {
			r := c.lookup(lookupPath(d) + "&cache_only=true")
			switch r.str("cache") {
			case "hit":
				return false
			case "stale":
				if r.str("stale_reason") != "cache-only" {
					c.fatalf("cache_only past freshness: stale_reason %q, want cache-only", r.str("stale_reason"))
				}
				return true
			}
			c.fatalf("cache_only lookup = %s, want hit or stale", r.raw)
			return false
		})
		if got := g.sim.Requests(); got != 1 {
			c.fatalf("TIP requests = %d before TIP fails, want 1", got)
		}

		g.sim.Inject(tipsim.Fault{Status: 503})
		stale := c.lookup(lookupPath(d))
		if stale.str("cache") != "stale" || stale.header.Get("X-Cache") != "STALE" || stale.str("stale_reason") != "tip-unavailable" {
			c.fatalf("lookup past freshness with TIP failing = %s (X-Cache %q), want stale, reason tip-unavailable", stale.raw, stale.header.Get("X-Cache"))
		}
		if stale.str("received_at") != first.str("received_at") || stale.str("zone") != "Red" {
			c.fatalf("stale answer %s: want the cached copy (received_at %s, Red)", stale.raw, first.str("received_at"))
		}
		if got := g.tipRequestsFor(d); got != 4 {
			c.fatalf("TIP requests about %s = %d, want 4 (the first lookup, then 3 failed attempts)", d, got)
		}

		r := g.do(http.MethodGet, lookupPath("red.nostale.example.com"), g.keys["siem"], nil)
		c.wantProblem("uncached lookup with TIP failing", r, http.StatusBadGateway, "tip-unavailable", 0)

		r = g.do(http.MethodPost, "/v1/refresh", g.keys["soar"], map[string]any{"indicator": d, "sections": []string{"DomainGeneralInfo"}})
		c.wantProblem("refresh of a stale indicator with TIP failing", r, http.StatusBadGateway, "tip-unavailable", 0)
		g.sim.ClearFaults()
	})
}

// A key's own daily TIP budget stops its misses once spent, with a 503
// tip-budget-spent and Retry-After; its hits are still served, other keys
// go on, and /v1/status counts per key.
func TestKeyBudget(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			retryDisturbed(t, func(c *checker) {
				g := startGatewayWithKeys(t, store, nil, []testKey{
					{name: "capped", roles: []string{"lookup"}, budget: 2},
					{name: "free", roles: []string{"lookup"}},
					{name: "ops", roles: []string{"lookup", "refresh", "admin"}},
				})
				c.g = g
				capped, free := g.keys["capped"], g.keys["free"]
				for _, d := range []string{"red.budget1.example.com", "red.budget2.example.com"} {
					if r := c.lookupAs(capped, lookupPath(d)); r.str("cache") != "miss" {
						c.fatalf("capped key's miss %s = %s, want a miss", d, r.raw)
					}
				}
				c.waitStored("red.budget1.example.com")
				r := g.do(http.MethodGet, lookupPath("red.budget3.example.com"), capped, nil)
				c.wantProblem("capped key's 3rd distinct miss", r, http.StatusServiceUnavailable, "tip-budget-spent", secondsPerDay)
				if got := g.sim.Requests(); got != 2 {
					c.fatalf("TIP requests = %d, want 2: the refused miss asks nothing", got)
				}
				if r := c.lookupAs(capped, lookupPath("red.budget1.example.com")); r.str("cache") != "hit" {
					c.fatalf("capped key's hit past its budget = %s, want a hit", r.raw)
				}
				if r := c.lookupAs(free, lookupPath("red.budget3.example.com")); r.str("cache") != "miss" {
					c.fatalf("a key without a budget = %s, want a miss", r.raw)
				}
				if got := g.sim.Requests(); got != 3 {
					c.fatalf("TIP requests = %d, want 3", got)
				}
				st, raw := g.tipStatus(g.keys["ops"])
				budget, _ := st["budget"].(map[string]any)
				keys, _ := budget["keys"].(map[string]any)
				if keys["capped"] != float64(2) || keys["free"] != float64(1) || budget["requests"] != float64(3) {
					c.fatalf("status = %s, want budget.keys capped 2, free 1 and 3 requests", raw)
				}
			})
		})
	}
}

// Once TIP's LicenseInfo says DayRequests >= DayQuota, tipgate asks TIP
// nothing more that day: the next miss is a 503 tip-budget-spent made
// without a request, and hits are still served.
func TestLicenseQuotaSpent(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			retryDisturbed(t, func(c *checker) {
				g := startGatewayWith(t, store, nil, time.Hour, func(o *tipsim.Options) { o.DayQuota = 2 })
				c.g = g
				c.lookup(lookupPath("red.quota1.example.com"))
				c.lookup(lookupPath("red.quota2.example.com"))
				c.waitStored("red.quota1.example.com")
				st, raw := g.tipStatus(g.keys["ops"])
				if quota, _ := st["quota"].(map[string]any); quota["DayRequests"] != float64(2) || quota["DayQuota"] != float64(2) {
					c.fatalf("status = %s, want TIP's LicenseInfo at 2 of 2", raw)
				}
				r := g.do(http.MethodGet, lookupPath("red.quota3.example.com"), g.keys["siem"], nil)
				c.wantProblem("miss with TIP's quota spent", r, http.StatusServiceUnavailable, "tip-budget-spent", secondsPerDay)
				if got := g.sim.Requests(); got != 2 {
					c.fatalf("TIP requests = %d, want 2: nothing is asked once LicenseInfo says the quota is spent", got)
				}
				if hit := c.lookup(lookupPath("red.quota1.example.com")); hit.str("cache") != "hit" {
					c.fatalf("hit with TIP's quota spent = %s", hit.raw)
				}
			})
		})
	}
}

// Private addresses, URLs on them and internal names are answered at once,
// without TIP and without the cache; TIPGATE_LOCAL_NETS=none turns the
// address list off.
func TestLocalIndicatorsNeverReachTIP(t *testing.T) {
	forEachStoreWith(t, nil, func(c *checker, g *gateway) {
		for _, ind := range []string{"10.1.2.3", "http://192.168.0.1/x", "nas.lan"} {
			for range 2 { // the second time too: nothing was cached
				r := c.lookup("/v1/lookup?indicator=" + url.QueryEscape(ind))
				if r.str("cache") != "local" || r.header.Get("X-Cache") != "LOCAL" || r.body["found"] != false || r.str("zone") != "Grey" {
					c.fatalf("%s = %s (X-Cache %q), want local, found false, Grey", ind, r.raw, r.header.Get("X-Cache"))
				}
			}
		}
		if got := g.sim.Requests(); got != 0 {
			c.fatalf("TIP requests = %d for local indicators, want 0", got)
		}
	})
	t.Run("nets none", func(t *testing.T) {
		g := startGateway(t, "memory", map[string]string{"TIPGATE_LOCAL_NETS": "none"})
		r := g.lookup("/v1/lookup?indicator=10.1.2.3")
		if r.str("cache") != "miss" || g.tipRequestsFor("10.1.2.3") != 1 {
			t.Fatalf("10.1.2.3 with TIPGATE_LOCAL_NETS=none = %s, %d TIP requests; want a miss asked of TIP", r.raw, g.tipRequestsFor("10.1.2.3"))
		}
		if r := g.lookup("/v1/lookup?indicator=nas.lan"); r.str("cache") != "local" {
			t.Fatalf("nas.lan with TIPGATE_LOCAL_NETS=none = %s, want local still (a local domain)", r.raw)
		}
	})
}

// A hung (SIGSTOP) and then a dead Redis under load: every lookup is
// answered; once the store guard has seen the outage no lookup touches the
// store (it reports the store down) and a lookup repeated during the outage
// costs one TIP request, answered from the in-process fallback; one WARN
// line per outage; caching in Redis resumes by itself when Redis returns.
func TestRedisPausedThenKilledUnderLoad(t *testing.T) {
	retryDisturbed(t, func(c *checker) {
		g := startGateway(t, "redis", nil)
		c.g = g
		warm := []string{"red.warm0.example.com", "red.warm1.example.com", "red.warm2.example.com"}
		for _, d := range warm {
			c.lookup(lookupPath(d))
		}
		for _, d := range warm {
			c.waitStored(d)
			if r := c.lookup(lookupPath(d)); r.str("cache") != "hit" {
				c.fatalf("warm %s = %s, want hit", d, r.raw)
			}
		}

		phases := []struct {
			name     string
			down, up func()
		}{
			{"paused", g.redis.Pause, g.redis.Resume},
			{"killed", g.redis.Stop, g.redis.Start},
		}
		for _, p := range phases {
			p.down()
			c.outages++

			// Load: a few callers, a bounded number of lookups each, of the
			// warm indicators and new ones. Every one must be answered.
			const callers, each = 4, 10
			mix := append([]string{"red." + p.name + "-load0.example.com", "red." + p.name + "-load1.example.com"}, warm...)
			var paths []string
			for i := range callers * each {
				paths = append(paths, lookupPath(mix[i%len(mix)]))
			}
			before := g.sim.Requests()
			for start := 0; start < len(paths); start += callers {
				if failures := g.lookupAll(paths[start:start+callers], ""); len(failures) > 0 {
					c.fatalf("Redis %s: lookups failed: %s", p.name, strings.Join(failures, "\n"))
				}
			}
			// Without the fallback each of the 40 lookups would ask TIP;
			// with it each indicator is asked about about once: allow a
			// second request for lookups that began before the outage was
			// detected.
			if got := g.sim.Requests() - before; got > int64(2*len(mix)) {
				c.fatalf("Redis %s: %d TIP requests for %d lookups of %d indicators, want at most %d", p.name, got, len(paths), len(mix), 2*len(mix))
			}

			// The mechanism: the guard reports the store down, so lookups go
			// to the fallback without touching Redis.
			c.waitFor("the guard to report the store down", func() bool { return g.storeUp() == 0 })
			ready := g.do(http.MethodGet, "/readyz", "", nil)
			if ready.status != 200 || ready.str("status") != "degraded" {
				c.fatalf("Redis %s: readyz = %d %s, want 200 degraded", p.name, ready.status, ready.raw)
			}

			// A lookup repeated during the outage: the first asks TIP, the
			// others are answered from the in-process fallback. (The first
			// answer is written to the fallback behind the caller's back;
			// cache_only, which never asks TIP, shows when it is there. See
			// TestBugOutageRepeatRacesWriteBehind for repeats that do not
			// wait for it.)
			repeat := "red." + p.name + "-repeat.example.com"
			if r := c.lookup(lookupPath(repeat)); r.str("cache") != "miss" {
				c.fatalf("Redis %s: first lookup of %s = %s, want miss", p.name, repeat, r.raw)
			}
			c.waitFor("the answer in the fallback", func() bool {
				r := g.do(http.MethodGet, lookupPath(repeat)+"&cache_only=true", g.keys["siem"], nil)
				return r.status == 200 && r.str("cache") == "hit"
			})
			for i := range 9 {
				if r := c.lookup(lookupPath(repeat)); r.str("cache") != "hit" {
					c.fatalf("Redis %s: repeat %d of %s = %s, want hit", p.name, i+1, repeat, r.raw)
				}
			}
			if got := g.tipRequestsFor(repeat); got != 1 {
				c.fatalf("Redis %s: a lookup repeated 10 times made %d TIP requests, want 1", p.name, got)
			}
			if got := g.logLines(unreachableLine); got != c.outages {
				c.fatalf("Redis %s: %d %q lines after %d outages, want one per outage:\n%s", p.name, got, unreachableLine, c.outages, g.logs.String())
			}

			p.up()
			c.waitFor("the guard to report the store up", func() bool { return g.storeUp() == 1 })
			after := "red." + p.name + "-after.example.com"
			if r := c.lookup(lookupPath(after)); r.str("cache") != "miss" {
				c.fatalf("Redis back: %s = %s, want miss", after, r.raw)
			}
			c.waitStored(after)
			if got := g.logLines(unreachableLine); got != c.outages {
				c.fatalf("Redis back after %s: %d %q lines, want %d", p.name, got, unreachableLine, c.outages)
			}
			if got := g.logLines("cache store is back"); got != c.outages {
				c.fatalf("Redis back after %s: %d \"cache store is back\" lines, want %d", p.name, got, c.outages)
			}
		}
		// Per state change, not per request: the guard's and the budget
		// counter's line for each outage, and the certificate warning at
		// start, against the 100 lookups made during the outages.
		if got := g.logLines(`"level":"WARN"`) + g.logLines(`"level":"ERROR"`); got > 1+4*len(phases) {
			c.fatalf("%d WARN and ERROR lines for %d outages, want at most %d:\n%s", got, len(phases), 1+4*len(phases), g.logs.String())
		}
	})
}

// TIPGATE_TIP_CONCURRENCY bounds the TIP requests in flight: 10 concurrent
// distinct misses against a slow TIP are all answered, never more than 2
// at TIP at once.
func TestTIPConcurrencyBound(t *testing.T) {
	g := startGateway(t, "memory", map[string]string{"TIPGATE_TIP_CONCURRENCY": "2"})
	g.sim.Inject(tipsim.Fault{Delay: 300 * time.Millisecond})
	const n = 10
	var paths []string
	for i := range n {
		paths = append(paths, lookupPath(fmt.Sprintf("red.bound%d.example.com", i)))
	}
	if failures := g.lookupAll(paths, "miss"); len(failures) > 0 {
		t.Fatalf("lookups failed: %s", strings.Join(failures, "\n"))
	}
	if got := g.sim.Requests(); got != n {
		t.Fatalf("TIP requests = %d, want %d", got, n)
	}
	// 10 callers each holding TIP 300 ms fill both slots; a third never.
	if got := g.sim.MaxConcurrent(); got != 2 {
		t.Fatalf("at most %d TIP requests were in flight at once, want 2 (TIPGATE_TIP_CONCURRENCY)", got)
	}
}

// Answers written behind are in Redis once the gateway has stopped, even
// when it stops right after answering.
func TestWriteBehindDrainsOnShutdown(t *testing.T) {
	retryDisturbed(t, func(c *checker) {
		g := startGateway(t, "redis", nil)
		c.g = g
		const n = 10
		var paths []string
		for i := range n {
			paths = append(paths, lookupPath(fmt.Sprintf("red.drain%d.example.com", i)))
		}
		if failures := g.lookupAll(paths, "miss"); len(failures) > 0 {
			c.fatalf("lookups failed: %s", strings.Join(failures, "\n"))
		}
		g.stopApp()
		var missing []string
		for i := range n {
			if d := fmt.Sprintf("red.drain%d.example.com", i); !g.storedInRedis(d) {
				missing = append(missing, d)
			}
		}
		if len(missing) > 0 {
			c.fatalf("not in Redis after shutdown (the write behind was not drained): %v", missing)
		}
	})
}

// Regressions of two races with the write behind, found by these tests: on
// it, each failed with high probability (a few percent of back-to-back
// pairs, and they try hundreds). Fixed by letting a process read its own
// writes still waiting to be stored (cache.Writer.Pending).

// During a Redis outage a lookup repeated right after its miss is a hit:
// the miss's entries reach the in-process fallback through the write-behind
// queue, after the answer, and with coord down no lock makes the repeat
// wait, so the process must see its own pending writes.
func TestOutageRepeatSeesItsOwnWriteBehind(t *testing.T) {
	g := startGateway(t, "redis", nil)
	g.lookup(lookupPath("red.before-outage.example.com"))
	g.redis.Stop()
	g.lookup(lookupPath("red.detects-outage.example.com"))
	c := &checker{t: t, g: g, outages: 1}
	c.waitFor("the guard to report the store down", func() bool { return g.storeUp() == 0 })
	// Other callers' misses keep the write-behind workers busy, as under
	// load, which widens the window.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = g.try(http.MethodGet, lookupPath(fmt.Sprintf("red.outage-noise%d-%d.example.com", w, i)), g.keys["siem"], nil)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	const pairs = 200
	var twice []string
	for i := range pairs {
		d := fmt.Sprintf("red.outage-pair%d.example.com", i)
		g.lookup(lookupPath(d))
		g.lookup(lookupPath(d))
		if g.tipRequestsFor(d) != 1 {
			twice = append(twice, d)
		}
	}
	if len(twice) > 0 {
		t.Fatalf("during the outage %d of %d lookups repeated at once asked TIP again: %v", len(twice), pairs, twice)
	}
}

// With Redis up, a lookup of a subset of the sections a miss just fetched
// is a hit: the miss's entries may still be being written behind, and the
// fetch lock the subset lookup would wait on is keyed by its own section
// list, not the miss's.
func TestSubsetAfterMissSeesItsOwnWriteBehind(t *testing.T) {
	retryDisturbed(t, func(c *checker) {
		g := startGateway(t, "redis", nil)
		c.g = g
		var again []string
		for i := range 200 {
			d := fmt.Sprintf("red.subset%d.example.com", i)
			c.lookup("/v1/lookup?indicator=" + d + "&sections=DomainGeneralInfo,DomainDnsResolutions")
			c.lookup(lookupPath(d))
			if g.tipRequestsFor(d) != 1 {
				again = append(again, d)
			}
		}
		if len(again) > 0 {
			c.fatalf("%d of 200 subset lookups right after a miss asked TIP again: %v", len(again), again)
		}
	})
}
