package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/config/configtest"
	"github.com/tipgate/tipgate/internal/localnet"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func newFixture(t *testing.T) *configtest.Fixture { return configtest.NewFixture(t) }

// with returns a copy of env changed by changes; an empty value unsets.
func with(env, changes map[string]string) map[string]string { return configtest.With(env, changes) }

func load(env map[string]string) (*Config, error) {
	return Load(func(k string) string { return env[k] }, os.ReadFile)
}

// problems returns Load's problems, failing the test if err is not *Problems.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want problems")
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error is %T (%v), want *Problems", err, err)
	}
	return ps.List
}

func vars(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Var
	}
	return out
}

func TestLoadDefaults(t *testing.T) {
	f := newFixture(t)
	c, err := load(map[string]string{"TIPGATE_TIP_TOKEN": "tok", "TIPGATE_API_KEYS_FILE": f.Keys})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		Addr:             ":8080",
		TIPURL:           "https://tip.kaspersky.com",
		TIPToken:         "tok",
		TIPTimeout:       30 * time.Second,
		RedisMode:        cache.RedisSingle,
		MemoryCacheBytes: 256 << 20,
		HotCacheBytes:    64 << 20,
		HotCacheTTL:      5 * time.Second,
		CacheTTL:         24 * time.Hour,
		CacheTTLGrey:     time.Hour,
		CacheStale:       168 * time.Hour,
		DefaultLimit:     10,
		TIPDailyBudget:   0,
		TIPConcurrency:   16,
		TIPProbe:         true,
		LocalNets:        localnet.DefaultNets(),
		LocalDomains:     localnet.DefaultDomains(),
		Auth:             true,
		APIKeysFile:      f.Keys,
		APIKeys:          []byte(f.KeysJSON),
		LogLevel:         slog.LevelInfo,
		ShutdownTimeout:  15 * time.Second,
		RequestTimeout:   60 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", *c, *want)
	}
}

func TestLoadEveryVariable(t *testing.T) {
	f := newFixture(t)
	env := with(f.PFXEnv(), map[string]string{
		"TIPGATE_ADDR":               "127.0.0.1:9443",
		"TIPGATE_TLS_CERT_FILE":      f.Files.ServerCert,
		"TIPGATE_TLS_KEY_FILE":       f.Files.ServerKey,
		"TIPGATE_TIP_URL":            "https://127.0.0.1:8443/",
		"TIPGATE_TIP_CA_FILE":        f.Files.CA,
		"TIPGATE_TIP_TIMEOUT":        "5s",
		"TIPGATE_REDIS_URL":          "rediss://user:pw@redis.example:26380/2?addr=redis2.example:26380&master_name=main",
		"TIPGATE_REDIS_MODE":         "sentinel",
		"TIPGATE_CACHE_TTL":          "12h",
		"TIPGATE_CACHE_TTL_GREY":     "30m",
		"TIPGATE_CACHE_STALE":        "0",
		"TIPGATE_DEFAULT_LIMIT":      "1000",
		"TIPGATE_TIP_DAILY_BUDGET":   "5000",
		"TIPGATE_TIP_CONCURRENCY":    "64",
		"TIPGATE_TIP_PROBE":          "off",
		"TIPGATE_KUMA_CACHE_ONLY":    "true",
		"TIPGATE_LOCAL_NETS":         " 10.0.0.0/8 , 192.0.2.7,172.16.5.4/12,",
		"TIPGATE_LOCAL_DOMAINS":      ".Corp, lan.,example.internal",
		"TIPGATE_AUTH":               "ON",
		"TIPGATE_LOG_LEVEL":          "debug",
		"TIPGATE_SHUTDOWN_TIMEOUT":   "3s",
		"TIPGATE_REQUEST_TIMEOUT":    " 90s ",
		"TIPGATE_CACHE_MEMORY_BYTES": "64MiB",
		"TIPGATE_CACHE_HOT_BYTES":    "128MiB",
		"TIPGATE_CACHE_HOT_TTL":      "2s",
		"TIPGATE_TRUSTED_PROXIES":    "10.1.2.3/8, 192.0.2.7,fd00::/8,::ffff:172.16.0.0/108",
	})
	c, err := load(env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		Addr:             "127.0.0.1:9443",
		TLSCertFile:      f.Files.ServerCert,
		TLSKeyFile:       f.Files.ServerKey,
		TIPURL:           "https://127.0.0.1:8443",
		TIPUsername:      "customer",
		TIPPassword:      "basic-Pw4420",
		TIPPFXFile:       f.Files.ClientPFX,
		TIPPFX:           f.Creds.ClientPFX,
		TIPPFXPassword:   Secret(f.Creds.PFXPassword),
		TIPCAFile:        f.Files.CA,
		TIPCA:            f.Creds.CAPEM,
		TIPTimeout:       5 * time.Second,
		RedisURL:         "rediss://user:pw@redis.example:26380/2?addr=redis2.example:26380&master_name=main",
		RedisMode:        cache.RedisSentinel,
		MemoryCacheBytes: 64 << 20,
		HotCacheBytes:    128 << 20,
		HotCacheTTL:      2 * time.Second,
		CacheTTL:         12 * time.Hour,
		CacheTTLGrey:     30 * time.Minute,
		CacheStale:       0,
		DefaultLimit:     1000,
		TIPDailyBudget:   5000,
		TIPConcurrency:   64,
		TIPProbe:         false,
		LocalNets: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("172.16.0.0/12"),
		},
		LocalDomains:  []string{"corp", "lan", "example.internal"},
		KUMACacheOnly: true,
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("fd00::/8"),
			netip.MustParsePrefix("172.16.0.0/12"),
		},
		Auth:            true,
		APIKeysFile:     f.Keys,
		APIKeys:         []byte(f.KeysJSON),
		LogLevel:        slog.LevelDebug,
		ShutdownTimeout: 3 * time.Second,
		RequestTimeout:  90 * time.Second,
	}
	// The parsed pair is checked on its own: it holds a private key.
	if c.TLSCertificate == nil || len(c.TLSCertificate.Certificate) == 0 || c.TLSCertificate.PrivateKey == nil {
		t.Errorf("TLSCertificate = %v, want the pair read from %s and %s", c.TLSCertificate, want.TLSCertFile, want.TLSKeyFile)
	}
	c.TLSCertificate = nil
	// So is the client certificate decoded from the PFX, for the same reason.
	if c.TIPCertificate == nil || c.TIPCertificate.Leaf == nil || c.TIPCertificate.Leaf.Subject.CommonName != "customer" {
		t.Errorf("TIPCertificate = %v, want the client certificate of %s", c.TIPCertificate, want.TIPPFXFile)
	}
	c.TIPCertificate = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %#v\nwant %#v", *c, *want)
	}
}

