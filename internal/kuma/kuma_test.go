package kuma

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/lookup"
)

const one = `[{"object": "example.com"}]`

func TestNewValidates(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name string
		o    Options
	}{
		{"no looker", Options{Logger: logger, Registerer: prometheus.NewRegistry()}},
		{"no logger", Options{Looker: newFake(), Registerer: prometheus.NewRegistry()}},
		{"no registerer", Options{Looker: newFake(), Logger: logger}},
		{"negative timeout", Options{Looker: newFake(), Logger: logger, Registerer: prometheus.NewRegistry(), Timeout: -time.Second}},
	} {
		if _, err := New(tt.o); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	// Defaults, and a second handler on one registry shares its series.
	reg := prometheus.NewRegistry()
	for range 2 {
		h, err := New(Options{Looker: newFake(), Logger: logger, Registerer: reg})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		hh := h.(*handler)
		if hh.timeout != 25*time.Second || hh.concurrency != 16 || hh.maxBody != 64<<20 {
			t.Errorf("defaults: timeout %v, concurrency %d, max body %d", hh.timeout, hh.concurrency, hh.maxBody)
		}
	}
}

func TestPaths(t *testing.T) {
	s := newServer(t, nil)
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/1.0/lookup", 200},
		{"POST", "/api/1.1/lookup", 200},
		{"POST", "/api/1.2/lookup", 200},
		{"POST", "/api/1.3/General/lookup", 200},
		{"POST", "/api/1.3/other-tenant/lookup", 200},
		{"POST", "/api/1.3/lookup", 404},
		{"POST", "/api/1.3//lookup", 404},
		{"POST", "/api/1.1/General/lookup", 404},
		{"POST", "/api/1.4/lookup", 404},
		{"POST", "/api/2.0/lookup", 404},
		{"POST", "/api/1.1/lookup/", 404},
		{"POST", "/api/1.1/lookups", 404},
		{"POST", "/api/1.1", 404},
		{"POST", "/api/", 404},
		{"POST", "/v1/lookup", 404},
		{"GET", "/api/1.1/lookup", 405},
		{"PUT", "/api/1.3/General/lookup", 405},
		{"DELETE", "/api/1.0/lookup", 405},
		{"HEAD", "/api/1.2/lookup", 405},
		{"GET", "/api/9.9/lookup", 404},
	} {
		r := req(tt.path, one)
		r.Method = tt.method
		w := s.do(r)
		if w.Code != tt.want {
			t.Errorf("%s %s: status %d, want %d: %s", tt.method, tt.path, w.Code, tt.want, w.Body)
			continue
		}
		switch {
		case tt.want == 405:
			if got := w.Header().Get("Allow"); got != "POST" {
				t.Errorf("%s %s: Allow %q, want POST", tt.method, tt.path, got)
			}
			fallthrough
		case tt.want != 200:
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
			}
		default:
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
			}
		}
	}
	if got := counter(t, s.reg, "tipgate_kuma_requests_total", "status", "405"); got != 4 {
		t.Errorf("requests{status=405} = %v, want 4", got)
	}
	if got := counter(t, s.reg, "tipgate_kuma_requests_total", "status", "200"); got != 5 {
		t.Errorf("requests{status=200} = %v, want 5", got)
	}
}

