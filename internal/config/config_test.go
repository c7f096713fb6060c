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
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/localnet"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// fixture is a directory of real credential files, written the way an
// operator would mount them.
type fixture struct {
	dir   string
	creds testCreds
	files testFiles
	keys  string // an API keys file
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	creds := newTestCreds(t)
	dir := t.TempDir()
	f := fixture{dir: dir, creds: creds, files: creds.writeFiles(t, dir)}
	f.keys = f.write(t, "keys.json", `{"keys": []}`)
	return f
}

// write puts content in a file of the fixture's directory and returns its path.
func (f fixture) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pfxEnv is a complete, valid configuration in PFX mode with nothing else set.
func (f fixture) pfxEnv() map[string]string {
	return map[string]string{
		"TIPGATE_TIP_PFX_FILE":     f.files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": f.creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     "customer",
		"TIPGATE_TIP_PASSWORD":     "basic-Pw4420",
		"TIPGATE_API_KEYS_FILE":    f.keys,
	}
}

// with returns a copy of env changed by changes; an empty value unsets.
func with(env, changes map[string]string) map[string]string {
	out := make(map[string]string, len(env)+len(changes))
	for k, v := range env {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

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
	c, err := load(map[string]string{"TIPGATE_TIP_TOKEN": "tok", "TIPGATE_API_KEYS_FILE": f.keys})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		Addr:             ":8080",
		TIPURL:           "https://tip.kaspersky.com",
		TIPToken:         "tok",
		TIPTimeout:       30 * time.Second,
		MemoryCacheBytes: 256 << 20,
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
		APIKeysFile:      f.keys,
		APIKeys:          []byte(`{"keys": []}`),
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
	env := with(f.pfxEnv(), map[string]string{
		"TIPGATE_ADDR":               "127.0.0.1:9443",
		"TIPGATE_TLS_CERT_FILE":      f.files.ServerCert,
		"TIPGATE_TLS_KEY_FILE":       f.files.ServerKey,
		"TIPGATE_TIP_URL":            "https://127.0.0.1:8443/",
		"TIPGATE_TIP_CA_FILE":        f.files.CA,
		"TIPGATE_TIP_TIMEOUT":        "5s",
		"TIPGATE_REDIS_URL":          "rediss://user:pw@redis.example:6380/2",
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
	})
	c, err := load(env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		Addr:             "127.0.0.1:9443",
		TLSCertFile:      f.files.ServerCert,
		TLSKeyFile:       f.files.ServerKey,
		TIPURL:           "https://127.0.0.1:8443",
		TIPUsername:      "customer",
		TIPPassword:      "basic-Pw4420",
		TIPPFXFile:       f.files.ClientPFX,
		TIPPFX:           f.creds.ClientPFX,
		TIPPFXPassword:   Secret(f.creds.PFXPassword),
		TIPCAFile:        f.files.CA,
		TIPCA:            f.creds.CAPEM,
		TIPTimeout:       5 * time.Second,
		RedisURL:         "rediss://user:pw@redis.example:6380/2",
		MemoryCacheBytes: 64 << 20,
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
		LocalDomains:    []string{"corp", "lan", "example.internal"},
		KUMACacheOnly:   true,
		Auth:            true,
		APIKeysFile:     f.keys,
		APIKeys:         []byte(`{"keys": []}`),
		LogLevel:        slog.LevelDebug,
		ShutdownTimeout: 3 * time.Second,
		RequestTimeout:  90 * time.Second,
	}
	// The parsed pair is checked on its own: it holds a private key.
	if c.TLSCertificate == nil || len(c.TLSCertificate.Certificate) == 0 || c.TLSCertificate.PrivateKey == nil {
		t.Errorf("TLSCertificate = %v, want the pair read from %s and %s", c.TLSCertificate, want.TLSCertFile, want.TLSKeyFile)
	}
	c.TLSCertificate = nil
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
		{"username", "TIPGATE_TIP_USERNAME", "alice\n", f.pfxEnv(), func(c *Config) string { return c.TIPUsername }, "alice"},
		{"password", "TIPGATE_TIP_PASSWORD", "pa ss \r\n", f.pfxEnv(), func(c *Config) string { return c.TIPPassword.Reveal() }, "pa ss "},
		{"pfx password", "TIPGATE_TIP_PFX_PASSWORD", f.creds.PFXPassword + "\n", f.pfxEnv(), func(c *Config) string { return c.TIPPFXPassword.Reveal() }, f.creds.PFXPassword},
		{"token", "TIPGATE_TIP_TOKEN", "tok\n\n", map[string]string{"TIPGATE_API_KEYS_FILE": f.keys}, func(c *Config) string { return c.TIPToken.Reveal() }, "tok\n"},
		{"redis url", "TIPGATE_REDIS_URL", "redis://:pw@127.0.0.1:6379/1", f.pfxEnv(), func(c *Config) string { return c.RedisURL.Reveal() }, "redis://:pw@127.0.0.1:6379/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := f.write(t, tt.variable, tt.content)
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
	path := f.write(t, "secret", "from-file\n")
	for _, name := range []string{"TIPGATE_TIP_USERNAME", "TIPGATE_TIP_PASSWORD", "TIPGATE_TIP_PFX_PASSWORD", "TIPGATE_TIP_TOKEN", "TIPGATE_REDIS_URL"} {
		t.Run(name, func(t *testing.T) {
			env := with(f.pfxEnv(), map[string]string{name: "direct-value", name + "_FILE": path})
			if name == "TIPGATE_TIP_TOKEN" {
				env = map[string]string{name: "direct-value", name + "_FILE": path, "TIPGATE_API_KEYS_FILE": f.keys}
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

func TestLoadBadValues(t *testing.T) {
	f := newFixture(t)
	notPEM := f.write(t, "not.pem", "hello")
	empty := f.write(t, "empty", "\n")
	missing := filepath.Join(f.dir, "missing")
	token := map[string]string{"TIPGATE_TIP_TOKEN": "tok", "TIPGATE_API_KEYS_FILE": f.keys}

	tests := []struct {
		name    string
		base    map[string]string // nil means f.pfxEnv()
		changes map[string]string
		wantVar string
	}{
		{"addr without port", nil, map[string]string{"TIPGATE_ADDR": "8080"}, "TIPGATE_ADDR"},
		{"addr empty port", nil, map[string]string{"TIPGATE_ADDR": "localhost:"}, "TIPGATE_ADDR"},
		{"tls cert without key", nil, map[string]string{"TIPGATE_TLS_CERT_FILE": f.files.ServerCert}, "TIPGATE_TLS_KEY_FILE"},
		{"tls key without cert", nil, map[string]string{"TIPGATE_TLS_KEY_FILE": f.files.ServerKey}, "TIPGATE_TLS_CERT_FILE"},
		{"tls pair mismatched", nil, map[string]string{"TIPGATE_TLS_CERT_FILE": f.files.CA, "TIPGATE_TLS_KEY_FILE": f.files.ServerKey}, "TIPGATE_TLS_CERT_FILE"},
		{"tls cert missing", nil, map[string]string{"TIPGATE_TLS_CERT_FILE": missing, "TIPGATE_TLS_KEY_FILE": f.files.ServerKey}, "TIPGATE_TLS_CERT_FILE"},
		{"tls key missing", nil, map[string]string{"TIPGATE_TLS_CERT_FILE": f.files.ServerCert, "TIPGATE_TLS_KEY_FILE": missing}, "TIPGATE_TLS_KEY_FILE"},
		{"tip url scheme", nil, map[string]string{"TIPGATE_TIP_URL": "ftp://tip.example"}, "TIPGATE_TIP_URL"},
		{"tip url relative", nil, map[string]string{"TIPGATE_TIP_URL": "tip.kaspersky.com"}, "TIPGATE_TIP_URL"},
		{"tip url credentials", nil, map[string]string{"TIPGATE_TIP_URL": "https://u:p@tip.example"}, "TIPGATE_TIP_URL"},
		{"tip url query", nil, map[string]string{"TIPGATE_TIP_URL": "https://tip.example/?a=b"}, "TIPGATE_TIP_URL"},
		{"tip url unparsable", nil, map[string]string{"TIPGATE_TIP_URL": "http://[::1"}, "TIPGATE_TIP_URL"},
		{"no tip credentials", map[string]string{"TIPGATE_API_KEYS_FILE": f.keys}, nil, "TIPGATE_TIP_PFX_FILE"},
		{"pfx without username", nil, map[string]string{"TIPGATE_TIP_USERNAME": ""}, "TIPGATE_TIP_USERNAME"},
		{"pfx without password", nil, map[string]string{"TIPGATE_TIP_PASSWORD": ""}, "TIPGATE_TIP_PASSWORD"},
		{"pfx without pfx password", nil, map[string]string{"TIPGATE_TIP_PFX_PASSWORD": ""}, "TIPGATE_TIP_PFX_PASSWORD"},
		{"credentials without pfx", nil, map[string]string{"TIPGATE_TIP_PFX_FILE": ""}, "TIPGATE_TIP_PFX_FILE"},
		{"token with pfx", nil, map[string]string{"TIPGATE_TIP_TOKEN": "tok"}, "TIPGATE_TIP_TOKEN"},
		{"token with username", token, map[string]string{"TIPGATE_TIP_USERNAME": "alice"}, "TIPGATE_TIP_TOKEN"},
		{"pfx missing", nil, map[string]string{"TIPGATE_TIP_PFX_FILE": missing}, "TIPGATE_TIP_PFX_FILE"},
		{"pfx not pkcs12", nil, map[string]string{"TIPGATE_TIP_PFX_FILE": f.files.CA}, "TIPGATE_TIP_PFX_FILE"},
		{"pfx wrong password", nil, map[string]string{"TIPGATE_TIP_PFX_PASSWORD": "wrong"}, "TIPGATE_TIP_PFX_PASSWORD"},
		{"password file missing", nil, map[string]string{"TIPGATE_TIP_PASSWORD": "", "TIPGATE_TIP_PASSWORD_FILE": missing}, "TIPGATE_TIP_PASSWORD_FILE"},
		{"password file empty", nil, map[string]string{"TIPGATE_TIP_PASSWORD": "", "TIPGATE_TIP_PASSWORD_FILE": empty}, "TIPGATE_TIP_PASSWORD_FILE"},
		{"pfx password file missing", nil, map[string]string{"TIPGATE_TIP_PFX_PASSWORD": "", "TIPGATE_TIP_PFX_PASSWORD_FILE": missing}, "TIPGATE_TIP_PFX_PASSWORD_FILE"},
		{"token file missing", token, map[string]string{"TIPGATE_TIP_TOKEN": "", "TIPGATE_TIP_TOKEN_FILE": missing}, "TIPGATE_TIP_TOKEN_FILE"},
		{"ca missing", nil, map[string]string{"TIPGATE_TIP_CA_FILE": missing}, "TIPGATE_TIP_CA_FILE"},
		{"ca not pem", nil, map[string]string{"TIPGATE_TIP_CA_FILE": notPEM}, "TIPGATE_TIP_CA_FILE"},
		{"tip timeout bare number", nil, map[string]string{"TIPGATE_TIP_TIMEOUT": "30"}, "TIPGATE_TIP_TIMEOUT"},
		{"tip timeout zero", nil, map[string]string{"TIPGATE_TIP_TIMEOUT": "0s"}, "TIPGATE_TIP_TIMEOUT"},
		{"tip timeout negative", nil, map[string]string{"TIPGATE_TIP_TIMEOUT": "-1s"}, "TIPGATE_TIP_TIMEOUT"},
		{"redis scheme", nil, map[string]string{"TIPGATE_REDIS_URL": "http://127.0.0.1:6379"}, "TIPGATE_REDIS_URL"},
		{"redis bare host", nil, map[string]string{"TIPGATE_REDIS_URL": "127.0.0.1:6379"}, "TIPGATE_REDIS_URL"},
		{"redis database", nil, map[string]string{"TIPGATE_REDIS_URL": "redis://127.0.0.1/x"}, "TIPGATE_REDIS_URL"},
		{"redis option", nil, map[string]string{"TIPGATE_REDIS_URL": "redis://127.0.0.1/0?bogus=1"}, "TIPGATE_REDIS_URL"},
		{"redis unix without path", nil, map[string]string{"TIPGATE_REDIS_URL": "unix://"}, "TIPGATE_REDIS_URL"},
		{"redis unparsable", nil, map[string]string{"TIPGATE_REDIS_URL": "redis://[::1"}, "TIPGATE_REDIS_URL"},
		{"redis file missing", nil, map[string]string{"TIPGATE_REDIS_URL_FILE": missing}, "TIPGATE_REDIS_URL_FILE"},
		{"cache ttl zero", nil, map[string]string{"TIPGATE_CACHE_TTL": "0"}, "TIPGATE_CACHE_TTL"},
		{"cache ttl grey bare", nil, map[string]string{"TIPGATE_CACHE_TTL_GREY": "1"}, "TIPGATE_CACHE_TTL_GREY"},
		{"cache stale negative", nil, map[string]string{"TIPGATE_CACHE_STALE": "-1h"}, "TIPGATE_CACHE_STALE"},
		{"cache stale words", nil, map[string]string{"TIPGATE_CACHE_STALE": "a week"}, "TIPGATE_CACHE_STALE"},
		{"memory zero", nil, map[string]string{"TIPGATE_CACHE_MEMORY_BYTES": "0"}, "TIPGATE_CACHE_MEMORY_BYTES"},
		{"memory unit", nil, map[string]string{"TIPGATE_CACHE_MEMORY_BYTES": "64XB"}, "TIPGATE_CACHE_MEMORY_BYTES"},
		{"memory negative", nil, map[string]string{"TIPGATE_CACHE_MEMORY_BYTES": "-5"}, "TIPGATE_CACHE_MEMORY_BYTES"},
		{"memory overflow", nil, map[string]string{"TIPGATE_CACHE_MEMORY_BYTES": "9999999999TiB"}, "TIPGATE_CACHE_MEMORY_BYTES"},
		{"limit zero", nil, map[string]string{"TIPGATE_DEFAULT_LIMIT": "0"}, "TIPGATE_DEFAULT_LIMIT"},
		{"limit too big", nil, map[string]string{"TIPGATE_DEFAULT_LIMIT": "1001"}, "TIPGATE_DEFAULT_LIMIT"},
		{"limit words", nil, map[string]string{"TIPGATE_DEFAULT_LIMIT": "ten"}, "TIPGATE_DEFAULT_LIMIT"},
		{"budget negative", nil, map[string]string{"TIPGATE_TIP_DAILY_BUDGET": "-1"}, "TIPGATE_TIP_DAILY_BUDGET"},
		{"budget words", nil, map[string]string{"TIPGATE_TIP_DAILY_BUDGET": "lots"}, "TIPGATE_TIP_DAILY_BUDGET"},
		{"concurrency zero", nil, map[string]string{"TIPGATE_TIP_CONCURRENCY": "0"}, "TIPGATE_TIP_CONCURRENCY"},
		{"concurrency too big", nil, map[string]string{"TIPGATE_TIP_CONCURRENCY": "1025"}, "TIPGATE_TIP_CONCURRENCY"},
		{"concurrency words", nil, map[string]string{"TIPGATE_TIP_CONCURRENCY": "many"}, "TIPGATE_TIP_CONCURRENCY"},
		{"probe unknown", nil, map[string]string{"TIPGATE_TIP_PROBE": "sometimes"}, "TIPGATE_TIP_PROBE"},
		{"kuma cache-only unknown", nil, map[string]string{"TIPGATE_KUMA_CACHE_ONLY": "maybe"}, "TIPGATE_KUMA_CACHE_ONLY"},
		{"local nets bad address", nil, map[string]string{"TIPGATE_LOCAL_NETS": "10.0.0.0/8,10.0.0.300"}, "TIPGATE_LOCAL_NETS"},
		{"local nets bad bits", nil, map[string]string{"TIPGATE_LOCAL_NETS": "10.0.0.0/33"}, "TIPGATE_LOCAL_NETS"},
		{"local nets ipv6", nil, map[string]string{"TIPGATE_LOCAL_NETS": "fc00::/7"}, "TIPGATE_LOCAL_NETS"},
		{"local nets mapped ipv6", nil, map[string]string{"TIPGATE_LOCAL_NETS": "::ffff:10.0.0.1"}, "TIPGATE_LOCAL_NETS"},
		{"local nets zero-padded", nil, map[string]string{"TIPGATE_LOCAL_NETS": "010.0.0.0/8"}, "TIPGATE_LOCAL_NETS"},
		{"local nets only commas", nil, map[string]string{"TIPGATE_LOCAL_NETS": " , ,"}, "TIPGATE_LOCAL_NETS"},
		{"local nets none among others", nil, map[string]string{"TIPGATE_LOCAL_NETS": "none,10.0.0.0/8"}, "TIPGATE_LOCAL_NETS"},
		{"local domains empty label", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": "corp,a..b"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains space", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": "my corp"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains wildcard", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": "*.corp"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains not ascii", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": "bücher"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains kelvin sign", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": "\u212aorp"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains long label", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": strings.Repeat("a", 64)}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains long name", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": strings.Repeat("abc.", 63) + "corp"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains only dots", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": ".."}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains url", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": "http://corp"}, "TIPGATE_LOCAL_DOMAINS"},
		{"local domains only commas", nil, map[string]string{"TIPGATE_LOCAL_DOMAINS": ","}, "TIPGATE_LOCAL_DOMAINS"},
		{"keys unset", nil, map[string]string{"TIPGATE_API_KEYS_FILE": ""}, "TIPGATE_API_KEYS_FILE"},
		{"keys missing", nil, map[string]string{"TIPGATE_API_KEYS_FILE": missing}, "TIPGATE_API_KEYS_FILE"},
		{"keys empty", nil, map[string]string{"TIPGATE_API_KEYS_FILE": empty}, "TIPGATE_API_KEYS_FILE"},
		{"auth unknown", nil, map[string]string{"TIPGATE_AUTH": "maybe"}, "TIPGATE_AUTH"},
		{"log level", nil, map[string]string{"TIPGATE_LOG_LEVEL": "verbose"}, "TIPGATE_LOG_LEVEL"},
		{"shutdown zero", nil, map[string]string{"TIPGATE_SHUTDOWN_TIMEOUT": "0s"}, "TIPGATE_SHUTDOWN_TIMEOUT"},
		{"request timeout words", nil, map[string]string{"TIPGATE_REQUEST_TIMEOUT": "x"}, "TIPGATE_REQUEST_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := tt.base
			if base == nil {
				base = f.pfxEnv()
			}
			c, err := load(with(base, tt.changes))
			if c != nil {
				t.Errorf("Load returned a Config with its error")
			}
			ps := problems(t, err)
			if got, want := vars(ps), []string{tt.wantVar}; !slices.Equal(got, want) {
				t.Errorf("problems name %v, want %v:\n%v", got, want, err)
			}
			if line := err.Error(); !strings.HasPrefix(line, tt.wantVar+": ") || strings.Contains(line, "\n") {
				t.Errorf("got %q, want one line starting %q", line, tt.wantVar+": ")
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
			c, err := load(with(f.pfxEnv(), map[string]string{"TIPGATE_LOCAL_NETS": tt.value}))
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
			c, err := load(with(f.pfxEnv(), map[string]string{"TIPGATE_LOCAL_DOMAINS": tt.value}))
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
			_, err := load(with(f.pfxEnv(), map[string]string{tt.variable: tt.value}))
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
		c, err := load(with(f.pfxEnv(), map[string]string{"TIPGATE_TIP_PROBE": value}))
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
		c, err := load(with(f.pfxEnv(), map[string]string{"TIPGATE_KUMA_CACHE_ONLY": tt.value}))
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
	c, err := load(with(f.pfxEnv(), map[string]string{"TIPGATE_LOCAL_NETS": "none", "TIPGATE_LOCAL_DOMAINS": "corp, .lan"}))
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
	env := with(f.pfxEnv(), map[string]string{
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
	_, err := load(with(f.pfxEnv(), map[string]string{"TIPGATE_TIP_PFX_PASSWORD": "not-the-password"}))
	want := "TIPGATE_TIP_PFX_PASSWORD: the password does not open the PFX file TIPGATE_TIP_PFX_FILE (" + f.files.ClientPFX + ")"
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
		{"TIPGATE_TIP_PFX_FILE", f.pfxEnv()},
		{"TIPGATE_TIP_CA_FILE", f.pfxEnv()},
		{"TIPGATE_API_KEYS_FILE", f.pfxEnv()},
		{"TIPGATE_TIP_PASSWORD_FILE", with(f.pfxEnv(), map[string]string{"TIPGATE_TIP_PASSWORD": ""})},
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
				env["TIPGATE_API_KEYS_FILE"] = f.keys
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
	secrets := []string{password, token, redisPW, f.creds.PFXPassword}
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
			with(f.pfxEnv(), map[string]string{"TIPGATE_TIP_PASSWORD": password, "TIPGATE_TIP_TOKEN": token}),
			with(f.pfxEnv(), map[string]string{"TIPGATE_TIP_PFX_PASSWORD": password}),
			with(f.pfxEnv(), map[string]string{"TIPGATE_REDIS_URL": "redis://" + redisPW + ":" + redisPW + "@127.0.0.1/" + redisPW}),
			with(f.pfxEnv(), map[string]string{"TIPGATE_REDIS_URL": "redis://u:" + redisPW + "@127.0.0.1:" + redisPW}),
			with(f.pfxEnv(), map[string]string{"TIPGATE_REDIS_URL": redisPW + ":x@host"}),
			with(f.pfxEnv(), map[string]string{"TIPGATE_REDIS_URL": "http://u:" + redisPW + "@host"}),
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
		c, err := load(with(f.pfxEnv(), map[string]string{
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