func TestLoadSecretFiles(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		variable string
		content  string
		base     map[string]string
		get      func(*Config) string
		want     string
	}{
		{"username", "TIPGATE_TIP_USERNAME", "alice\n", f.PFXEnv(), func(c *Config) string { return c.TIPUsername }, "alice"},
		{"password", "TIPGATE_TIP_PASSWORD", "pa ss \r\n", f.PFXEnv(), func(c *Config) string { return c.TIPPassword.Reveal() }, "pa ss "},
		{"pfx password", "TIPGATE_TIP_PFX_PASSWORD", f.Creds.PFXPassword + "\n", f.PFXEnv(), func(c *Config) string { return c.TIPPFXPassword.Reveal() }, f.Creds.PFXPassword},
		{"token", "TIPGATE_TIP_TOKEN", "tok\n\n", map[string]string{"TIPGATE_API_KEYS_FILE": f.Keys}, func(c *Config) string { return c.TIPToken.Reveal() }, "tok\n"},
		{"redis url", "TIPGATE_REDIS_URL", "redis://:pw@127.0.0.1:6379/1", f.PFXEnv(), func(c *Config) string { return c.RedisURL.Reveal() }, "redis://:pw@127.0.0.1:6379/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := f.Write(t, tt.variable, tt.content)
			env := with(tt.base, map[string]string{tt.variable: "", tt.variable + "_FILE": path})
			c, err := load(env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadSecretBothForms(t *testing.T) {
	f := newFixture(t)
	path := f.Write(t, "secret", "from-file\n")
	for _, name := range []string{"TIPGATE_TIP_USERNAME", "TIPGATE_TIP_PASSWORD", "TIPGATE_TIP_PFX_PASSWORD", "TIPGATE_TIP_TOKEN", "TIPGATE_REDIS_URL"} {
		t.Run(name, func(t *testing.T) {
			env := with(f.PFXEnv(), map[string]string{name: "direct-value", name + "_FILE": path})
			if name == "TIPGATE_TIP_TOKEN" {
				env = map[string]string{name: "direct-value", name + "_FILE": path, "TIPGATE_API_KEYS_FILE": f.Keys}
			}
			_, err := load(env)
			ps := problems(t, err)
			if got, want := vars(ps), []string{name}; !slices.Equal(got, want) {
				t.Fatalf("problems name %v, want %v (%v)", got, want, err)
			}
			if want := name + "_FILE; set only one"; !strings.Contains(ps[0].Msg, want) {
				t.Errorf("got %q, want it to contain %q", ps[0].Msg, want)
			}
			if strings.Contains(err.Error(), "direct-value") || strings.Contains(err.Error(), "from-file") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// TestLoadBadValues runs every bad configuration of configtest's table that
// is a matter of the variables alone (the rest are refused by what is built
// from them, tested in cmd/tipgate) and checks that Load refuses it with one
// problem, naming the variable to fix.
func TestLoadBadValues(t *testing.T) {
	f := newFixture(t)
	for _, tt := range f.BadCases(t) {
		t.Run(tt.Name, func(t *testing.T) {
			c, err := load(tt.Env)
			if tt.Component != "" {
				if err != nil {
					t.Fatalf("Load refused a configuration for %s to refuse: %v", tt.Component, err)
				}
				return
			}
			if c != nil {
				t.Errorf("Load returned a Config with its error")
			}
			ps := problems(t, err)
			if got, want := vars(ps), []string{tt.Var}; !slices.Equal(got, want) {
				t.Errorf("problems name %v, want %v:\n%v", got, want, err)
			}
			if line := err.Error(); !strings.HasPrefix(line, tt.Var+": ") || strings.Contains(line, "\n") {
				t.Errorf("got %q, want one line starting %q", line, tt.Var+": ")
			}
			if strings.HasSuffix(err.Error(), "..") {
				t.Errorf("the sentence %q ends in two dots", err)
			}
		})
	}
}

func TestLoadLocalNets(t *testing.T) {
	f := newFixture(t)
	p := netip.MustParsePrefix
	tests := []struct {
		value string
		want  []netip.Prefix
	}{
		{"", localnet.DefaultNets()},
		{"none", []netip.Prefix{}},
		{" NONE ", []netip.Prefix{}},
		{"10.0.0.0/8", []netip.Prefix{p("10.0.0.0/8")}},
		{"192.0.2.7", []netip.Prefix{p("192.0.2.7/32")}},
		{"10.1.2.3/8", []netip.Prefix{p("10.0.0.0/8")}},
		{"0.0.0.0/0", []netip.Prefix{p("0.0.0.0/0")}},
		{" 10.0.0.0/8 ,, 192.168.0.0/16 , 127.0.0.1,", []netip.Prefix{p("10.0.0.0/8"), p("192.168.0.0/16"), p("127.0.0.1/32")}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_LOCAL_NETS": tt.value}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.LocalNets, tt.want) {
				t.Errorf("LocalNets = %v, want %v", c.LocalNets, tt.want)
			}
		})
	}
}

func TestLoadLocalDomains(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		value string
		want  []string
	}{
		{"", localnet.DefaultDomains()},
		{"none", []string{}},
		{"None", []string{}},
		{"corp", []string{"corp"}},
		{".Corp.", []string{"corp"}},
		{"..lan, Example.Internal ,,_srv.x-y.test", []string{"lan", "example.internal", "_srv.x-y.test"}},
		{"xn--bcher-kva.example", []string{"xn--bcher-kva.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_LOCAL_DOMAINS": tt.value}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.LocalDomains, tt.want) {
				t.Errorf("LocalDomains = %q, want %q", c.LocalDomains, tt.want)
			}
		})
	}
}

// TestLoadLocalListEntries: every wrong entry of a list is a problem of its
// own that quotes it, so one reading of the error fixes them all.
func TestLoadLocalListEntries(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		variable, value string
		entries         []string
	}{
		{"TIPGATE_LOCAL_NETS", "10.0.0.0/8, 10.0.0.300 ,fc00::/7,192.168.0.0/16,lan", []string{"10.0.0.300", "fc00::/7", "lan"}},
		{"TIPGATE_LOCAL_DOMAINS", "corp, my corp,a..b,lan,10.0.0.0/8", []string{"my corp", "a..b", "10.0.0.0/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			_, err := load(with(f.PFXEnv(), map[string]string{tt.variable: tt.value}))
			ps := problems(t, err)
			if len(ps) != len(tt.entries) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.entries), err)
			}
			for i, pr := range ps {
				if want := strconv.Quote(tt.entries[i]); pr.Var != tt.variable || !strings.HasPrefix(pr.Msg, want+" ") {
					t.Errorf("problem %d is %q, want one naming %s that starts with %s", i, pr.Error(), tt.variable, want)
				}
			}
		})
	}
}

