package coord

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/redistest"
)

// newClusterProcess is newProcess over a Redis Cluster client, opened by
// internal/cache's OpenRedis in cluster mode.
func newClusterProcess(t *testing.T, c *redistest.Cluster, o procOptions) *Redis {
	t.Helper()
	client := openClient(t, c.URL(), cache.RedisCluster)
	client.AddHook(&probe{after: o.after})
	r := NewRedis(client, Options{
		Namespace: "ns",
		LockTTL:   o.lockTTL,
		Logger:    slog.New(slog.NewTextHandler(&logbuf.Buffer{}, nil)),
	})
	r.callTimeout = testTimeout / 2
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// TestOnCluster: the scripts' keys share one slot each (a lock key its
// indicator's hash tag, a day's counters {day}), release's PUBLISH reaches
// a subscriber on whichever node its channel maps to, so the lock, its
// wake-up and the daily budget work across processes on a three-master
// Redis Cluster.
func TestOnCluster(t *testing.T) {
	c := redistest.NewCluster(t)

	t.Run("LockAndWakeUp", func(t *testing.T) {
		holder := newClusterProcess(t, c, procOptions{lockTTL: 30 * time.Second})
		watch := newPTTLWatch()
		waiter := newClusterProcess(t, c, procOptions{after: watch.after})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()

		// Keys under several indicators' hash tags land on different
		// masters; each must lock and wake alike.
		for _, key := range []string{testKey, "v2:ab12cd34:{ip:192.0.2.7}:IpGeneralInfo", "v2:ab12cd34:{url:example.org/x}:UrlGeneralInfo"} {
			watch.calls.Store(0)
			release, _, err := holder.Acquire(ctx, key, 10)
			if err != nil || release == nil {
				t.Fatalf("%s: Acquire = %v, %v", key, release != nil, err)
			}
			if rel, holderLimit, err := waiter.Acquire(ctx, key, 5); rel != nil || err != nil || holderLimit != 10 {
				t.Fatalf("%s: waiter's Acquire = %v, %d, %v; want refused by a holder at 10", key, rel != nil, holderLimit, err)
			}
			done := make(chan error, 1)
			go func() { done <- waiter.Wait(ctx, key) }()
			select {
			case <-watch.held:
			case err := <-done:
				t.Fatalf("%s: Wait returned %v while the lock was held", key, err)
			case <-ctx.Done():
				t.Fatalf("%s: Wait never looked at the lock", key)
			}
			release()
			if err := <-done; err != nil {
				t.Fatalf("%s: Wait = %v, want nil after the release (well before the 30s TTL)", key, err)
			}
			if n := watch.calls.Load(); n != 1 {
				t.Errorf("%s: waiter made %d PTTL calls, want 1: the release's PUBLISH should wake it", key, n)
			}
			if n := c.Client().Exists(ctx, "tipgate:ns:lock:"+key).Val(); n != 0 {
				t.Errorf("%s: lock still exists after release", key)
			}
		}
	})

	t.Run("DayBudget", func(t *testing.T) {
		procs := []*Redis{newClusterProcess(t, c, procOptions{}), newClusterProcess(t, c, procOptions{})}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		const callers, budget, keyBudget = 12, 5, 2
		var taken, byGateway, byKey atomic.Int64
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				key := []string{"soc", "ir", "noc"}[i%3]
				spent, err := procs[i%2].Take(ctx, testDay, key, budget, keyBudget)
				switch {
				case err != nil:
					t.Errorf("Take: %v", err)
				case spent == "":
					taken.Add(1)
				case spent == "gateway":
					byGateway.Add(1)
				case spent == "key":
					byKey.Add(1)
				}
			})
		}
		wg.Wait()
		if taken.Load() != budget || byGateway.Load()+byKey.Load() != callers-budget {
			t.Errorf("taken %d, refused %d+%d; want %d and %d", taken.Load(), byGateway.Load(), byKey.Load(), budget, callers-budget)
		}
		sum := 0
		for _, key := range []string{"soc", "ir", "noc"} {
			n, err := procs[1].Count(ctx, testDay, key)
			if err != nil || n > keyBudget {
				t.Errorf("Count(%s) = %d, %v; want at most %d", key, n, err, keyBudget)
			}
			sum += n
		}
		if n, err := procs[0].Count(ctx, testDay, ""); err != nil || n != budget || sum != budget {
			t.Errorf("Count = %d, %v, keys sum to %d; want %d", n, err, sum, budget)
		}
	})
}
