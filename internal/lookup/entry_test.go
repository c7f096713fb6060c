package lookup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

func TestEntryRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 123e6, time.UTC)
	list, _ := sectionEntry([]byte(` [1, {"a": [2, "]"]}, 3] `))
	tests := []entry{
		{ReceivedAt: at, FreshUntil: at.Add(time.Hour), Limit: 10, Count: list.Count, Complete: true, Data: list.Data, ends: list.ends},
		{ReceivedAt: at, FreshUntil: at.Add(time.Hour), NotFound: true},
		{ReceivedAt: at, FreshUntil: at, Limit: 1000, Data: json.RawMessage(`{"a":"\u0000"}`)},
		{ReceivedAt: at, FreshUntil: at, Limit: 5}, // TIP sent no such section
	}
	for _, want := range tests {
		var got entry
		if err := decodeEntry(want.encode(), &got); err != nil {
			t.Fatalf("decode(encode(%+v)): %v", want, err)
		}
		if !got.ReceivedAt.Equal(want.ReceivedAt) || !got.FreshUntil.Equal(want.FreshUntil) || got.Limit != want.Limit ||
			got.Count != want.Count || got.Complete != want.Complete || got.NotFound != want.NotFound ||
			!bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) || !bytes.Equal(got.ends, want.ends) {
			t.Fatalf("round trip = %+v, want %+v", got, want)
		}
	}
}

// An entry written by an earlier release (format 1: TIP's bytes as sent,
// no offsets) is still served, compacted and cut like a new one.
func TestDecodeEntryVersion1(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	v1 := make([]byte, headerSize1)
	v1[0], v1[1] = entryVersion1, flagHasData
	binary.BigEndian.PutUint64(v1[2:], uint64(at.UnixMilli()))
	binary.BigEndian.PutUint64(v1[10:], uint64(at.Add(time.Hour).UnixMilli()))
	binary.BigEndian.PutUint32(v1[18:], 10)
	binary.BigEndian.PutUint32(v1[22:], 3)
	v1 = append(v1, "[ 1,\n 2, 3 ]"...)
	var e entry
	if err := decodeEntry(v1, &e); err != nil {
		t.Fatal(err)
	}
	if string(e.Data) != `[1,2,3]` || e.Count != 3 || e.Limit != 10 || !e.FreshUntil.Equal(at.Add(time.Hour)) {
		t.Fatalf("decoded %+v", e)
	}
	if got := string(e.cutJSON(2)); got != `[1,2]` {
		t.Fatalf("cut to 2 = %s", got)
	}
}

func TestDecodeEntryRejectsForeignValues(t *testing.T) {
	valid := (&entry{Data: json.RawMessage(`[1,2]`), Count: 2, ends: []byte{0, 0, 0, 2, 0, 0, 0, 4}}).encode()
	badEnds := bytes.Clone(valid)
	badEnds[headerSize+3] = 9 // past the data
	unordered := bytes.Clone(valid)
	unordered[headerSize+7] = 1
	tooMany := bytes.Clone(valid)
	tooMany[29] = 200 // more offsets than bytes
	for _, b := range [][]byte{nil, []byte("{}"), []byte("hello world, this is not an entry"),
		append([]byte{9}, make([]byte, headerSize)...), valid[:headerSize-1], badEnds, unordered, tooMany} {
		var e entry
		if err := decodeEntry(b, &e); err == nil {
			t.Errorf("decodeEntry(%q) succeeded, want an error", b)
		}
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{`[1,2,3]`, 2, `[1,2]`},
		{`[1,2,3]`, 1, `[1]`},
		{`[1,2,3]`, 3, `[1,2,3]`},
		{`[1,2,3]`, 10, `[1,2,3]`},
		{` [ {"a":[1,2]} , {"b":"],\"],"} , 3 ] `, 2, `[{"a":[1,2]},{"b":"],\"],"}]`},
		{`{"not":"a list"}`, 1, `{"not":"a list"}`},
		{`[]`, 1, `[]`},
		{`[[],{},""]`, 2, `[[],{}]`},
	}
	for _, tt := range tests {
		e, ok := sectionEntry([]byte(tt.in))
		if !ok {
			t.Fatalf("sectionEntry(%s) failed", tt.in)
		}
		if got := string(e.cutJSON(tt.limit)); got != tt.want {
			t.Errorf("cut(%s, %d) = %s, want %s", tt.in, tt.limit, got, tt.want)
		}
		sec := Section{data: e.Data, cut: e.cut(tt.limit)}
		if got := string(sec.AppendJSON([]byte("x"))); got != "x"+tt.want || sec.Len() != len(tt.want) {
			t.Errorf("Section(%s, %d) appends %s (len %d), want %s", tt.in, tt.limit, got, sec.Len(), tt.want)
		}
	}
}

