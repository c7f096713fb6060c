package config

import (
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/localnet"
)

// The variables whose names other variables' rules and messages mention.
// Every other name appears in the table alone.
const (
	envAddr           = "TIPGATE_ADDR"
	envTLSCertFile    = "TIPGATE_TLS_CERT_FILE"
	envTLSKeyFile     = "TIPGATE_TLS_KEY_FILE"
	envTIPURL         = "TIPGATE_TIP_URL"
	envTIPUsername    = "TIPGATE_TIP_USERNAME"
	envTIPPassword    = "TIPGATE_TIP_PASSWORD"
	envTIPPFXFile     = "TIPGATE_TIP_PFX_FILE"
	envTIPPFXPassword = "TIPGATE_TIP_PFX_PASSWORD"
	envTIPToken       = "TIPGATE_TIP_TOKEN"
	envTIPCAFile      = "TIPGATE_TIP_CA_FILE"
	envRedisURL       = "TIPGATE_REDIS_URL"
	envRedisMode      = "TIPGATE_REDIS_MODE"
	envAPIKeysFile    = "TIPGATE_API_KEYS_FILE"
	envAuth           = "TIPGATE_AUTH"
	envLogLevel       = "TIPGATE_LOG_LEVEL"

	// fileSuffix turns a secret's variable into the one naming a file that
	// holds it, as container secrets are mounted.
	fileSuffix = "_FILE"
)

// variable is everything tipgate knows about one TIPGATE_* variable. Load,
// Names, UnknownVariables and the start-up summary all read the table that
// variables returns, so adding a variable is one entry there (and its field
// in Config).
type variable struct {
	name string
	// def is the default as an operator would write it, and what Load
	// reads when the variable is unset; "" when unset means something of
	// its own (off, none, the system's roots), which doc says.
	def string
	// doc is the default's meaning when def cannot say it.
	doc string
	// file is whether a _FILE form names a file holding the value: every
	// secret has one, and so has the TIP username, usually mounted next to
	// the password.
	file bool
	// secret values are never shown, not even in the summary.
	secret bool
	// load reads, validates and stores the variable. Variables that only
	// mean something together (the HTTPS pair, TIP's credentials, auth and
	// the keys file) are loaded by the first of them in the table; the
	// others have a nil load and a comment saying so.
	load func(l *loader, c *Config)
	// summary is what the start-up log line shows; nil shows nothing.
	summary func(c *Config) []slog.Attr
}

