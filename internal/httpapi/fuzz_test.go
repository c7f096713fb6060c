package httpapi

import (
	"errors"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/internal/lookup"
)

// checkInput holds what every successful parse must guarantee before the
// lookup service sees it.
func checkInput(t *testing.T, in lookupInput, err error) {
	t.Helper()
	if err != nil {
		var inv *lookup.InvalidError
		if !errors.As(err, &inv) || len(inv.Params) == 0 {
			t.Fatalf("error %v (%T) is not an InvalidError with params", err, err)
		}
		for _, p := range inv.Params {
			if p.Name == "" || p.Reason == "" || len(p.Name) > 80 {
				t.Fatalf("bad invalid param %+v", p)
			}
		}
		return
	}
	if in.format != formatJSON && in.format != formatFlat {
		t.Fatalf("format = %q", in.format)
	}
	if l := in.query.Limit; l != 0 && (l < lookup.MinLimit || l > lookup.MaxLimit) {
		t.Fatalf("limit %d passed the parser", l)
	}
	if m := in.query.Mode; m != lookup.Normal && m != lookup.CacheOnly {
		t.Fatalf("mode = %v", m)
	}
	for _, s := range in.query.Sections {
		if s == "" || strings.Contains(s, ",") || strings.TrimSpace(s) != s {
			t.Fatalf("section %q passed the parser", s)
		}
	}
}

// FuzzQueryParams: a query string read where it lies means what
// url.ParseQuery makes of it: the same queries refused, the same values,
// counts and section lists, the same unknown names.
func FuzzQueryParams(f *testing.F) {
	for _, seed := range []string{
		"indicator=example.com&sections=DomainGeneralInfo,DomainDnsResolutions",
		"indicator=https%3A%2F%2Fa.example%2F%3Fx%3D1&type=url&sections=A%2CB&sections=+C+",
		"indicator=a&indicator=b&x=1&x=2&y&=&&",
		"a%zz=1", "a=%", "a;b=1", "%41=1&A=2", "sections=,,&sections",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, wantErr := url.ParseQuery(raw)
		p, err := queryParams(raw)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("queryParams(%q) error %v, url.ParseQuery's %v", raw, err, wantErr)
		}
		if err != nil {
			return
		}
		for _, name := range append(slices.Clone(lookupParams), "x", "") {
			first, n := p.queryText(name)
			if vals := want[name]; n != len(vals) || (n > 0 && first != vals[0]) {
				t.Errorf("%q: %s = %q ×%d, url.Values has %q", raw, name, first, n, vals)
			}
		}
		if got, w := p.querySections(), splitSections(want[paramSections]); !slices.Equal(got, w) {
			t.Errorf("%q: sections %q, want %q", raw, got, w)
		}
		var unknown []string
		for k := range want {
			if k != "" && !slices.Contains(lookupParams, k) {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		if got := p.unknown(lookupParams); !slices.Equal(got, unknown) {
			t.Errorf("%q: unknown %q, want %q", raw, got, unknown)
		}
	})
}

func FuzzParseLookupQuery(f *testing.F) {
	for _, seed := range []string{
		"indicator=example.com",
		"indicator=1.2.3.4&type=ip&sections=IpGeneralInfo,HostedUrls&limit=5&format=flat&cache_only=true",
		"indicator=a&sections=A&sections=B,C&sections=",
		"indicator=%zz",
		"indicator=a&indicator=b&limit=-1&format=xml&cache_only=maybe&x=1",
		"limit=99999999999999999999",
		"sections=%20,%2C,",
		";;&&==",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		in, err := parseLookupQuery(raw)
		checkInput(t, in, err)
	})
}

func FuzzParseLookupBody(f *testing.F) {
	for _, seed := range []string{
		`{"indicator":"example.com"}`,
		`{"indicator":"1.2.3.4","type":"ip","sections":["IpGeneralInfo"],"limit":5,"format":"flat","cache_only":true}`,
		`{"indicator":"a","sections":"A, B,,C"}`,
		`{"indicator":null,"limit":null}`,
		`{"limit":1e3,"sections":[1],"cache_only":"true"}`,
		`{"a":1,"b":2} {}`,
		`[1,2]`,
		`"x"`,
		`{"limit":-0}`,
		`{"limit":1000000000000000000000000}`,
		`{"indicator":"a.com","indicator":"evil.com"}`,
		`{"x":[{"k":1},{"k":[{"a":1,"a":2}]}],"x":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseLookupBody(body)
		checkInput(t, in, err)
	})
}

func FuzzParseBatchBody(f *testing.F) {
	for _, seed := range []string{
		`{"indicators":["example.com",{"indicator":"1.2.3.4","type":"ip"}],"sections":["IpGeneralInfo"],"limit":5,"format":"flat","cache_only":true}`,
		`{"indicators":[null,5,[],{},{"indicator":"a","indicator":"b"},{"type":1,"x":2}]}`,
		`{"indicators":"a","indicators":[]}`,
		`{"indicators":[]}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		br, err := parseBatchBody(body)
		if err != nil {
			var se *statusError
			if !errors.As(err, &se) {
				checkInput(t, lookupInput{}, err)
			}
			return
		}
		checkInput(t, br.shared, nil)
		if len(br.items) == 0 || len(br.items) > MaxBatchItems {
			t.Fatalf("%d items passed the parser", len(br.items))
		}
		for _, it := range br.items {
			if it.err != nil {
				checkInput(t, lookupInput{}, it.err)
			}
		}
	})
}

func FuzzParsePurgeQuery(f *testing.F) {
	f.Add("indicator=example.com&type=domain")
	f.Add("indicator=a&indicator=b&zzz=%20")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parsePurgeQuery(raw)
		if err == nil && (q.Mode != lookup.Normal || q.Sections != nil || q.Limit != 0) {
			t.Fatalf("purge query %+v carries more than indicator and type", q)
		}
	})
}
