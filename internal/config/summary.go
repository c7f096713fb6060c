package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// LogValue is the configuration as it is safe to log at start-up: no secret,
// no file contents, and the Redis URL reduced to where it points. Durations
// are strings because slog's JSON handler would print nanoseconds.
func (c *Config) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	tipAuth := "pfx"
	if c.TIPToken != "" {
		tipAuth = "token"
	}
	store := "memory"
	if c.RedisURL != "" {
		store = "redis"
	}
	attrs := []slog.Attr{
		slog.String("addr", c.Addr),
		slog.Bool("https", c.TLSCertFile != ""),
		slog.String("tls_cert_file", c.TLSCertFile),
		slog.String("tls_key_file", c.TLSKeyFile),
		slog.String("tip_url", c.TIPURL),
		slog.String("tip_auth", tipAuth),
		slog.String("tip_pfx_file", c.TIPPFXFile),
		slog.String("tip_ca_file", c.TIPCAFile),
		slog.String("tip_timeout", c.TIPTimeout.String()),
		slog.String("store", store),
		slog.String("redis_url", redactRedisURL(c.RedisURL)),
		slog.Int64("cache_memory_bytes", c.MemoryCacheBytes),
		slog.String("cache_ttl", c.CacheTTL.String()),
		slog.String("cache_ttl_grey", c.CacheTTLGrey.String()),
		slog.String("cache_stale", c.CacheStale.String()),
		slog.Int("default_limit", c.DefaultLimit),
		slog.Int("tip_daily_budget", c.TIPDailyBudget),
		slog.Int("tip_concurrency", c.TIPConcurrency),
		slog.Bool("tip_probe", c.TIPProbe),
		slog.String("local_nets", listOrNone(c.LocalNets)),
		slog.String("local_domains", listOrNone(c.LocalDomains)),
		slog.Bool("kuma_cache_only", c.KUMACacheOnly),
		slog.Bool("auth", c.Auth),
		slog.String("api_keys_file", c.APIKeysFile),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("request_timeout", c.RequestTimeout.String()),
	}
	return slog.GroupValue(attrs...)
}

// redactRedisURL keeps the scheme, host and path (the database) and drops
// the rest. Any user information becomes <secret>, the user name included:
// "redis://hunter2@host" is a common way to get the password into the wrong
// place.
func redactRedisURL(s Secret) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s.Reveal())
	if err != nil {
		return redacted
	}
	out := u.Scheme + "://"
	if u.User != nil {
		out += redacted + "@"
	}
	return out + u.Host + u.EscapedPath()
}

// listOrNone writes a list as the variable that sets it takes it, so an
// operator can copy it from the log and edit it.
func listOrNone[T any](list []T) string {
	if len(list) == 0 {
		return none
	}
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}
