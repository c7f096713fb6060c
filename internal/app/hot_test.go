package app

import (
	"net/http"
	"testing"
	"time"
)

// crossReplicaWait bounds how long a refresh or purge on one replica takes
// to show on another: the invalidation is a pub/sub message, delivered in
// milliseconds; the rest is a loaded machine.
const crossReplicaWait = 2 * time.Second

// startReplica starts a second gateway on a's Redis and a's TIP (so the
// same store namespace and invalidation channel), with env on top.
func startReplica(t *testing.T, a *gateway, env map[string]string) *gateway {
	t.Helper()
	vars := map[string]string{}
	for _, k := range []string{
		"TIPGATE_TIP_URL", "TIPGATE_TIP_CA_FILE", "TIPGATE_TIP_PFX_FILE", "TIPGATE_TIP_PFX_PASSWORD",
		"TIPGATE_TIP_USERNAME", "TIPGATE_TIP_PASSWORD", "TIPGATE_REDIS_URL",
	} {
		vars[k] = a.env[k]
	}
	for k, v := range env {
		vars[k] = v
	}
	return startGateway(t, "memory", vars)
}

// hotHits is the gateway's tipgate_cache_hot_requests_total{result="hit"}.
func (g *gateway) hotHits() float64 {
	v, _ := g.metric(`tipgate_cache_hot_requests_total{result="hit"}`)
	return v
}

// waitHeld looks path up on g until the answer came from g's hot tier,
// which also shows g's invalidation subscription is confirmed.
func (g *gateway) waitHeld(t *testing.T, path string) response {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hits := g.hotHits()
		r := g.do(http.MethodGet, path, g.keys["siem"], nil)
		if r.status == http.StatusOK && r.str("cache") == "hit" && g.hotHits() > hits {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was never answered from the hot tier: %d %s", path, r.status, r.raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHotTierAcrossReplicas: two gateways share one Redis, each with a hot
// tier that would serve an entry for a minute without asking Redis. A
// refresh on A shows in B's next lookups within a couple of seconds, and so
// does a purge: A publishes what it changed and B drops it.
func TestHotTierAcrossReplicas(t *testing.T) {
	hot := map[string]string{"TIPGATE_CACHE_HOT_TTL": "1m"}
	a := startGateway(t, "redis", hot)
	b := startReplica(t, a, hot)
	const domain = "red.hot-replicas.example.com"
	path := lookupPath(domain)

	if r := a.lookup(path); r.str("cache") != "miss" {
		t.Fatalf("A's first lookup: %s, want a miss", r.raw)
	}
	for deadline := time.Now().Add(5 * time.Second); !a.storedInRedis(domain); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("A's answer never reached Redis")
		}
	}
	held := b.waitHeld(t, path)
	a.waitHeld(t, path)

	time.Sleep(5 * time.Millisecond) // a later received_at, at millisecond precision
	body := map[string]any{"indicator": domain, "sections": []string{"DomainGeneralInfo"}}
	refreshed := a.do(http.MethodPost, "/v1/refresh", a.keys["soar"], body)
	if refreshed.status != http.StatusOK || !(refreshed.str("received_at") > held.str("received_at")) {
		t.Fatalf("refresh on A: %d %s; want a received_at after %s", refreshed.status, refreshed.raw, held.str("received_at"))
	}
	start := time.Now()
	for {
		r := b.lookup(path)
		if r.str("received_at") == refreshed.str("received_at") {
			break
		}
		if time.Since(start) > crossReplicaWait {
			t.Fatalf("B still answers received_at %s %v after A's refresh to %s (its hot tier TTL is 1m)",
				r.str("received_at"), crossReplicaWait, refreshed.str("received_at"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("B saw A's refresh after %v", time.Since(start).Round(time.Millisecond))

	b.waitHeld(t, path)
	if r := a.do(http.MethodDelete, "/v1/cache?indicator="+domain, a.keys["ops"], nil); r.status != http.StatusNoContent {
		t.Fatalf("purge on A: %d %s", r.status, r.raw)
	}
	start = time.Now()
	for {
		// cache_only: B answers from its cache alone, and never asks TIP.
		r := b.do(http.MethodGet, path+"&cache_only=true", b.keys["siem"], nil)
		if r.status == http.StatusNotFound {
			break
		}
		if time.Since(start) > crossReplicaWait {
			t.Fatalf("B still answers %d %s %v after A's purge (its hot tier TTL is 1m)", r.status, r.raw, crossReplicaWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("B saw A's purge after %v", time.Since(start).Round(time.Millisecond))
	if n := a.tipRequestsFor(domain); n != 2 {
		t.Errorf("TIP requests for %s: %d, want 2 (the miss and the refresh)", domain, n)
	}
}

// TestHotTierOff: with TIPGATE_CACHE_HOT_BYTES=0 every lookup reads Redis
// (what the peer benchmark measures), and a Redis outage is still answered
// from the process.
func TestHotTierOff(t *testing.T) {
	g := startGateway(t, "redis", map[string]string{"TIPGATE_CACHE_HOT_BYTES": "0"})
	path := lookupPath("red.hot-off.example.com")
	g.lookup(path)
	for range 5 {
		if r := g.lookup(path); r.str("cache") != "hit" {
			t.Fatalf("repeat: %s, want a hit", r.raw)
		}
	}
	if hits := g.hotHits(); hits != 0 {
		t.Errorf("hot tier hits with the tier off: %v, want 0", hits)
	}
	if miss, _ := g.metric(`tipgate_cache_hot_requests_total{result="miss"}`); miss < 5 {
		t.Errorf("reads that reached Redis: %v, want at least 5", miss)
	}

	g.redis.Stop()
	const during = "red.hot-off-outage.example.com"
	g.lookup(lookupPath(during))
	deadline := time.Now().Add(5 * time.Second)
	for g.lookup(lookupPath(during)).str("cache") != "hit" {
		if time.Now().After(deadline) {
			t.Fatalf("a lookup repeated during the outage was never answered from the process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := g.tipRequestsFor(during); n > 2 {
		t.Errorf("TIP requests for a lookup repeated during the outage: %d, want 1 (2 if the first began before the outage was seen)", n)
	}
}
