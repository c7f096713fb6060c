package app

import (
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/config"
)

// LimitMemory sets the Go runtime's soft memory limit from the bound of the
// in-process store cfg configures (cache.GoMemoryLimit), so that a process
// whose store is full stays near that bound: left to GOGC alone, the heap
// grows to twice what is live, and a container sized to the bound is
// killed. A limit the operator set (GOMEMLIMIT) is kept. It logs what it
// decided, once.
//
// The limit is the whole process's, so the command calls this once at
// start, not New: tests build many apps in one process and must not leave
// one's limit on the others.
func LimitMemory(cfg *config.Config, logger *slog.Logger) {
	limit, ok := memoryLimit(cfg, debug.SetMemoryLimit(-1))
	switch {
	case ok:
		debug.SetMemoryLimit(limit)
		logger.Info("Go memory limit set from the in-memory store's bound; GOMEMLIMIT overrides it",
			"limit_bytes", limit, "local_cache_bytes", localCacheBytes(cfg))
	case limit > 0:
		logger.Info("Go memory limit kept as GOMEMLIMIT set it", "limit_bytes", limit)
	}
}

// memoryLimit decides the limit for cfg given the one in force: the
// limit to set and true, or the operator's limit (none is math.MaxInt64)
// and false, or 0 and false when the process keeps no local cache to size
// it by.
func memoryLimit(cfg *config.Config, current int64) (int64, bool) {
	if current != math.MaxInt64 {
		return current, false
	}
	local := localCacheBytes(cfg)
	if local <= 0 {
		return 0, false
	}
	return cache.GoMemoryLimit(local), true
}

// localCacheBytes is what the process's own stores may hold, as their
// bounds count it: the memory store's bound when there is no Redis. With
// Redis, the process keeps only the small fallback store, and the heap is
// left to GOGC.
func localCacheBytes(cfg *config.Config) int64 {
	if cfg.RedisURL.Reveal() != "" {
		return 0
	}
	return cfg.MemoryCacheBytes
}
