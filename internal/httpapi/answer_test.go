package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// stdJSON is what encoding/json writes for v with HTML escaping off, as the
// answers were written before they were assembled by hand: the reference
// the hand-written encoder must match byte for byte.
func stdJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "example.com", `a"b\c`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "\b\f",
		"http://x/?a=1&b=<2>", "ünïcødé", "bad \xff utf8 \xc3", "line\u2028para\u2029", "emoji 😀",
	} {
		if got, want := appendString(nil, s), stdJSON(t, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "<&>", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), stdJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// mapResponse is the shape encoding/json was given for an answer before
// the encoder was written by hand.
type mapResponse struct {
	Indicator          string                     `json:"indicator"`
	Type               indicator.Type             `json:"type"`
	Zone               string                     `json:"zone"`
	Found              bool                       `json:"found"`
	Limit              int                        `json:"limit"`
	Sections           map[string]json.RawMessage `json:"sections"`
	ReceivedAt         string                     `json:"received_at"`
	SectionsReceivedAt map[string]string          `json:"sections_received_at"`
	Cache              lookup.CacheState          `json:"cache"`
	StaleReason        string                     `json:"stale_reason,omitempty"`
}

func asMapResponse(res *lookup.Result) mapResponse {
	m := mapResponse{
		Indicator: res.Indicator.Value, Type: res.Indicator.Type, Zone: res.Zone, Found: res.Found, Limit: res.Limit,
		Sections: map[string]json.RawMessage{}, ReceivedAt: formatTime(res.ReceivedAt),
		SectionsReceivedAt: map[string]string{}, Cache: res.Cache, StaleReason: res.StaleReason,
	}
	for _, s := range res.Sections {
		m.Sections[s.Name] = s.JSON()
		m.SectionsReceivedAt[s.Name] = formatTime(s.ReceivedAt)
	}
	return m
}

func FuzzAppendLookup(f *testing.F) {
	f.Add("example.com", "Red", "DomainGeneralInfo", `{"a":"<b>"}`, "DomainDnsResolutions", `[1,2]`, "", int64(1700000000123))
	f.Add("http://x/?a=1&b=\u2028", "Grey", "B", `[]`, "A", `"\u00e9"`, "tip-unavailable", int64(0))
	f.Fuzz(func(t *testing.T, value, zone, name1, data1, name2, data2, stale string, ms int64) {
		var sections []lookup.Section
		at := time.UnixMilli(ms % 1e14)
		for _, s := range [][2]string{{name1, data1}, {name2, data2}} {
			var buf bytes.Buffer
			if s[0] == "" || json.Compact(&buf, []byte(s[1])) != nil {
				continue // sections hold compact JSON under unique names
			}
			if len(sections) == 1 && sections[0].Name == s[0] {
				continue
			}
			sections = append(sections, lookup.NewSection(s[0], buf.Bytes(), at.Add(time.Second)))
		}
		res := &lookup.Result{
			Indicator: indicator.Indicator{Type: indicator.URL, Value: value}, Zone: zone, Found: true, Limit: 10,
			Sections: sections, ReceivedAt: at, Cache: lookup.CacheStale, StaleReason: stale,
		}
		got, want := appendLookup(nil, res), stdJSON(t, asMapResponse(res))
		if !bytes.Equal(got, want) {
			t.Fatalf("appendLookup =\n%s\nencoding/json =\n%s", got, want)
		}
		item, _ := batchLookupResult{Input: value, Result: res}.MarshalJSON()
		if !json.Valid(item) {
			t.Fatalf("batch item is not JSON: %s", item)
		}
	})
}

// A not-found or local answer has no sections: both objects are empty,
// never null.
func TestAppendLookupWithoutSections(t *testing.T) {
	res := &lookup.Result{Indicator: indicator.Indicator{Type: indicator.IP, Value: "10.0.0.1"}, Zone: "Grey", Limit: 10,
		ReceivedAt: time.UnixMilli(1700000000000), Cache: lookup.CacheLocal}
	want := `{"indicator":"10.0.0.1","type":"ip","zone":"Grey","found":false,"limit":10,"sections":{},` +
		`"received_at":"2023-11-14T22:13:20.000Z","sections_received_at":{},"cache":"local"}`
	if got := string(appendLookup(nil, res)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