// listLen counts a JSON array's elements with encoding/json: the reference
// recordEnds is checked against.
func listLen(data []byte) (n int, ok bool) {
	var elems []json.RawMessage
	if json.Unmarshal(data, &elems) != nil {
		return 0, false
	}
	return len(elems), true
}

func FuzzSectionEntry(f *testing.F) {
	for _, s := range []string{`[1,2,3]`, `[{"a":1},{"b":[2,3]}]`, `[]`, `{}`, `["x","]"]`, `[1,`, `["\\",1]`, `[ "a\"]", 2 ]`} {
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		// Sections come from TIP through a client that rejects invalid JSON.
		if limit < 1 || limit > 1000 || !json.Valid(data) {
			return
		}
		e, ok := sectionEntry(data)
		if !ok {
			t.Fatalf("sectionEntry rejected valid JSON %q", data)
		}
		n, isList := listLen(data)
		if isList != (e.Count > 0 || n == 0 && bytes.HasPrefix(e.Data, []byte("["))) || (isList && e.Count != n) {
			t.Fatalf("%q: Count %d, want %d (list %v)", data, e.Count, n, isList)
		}
		out := e.cutJSON(limit)
		if !isList || n <= limit {
			if !bytes.Equal(out, e.Data) {
				t.Fatalf("cut changed %q to %q", e.Data, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("cut(%q, %d) = %q, not JSON", data, limit, out)
		}
		if m, ok := listLen(out); !ok || m != limit {
			t.Fatalf("cut(%q, %d) has %d elements", data, limit, m)
		}
		var again entry
		if err := decodeEntry(e.encode(), &again); err != nil || !bytes.Equal(again.cutJSON(limit), out) {
			t.Fatalf("the stored entry cuts differently: %v", err)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	at := time.Unix(1700000000, 0)
	list, _ := sectionEntry([]byte(`[1,[2],{"3":3}]`))
	list.ReceivedAt, list.FreshUntil, list.Limit = at, at, 3
	f.Add(list.encode())
	f.Add((&entry{ReceivedAt: at, FreshUntil: at, Limit: 3, Data: json.RawMessage(`{"a":1}`)}).encode())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e entry
		if err := decodeEntry(b, &e); err != nil {
			return
		}
		for limit := 1; limit <= len(e.ends)/4; limit++ {
			_ = e.cutJSON(limit) // must not slice out of range
		}
		var again entry
		if err := decodeEntry(e.encode(), &again); err != nil || !bytes.Equal(again.Data, e.Data) {
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

// The keys a read builds in one string are the keys Key builds one by one.
func TestKeysIntoMatchesKey(t *testing.T) {
	svc := &Service{ns: testNS}
	for _, ind := range []indicator.Indicator{
		{Type: indicator.Domain, Value: "example.com"},
		{Type: indicator.URL, Value: "example.com/a{b}c?d=é"},
	} {
		for _, sections := range [][]string{nil, {"DomainGeneralInfo"}, {"A", "BB", "CCC"}} {
			keys := make([]string, len(sections)+1)
			svc.keysInto(keys, ind, sections)
			want := []string{Key(testNS, ind, tip.SectionZone)}
			for _, name := range sections {
				want = append(want, Key(testNS, ind, name))
			}
			if !slices.Equal(keys, want) {
				t.Errorf("keysInto(%s, %v) = %q, want %q", ind, sections, keys, want)
			}
		}
	}
}
