package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/redistest"
)

// replicaTTL is the hot tier's TTL in the cross-replica tests: far longer
// than they wait, so that only an invalidation can explain a change seen.
const replicaTTL = time.Minute

// invalidationWait bounds how long a change may take to reach the other
// replica: pub/sub delivers in milliseconds; the rest is a loaded machine.
const invalidationWait = 2 * time.Second

type replica struct {
	hot   *cache.Hot
	guard *cache.Guard
	reg   *prometheus.Registry
}

// newReplica is one process's store as the gateway wires it: a Hot over a
// Guard over Redis, invalidating through that Redis.
func newReplica(t *testing.T, url string, mode cache.RedisMode, ttl time.Duration) *replica {
	t.Helper()
	r := openRedis(t, url, cache.RedisOptions{Mode: mode})
	g, err := cache.NewGuard(r, cache.GuardOptions{})
	if err != nil {
		t.Fatalf("NewGuard: %v", err)
	}
	reg := prometheus.NewRegistry()
	h, err := cache.NewHot(g, cache.HotOptions{
		Bytes: 1 << 20, TTL: ttl, FillTTL: time.Hour,
		Bus: r, Channel: "tipgate:test:hot", Registerer: reg,
	})
	if err != nil {
		t.Fatalf("NewHot: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &replica{hot: h, guard: g, reg: reg}
}

func (r *replica) value(t *testing.T, key string) string {
	t.Helper()
	vals, err := r.hot.Get(context.Background(), []string{key})
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return show(vals)
}

// TestHotInvalidatesAcrossReplicas: replica A holds an entry for a minute;
// B writes or deletes it; A stops serving the old value within a couple of
// seconds, on one Redis and on a three-master cluster (keys under several
// hash tags, on different masters, while the channel lives on one).
func TestHotInvalidatesAcrossReplicas(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		srv := redistest.New(t)
		testHotAcross(t, srv.URL(), cache.RedisSingle)
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.NewCluster(t)
		testHotAcross(t, c.URL(), cache.RedisCluster)
	})
}

