package lookup

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestEntryRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 123e6, time.UTC)
	tests := []entry{
		{ReceivedAt: at, FreshUntil: at.Add(time.Hour), Limit: 10, Count: 3, Complete: true, Data: json.RawMessage(`[1,2,3]`)},
		{ReceivedAt: at, FreshUntil: at.Add(time.Hour), NotFound: true},
		{ReceivedAt: at, FreshUntil: at, Limit: 1000, Data: json.RawMessage(`{"a":"\u0000"}`)},
		{ReceivedAt: at, FreshUntil: at, Limit: 5}, // TIP sent no such section
	}
	for _, want := range tests {
		got, err := decodeEntry(want.encode())
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", want, err)
		}
		if !got.ReceivedAt.Equal(want.ReceivedAt) || !got.FreshUntil.Equal(want.FreshUntil) || got.Limit != want.Limit ||
			got.Count != want.Count || got.Complete != want.Complete || got.NotFound != want.NotFound ||
			!bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
			t.Fatalf("round trip = %+v, want %+v", got, want)
		}
	}
}

func TestDecodeEntryRejectsForeignValues(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("{}"), []byte("hello world, this is not an entry"), append([]byte{9}, make([]byte, headerSize)...)} {
		if _, err := decodeEntry(b); err == nil {
			t.Errorf("decodeEntry(%q) succeeded, want an error", b)
		}
	}
}

func TestCutList(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{`[1,2,3]`, 2, `[1,2]`},
		{`[1,2,3]`, 3, `[1,2,3]`},
		{`[1,2,3]`, 10, `[1,2,3]`},
		{` [ {"a":[1,2]} , {"b":"],"} , 3 ] `, 2, ` [ {"a":[1,2]} , {"b":"],"} ]`},
		{`{"not":"a list"}`, 1, `{"not":"a list"}`},
		{`[]`, 1, `[]`},
	}
	for _, tt := range tests {
		if got := string(cutList([]byte(tt.in), tt.limit)); got != tt.want {
			t.Errorf("cutList(%s, %d) = %s, want %s", tt.in, tt.limit, got, tt.want)
		}
	}
}

func FuzzCutList(f *testing.F) {
	for _, s := range []string{`[1,2,3]`, `[{"a":1},{"b":[2,3]}]`, `[]`, `{}`, `["x","]"]`, `[1,`} {
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		// Sections come from TIP through a client that rejects invalid JSON.
		if limit < 1 || limit > 1000 || !json.Valid(data) {
			return
		}
		out := cutList(data, limit)
		n, isList := listLen(data)
		if !isList || n <= limit {
			if !bytes.Equal(out, data) {
				t.Fatalf("cutList changed %q to %q", data, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("cutList(%q, %d) = %q, not JSON", data, limit, out)
		}
		if m, ok := listLen(out); !ok || m != limit {
			t.Fatalf("cutList(%q, %d) has %d elements", data, limit, m)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	at := time.Unix(1700000000, 0)
	f.Add((&entry{ReceivedAt: at, FreshUntil: at, Limit: 3, Data: json.RawMessage(`[1]`)}).encode())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, err := decodeEntry(e.encode())
		if err != nil || !bytes.Equal(again.Data, e.Data) {
			t.Fatalf("re-decoding a decoded entry failed: %v", err)
		}
	})
}

// hashTag is the part of a key Redis Cluster hashes: the text between the
// first "{" and the next "}", when that is non-empty; else the whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

func TestKeysOfOneIndicatorShareOneSlot(t *testing.T) {
	cat := tip.NewCatalog()
	for _, ind := range []indicator.Indicator{
		{Type: indicator.Domain, Value: "example.com"},
		{Type: indicator.URL, Value: "example.com/a{b}c?d={}"},
		{Type: indicator.URL, Value: "example.com/}{"},
		{Type: indicator.Hash, Value: "3935aae80faf8d03781c2d611a4e183f"},
	} {
		tags := map[string]bool{}
		for _, sec := range cat.All(ind.Type) {
			tags[hashTag(Key(testNS, ind, sec.Name))] = true
		}
		if len(tags) != 1 {
			t.Errorf("%s: keys hash by %d different tags %v, want one", ind, len(tags), tags)
		}
		other := indicator.Indicator{Type: ind.Type, Value: ind.Value + "x"}
		if hashTag(Key(testNS, other, "Zone")) == hashTag(Key(testNS, ind, "Zone")) && !strings.ContainsAny(ind.Value, "{}") {
			t.Errorf("%s and %s share a hash tag", ind, other)
		}
	}
}

var testNS = Namespace("https://tip.example")

func TestNamespaceSeparatesUpstreams(t *testing.T) {
	ind := indicator.Indicator{Type: indicator.Domain, Value: "example.com"}
	a, b := Key(Namespace("https://tip.kaspersky.com"), ind, "Zone"), Key(Namespace("https://127.0.0.1:8443"), ind, "Zone")
	if a == b {
		t.Fatalf("two upstreams share the key %q", a)
	}
	if Namespace("https://tip.kaspersky.com/") != Namespace("https://tip.kaspersky.com") {
		t.Fatalf("a trailing slash changes the namespace")
	}
	if !strings.HasPrefix(a, "tipgate:v2:") || hashTag(a) != "domain:example.com" {
		t.Fatalf("key %q: want the v2 prefix and the indicator's hash tag", a)
	}
}