func TestLoadTIPProbe(t *testing.T) {
	f := newFixture(t)
	for value, want := range map[string]bool{"": true, "on": true, "TRUE": true, "1": true, "off": false, "false": false, "0": false} {
		c, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_TIP_PROBE": value}))
		if err != nil {
			t.Fatalf("%q: Load: %v", value, err)
		}
		if c.TIPProbe != want {
			t.Errorf("%q: TIPProbe = %v, want %v", value, c.TIPProbe, want)
		}
	}
}

func TestLoadKUMACacheOnly(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{"", false}, {"on", true}, {"TRUE", true}, {"1", true}, {"off", false}, {"false", false}, {"0", false},
	} {
		c, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_KUMA_CACHE_ONLY": tt.value}))
		if err != nil {
			t.Fatalf("%q: Load: %v", tt.value, err)
		}
		if c.KUMACacheOnly != tt.want {
			t.Errorf("%q: KUMACacheOnly = %v, want %v", tt.value, c.KUMACacheOnly, tt.want)
		}
	}
}

func TestSummaryLocalListsOff(t *testing.T) {
	f := newFixture(t)
	c, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_LOCAL_NETS": "none", "TIPGATE_LOCAL_DOMAINS": "corp, .lan"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, want := range []string{`"local_nets":"none"`, `"local_domains":"corp,lan"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("slog line %s lacks %s", buf.String(), want)
		}
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	f := newFixture(t)
	env := with(f.PFXEnv(), map[string]string{
		"TIPGATE_ADDR":             "nope",
		"TIPGATE_TIP_PFX_PASSWORD": "wrong",
		"TIPGATE_TIP_USERNAME":     "",
		"TIPGATE_CACHE_TTL":        "forever",
		"TIPGATE_DEFAULT_LIMIT":    "0",
		"TIPGATE_API_KEYS_FILE":    "",
		"TIPGATE_LOG_LEVEL":        "loud",
	})
	_, err := load(env)
	want := []string{
		"TIPGATE_ADDR",
		"TIPGATE_TIP_USERNAME",
		"TIPGATE_TIP_PFX_PASSWORD",
		"TIPGATE_CACHE_TTL",
		"TIPGATE_DEFAULT_LIMIT",
		"TIPGATE_API_KEYS_FILE",
		"TIPGATE_LOG_LEVEL",
	}
	if got := vars(problems(t, err)); !slices.Equal(got, want) {
		t.Errorf("problems name %v, want %v", got, want)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, want[i]+": ") {
			t.Errorf("line %d is %q, want it to start with %q", i, line, want[i]+": ")
		}
	}
}

