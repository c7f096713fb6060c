package flat_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

// FuzzFlatten: whatever JSON (or not JSON) any section holds, Flatten does
// not panic and answers a marshalable object of KL fields with a zone. The
// input goes into every section of the type; when it is a JSON object, its
// members also go into the sections they name, so the fuzzer can shape each
// section differently.
func FuzzFlatten(f *testing.F) {
	for typ, res := range complete() {
		whole := map[string]json.RawMessage{}
		for _, s := range res.Sections {
			whole[s.Name] = s.JSON()
			f.Add([]byte(s.JSON()), string(typ), "Red")
		}
		b, _ := json.Marshal(whole)
		f.Add(b, string(typ), "Orange")
	}
	f.Add([]byte(`null`), "ip", "")
	f.Add([]byte(`[{"Zone":"Gray","Md5":{"a":[1,2]},"Url":[null,"x"]},{"Zone":1}]`), "url", "gray")
	f.Add([]byte(`{"Contacts":[{"ContactType":"ÄÖ-ü","Name":[1]},{"Role":"owner"}],"Net":{"StartIp":1,"EndIp":"x"}}`), "ip", "Green")
	f.Add([]byte(`{"FilesCount":1e400}`), "domain", "Grey")
	f.Add([]byte(`[{"FilesCount":99999999999999999999999999999999},{"FilesCount":-1}]`), "domain", "Red")
	f.Add([]byte(`"\ud800"`), "", "Purple")

	cat := tip.NewCatalog()
	f.Fuzz(func(t *testing.T, data []byte, typ, zone string) {
		res := &lookup.Result{Indicator: indicator.Indicator{Type: indicator.Type(typ), Value: "x"}, Zone: zone, Found: true}
		sections := map[string]json.RawMessage{}
		names := map[string]bool{}
		for _, ty := range indicator.Types() {
			for _, s := range cat.All(ty) {
				names[s.Name] = true
			}
		}
		for n := range names {
			sections[n] = json.RawMessage(data)
		}
		var members map[string]json.RawMessage
		if json.Unmarshal(data, &members) == nil {
			for n, raw := range members {
				sections[n] = raw
			}
		}
		for n, raw := range sections {
			res.Sections = append(res.Sections, lookup.NewSection(n, raw, time.Time{}))
		}
		out := flat.Flatten(res)
		switch out["KLZone"] {
		case "Red", "Orange", "Yellow", "Grey", "Green":
		default:
			t.Fatalf("KLZone = %#v", out["KLZone"])
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("output does not marshal: %v", err)
		}
		for k := range out {
			if !strings.HasPrefix(k, "KL") {
				t.Fatalf("field %q", k)
			}
		}
	})
}
