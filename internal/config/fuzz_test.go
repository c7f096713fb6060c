package config

import (
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/localnet"
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

// FuzzLocalLists: the list parsers account for every entry (a value or an
// error quoting it), and what they return is what localnet expects: masked
// IPv4 prefixes, and lower-case suffixes without dots at either end that
// the matcher then finds local.
func FuzzLocalLists(f *testing.F) {
	for _, seed := range []string{
		"10.0.0.0/8, 192.0.2.7,", "none", "fc00::/7,::ffff:10.0.0.1", "10.1.2.3/8,010.0.0.1,1.2.3.4/33",
		".Corp., lan,,a..b", "bücher,\u212aorp", "_srv.x-y.test,my corp,*.corp", " , ,",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries := 0
		for e := range strings.SplitSeq(s, ",") {
			if strings.TrimSpace(e) != "" {
				entries++
			}
		}
		quotesAnEntry := func(err error) bool {
			for e := range strings.SplitSeq(s, ",") {
				if e = strings.TrimSpace(e); e != "" && strings.HasPrefix(err.Error(), strconv.Quote(e)+" ") {
					return true
				}
			}
			return false
		}

		nets, errs := parseNets(s)
		if len(nets)+len(errs) != entries {
			t.Fatalf("parseNets(%q): %d nets and %d errors for %d entries", s, len(nets), len(errs), entries)
		}
		for _, p := range nets {
			if !p.IsValid() || !p.Addr().Is4() || p != p.Masked() {
				t.Fatalf("parseNets(%q) returned %v, want a masked IPv4 prefix", s, p)
			}
		}
		for _, err := range errs {
			if !quotesAnEntry(err) {
				t.Fatalf("parseNets(%q) error %q does not start by quoting an entry", s, err)
			}
		}

		domains, errs := parseDomains(s)
		if len(domains)+len(errs) != entries {
			t.Fatalf("parseDomains(%q): %d domains and %d errors for %d entries", s, len(domains), len(errs), entries)
		}
		m := localnet.New(nil, domains)
		for _, d := range domains {
			if d == "" || d != strings.ToLower(d) || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || domainProblem(d) != "" {
				t.Fatalf("parseDomains(%q) returned %q, want a lower-case domain without dots at either end", s, d)
			}
			if !m.Local(indicator.Indicator{Type: indicator.Domain, Value: "host." + d}) {
				t.Fatalf("parseDomains(%q) returned %q, but the matcher does not find host.%s local", s, d, d)
			}
		}
		for _, err := range errs {
			if !quotesAnEntry(err) {
				t.Fatalf("parseDomains(%q) error %q does not start by quoting an entry", s, err)
			}
		}
	})
}
