package app

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tipsim"
)

// batchResults reads a batch's results, failing the test unless it was
// answered 200.
func batchResults(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("batch = %d %s", r.status, r.raw)
	}
	list, _ := r.body["results"].([]any)
	out := make([]map[string]any, len(list))
	for i, it := range list {
		out[i], _ = it.(map[string]any)
	}
	return out
}

func problemOf(item map[string]any) (typ string, status float64) {
	p, _ := item["error"].(map[string]any)
	typ, _ = p["type"].(string)
	status, _ = p["status"].(float64)
	return typ, status
}

// requestsFor counts the TIP requests the simulator logged for value.
func (g *gateway) requestsFor(value string) int {
	n := 0
	for _, r := range g.sim.Log() {
		if r.Value == value {
			n++
		}
	}
	return n
}

// TestBatch: a batch of valid, invalid, duplicate and equivalent items, a
// cached one and a local one answers in input order and asks TIP once per
// distinct miss; the same batch again asks TIP nothing.
func TestBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		g.lookup("/v1/lookup?indicator=red.example.com")
		if got := g.sim.Requests(); got != 1 {
			t.Fatalf("TIP requests after warming = %d, want 1", got)
		}
		body := map[string]any{"indicators": []any{
			"red.example.com",
			"Green.Example.COM.",
			"not an indicator",
			map[string]any{"indicator": "3935AAE80FAF8D03781C2D611A4E183F", "type": "hash"},
			"green[.]example[.]com",
			map[string]any{"indicator": "example.com", "type": "ip"},
			"3935aae80faf8d03781c2d611a4e183f",
			"10.1.2.3",
			"orange.example.net",
			"  green.example.com  ",
		}}
		want := []struct{ input, indicator, cache, problem string }{
			{"red.example.com", "red.example.com", "hit", ""},
			{"Green.Example.COM.", "green.example.com", "miss", ""},
			{"not an indicator", "not an indicator", "", "invalid-request"},
			{"3935AAE80FAF8D03781C2D611A4E183F", "3935aae80faf8d03781c2d611a4e183f", "miss", ""},
			{"green[.]example[.]com", "green.example.com", "miss", ""},
			{"example.com", "example.com", "", "invalid-request"},
			{"3935aae80faf8d03781c2d611a4e183f", "3935aae80faf8d03781c2d611a4e183f", "miss", ""},
			{"10.1.2.3", "10.1.2.3", "local", ""},
			{"orange.example.net", "orange.example.net", "miss", ""},
			{"  green.example.com  ", "green.example.com", "miss", ""},
		}
		check := func(items []map[string]any, again bool) {
			t.Helper()
			if len(items) != len(want) {
				t.Fatalf("%d results for %d indicators", len(items), len(want))
			}
			for i, w := range want {
				it := items[i]
				if it["input"] != w.input || it["indicator"] != w.indicator {
					t.Errorf("result %d: input %v, indicator %v; want %q, %q", i, it["input"], it["indicator"], w.input, w.indicator)
				}
				if w.problem != "" {
					if typ, status := problemOf(it); typ != w.problem || status != 400 {
						t.Errorf("result %d: problem %s %v, want %s 400", i, typ, status, w.problem)
					}
					continue
				}
				cache := w.cache
				if again && cache == "miss" {
					cache = "hit"
				}
				if it["cache"] != cache || it["error"] != nil {
					t.Errorf("result %d: cache %v (%v), want %s", i, it["cache"], it["error"], cache)
				}
			}
		}
		check(batchResults(t, g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], body)), false)
		// green, the hash and orange: one request each, whatever the
		// spellings and repeats.
		if got := g.sim.Requests(); got != 4 {
			t.Errorf("TIP requests = %d, want 4 (the warm-up and one per distinct miss)", got)
		}
		for _, v := range []string{"green.example.com", "3935aae80faf8d03781c2d611a4e183f", "orange.example.net"} {
			if n := g.requestsFor(v); n != 1 {
				t.Errorf("TIP was asked about %s %d times, want 1", v, n)
			}
		}
		check(batchResults(t, g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], body)), true)
		if got := g.sim.Requests(); got != 4 {
			t.Errorf("TIP requests after the same batch again = %d, want still 4", got)
		}
	})
}