func TestAuth(t *testing.T) {
	for _, tt := range []struct {
		name   string
		auth   string // "" sends no Authorization header
		noKeys bool
		want   int
	}{
		{"key name and key", basic("siem", keySIEM), false, 200},
		{"no credentials", "", false, 401},
		{"wrong key", basic("siem", "tg_wrong"), false, 401},
		{"another key's name", basic("audit", keySIEM), false, 401},
		{"unknown name", basic("nobody", keySIEM), false, 401},
		{"empty password", basic("siem", ""), false, 401},
		{"bearer scheme", "Bearer " + keySIEM, false, 401},
		{"malformed basic", "Basic !!!", false, 401},
		{"key without the lookup role", basic("audit", keyAudit), false, 403},
		{"auth off, no credentials", "", true, 200},
		{"auth off, any credentials", basic("x", "y"), true, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, func(o *Options) {
				if tt.noKeys {
					o.Keys = nil
				}
			})
			w := s.do(req("/api/1.3/General/lookup", one, func(r *http.Request) {
				r.Header.Del("Authorization")
				if tt.auth != "" {
					r.Header.Set("Authorization", tt.auth)
				}
			}))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); (tt.want == 401) != (got != "") || (got != "" && got != `Basic realm="tipgate"`) {
				t.Errorf("WWW-Authenticate %q", got)
			}
			calls := s.fake.allCalls()
			if tt.want != 200 {
				if len(calls) != 0 || s.fake.prepares != 0 {
					t.Errorf("a refused request looked up %v", calls)
				}
				return
			}
			// The key travels in the context, so its own TIP budget applies.
			wantKey := "siem"
			if tt.noKeys {
				wantKey = ""
			}
			for _, c := range calls {
				if c.key != wantKey {
					t.Errorf("lookup carried key %q, want %q", c.key, wantKey)
				}
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	s := newServer(t, nil)
	for _, tt := range []struct {
		name        string
		accept      []string // nil: no Accept header
		contentType string   // "-": none
		want        int
	}{
		{"json", []string{"application/json"}, "application/json", 200},
		{"json with charset", []string{"application/json; charset=utf-8"}, "application/json; charset=utf-8", 200},
		{"case", []string{"Application/JSON"}, "Application/JSON; Charset=UTF-8", 200},
		{"any", []string{"*/*"}, "application/json", 200},
		{"application any", []string{"application/*"}, "application/json", 200},
		{"json among others", []string{"text/html, application/json;q=0.5"}, "application/json", 200},
		{"two headers", []string{"text/html", "application/json"}, "application/json", 200},
		{"no accept", nil, "application/json", 406},
		{"empty accept", []string{""}, "application/json", 406},
		{"html", []string{"text/html"}, "application/json", 406},
		{"xml", []string{"application/xml"}, "application/json", 406},
		{"json refused", []string{"application/json;q=0"}, "application/json", 406},
		{"json refused, any allowed", []string{"application/json;q=0, */*"}, "application/json", 406},
		{"bad q", []string{"application/json;q=x"}, "application/json", 406},
		{"no content type", []string{"application/json"}, "-", 415},
		{"text", []string{"application/json"}, "text/plain", 415},
		{"form", []string{"application/json"}, "application/x-www-form-urlencoded", 415},
		{"latin1", []string{"application/json"}, "application/json; charset=iso-8859-1", 415},
		{"malformed", []string{"application/json"}, "application/json; charset", 415},
	} {
		w := s.do(req("/api/1.1/lookup", one, func(r *http.Request) {
			r.Header.Del("Accept")
			for _, a := range tt.accept {
				r.Header.Add("Accept", a)
			}
			if tt.contentType == "-" {
				r.Header.Del("Content-Type")
			} else {
				r.Header.Set("Content-Type", tt.contentType)
			}
		}))
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, w.Code, tt.want, w.Body)
		}
	}
}

