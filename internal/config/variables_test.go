package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
)

// TestDefaultsAreWhatUnsetMeans: the default each variable's table entry
// shows is the value Load uses when it is unset, so what the summary and
// docs say is what runs.
func TestDefaultsAreWhatUnsetMeans(t *testing.T) {
	f := newFixture(t)
	base := f.PFXEnv()
	unset, err := load(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variables() {
		if v.def == "" {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			set, err := load(with(base, map[string]string{v.name: v.def}))
			if err != nil {
				t.Fatalf("Load with %s=%s: %v", v.name, v.def, err)
			}
			if !reflect.DeepEqual(set, unset) {
				t.Errorf("%s=%s loads differently from leaving it unset", v.name, v.def)
			}
		})
	}
}

// TestVariablesTable: every name is a TIPGATE_ variable, once; every entry
// says what unset means; only the entries that read a group leave others
// without a loader.
func TestVariablesTable(t *testing.T) {
	names := Names()
	for i, n := range names {
		if !strings.HasPrefix(n, "TIPGATE_") || slices.Contains(names[:i], n) {
			t.Errorf("name %q is not a TIPGATE_ variable or is listed twice", n)
		}
	}
	for _, v := range variables() {
		if v.def == "" && v.doc == "" && v.load != nil {
			t.Errorf("%s: neither def nor doc says what unset means", v.name)
		}
		if v.secret && !v.file {
			t.Errorf("%s: a secret without a _FILE form", v.name)
		}
	}
	for _, want := range []string{"TIPGATE_TRUSTED_PROXIES", "TIPGATE_TIP_PASSWORD_FILE", "TIPGATE_REDIS_URL_FILE", "TIPGATE_TIP_USERNAME_FILE"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s", want)
		}
	}
}

// TestLoadBounds: values that parse but make no sense are refused with the
// variable and the bound named; the edges are accepted.
func TestLoadBounds(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, value string
		want        string // "" means accepted
	}{
		{"TIPGATE_CACHE_MEMORY_BYTES", "1", `TIPGATE_CACHE_MEMORY_BYTES: "1" is less than 1MiB, too small to cache anything; use 1MiB or more`},
		{"TIPGATE_CACHE_MEMORY_BYTES", "1048575", `TIPGATE_CACHE_MEMORY_BYTES: "1048575" is less than 1MiB`},
		{"TIPGATE_CACHE_MEMORY_BYTES", "1MiB", ""},
		{"TIPGATE_CACHE_TTL", "500ms", `TIPGATE_CACHE_TTL: "500ms" is less than 1s, too short to be useful; use 1s or more`},
		{"TIPGATE_CACHE_TTL", "1s", ""},
		{"TIPGATE_CACHE_TTL_GREY", "999ms", `TIPGATE_CACHE_TTL_GREY: "999ms" is less than 1s`},
		{"TIPGATE_CACHE_TTL_GREY", "1s", ""},
		{"TIPGATE_CACHE_STALE", "0", ""},
		{"TIPGATE_CACHE_STALE", "1ms", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := load(with(f.PFXEnv(), map[string]string{tt.name: tt.value}))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Load: %v, want it accepted", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Fatalf("Load: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestLoadHotCache: the hot tier's size may be 0 (off, when its TTL is
// only read), and its TTL is bounded while it is on.
func TestLoadHotCache(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		bytes, ttl string // "" leaves the variable unset
		wantBytes  int64
		wantTTL    time.Duration
		wantErr    string // "" means accepted; else the whole error's prefix
	}{
		{"", "", 64 << 20, 5 * time.Second, ""},
		{"1MiB", "1m", 1 << 20, time.Minute, ""},
		{"256MiB", "250ms", 256 << 20, 250 * time.Millisecond, ""},
		{"0", "", 0, 0, ""},
		{"0", "2m", 0, 0, ""},
		{"0B", "0", 0, 0, ""},
		{"0", "soon", 0, 0, `TIPGATE_CACHE_HOT_TTL: "soon" is not a duration`},
		{"-1", "", 0, 0, `TIPGATE_CACHE_HOT_BYTES: "-1" is not a size`},
		{"1023KiB", "", 0, 0, `TIPGATE_CACHE_HOT_BYTES: "1023KiB" is less than 1MiB, too small to cache anything; use 1MiB or more, or 0 to turn the hot tier off`},
		{"64MB", "0", 0, 0, `TIPGATE_CACHE_HOT_TTL: "0" must be more than zero`},
		{"64MB", "-5s", 0, 0, `TIPGATE_CACHE_HOT_TTL: "-5s" must be more than zero`},
		{"", "61s", 0, 0, `TIPGATE_CACHE_HOT_TTL: "61s" is more than 1m0s: another replica's refresh or purge`},
		{"lots", "1h", 0, 0, "TIPGATE_CACHE_HOT_BYTES: \"lots\" is not a size; write a whole number of bytes, optionally with a unit such as 64MiB, 1GiB or 512MB\nTIPGATE_CACHE_HOT_TTL: \"1h\" is more than 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.bytes+","+tt.ttl, func(t *testing.T) {
			env := map[string]string{}
			if tt.bytes != "" {
				env["TIPGATE_CACHE_HOT_BYTES"] = tt.bytes
			}
			if tt.ttl != "" {
				env["TIPGATE_CACHE_HOT_TTL"] = tt.ttl
			}
			c, err := load(with(f.PFXEnv(), env))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Load: %v, want it accepted", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("Load: %v, want %q", err, tt.wantErr)
			case err == nil && (c.HotCacheBytes != tt.wantBytes || c.HotCacheTTL != tt.wantTTL):
				t.Errorf("Load: %d bytes, TTL %v; want %d, %v", c.HotCacheBytes, c.HotCacheTTL, tt.wantBytes, tt.wantTTL)
			}
		})
	}
}

