package app

import (
	"testing"
	"time"
)

// TestPinGreyTTLReachesLookup pins the wiring of TIPGATE_CACHE_TTL_GREY
// into the lookup service (before issue 5 rewires app.New): with a 1 s Grey
// TTL a cached not-found becomes a miss again within seconds, not after the
// one-hour default or the 24 h verdict TTL. It polls with a deadline rather
// than sleeping a fixed time, so a slow machine only makes it wait longer.
func TestPinGreyTTLReachesLookup(t *testing.T) {
	g := startGateway(t, "memory", map[string]string{"TIPGATE_CACHE_TTL_GREY": "1s"})
	path := "/v1/lookup?indicator=notfound.greyttl.example.org&sections=DomainGeneralInfo"

	first := g.lookup(path)
	if first.body["found"] != false || first.str("cache") != "miss" {
		t.Fatalf("first lookup = %s, want a not-found miss", first.raw)
	}
	if got := g.sim.Requests(); got != 1 {
		t.Fatalf("TIP requests = %d, want 1", got)
	}

	// Until the Grey TTL passes the not-found is a hit (no TIP request);
	// once it has, the next lookup is a miss that asks TIP again.
	deadline := time.Now().Add(15 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		r := g.lookup(path)
		if r.body["found"] != false {
			t.Fatalf("lookup = %s, want found=false", r.raw)
		}
		if r.str("cache") == "miss" {
			break
		}
		if r.str("cache") != "hit" {
			t.Fatalf("lookup within the Grey TTL = %s, want hit or, once it passed, miss", r.raw)
		}
		if got := g.sim.Requests(); got != 1 {
			t.Fatalf("TIP requests = %d while the not-found was cached, want 1", got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the not-found was still a hit 15s after it was cached with TIPGATE_CACHE_TTL_GREY=1s")
		}
	}
	if got := g.sim.Requests(); got != 2 {
		t.Fatalf("TIP requests = %d, want 2: the expired not-found is asked again", got)
	}
}
