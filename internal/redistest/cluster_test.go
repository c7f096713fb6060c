package redistest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestNewClusterServesEverySlot(t *testing.T) {
	c := NewCluster(t)
	if len(c.Addrs()) != clusterNodes {
		t.Fatalf("Addrs: got %d nodes, want %d", len(c.Addrs()), clusterNodes)
	}
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatalf("URL() = %q does not parse as a cluster URL: %v", c.URL(), err)
	}
	if len(opts.Addrs) != clusterNodes {
		t.Errorf("URL() names %v, want all %d nodes", opts.Addrs, clusterNodes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Keys under many hash tags land on every master: the cluster serves
	// all of its slots, not only one node's.
	for i := range 30 {
		key := fmt.Sprintf("{tag%d}:k", i)
		if err := c.Client().Set(ctx, key, i, time.Minute).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
	}
	var holding atomic.Int64
	err = c.Client().ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if n > 0 {
			holding.Add(1)
		}
		return err
	})
	if err != nil || holding.Load() != clusterNodes {
		t.Errorf("masters holding some of 30 keys: %d (%v), want %d", holding.Load(), err, clusterNodes)
	}
}

func TestNewSentinelNamesItsMaster(t *testing.T) {
	s := NewSentinel(t)
	opts, err := redis.ParseFailoverURL(s.URL())
	if err != nil {
		t.Fatalf("URL() = %q does not parse as a sentinel URL: %v", s.URL(), err)
	}
	if opts.MasterName != SentinelMaster || len(opts.SentinelAddrs) != 1 || opts.SentinelAddrs[0] != s.SentinelAddr() {
		t.Errorf("URL() = %q: master %q, sentinels %v; want %q at %s", s.URL(), opts.MasterName, opts.SentinelAddrs, SentinelMaster, s.SentinelAddr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Client().Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET through the sentinel: %v", err)
	}
	direct := redis.NewClient(&redis.Options{Addr: s.MasterAddr()})
	defer direct.Close()
	if got, err := direct.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET k on the master itself: got %q, %v; want \"v\"", got, err)
	}
}
