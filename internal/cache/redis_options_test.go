package cache

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestOpenRedisOptions(t *testing.T) {
	tests := []struct {
		name         string
		url          string
		opts         RedisOptions
		wantRead     time.Duration // go-redis socket read timeout
		wantPoolSize int
		wantDB       int
		wantGet      time.Duration // the store's own deadlines
		wantSet      time.Duration
	}{
		{"defaults", "redis://127.0.0.1:6379/3", RedisOptions{}, redisSocketTimeout, 0, 3, DefaultRedisReadTimeout, DefaultRedisWriteTimeout},
		{"URL overrides", "redis://127.0.0.1?read_timeout=2s&pool_size=7", RedisOptions{}, 2 * time.Second, 7, 0, DefaultRedisReadTimeout, DefaultRedisWriteTimeout},
		{"store deadlines", "redis://127.0.0.1", RedisOptions{ReadTimeout: 50 * time.Millisecond, WriteTimeout: 70 * time.Millisecond}, redisSocketTimeout, 0, 0, 50 * time.Millisecond, 70 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenRedis(tt.url, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			o := r.client.(*redis.Client).Options()
			if !o.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled: got false, want true (per-call deadlines must reach the socket)")
			}
			if o.ReadTimeout != tt.wantRead {
				t.Errorf("ReadTimeout: got %v, want %v", o.ReadTimeout, tt.wantRead)
			}
			if o.DialTimeout != redisDialTimeout || o.WriteTimeout != redisSocketTimeout {
				t.Errorf("DialTimeout, WriteTimeout: got %v, %v; want %v, %v", o.DialTimeout, o.WriteTimeout, redisDialTimeout, redisSocketTimeout)
			}
			if tt.wantPoolSize != 0 && o.PoolSize != tt.wantPoolSize {
				t.Errorf("PoolSize: got %d, want %d", o.PoolSize, tt.wantPoolSize)
			}
			if o.DB != tt.wantDB {
				t.Errorf("DB: got %d, want %d", o.DB, tt.wantDB)
			}
			if r.readTimeout != tt.wantGet || r.writeTimeout != tt.wantSet {
				t.Errorf("store deadlines: got %v, %v; want %v, %v", r.readTimeout, r.writeTimeout, tt.wantGet, tt.wantSet)
			}
		})
	}
}

func TestTTLMillis(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Millisecond, 1500},
		{24 * time.Hour, 86400000},
	}
	for _, tt := range tests {
		if got := ttlMillis(tt.ttl); got != tt.want {
			t.Errorf("ttlMillis(%v) = %d, want %d", tt.ttl, got, tt.want)
		}
	}
}

// TestOpenRedisModeOptions: cluster and sentinel clients get the same
// deadlines and dial retries as a single Redis, and the URL's credentials.
func TestOpenRedisModeOptions(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		r, err := OpenRedis("redis://u:pw@h1:7000?addr=h2:7001&addr=h3:7002&read_timeout=2s", RedisOptions{Mode: RedisCluster})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		o := r.client.(*redis.ClusterClient).Options()
		if !o.ContextTimeoutEnabled || o.DialTimeout != redisDialTimeout || o.ReadTimeout != 2*time.Second ||
			o.WriteTimeout != redisSocketTimeout || o.PoolTimeout != redisPoolTimeout || o.MaxRetries != redisMaxRetries ||
			o.DialerRetries != redisDialAttempts || o.DialerRetryTimeout != redisDialRetryPause || o.ClientName != "tipgate" {
			t.Errorf("cluster options: got %+v", o)
		}
		if len(o.Addrs) != 3 || o.Username != "u" || o.Password != "pw" {
			t.Errorf("cluster addrs, user: got %v, %q", o.Addrs, o.Username)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		ro, err := parseRedisURL("redis://u:pw@s1:26379/2?addr=s2:26379&master_name=m", RedisSentinel)
		if err != nil {
			t.Fatal(err)
		}
		f := ro.failover
		if f.MasterName != "m" || f.DB != 2 || len(f.SentinelAddrs) != 2 {
			t.Errorf("sentinel: master %q db %d sentinels %v; want m, 2, two", f.MasterName, f.DB, f.SentinelAddrs)
		}
		if f.Username != "u" || f.Password != "pw" || f.SentinelUsername != "u" || f.SentinelPassword != "pw" {
			t.Errorf("sentinel credentials: the URL's user information must reach the master and the sentinels")
		}
		r, err := OpenRedis("redis://s1:26379/2?master_name=m", RedisOptions{Mode: RedisSentinel})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		o := r.client.(*redis.Client).Options()
		if !o.ContextTimeoutEnabled || o.DialTimeout != redisDialTimeout || o.ReadTimeout != redisSocketTimeout ||
			o.DialerRetries != redisDialAttempts || o.DB != 2 || o.ClientName != "tipgate" {
			t.Errorf("sentinel client options: got %+v", o)
		}
	})
}
