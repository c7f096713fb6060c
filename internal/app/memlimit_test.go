package app

import (
	"math"
	"testing"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/config"
)

func TestMemoryLimit(t *testing.T) {
	const bound = 256 << 20
	tests := []struct {
		name      string
		redis     string
		current   int64
		wantLimit int64
		wantSet   bool
	}{
		{"memory store", "", math.MaxInt64, cache.GoMemoryLimit(bound), true},
		{"the operator's GOMEMLIMIT wins", "", 1 << 30, 1 << 30, false},
		{"Redis: no local store to size by", "redis://127.0.0.1:6379/0", math.MaxInt64, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{MemoryCacheBytes: bound, RedisURL: config.Secret(tt.redis)}
			limit, set := memoryLimit(cfg, tt.current)
			if limit != tt.wantLimit || set != tt.wantSet {
				t.Errorf("memoryLimit: got %d, %v; want %d, %v", limit, set, tt.wantLimit, tt.wantSet)
			}
		})
	}
	// The limit leaves the process room beyond a full store, and keeps it
	// within the 1.25× bound + 40 MB TestMemoryRSS measures.
	if l := cache.GoMemoryLimit(bound); l < bound+bound/10 || l > bound+bound/4+40e6 {
		t.Errorf("GoMemoryLimit(%d) = %d, want between 1.1× and 1.25× + 40 MB", bound, l)
	}
}