func TestBody(t *testing.T) {
	s := newServer(t, nil)
	for _, tt := range []struct {
		name, body string
		want       int
	}{
		{"one", `[{"object":"example.com"}]`, 200},
		{"extra members ignored", `[{"type":"x","object":"example.com","more":{"a":[1,{"b":null}]}}]`, 200},
		{"escaped slashes", `[{"object":"http:\/\/evil.example\/x"}]`, 200},
		{"whitespace", " \n[ {\"object\" : \"a.com\"} ]\n ", 200},
		{"empty object string", `[{"object":""}]`, 200},
		{"empty body", ``, 400},
		{"not json", `object=a.com`, 400},
		{"object", `{"object":"a.com"}`, 400},
		{"string", `"a.com"`, 400},
		{"null", `null`, 400},
		{"empty array", `[]`, 400},
		{"array of strings", `["a.com"]`, 400},
		{"array of arrays", `[["a.com"]]`, 400},
		{"element without object", `[{}]`, 400},
		{"element with other members only", `[{"value":"a.com"}]`, 400},
		{"number", `[{"object":1}]`, 400},
		{"null object", `[{"object":null}]`, 400},
		{"object object", `[{"object":{"v":"a.com"}}]`, 400},
		{"duplicate object", `[{"object":"a.com","object":"evil.com"}]`, 400},
		{"object in another case", `[{"object":"a.com","Object":"evil.com"}]`, 400},
		{"second element bad", `[{"object":"a.com"},{"object":true}]`, 400},
		{"unterminated", `[{"object":"a.com"}`, 400},
		{"unterminated element", `[{"object":"a.com"`, 400},
		{"trailing comma", `[{"object":"a.com"},]`, 400},
		{"trailing data", `[{"object":"a.com"}] x`, 400},
		{"two arrays", `[{"object":"a.com"}][{"object":"b.com"}]`, 400},
	} {
		w := s.do(req("/api/1.1/lookup", tt.body))
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, w.Code, tt.want, w.Body)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	for _, tt := range []struct {
		name    string
		limit   int64
		body    string
		chunked bool  // no Content-Length: the limit is found while reading
		length  int64 // a declared Content-Length, when not the body's
		want    int
	}{
		{"at the limit", int64(len(one)), one, false, 0, 200},
		{"over the limit", int64(len(one)), one + " ", false, 0, 413},
		{"chunked at the limit", int64(len(one)), one, true, 0, 200},
		{"chunked over the limit", int64(len(one)), one + " ", true, 0, 413},
		{"chunked over the limit inside the array", 20, `[{"object":"a.com"},{"object":"b.com"}]`, true, 0, 413},
		// The default is the contract's 64 MiB.
		{"declared over 64 MiB", 0, one, false, DefaultMaxBodyBytes + 1, 413},
		{"declared 64 MiB", 0, one, false, DefaultMaxBodyBytes, 200}, // read, not refused
	} {
		s := newServer(t, func(o *Options) { o.MaxBodyBytes = tt.limit })
		w := s.do(req("/api/1.1/lookup", tt.body, func(r *http.Request) {
			if tt.chunked {
				r.ContentLength = -1
			}
			if tt.length > 0 {
				r.ContentLength = tt.length
			}
		}))
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, w.Code, tt.want, w.Body)
		}
	}
}

// sampleSections are context sections as TIP returns them.
var sampleSections = map[string]json.RawMessage{
	"FileGeneralInfo": json.RawMessage(`{"Md5":"44D88612FEA8A8F36DE82E1278ABB02F","FirstSeen":"2024-02-02T15:17:00Z",
		"LastSeen":"2026-04-03T20:39:00Z","HitsCount":10000,"Categories":["CATEGORY_MALWARE","CATEGORY_MALWARE"]}`),
	"DetectionsInfo": json.RawMessage(`[{"DetectionName":"HEUR:Trojan.Win32.Generic","Zone":"Red"},
		{"DetectionName":"EICAR-Test-File"},{"DetectionName":"HEUR:Trojan.Win32.Generic"},{"DetectionName":null}]`),
	"IpGeneralInfo": json.RawMessage(`{"Ip":"39.90.148.83","HitsCount":100,"FirstSeen":"2021-05-11T08:14:00Z",
		"ThreatScore":92,"Categories":["CATEGORY_MALWARE","CATEGORY_BOTNET_CNC"],"CountryCode":null}`),
	"DomainGeneralInfo": json.RawMessage(`{"Domain":"evil.example","HitsCount":10,"Categories":["CATEGORY_PHISHING"]}`),
	"UrlGeneralInfo":    json.RawMessage(`{"Url":"evil.example/x","Categories":[]}`),
}