func TestBatchLimitAndRole(t *testing.T) {
	g := startGateway(t, "memory", nil)
	many := make([]string, 1001)
	for i := range many {
		many[i] = "red.example.com"
	}
	r := g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], map[string]any{"indicators": many})
	if r.status != http.StatusRequestEntityTooLarge || r.str("type") != "payload-too-large" {
		t.Errorf("1001 indicators = %d %s, want a 413 problem", r.status, r.raw)
	}
	items := batchResults(t, g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], map[string]any{"indicators": many[:1000]}))
	if len(items) != 1000 || items[999]["cache"] != "miss" {
		t.Errorf("1000 indicators: %d results, the last %v", len(items), items[len(items)-1])
	}
	if got := g.sim.Requests(); got != 1 {
		t.Errorf("TIP requests = %d, want 1 (none for the refused batch, one for a thousand repeats)", got)
	}
	if r := g.do(http.MethodPost, "/v1/lookup/batch", "", map[string]any{"indicators": many[:1]}); r.status != http.StatusUnauthorized {
		t.Errorf("no key = %d, want 401", r.status)
	}
}

// TestBatchSlowTIPAndShortDeadline: with TIP hanging on one item, the batch
// answers at its deadline with the finished items and a timeout problem
// for the hung one.
func TestBatchSlowTIPAndShortDeadline(t *testing.T) {
	g := startGateway(t, "memory", map[string]string{"TIPGATE_REQUEST_TIMEOUT": "1s"})
	g.lookup("/v1/lookup?indicator=red.example.com")
	g.sim.Inject(tipsim.Fault{Hang: true, Value: "slow.example.com"})
	t.Cleanup(g.sim.ClearFaults)

	body := map[string]any{"indicators": []string{"red.example.com", "slow.example.com", "green.example.org"}}
	items := batchResults(t, g.do(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], body))
	if items[0]["cache"] != "hit" || items[2]["cache"] != "miss" {
		t.Errorf("finished items = %v, %v; want a hit and a miss", items[0], items[2])
	}
	if typ, status := problemOf(items[1]); typ != "timeout" || status != 504 || items[1]["input"] != "slow.example.com" {
		t.Errorf("hung item = %v, want a timeout problem with status 504", items[1])
	}
	if n := g.requestsFor("red.example.com"); n != 1 {
		t.Errorf("TIP asked about the cached item %d times, want 1 (the warm-up)", n)
	}
	if n := g.requestsFor("green.example.org"); n != 1 {
		t.Errorf("TIP asked about the fast item %d times, want 1", n)
	}
}

// TestBatchLeavesSlotsForSingleLookups: with two TIP request slots and TIP
// hanging on a batch's items, the batch holds one slot and a single lookup
// is answered meanwhile.
func TestBatchLeavesSlotsForSingleLookups(t *testing.T) {
	g := startGateway(t, "memory", map[string]string{"TIPGATE_TIP_CONCURRENCY": "2", "TIPGATE_REQUEST_TIMEOUT": "3s"})
	hung := []string{"hung1.example.com", "hung2.example.com", "hung3.example.com"}
	for _, v := range hung {
		g.sim.Inject(tipsim.Fault{Hang: true, Value: v})
	}
	t.Cleanup(g.sim.ClearFaults)

	var wg sync.WaitGroup
	var batch response
	var batchErr error
	wg.Go(func() {
		batch, batchErr = g.try(http.MethodPost, "/v1/lookup/batch", g.keys["siem"], map[string]any{"indicators": hung})
	})
	deadline := time.Now().Add(5 * time.Second)
	for g.sim.Requests() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a second bulk request to show up
	if got := g.sim.Requests(); got != 1 {
		t.Fatalf("TIP requests in flight for the batch = %d, want 1 (half of 2 slots)", got)
	}
	single := g.lookup("/v1/lookup?indicator=single.example.com")
	if single.str("cache") != "miss" {
		t.Errorf("single lookup = %s", single.raw)
	}
	wg.Wait()
	if batchErr != nil {
		t.Fatal(batchErr)
	}
	for i, it := range batchResults(t, batch) {
		if typ, status := problemOf(it); typ != "timeout" || status != 504 {
			t.Errorf("hung item %d = %v, want a timeout problem", i, it)
		}
	}
}