func TestLoadWrongPFXPassword(t *testing.T) {
	f := newFixture(t)
	_, err := load(with(f.PFXEnv(), map[string]string{"TIPGATE_TIP_PFX_PASSWORD": "not-the-password"}))
	want := "TIPGATE_TIP_PFX_PASSWORD: the password does not open the PFX file TIPGATE_TIP_PFX_FILE (" + f.Files.ClientPFX + ")"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if !errors.Is(err, pkcs12.ErrIncorrectPassword) {
		t.Errorf("errors.Is(err, pkcs12.ErrIncorrectPassword) = false, want true")
	}
}

func TestLoadMissingFiles(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		variable string
		base     map[string]string
	}{
		{"TIPGATE_TIP_PFX_FILE", f.PFXEnv()},
		{"TIPGATE_TIP_CA_FILE", f.PFXEnv()},
		{"TIPGATE_API_KEYS_FILE", f.PFXEnv()},
		{"TIPGATE_TIP_PASSWORD_FILE", with(f.PFXEnv(), map[string]string{"TIPGATE_TIP_PASSWORD": ""})},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			_, err := load(with(tt.base, map[string]string{tt.variable: "/x/y.pfx"}))
			want := tt.variable + ": open /x/y.pfx: no such file or directory"
			if err == nil || err.Error() != want {
				t.Errorf("got %v, want %q", err, want)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = false, want true")
			}
		})
	}
}

func TestLoadAuth(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		value string
		want  bool
	}{
		{"off", false}, {"OFF", false}, {"false", false}, {"0", false},
		{"on", true}, {"true", true}, {"1", true}, {"", true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			env := map[string]string{"TIPGATE_TIP_TOKEN": "tok", "TIPGATE_AUTH": tt.value}
			if tt.want {
				env["TIPGATE_API_KEYS_FILE"] = f.Keys
			}
			c, err := load(env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Auth != tt.want {
				t.Errorf("got Auth %v, want %v", c.Auth, tt.want)
			}
			if !c.Auth && c.APIKeys != nil {
				t.Errorf("got APIKeys %q with auth off, want none", c.APIKeys)
			}
		})
	}
}