func TestVerdictByZoneAndType(t *testing.T) {
	types := []struct {
		raw, name string
		context   map[string]string // the keys the sections give
	}{
		{"44D88612FEA8A8F36DE82E1278ABB02F", "Hash", map[string]string{
			"categories": "CATEGORY_MALWARE", "hits": "10000", "first_seen": "2024-02-02T15:17:00Z",
			"last_seen": "2026-04-03T20:39:00Z", "detection_names": "HEUR:Trojan.Win32.Generic,EICAR-Test-File",
		}},
		{"39.90.148.83", "IP", map[string]string{
			"categories": "CATEGORY_MALWARE,CATEGORY_BOTNET_CNC", "hits": "100", "threat_score": "92",
			"first_seen": "2021-05-11T08:14:00Z",
		}},
		{"Evil.Example", "Domain", map[string]string{"categories": "CATEGORY_PHISHING", "hits": "10"}},
		{"hxxp://www.evil[.]example/x", "URL", map[string]string{}},
	}
	zones := []struct {
		zone     string
		notFound bool
		detected bool
	}{
		{"Red", false, true}, {"Orange", false, true}, {"Yellow", false, true},
		{"Green", false, false}, {"Grey", false, false}, {"Grey", true, false},
	}
	for _, ty := range types {
		for _, z := range zones {
			s := newServer(t, nil)
			ind := s.fake.set(t, ty.raw, &entry{zone: z.zone, notFound: z.notFound, sections: sampleSections})
			got := s.lookup(t, ty.raw)[0]
			name := ty.name + "/" + z.zone
			if z.notFound {
				name += "/not found"
			}
			if got.Object != ty.raw {
				t.Errorf("%s: object %q, want the input %q", name, got.Object, ty.raw)
			}
			if !z.detected {
				if got.Result != "not detected" || len(got.Categories) != 0 {
					t.Errorf("%s: %+v, want not detected with no categories", name, got)
				}
				continue
			}
			if got.Result != "detected" || len(got.Categories) != 1 {
				t.Fatalf("%s: %+v, want detected with one category", name, got)
			}
			c := got.Categories[0]
			if want := "KTL_" + z.zone + "_" + ty.name; c.Category != want {
				t.Errorf("%s: category %q, want %q", name, c.Category, want)
			}
			if c.DetectedIndicator != ind.Value {
				t.Errorf("%s: detected_indicator %q, want %q", name, c.DetectedIndicator, ind.Value)
			}
			want := map[string]string{"zone": z.zone, "received_at": "2026-11-23T14:00:00.123Z", "cache": "miss"}
			maps.Copy(want, ty.context)
			if !maps.Equal(c.Context, want) {
				t.Errorf("%s: context %v, want %v", name, c.Context, want)
			}
		}
	}
}

func TestOneAnswerPerObjectInOrderDuplicatesOnce(t *testing.T) {
	s := newServer(t, nil)
	red := s.fake.set(t, "evil.example", &entry{zone: "Red"})
	green := s.fake.set(t, "8.8.8.8", &entry{zone: "Green"})
	objects := []string{
		"evil.example", "Message: user logged in", "EVIL.EXAMPLE", "8.8.8.8", "evil.example",
		"", "evil[.]example", "not a thing", "8.8.8.8",
	}
	got := s.lookup(t, objects...)
	wantResult := []string{"detected", "not detected", "detected", "not detected", "detected",
		"not detected", "detected", "not detected", "not detected"}
	for i, a := range got {
		if a.Object != objects[i] || a.Result != wantResult[i] {
			t.Errorf("answer %d: %q %q, want %q %q", i, a.Object, a.Result, objects[i], wantResult[i])
		}
	}
	// Each indicator was looked up once however it was spelt, and free text
	// not at all.
	calls := s.fake.allCalls()
	for _, c := range calls {
		if c.value != red.Value && c.value != green.Value {
			t.Errorf("free text was looked up: %+v", c)
		}
	}
	for _, ind := range []string{red.Value, green.Value} {
		if n := len(s.fake.callsFor(ind, lookup.Normal)); n != 1 {
			t.Errorf("%s: %d normal lookups, want 1", ind, n)
		}
		if n := len(s.fake.callsFor(ind, lookup.CacheOnly)); n != 2 {
			t.Errorf("%s: %d cache-only lookups, want 2 (context sections, then the zone)", ind, n)
		}
	}
	for _, tt := range []struct {
		result string
		want   float64
	}{{"detected", 4}, {"not_detected", 2}, {"not_indicator", 3}, {"unanswered", 0}} {
		if got := counter(t, s.reg, "tipgate_kuma_objects_total", "result", tt.result); got != tt.want {
			t.Errorf("objects{result=%s} = %v, want %v", tt.result, got, tt.want)
		}
	}
}

