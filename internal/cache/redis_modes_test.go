package cache_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/cache/cachetest"
	"github.com/tipgate/tipgate/internal/redistest"
)

// TestRedisClusterSuite: the shared store suite on a real three-master
// cluster, through the URL form TIPGATE_REDIS_MODE=cluster reads. Each case
// keys under its own hash tag, so the cases land on different masters.
func TestRedisClusterSuite(t *testing.T) {
	c := redistest.NewCluster(t)
	cachetest.Run(t, func(t *testing.T) cachetest.Store {
		return openRedis(t, c.URL(), cache.RedisOptions{Mode: cache.RedisCluster})
	}, time.Sleep)
}

// TestRedisSentinelSuite: the same suite on a master found through a
// sentinel (TIPGATE_REDIS_MODE=sentinel).
func TestRedisSentinelSuite(t *testing.T) {
	s := redistest.NewSentinel(t)
	cachetest.Run(t, func(t *testing.T) cachetest.Store {
		return openRedis(t, s.URL(), cache.RedisOptions{Mode: cache.RedisSentinel})
	}, time.Sleep)
}

func TestParseRedisURLModes(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	tests := []struct {
		name     string
		mode     cache.RedisMode
		url      string
		wantErr  bool
		wantMode bool // the error is a *cache.RedisModeError
	}{
		{"single default mode", "", "redis://127.0.0.1:6379/1", false, false},
		{"single", cache.RedisSingle, "redis://:" + secret + "@127.0.0.1:6379/1", false, false},
		{"single with addr", cache.RedisSingle, "redis://127.0.0.1:6379?addr=127.0.0.1:6380", true, true},
		{"single with master_name", cache.RedisSingle, "redis://127.0.0.1:26379?master_name=m", true, true},
		{"cluster", cache.RedisCluster, "redis://u:" + secret + "@h1:7000?addr=h2:7001&addr=h3:7002", false, false},
		{"cluster one node", cache.RedisCluster, "rediss://h1:7000", false, false},
		{"cluster db 0", cache.RedisCluster, "redis://h1:7000/0?addr=h2:7001", false, false},
		{"cluster db 3", cache.RedisCluster, "redis://h1:7000/3?addr=h2:7001", true, true},
		{"cluster unix", cache.RedisCluster, "unix:///run/redis.sock", true, true},
		{"cluster master_name", cache.RedisCluster, "redis://h1:7000?master_name=m", true, true},
		{"cluster bad addr", cache.RedisCluster, "redis://:" + secret + "@h1:7000?addr=" + secret, true, false},
		{"cluster unknown option", cache.RedisCluster, "redis://h1:7000?db=2", true, false},
		{"sentinel", cache.RedisSentinel, "redis://:" + secret + "@s1:26379/2?addr=s2:26379&master_name=m", false, false},
		{"sentinel without master_name", cache.RedisSentinel, "redis://s1:26379/0?addr=s2:26379", true, true},
		{"sentinel unix", cache.RedisSentinel, "unix:///run/sentinel.sock?master_name=m", true, true},
		{"sentinel bad db", cache.RedisSentinel, "redis://:" + secret + "@s1:26379/x?master_name=m", true, false},
		{"bad scheme any mode", cache.RedisCluster, "http://:" + secret + "@h1:7000", true, false},
		{"unknown mode", "ring", "redis://h1:7000", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cache.ParseRedisURL(tt.url, tt.mode)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRedisURL: got %v, want error: %v", err, tt.wantErr)
			}
			var modeErr *cache.RedisModeError
			if got := errors.As(err, &modeErr); got != tt.wantMode {
				t.Errorf("ParseRedisURL: got %v, want a RedisModeError: %v", err, tt.wantMode)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the password", err)
			}
			r, oerr := cache.OpenRedis(tt.url, cache.RedisOptions{Mode: tt.mode})
			if r != nil {
				defer r.Close()
			}
			if (oerr != nil) != tt.wantErr {
				t.Errorf("OpenRedis: got %v, want error: %v", oerr, tt.wantErr)
			}
		})
	}
}