// variables is the table, in the order Load reads it and so reports
// problems. DESIGN.md "Configuration" describes the same variables for
// people.
func variables() []variable {
	return []variable{
		{name: envAddr, def: ":8080",
			load:    func(l *loader, c *Config) { c.Addr = l.addr(":8080") },
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("addr", c.Addr)} }},
		{name: envTLSCertFile, doc: "serve HTTP",
			load: func(l *loader, c *Config) { c.TLSCertFile, c.TLSKeyFile, c.TLSCertificate = l.serverTLS() },
			summary: func(c *Config) []slog.Attr {
				return []slog.Attr{slog.Bool("https", c.TLSCertFile != ""), slog.String("tls_cert_file", c.TLSCertFile)}
			}},
		{name: envTLSKeyFile, doc: "serve HTTP", // loaded with TIPGATE_TLS_CERT_FILE
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("tls_key_file", c.TLSKeyFile)} }},
		{name: envTIPURL, def: "https://tip.kaspersky.com",
			load:    func(l *loader, c *Config) { c.TIPURL = l.tipURL("https://tip.kaspersky.com") },
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("tip_url", c.TIPURL)} }},
		{name: envTIPToken, file: true, secret: true, doc: "use the PFX",
			load: func(l *loader, c *Config) { l.tipCredentials(c) },
			summary: func(c *Config) []slog.Attr {
				auth := "pfx"
				if c.TIPToken != "" {
					auth = "token"
				}
				return []slog.Attr{slog.String("tip_auth", auth)}
			}},
		{name: envTIPUsername, file: true},                  // loaded with TIPGATE_TIP_TOKEN
		{name: envTIPPassword, file: true, secret: true},    // loaded with TIPGATE_TIP_TOKEN
		{name: envTIPPFXPassword, file: true, secret: true}, // loaded with TIPGATE_TIP_TOKEN
		{name: envTIPPFXFile, doc: "required unless a token is set", // loaded with TIPGATE_TIP_TOKEN
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("tip_pfx_file", c.TIPPFXFile)} }},
		{name: envTIPCAFile, doc: "the system's roots",
			load:    func(l *loader, c *Config) { c.TIPCAFile, c.TIPCA = l.tipCA() },
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("tip_ca_file", c.TIPCAFile)} }},
		duration("TIPGATE_TIP_TIMEOUT", "30s", "tip_timeout", time.Nanosecond, func(c *Config) *time.Duration { return &c.TIPTimeout }),
		{name: envRedisURL, file: true, secret: true, doc: "the in-memory store",
			load: func(l *loader, c *Config) { c.RedisURL, c.RedisMode = l.redis() },
			summary: func(c *Config) []slog.Attr {
				store := "memory"
				if c.RedisURL != "" {
					store = "redis"
				}
				return []slog.Attr{slog.String("store", store), slog.String("redis_url", redactRedisURL(c.RedisURL))}
			}},
		{name: envRedisMode, def: string(cache.RedisSingle), // loaded with TIPGATE_REDIS_URL
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("redis_mode", string(c.RedisMode))} }},
		{name: "TIPGATE_CACHE_MEMORY_BYTES", def: "256MiB",
			load: func(l *loader, c *Config) {
				c.MemoryCacheBytes = l.size("TIPGATE_CACHE_MEMORY_BYTES", "256MiB", MinMemoryCacheBytes)
			},
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.Int64("cache_memory_bytes", c.MemoryCacheBytes)} }},
		{name: "TIPGATE_CACHE_HOT_BYTES", def: "64MiB",
			load:    func(l *loader, c *Config) { c.HotCacheBytes, c.HotCacheTTL = l.hotCache("64MiB", "5s") },
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.Int64("cache_hot_bytes", c.HotCacheBytes)} }},
		{name: "TIPGATE_CACHE_HOT_TTL", def: "5s", // loaded with TIPGATE_CACHE_HOT_BYTES
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("cache_hot_ttl", c.HotCacheTTL.String())} }},
		duration("TIPGATE_CACHE_TTL", "24h", "cache_ttl", MinCacheTTL, func(c *Config) *time.Duration { return &c.CacheTTL }),
		duration("TIPGATE_CACHE_TTL_GREY", "1h", "cache_ttl_grey", MinCacheTTL, func(c *Config) *time.Duration { return &c.CacheTTLGrey }),
		duration("TIPGATE_CACHE_STALE", "168h", "cache_stale", 0, func(c *Config) *time.Duration { return &c.CacheStale }),
		integer("TIPGATE_DEFAULT_LIMIT", "10", "default_limit", 1, MaxLimit, func(c *Config) *int { return &c.DefaultLimit }),
		integer("TIPGATE_TIP_DAILY_BUDGET", "0", "tip_daily_budget", 0, math.MaxInt, func(c *Config) *int { return &c.TIPDailyBudget }),
		integer("TIPGATE_TIP_CONCURRENCY", "16", "tip_concurrency", 1, MaxTIPConcurrency, func(c *Config) *int { return &c.TIPConcurrency }),
		boolean("TIPGATE_TIP_PROBE", "true", "tip_probe", func(c *Config) *bool { return &c.TIPProbe }),
		{name: "TIPGATE_LOCAL_NETS", def: listOrNone(localnet.DefaultNets()),
			load:    func(l *loader, c *Config) { c.LocalNets = l.localNets("TIPGATE_LOCAL_NETS") },
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("local_nets", listOrNone(c.LocalNets))} }},
		{name: "TIPGATE_LOCAL_DOMAINS", def: strings.Join(localnet.DefaultDomains(), ","),
			load: func(l *loader, c *Config) { c.LocalDomains = l.localDomains("TIPGATE_LOCAL_DOMAINS") },
			summary: func(c *Config) []slog.Attr {
				return []slog.Attr{slog.String("local_domains", listOrNone(c.LocalDomains))}
			}},
		boolean("TIPGATE_KUMA_CACHE_ONLY", "false", "kuma_cache_only", func(c *Config) *bool { return &c.KUMACacheOnly }),
		{name: "TIPGATE_TRUSTED_PROXIES", doc: "none: the log shows the connection's address",
			load: func(l *loader, c *Config) { c.TrustedProxies = l.trustedProxies("TIPGATE_TRUSTED_PROXIES") },
			summary: func(c *Config) []slog.Attr {
				return []slog.Attr{slog.String("trusted_proxies", listOrNone(c.TrustedProxies))}
			}},
		{name: envAuth, def: "on",
			load: func(l *loader, c *Config) {
				c.Auth = l.boolean(envAuth, "on")
				c.APIKeysFile, c.APIKeys = l.apiKeys(c.Auth)
			},
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.Bool("auth", c.Auth)} }},
		{name: envAPIKeysFile, doc: "required unless TIPGATE_AUTH=off", // loaded with TIPGATE_AUTH
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("api_keys_file", c.APIKeysFile)} }},
		{name: envLogLevel, def: "info",
			load:    func(l *loader, c *Config) { c.LogLevel = l.logLevel("info") },
			summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String("log_level", c.LogLevel.String())} }},
		duration("TIPGATE_SHUTDOWN_TIMEOUT", "15s", "shutdown_timeout", time.Nanosecond, func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		duration("TIPGATE_REQUEST_TIMEOUT", "60s", "request_timeout", time.Nanosecond, func(c *Config) *time.Duration { return &c.RequestTimeout }),
	}
}

// duration is a duration variable of at least least (0: zero allowed),
// shown in the summary as text: slog's JSON would print nanoseconds.
func duration(name, def, attr string, least time.Duration, field func(*Config) *time.Duration) variable {
	return variable{name: name, def: def,
		load:    func(l *loader, c *Config) { *field(c) = l.duration(name, def, least) },
		summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.String(attr, field(c).String())} },
	}
}

// integer is a whole-number variable from lo to hi.
func integer(name, def, attr string, lo, hi int, field func(*Config) *int) variable {
	return variable{name: name, def: def,
		load:    func(l *loader, c *Config) { *field(c) = l.integer(name, def, lo, hi) },
		summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.Int(attr, *field(c))} },
	}
}

// boolean is an on/off variable.
func boolean(name, def, attr string, field func(*Config) *bool) variable {
	return variable{name: name, def: def,
		load:    func(l *loader, c *Config) { *field(c) = l.boolean(name, def) },
		summary: func(c *Config) []slog.Attr { return []slog.Attr{slog.Bool(attr, *field(c))} },
	}
}