func TestFreeTextCostsNoLookup(t *testing.T) {
	s := newServer(t, nil)
	got := s.lookup(t, "hello world", "x", "", "   ", "user=admin action=login", "http://", "1.2.3")
	for i, a := range got {
		if a.Result != "not detected" || len(a.Categories) != 0 {
			t.Errorf("answer %d: %+v", i, a)
		}
	}
	if calls := s.fake.allCalls(); len(calls) != 0 {
		t.Errorf("free text caused lookups: %+v", calls)
	}
}

func TestCacheFirst(t *testing.T) {
	hashSections := []string{"FileGeneralInfo", "DetectionsInfo"}
	for _, tt := range []struct {
		name       string
		e          entry
		wantResult string
		wantCache  string
		wantNormal int
		// wantSections are those of the lookup that answered.
		wantSections bool
	}{
		{"context cached", entry{zone: "Red", cached: true, sections: sampleSections}, "detected", "hit", 0, true},
		{"zone alone cached", entry{zone: "Red", zoneCached: true, sections: sampleSections}, "detected", "hit", 0, false},
		{"cached not found", entry{notFound: true, cached: true}, "not detected", "", 0, false},
		{"nothing cached", entry{zone: "Orange", sections: sampleSections}, "detected", "miss", 1, true},
		{"stale, TIP answers", entry{zone: "Yellow", cached: true, stale: true, sections: sampleSections}, "detected", "miss", 1, true},
		{"stale, TIP fails", entry{zone: "Yellow", cached: true, stale: true, sections: sampleSections,
			err: &lookup.UpstreamError{Kind: lookup.KindUnavailable, Refused: true}}, "detected", "stale", 1, true},
		{"stale zone alone, TIP fails", entry{zone: "Red", zoneCached: true, stale: true, sections: sampleSections,
			err: &lookup.UpstreamError{Kind: lookup.KindBudgetSpent, Refused: true}}, "detected", "stale", 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, nil)
			ind := s.fake.set(t, "44D88612FEA8A8F36DE82E1278ABB02F", &tt.e)
			got := s.lookup(t, ind.Value)[0]
			if got.Result != tt.wantResult {
				t.Fatalf("result %q, want %q", got.Result, tt.wantResult)
			}
			if n := len(s.fake.callsFor(ind.Value, lookup.Normal)); n != tt.wantNormal {
				t.Errorf("%d normal lookups, want %d", n, tt.wantNormal)
			}
			for _, c := range s.fake.callsFor(ind.Value, lookup.Normal) {
				if strings.Join(c.sections, ",") != strings.Join(hashSections, ",") {
					t.Errorf("normal lookup asked for %v, want %v", c.sections, hashSections)
				}
			}
			if tt.wantResult != "detected" {
				return
			}
			ctx := got.Categories[0].Context
			if ctx["cache"] != tt.wantCache {
				t.Errorf("cache %q, want %q", ctx["cache"], tt.wantCache)
			}
			if _, ok := ctx["detection_names"]; ok != tt.wantSections {
				t.Errorf("context %v: detection_names present %v, want %v", ctx, ok, tt.wantSections)
			}
		})
	}
}

