package tipsim

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tipgate/tipgate/internal/indicator"
)

// Oracles for what TIP accepts, written independently of the validators
// they check.
var (
	hashRE   = regexp.MustCompile(`^([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$`)
	octet    = `(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`
	ipRE     = regexp.MustCompile(`^` + octet + `(\.` + octet + `){3}$`)
	labelRE  = `[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?`
	domainRE = regexp.MustCompile(`^(` + labelRE + `\.)*` + labelRE + `\.?$`)
)

func FuzzLookup(f *testing.F) {
	for _, seed := range []string{
		"/api/hash/3935AAE80FAF8D03781C2D611A4E183F?sections=Zone,FileGeneralInfo&count=2",
		"/api/hash/0000aae80faf8d03781c2d611a4e183f",
		"/api/ip/39.90.148.83?sections=Zone%2CIpWhoIs",
		"/api/ip/10.0.0.1?count=1",
		"/api/ip/010.0.0.1",
		"/api/domain/tetegrams.org?sections=DomainDnsResolutions&count=3",
		"/api/domain/red.example.com.",
		"/api/domain/1.2.3.4",
		"/api/url/gsocket.io%2Fx",
		"/api/url/example.com%2Fa%3Fb%3Dc?count=1&sections=UrlGeneralInfo",
		"/api/url/http%3A%2F%2Fuser%40host.example%3A8080%2F",
		"/api/url/example.com/a",
		"/api/url/%2F%2F",
		"/api/url/a%00b.com",
		"/api/hash/x?count=-1",
		"/api/email/x",
		"/api/",
		"/",
	} {
		f.Add(seed)
	}
	sim := New(Options{Token: "tok", DayQuota: math.MaxInt})
	handler := sim.Handler()
	cat := newCatalog()
	f.Fuzz(func(t *testing.T, target string) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(http.MethodGet, "http://tipsim"+target, nil)
		if err != nil {
			return // net/http would not have parsed it either
		}
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)

		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: Content-Type %q, want application/json", target, ct)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: status %d with a body that is not a JSON object: %q", target, rec.Code, rec.Body.String())
		}
		if rec.Code/100 != 2 {
			return
		}

		rest, _ := strings.CutPrefix(req.URL.EscapedPath(), "/api/")
		typ, seg, _ := strings.Cut(rest, "/")
		value, err := url.PathUnescape(seg)
		if err != nil || strings.Contains(seg, "/") {
			t.Fatalf("%s: got %d for a value that is not one clean path segment", target, rec.Code)
		}
		if !acceptable(indicator.Type(typ), value) {
			t.Fatalf("%s: got %d for the invalid %s %q", target, rec.Code, typ, value)
		}
		q := req.URL.Query()
		count, _ := strconv.Atoi(q.Get("count"))
		for name, raw := range body {
			sec, ok := cat.find(indicator.Type(typ), name)
			if !ok {
				t.Fatalf("%s: answer has section %s, not in the catalog", target, name)
			}
			if sec.list && !sec.uncounted && count > 0 {
				var items []json.RawMessage
				if err := json.Unmarshal(raw, &items); err != nil || len(items) > count {
					t.Fatalf("%s: %s has %d items (%v), want at most %d", target, name, len(items), err, count)
				}
			}
		}
	})
}

func acceptable(t indicator.Type, v string) bool {
	switch t {
	case indicator.Hash:
		return hashRE.MatchString(v)
	case indicator.IP:
		return ipRE.MatchString(v)
	case indicator.Domain:
		return len(v) <= 254 && domainRE.MatchString(v) && strings.Trim(v[strings.LastIndexByte(strings.TrimSuffix(v, "."), '.')+1:], "0123456789.") != ""
	case indicator.URL:
		return v != "" && utf8.ValidString(v) && utf8.RuneCountInString(v) <= MaxURLLength &&
			!strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f })
	}
	return false
}