func TestLoadTrustedProxies(t *testing.T) {
	f := newFixture(t)
	p := netip.MustParsePrefix
	tests := []struct {
		value string
		want  []netip.Prefix
	}{
		{"", nil},
		{"none", nil},
		{"10.0.0.1", []netip.Prefix{p("10.0.0.1/32")}},
		{"10.9.8.7/16, 2001:db8::1, fd00::/8,", []netip.Prefix{p("10.9.0.0/16"), p("2001:db8::1/128"), p("fd00::/8")}},
		{"::ffff:192.0.2.1", []netip.Prefix{p("192.0.2.1/32")}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_TRUSTED_PROXIES": tt.value}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.TrustedProxies, tt.want) {
				t.Errorf("TrustedProxies = %v, want %v", c.TrustedProxies, tt.want)
			}
		})
	}
}

// TestLoadRedisMode: TIPGATE_REDIS_MODE is single, cluster or sentinel,
// and a URL that does not fit it is a problem naming both variables and
// never the URL's password.
func TestLoadRedisMode(t *testing.T) {
	f := newFixture(t)
	const pw = "redis-Pw-91"
	tests := []struct {
		mode, url string
		want      cache.RedisMode
		wantErr   string // "" means accepted; else the whole error's prefix
	}{
		{"", "", cache.RedisSingle, ""},
		{"", "redis://127.0.0.1:6379/2", cache.RedisSingle, ""},
		{"single", "redis://:" + pw + "@127.0.0.1:6379/2", cache.RedisSingle, ""},
		{"Cluster", "", cache.RedisCluster, ""},
		{"cluster", "redis://:" + pw + "@h1:7000?addr=h2:7001&addr=h3:7002", cache.RedisCluster, ""},
		{"sentinel", "redis://:" + pw + "@s1:26379/0?addr=s2:26379&master_name=mymaster", cache.RedisSentinel, ""},
		{"ring", "", "", `TIPGATE_REDIS_MODE: "ring" is not a Redis mode: use single, cluster or sentinel`},
		{"single", "redis://:" + pw + "@h1:7000?addr=h2:7001", "", "TIPGATE_REDIS_URL: does not fit TIPGATE_REDIS_MODE=single: addr= and master_name="},
		{"", "redis://h1:7000?addr=h2:7001", "", "TIPGATE_REDIS_URL: does not fit TIPGATE_REDIS_MODE=single"},
		{"cluster", "redis://:" + pw + "@h1:7000/2?addr=h2:7001", "", "TIPGATE_REDIS_URL: does not fit TIPGATE_REDIS_MODE=cluster: a cluster has only database 0"},
		{"cluster", "unix:///run/redis.sock", "", "TIPGATE_REDIS_URL: does not fit TIPGATE_REDIS_MODE=cluster"},
		{"sentinel", "redis://:" + pw + "@s1:26379/0?addr=s2:26379", "", "TIPGATE_REDIS_URL: does not fit TIPGATE_REDIS_MODE=sentinel: sentinel mode needs the master's name as master_name="},
		{"cluster", "redis://:" + pw + "@h1:7000?addr=" + pw, "", "TIPGATE_REDIS_URL: is not a Redis URL that tipgate can use"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+tt.url, func(t *testing.T) {
			env := f.PFXEnv()
			if tt.mode != "" {
				env = with(env, map[string]string{"TIPGATE_REDIS_MODE": tt.mode})
			}
			if tt.url != "" {
				env = with(env, map[string]string{"TIPGATE_REDIS_URL": tt.url})
			}
			c, err := load(env)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Load: %v, want it accepted", err)
			case tt.wantErr == "" && c.RedisMode != tt.want:
				t.Errorf("RedisMode = %q, want %q", c.RedisMode, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("Load: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
