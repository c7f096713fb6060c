package lookup

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
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