func testHotAcross(t *testing.T, url string, mode cache.RedisMode) {
	a := newReplica(t, url, mode, replicaTTL)
	b := newReplica(t, url, mode, replicaTTL)
	ctx := context.Background()
	for _, tag := range []string{"domain:a.example", "ip:192.0.2.7", "hash:0123456789abcdef"} {
		key := "tipgate:v2:0123abcd:{" + tag + "}:Section"
		set := func(v string) {
			if err := b.hot.Set(ctx, []cache.Item{{Key: key, Value: []byte(v), TTL: time.Hour}}); err != nil {
				t.Fatalf("%s: B's Set: %v", tag, err)
			}
		}
		set("v1")
		// A holds it young once a read is answered in the process, which
		// also shows A's subscription was confirmed before it was put.
		waitFor(t, tag+": A to serve it from the process", func() bool {
			hits := hotRequests(t, a.reg, "hit")
			return a.value(t, key) == "v1" && hotRequests(t, a.reg, "hit") > hits
		})
		for _, step := range []struct {
			name   string
			change func()
			want   string
		}{
			{"B writes", func() { set("v2") }, "v2"},
			{"B deletes", func() {
				if err := b.hot.Delete(ctx, []string{key}); err != nil {
					t.Fatalf("%s: B's Delete: %v", tag, err)
				}
			}, "-"},
		} {
			step.change()
			start := time.Now()
			for got := a.value(t, key); got != step.want; got = a.value(t, key) {
				if time.Since(start) > invalidationWait {
					t.Fatalf("%s: %s: A still serves %q after %v (its TTL is %v), want %q", tag, step.name, got, invalidationWait, replicaTTL, step.want)
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%s: %s: A saw it after %v", tag, step.name, time.Since(start).Round(time.Millisecond))
			if step.want != "-" {
				// Held again: the next change must be heard too.
				waitFor(t, tag+": A to hold it again", func() bool {
					hits := hotRequests(t, a.reg, "hit")
					return a.value(t, key) == step.want && hotRequests(t, a.reg, "hit") > hits
				})
			}
		}
	}
	if got := metricValue(t, a.reg, "tipgate_cache_hot_invalidations_total"); got < 6 {
		t.Errorf("A's invalidations: got %v, want at least 6 (two changes of three keys)", got)
	}
}

// TestHotRedisOutage takes a real redis-server away, killed or frozen, from
// under a Hot over a Guard, with the tier on and off, and brings it back.
func TestHotRedisOutage(t *testing.T) {
	outages := []struct {
		name       string
		outage     func(*redistest.Server)
		recover    func(*redistest.Server)
		wantBefore string // what Redis holds afterwards of the entry written before the outage
	}{
		{"killed", (*redistest.Server).Stop, (*redistest.Server).Start, "-"},
		{"paused", (*redistest.Server).Pause, (*redistest.Server).Resume, "B"},
	}
	for _, tier := range []struct {
		name string
		ttl  time.Duration
		// wantHeld is what the outage serves of the entry written before it.
		wantHeld string
	}{
		{"on", 50 * time.Millisecond, "B"},
		{"off", 0, "-"},
	} {
		for _, tt := range outages {
			t.Run(tier.name+"/"+tt.name, func(t *testing.T) {
				srv := redistest.New(t)
				r := newReplica(t, srv.URL(), cache.RedisSingle, tier.ttl)
				h, ctx := r.hot, context.Background()
				if err := h.Set(ctx, []cache.Item{gitem("before", "B")}); err != nil {
					t.Fatalf("Set while healthy: %v", err)
				}
				time.Sleep(tier.ttl) // old: the outage's reads reach the Guard
				tt.outage(srv)

				// The first read finds the outage and is answered all the same.
				if got := r.value(t, gkey("before")); got != tier.wantHeld {
					t.Fatalf("first Get in the outage: got %q, want %q", got, tier.wantHeld)
				}
				if r.guard.Healthy() {
					t.Fatalf("the Guard did not see the outage")
				}
				if err := h.Set(ctx, []cache.Item{gitem("during", "D")}); err == nil {
					t.Errorf("Set during the outage: got nil, want the error (kept in the process only)")
				}
				for i := range 20 {
					got, err := h.Get(ctx, []string{gkey("during"), gkey("before")})
					if err != nil || show(got) != "D "+tier.wantHeld {
						t.Fatalf("Get %d during the outage: got %q, %v; want D %s, nil", i, show(got), err, tier.wantHeld)
					}
				}
				if err := h.Delete(ctx, []string{gkey("before")}); !errors.Is(err, cache.ErrUnavailable) {
					t.Errorf("Delete during the outage: got %v, want ErrUnavailable (the store keeps the key)", err)
				}

				tt.recover(srv)
				waitFor(t, "the Guard to see the store back", r.guard.Healthy)
				got, err := h.Get(ctx, []string{gkey("during"), gkey("before")})
				if err != nil || show(got) != "- "+tt.wantBefore {
					t.Errorf("Get after recovery: got %q, %v; want - %s from the store, not the outage's copies", show(got), err, tt.wantBefore)
				}
				if err := h.Set(ctx, []cache.Item{gitem("after", "A")}); err != nil {
					t.Errorf("Set after recovery: %v", err)
				}
				if got := hotRequests(t, r.reg, "fallback"); got < 21 {
					t.Errorf("fallback answers: got %v, want at least 21", got)
				}
			})
		}
	}
}

// TestHotCopyExpiresWithTheOriginal: an entry read from Redis is kept in
// the process only as long as Redis keeps it, even while it is young, and
// not for FillTTL.
func TestHotCopyExpiresWithTheOriginal(t *testing.T) {
	srv := redistest.New(t)
	r := newReplica(t, srv.URL(), cache.RedisSingle, replicaTTL)
	ctx := context.Background()
	// Once a read is a hit, the subscription is confirmed: what is put from
	// now on stays young.
	if err := r.hot.Set(ctx, []cache.Item{gitem("primer", "P")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a hit", func() bool {
		hits := hotRequests(t, r.reg, "hit")
		return r.value(t, gkey("primer")) == "P" && hotRequests(t, r.reg, "hit") > hits
	})
	const life = 300 * time.Millisecond
	if err := srv.Client().Set(ctx, gkey("short"), "S", life).Err(); err != nil {
		t.Fatal(err)
	}
	if got := r.value(t, gkey("short")); got != "S" {
		t.Fatalf("first read: got %q, want S", got)
	}
	hits := hotRequests(t, r.reg, "hit")
	if got := r.value(t, gkey("short")); got != "S" || hotRequests(t, r.reg, "hit") == hits {
		t.Fatalf("second read: got %q, want S from the process", got)
	}
	time.Sleep(life + 50*time.Millisecond)
	if got := r.value(t, gkey("short")); got != "-" {
		t.Errorf("read after Redis expired it: got %q, want it gone here too", got)
	}
}