// TestSecretsNeverShown feeds Load distinctive secrets, provokes problems
// that concern them, and looks for them in every text Load's results make.
func TestSecretsNeverShown(t *testing.T) {
	f := newFixture(t)
	const (
		password = "pw-Zx81qq"
		token    = "tok-Qv55ww"
		redisPW  = "redispw-Kk29"
	)
	secrets := []string{password, token, redisPW, f.Creds.PFXPassword}
	assertClean := func(t *testing.T, what, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows secret %q:\n%s", what, s, text)
			}
		}
	}

	t.Run("problems", func(t *testing.T) {
		cases := []map[string]string{
			with(f.PFXEnv(), map[string]string{"TIPGATE_TIP_PASSWORD": password, "TIPGATE_TIP_TOKEN": token}),
			with(f.PFXEnv(), map[string]string{"TIPGATE_TIP_PFX_PASSWORD": password}),
			with(f.PFXEnv(), map[string]string{"TIPGATE_REDIS_URL": "redis://" + redisPW + ":" + redisPW + "@127.0.0.1/" + redisPW}),
			with(f.PFXEnv(), map[string]string{"TIPGATE_REDIS_URL": "redis://u:" + redisPW + "@127.0.0.1:" + redisPW}),
			with(f.PFXEnv(), map[string]string{"TIPGATE_REDIS_URL": redisPW + ":x@host"}),
			with(f.PFXEnv(), map[string]string{"TIPGATE_REDIS_URL": "http://u:" + redisPW + "@host"}),
		}
		for i, env := range cases {
			_, err := load(env)
			if err == nil {
				t.Fatalf("case %d: Load succeeded, want a problem", i)
			}
			assertClean(t, fmt.Sprintf("case %d: Error()", i), err.Error())
		}
	})

	t.Run("summary", func(t *testing.T) {
		c, err := load(with(f.PFXEnv(), map[string]string{
			"TIPGATE_TIP_PASSWORD": password,
			"TIPGATE_REDIS_URL":    "redis://" + redisPW + "@127.0.0.1:6379/3",
		}))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
		logged := buf.String()
		assertClean(t, "slog line", logged)
		for _, want := range []string{
			`"redis_url":"redis://<secret>@127.0.0.1:6379/3"`, `"tip_auth":"pfx"`, `"cache_ttl":"24h0m0s"`,
			`"tip_concurrency":16`, `"tip_probe":true`, `"kuma_cache_only":false`,
			`"local_nets":"0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,`, `"local_domains":"localhost,local,internal,home.arpa,lan,home,corp"`,
		} {
			if !strings.Contains(logged, want) {
				t.Errorf("slog line %s lacks %s", logged, want)
			}
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		assertClean(t, "json.Marshal", string(js))
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assertClean(t, verb, fmt.Sprintf(verb, *c))
		}
	})
}

func TestRedactRedisURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"rediss://user:pw@h:6380/1?dial_timeout=3s", "rediss://<secret>@h:6380/1"},
		{"unix:///run/redis.sock?db=2", "unix:///run/redis.sock"},
		{"redis://[::1", "<secret>"},
	}
	for _, tt := range tests {
		if got := redactRedisURL(Secret(tt.in)); got != tt.want {
			t.Errorf("redactRedisURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnknownVariables(t *testing.T) {
	environ := []string{
		"PATH=/bin", "TIPGATE_ADDR=:1", "TIPGATE_TIP_PASSWORD_FILE=/x", "TIPGATE_CACHE_TTL_GRAY=1h",
		"TIPGATE_REDIS_URL_FILE=/y", "TIPGATE_TIP_CA_FILE_FILE=/z", "TIPGATE_CACHE_TTL_GRAY=2h",
		"TIPGATE_TIP_CONCURRENCY=8", "TIPGATE_TIP_PROBE=off", "TIPGATE_LOCAL_NETS=none", "TIPGATE_LOCAL_DOMAINS=corp",
		"TIPGATE_KUMA_CACHE_ONLY=on",
	}
	got := UnknownVariables(environ)
	want := []string{"TIPGATE_CACHE_TTL_GRAY", "TIPGATE_TIP_CA_FILE_FILE"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
