package cache_test

import (
	"strings"
	"testing"

	"github.com/tipgate/tipgate/internal/cache"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no userinfo", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"password only", "redis://:hunter2@redis:6379/1", "redis://:xxxxx@redis:6379/1"},
		{"user and password", "rediss://tipgate:hunter2@redis.example:6380", "rediss://tipgate:xxxxx@redis.example:6380"},
		{"user without password is hidden too", "redis://hunter2@redis:6379", "redis://xxxxx@redis:6379"},
		{"unix socket", "unix://:hunter2@/run/redis.sock?db=2", "unix://:xxxxx@/run/redis.sock?db=2"},
		{"unencoded @ in password", "redis://:hun@ter2@redis", "redis://:xxxxx@redis"},
		{"unencoded ? in password", "redis://u:hun?ter2@redis", "redis://u:xxxxx@redis"},
		{"unencoded # and / in password", "redis://u:h#u/n@redis", "redis://u:xxxxx@redis"},
		{"colon in password", "redis://u:a:b:c@redis", "redis://u:xxxxx@redis"},
		{"does not parse", "redis://:hun%zzter2@redis:port", "redis://:xxxxx@redis:port"},
		{"no scheme", "u:hunter2@redis:6379", "u:xxxxx@redis:6379"},
		{"query kept", "redis://redis?pool_size=5&read_timeout=1s", "redis://redis?pool_size=5&read_timeout=1s"},
		{"secret query value", "redis://redis?pool_size=5&password=hunter2&db=1", "redis://redis?pool_size=5&password=xxxxx"},
		{"secret query and userinfo", "redis://:a1@redis?sentinel_password=b2", "redis://:xxxxx@redis?sentinel_password=xxxxx"},
		{"@ in a secret query value", "redis://redis:6379?password=hun@ter2", "redis://redis:xxxxx"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cache.RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzRedactURL checks that no password put in a URL, however mangled,
// comes out of RedactURL.
func FuzzRedactURL(f *testing.F) {
	f.Add("redis", "user", "hunter22", "127.0.0.1:6379/0", "pool_size=5")
	f.Add("rediss", "", "p@ss?w#rd/", "redis.example:6380", "")
	f.Add("unix", "", "s3cret:x", "/run/redis.sock", "db=1")
	f.Add("redis", "a:b", "%zz%zz", "h", "x=1&y")
	f.Fuzz(func(t *testing.T, scheme, user, pass, host, query string) {
		raw := scheme + "://" + user + ":" + pass + "@" + host
		if query != "" {
			raw += "?" + query
		}
		for _, secret := range []string{pass, "Qz9-secret-Qz9"} {
			in := raw
			if secret != pass {
				if query == "" {
					continue // without a '?' it is part of the host, not a parameter
				}
				in += "&password=" + secret
			}
			// A password that is also part of what may be shown, or that
			// is too short to be told apart from other text, proves nothing.
			if len(secret) < 4 || strings.Contains(scheme+"://"+user+":xxxxx@"+host+"?"+query+"&password=xxxxx", secret) {
				continue
			}
			if got := cache.RedactURL(in); strings.Contains(got, secret) {
				t.Errorf("RedactURL(%q) = %q, which shows %q", in, got, secret)
			}
		}
	})
}
