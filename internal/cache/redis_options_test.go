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
