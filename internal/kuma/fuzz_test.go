package kuma

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzParseBody checks the body parser against encoding/json: whatever it
// accepts is valid JSON that encoding/json reads as the same objects, in
// order, at least one; whatever is not valid JSON it refuses; it never
// panics, and its errors are all 400s.
func FuzzParseBody(f *testing.F) {
	for _, seed := range []string{
		`[{"object":"example.com"}]`,
		`[{"object":"http:\/\/evil.example\/x"},{"object":"8.8.8.8","extra":[1,{"a":null}]}]`,
		`[{"object":"a","object":"b"}]`,
		`[]`, `{}`, `[{}]`, `[{"object":1}]`, `[{"object":"a"}] x`, `[{"object":"\ud800"}]`,
		"[{\"object\":\"\xff\"}]", ` [ { "object" : "" } ] `, `[{"object":"a"},]`, `[[]]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objects, err := parseBody(strings.NewReader(string(data)))
		if err != nil {
			var be *bodyError
			if !errors.As(err, &be) {
				t.Fatalf("error %T %v is not a body error", err, err)
			}
			return
		}
		if len(objects) == 0 {
			t.Fatal("accepted an empty array")
		}
		var std []struct {
			Object *string `json:"object"`
		}
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
		got := make([]string, len(std))
		for i, e := range std {
			if e.Object == nil {
				t.Fatalf("accepted %q, whose element %d has no string object", data, i)
			}
			got[i] = *e.Object
		}
		if !slices.Equal(got, objects) {
			t.Fatalf("parsed %q as %q, encoding/json as %q", data, objects, got)
		}
		// The objects survive a round trip.
		again, err := parseBody(strings.NewReader(body(objects...)))
		if err != nil || !slices.Equal(again, objects) {
			t.Fatalf("round trip of %q: %q, %v", objects, again, err)
		}
	})
}
