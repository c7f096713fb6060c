package config

import (
	"io/fs"
	"net/url"
	"strings"
	"testing"
)

// FuzzLoad throws arbitrary values at the variables that are parsed rather
// than just read, and at the Redis URL, whose password must never be shown.
func FuzzLoad(f *testing.F) {
	f.Add("redis://u:longpassword@127.0.0.1:6379/0", "30s", "64MiB", "10", "on", "info")
	f.Add("redis://u:longpassword@127.0.0.1/longpassword", "0", "0", "0", "maybe", "loud")
	f.Add("unix://u:longpassword@/run/redis.sock?db=x", "-1s", "1e9", "1001", "off", "debug+2")
	f.Add("http://u:longpassword@host", "1h", "9223372036854775807", "-1", "1", "ERROR")
	f.Add("redis://u:long password@h:x", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, redisURL, timeout, size, limit, auth, level string) {
		env := map[string]string{
			"TIPGATE_TIP_TOKEN":          "token-value",
			"TIPGATE_API_KEYS_FILE":      "/keys.json",
			"TIPGATE_REDIS_URL":          redisURL,
			"TIPGATE_TIP_TIMEOUT":        timeout,
			"TIPGATE_CACHE_MEMORY_BYTES": size,
			"TIPGATE_DEFAULT_LIMIT":      limit,
			"TIPGATE_AUTH":               auth,
			"TIPGATE_LOG_LEVEL":          level,
		}
		readFile := func(p string) ([]byte, error) {
			if p == "/keys.json" {
				return []byte(`{"keys": []}`), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		c, err := Load(func(k string) string { return env[k] }, readFile)
		if (c == nil) == (err == nil) {
			t.Fatalf("Load returned config %v and error %v, want exactly one", c, err)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "TIPGATE_") {
					t.Errorf("problem line %q does not start with a variable's name", line)
				}
			}
		}
		// A password long and odd enough not to occur in the fixed wording
		// must not appear in any problem.
		u, perr := url.Parse(redisURL)
		if perr != nil || err == nil {
			return
		}
		pw, _ := u.User.Password()
		if len(pw) >= 8 && !strings.Contains(redacted, pw) && strings.Contains(err.Error(), pw) {
			t.Errorf("problems show the Redis password %q:\n%v", pw, err)
		}
	})
}