func TestUnansweredElements(t *testing.T) {
	budget := &lookup.UpstreamError{Kind: lookup.KindBudgetSpent, Refused: true, RetryAfter: 2 * time.Hour}
	breaker := &lookup.UpstreamError{Kind: lookup.KindUnavailable, Refused: true, RetryAfter: 30*time.Second + time.Millisecond}
	tipDown := &lookup.UpstreamError{Kind: lookup.KindUnavailable, Status: 503}
	tipTimeout := &lookup.UpstreamError{Kind: lookup.KindTimeout}
	rejected := &lookup.UpstreamError{Kind: lookup.KindBadRequest, Status: 400}
	for _, tt := range []struct {
		name       string
		entries    map[string]*entry
		objects    []string
		want       int
		retryAfter string
		reasons    map[string]float64
	}{
		{"one fails, one answers", map[string]*entry{"a.example": {err: budget}, "b.example": {zone: "Red"}},
			[]string{"a.example", "b.example"}, 200, "", map[string]float64{"budget-spent": 1}},
		{"one cached, the other refused", map[string]*entry{"a.example": {err: breaker}, "b.example": {zone: "Green", cached: true}},
			[]string{"a.example", "b.example", "a.example"}, 200, "", map[string]float64{"breaker-open": 2}},
		{"all refused: the shortest Retry-After", map[string]*entry{"a.example": {err: budget}, "b.example": {err: breaker}},
			[]string{"a.example", "b.example"}, 429, "31", map[string]float64{"budget-spent": 1, "breaker-open": 1}},
		{"all failed, nobody said when", map[string]*entry{"a.example": {err: tipDown}, "b.example": {err: tipTimeout}},
			[]string{"a.example", "b.example"}, 429, "60", map[string]float64{"tip-error": 1, "timeout": 1}},
		{"free text and a failure", map[string]*entry{"a.example": {err: budget}},
			[]string{"hello", "a.example"}, 429, "7200", map[string]float64{"budget-spent": 1}},
		{"TIP rejected the only indicator", map[string]*entry{"a.example": {err: rejected}},
			[]string{"a.example"}, 200, "", map[string]float64{"tip-rejected": 1}},
		{"an internal error", map[string]*entry{"a.example": {err: errors.New("boom")}},
			[]string{"a.example"}, 429, "60", map[string]float64{"internal": 1}},
		{"free text only", nil, []string{"hello", "world"}, 200, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, nil)
			for raw, e := range tt.entries {
				s.fake.set(t, raw, e)
			}
			w := s.do(req("/api/1.1/lookup", body(tt.objects...)))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if tt.want == 200 {
				for i, a := range decodeAnswers(t, w.Body.Bytes(), len(tt.objects)) {
					if e := tt.entries[tt.objects[i]]; (e == nil || e.err != nil) && a.Result != "not detected" {
						t.Errorf("answer %d: %+v, want not detected", i, a)
					}
				}
			}
			for _, r := range []string{"budget-spent", "breaker-open", "timeout", "tip-error", "tip-rejected", "not-cached", "internal", "canceled"} {
				if got := counter(t, s.reg, "tipgate_kuma_unanswered_total", "reason", r); got != tt.reasons[r] {
					t.Errorf("unanswered{reason=%s} = %v, want %v", r, got, tt.reasons[r])
				}
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	// One lookup honours its context, one is stuck and ignores it: the
	// answer comes at the deadline either way, the finished ones kept.
	s := newServer(t, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	s.fake.delay = time.Hour
	s.fake.set(t, "slow.example", &entry{zone: "Red"})
	s.fake.set(t, "stuck.example", &entry{zone: "Red", hang: true})
	s.fake.set(t, "cached.example", &entry{zone: "Red", cached: true})
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- s.do(req("/api/1.1/lookup", body("slow.example", "stuck.example", "cached.example"))) }()
	var w *httptest.ResponseRecorder
	select {
	case w = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the request outlived its deadline")
	}
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := decodeAnswers(t, w.Body.Bytes(), 3)
	if got[0].Result != "not detected" || got[1].Result != "not detected" || got[2].Result != "detected" {
		t.Errorf("answers %+v", got)
	}
	if n := counter(t, s.reg, "tipgate_kuma_unanswered_total", "reason", "timeout"); n != 2 {
		t.Errorf("unanswered{reason=timeout} = %v, want 2", n)
	}

	// Nothing answered before the deadline: retry later.
	s2 := newServer(t, func(o *Options) { o.Timeout = 100 * time.Millisecond })
	s2.fake.set(t, "stuck.example", &entry{zone: "Red", hang: true})
	w = s2.do(req("/api/1.1/lookup", body("stuck.example")))
	if w.Code != 429 || w.Header().Get("Retry-After") != "60" {
		t.Errorf("status %d, Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestConcurrencyBound(t *testing.T) {
	s := newServer(t, func(o *Options) { o.Concurrency = 3 })
	s.fake.delay = 5 * time.Millisecond // lets lookups overlap; the bound is what is asserted
	var objects []string
	for i := range 30 {
		o := string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".example"
		s.fake.set(t, o, &entry{zone: "Green"})
		objects = append(objects, o)
	}
	got := s.lookup(t, objects...)
	for i, a := range got {
		if a.Object != objects[i] || a.Result != "not detected" {
			t.Errorf("answer %d: %+v", i, a)
		}
	}
	if s.fake.peak > 3 || s.fake.peak < 1 {
		t.Errorf("peak concurrent lookups %d, want 1..3", s.fake.peak)
	}
	if n := len(s.fake.allCalls()); n != 3*30 {
		t.Errorf("%d lookups, want %d", n, 3*30)
	}
}

func TestCacheOnlyMode(t *testing.T) {
	s := newServer(t, func(o *Options) { o.CacheOnly = true })
	s.fake.set(t, "cached.example", &entry{zone: "Red", cached: true, sections: sampleSections})
	s.fake.set(t, "zone.example", &entry{zone: "Orange", zoneCached: true})
	s.fake.set(t, "stale.example", &entry{zone: "Yellow", zoneCached: true, stale: true})
	s.fake.set(t, "uncached.example", &entry{zone: "Red"})
	got := s.lookup(t, "cached.example", "zone.example", "stale.example", "uncached.example")
	want := []string{"detected", "detected", "detected", "not detected"}
	for i, a := range got {
		if a.Result != want[i] {
			t.Errorf("answer %d: %+v, want %s", i, a, want[i])
		}
	}
	if got[2].Result == "detected" && got[2].Categories[0].Context["cache"] != "stale" {
		t.Errorf("stale answer's context %v", got[2].Categories[0].Context)
	}
	for _, c := range s.fake.allCalls() {
		if c.mode != lookup.CacheOnly {
			t.Errorf("cache-only mode made a %v lookup of %s", c.mode, c.value)
		}
	}
	if n := counter(t, s.reg, "tipgate_kuma_unanswered_total", "reason", "not-cached"); n != 1 {
		t.Errorf("unanswered{reason=not-cached} = %v, want 1", n)
	}
	// Nothing cached at all is an answer, not a 429: asking again would
	// not help.
	w := s.do(req("/api/1.1/lookup", body("uncached.example")))
	if w.Code != 200 {
		t.Errorf("status %d: %s", w.Code, w.Body)
	}
}

func TestAcceptsJSON(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, true},
		{[]string{"*/*;q=0.1"}, true},
		{[]string{"application/*;q=0, */*"}, false},
		{[]string{"*/*, application/json;q=0"}, false},
		{[]string{"text/*"}, false},
		{[]string{";;;, application/json"}, true},
	} {
		if got := acceptsJSON(tt.values); got != tt.want {
			t.Errorf("acceptsJSON(%q) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestAnswerShape(t *testing.T) {
	s := newServer(t, nil)
	s.fake.set(t, "evil.example", &entry{zone: "Red", sections: map[string]json.RawMessage{
		"DomainGeneralInfo": json.RawMessage(`{"HitsCount":10,"Categories":["CATEGORY_PHISHING","A&B"]}`),
	}})
	w := s.do(req("/api/1.3/General/lookup", `[{"object":"http:\/\/www.evil.example"},{"object":"8.8.8.8"},{"object":"evil.example"}]`))
	want := `[{"object":"http://www.evil.example","result":"detected","categories":[{"category":"KTL_Red_URL","detected_indicator":"evil.example",` +
		`"context":{"cache":"miss","received_at":"2026-11-23T14:00:00.123Z","zone":"Red"}}]},` +
		`{"object":"8.8.8.8","result":"not detected","categories":[]},` +
		`{"object":"evil.example","result":"detected","categories":[{"category":"KTL_Red_Domain","detected_indicator":"evil.example",` +
		`"context":{"cache":"miss","categories":"CATEGORY_PHISHING,A&B","hits":"10","received_at":"2026-11-23T14:00:00.123Z","zone":"Red"}}]}]` + "\n"
	if w.Code != 200 || w.Body.String() != want {
		t.Errorf("status %d, body\n%s\nwant\n%s", w.Code, w.Body, want)
	}
}
