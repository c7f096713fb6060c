package flat_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/flat"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tipsim"
)

const simToken = "flat-test-token"

// newSim is a simulator answering Bearer requests straight through its
// handler: no listener, no TLS.
func newSim() *tipsim.Sim { return tipsim.New(tipsim.Options{Token: simToken, DayQuota: 1 << 30}) }

// simResult asks the simulator for value's sections (Zone added) and builds
// the lookup.Result tipgate would: Zone moved to Result.Zone, LicenseInfo
// dropped, a 404 a not-found Grey result.
func simResult(t *testing.T, sim *tipsim.Sim, typ indicator.Type, value string, sections []string) *lookup.Result {
	t.Helper()
	target := "/api/" + string(typ) + "/" + strings.ReplaceAll(url.QueryEscape(value), "+", "%20") +
		"?sections=" + strings.Join(append([]string{"Zone"}, sections...), ",") + "&count=40"
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+simToken)
	rec := httptest.NewRecorder()
	sim.Handler().ServeHTTP(rec, req)
	ind := indicator.Indicator{Type: typ, Value: value}
	switch rec.Code {
	case http.StatusNotFound:
		return &lookup.Result{Indicator: ind, Zone: "Grey", Found: false}
	case http.StatusOK:
	default:
		t.Fatalf("simulator answered %s %d: %s", target, rec.Code, rec.Body)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("simulator body: %v", err)
	}
	var zone string
	if err := json.Unmarshal(body["Zone"], &zone); err != nil {
		t.Fatalf("simulator zone: %v", err)
	}
	delete(body, "Zone")
	delete(body, "LicenseInfo")
	return &lookup.Result{Indicator: ind, Zone: zone, Found: true, Sections: sectionsOf(body)}
}

// jsonResult builds a found result from section JSON literals.
func jsonResult(typ indicator.Type, value, zone string, sections map[string]string) *lookup.Result {
	m := map[string]json.RawMessage{}
	for k, v := range sections {
		m[k] = json.RawMessage(v)
	}
	return &lookup.Result{Indicator: indicator.Indicator{Type: typ, Value: value}, Zone: zone, Found: true, Sections: sectionsOf(m)}
}

// sectionsOf turns sections by name into a result's sections, sorted by
// name.
func sectionsOf(m map[string]json.RawMessage) []lookup.Section {
	var out []lookup.Section
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, lookup.NewSection(name, m[name], time.Time{}))
	}
	return out
}

// only keeps the named sections of a result.
func only(res *lookup.Result, sections []string) *lookup.Result {
	out := *res
	out.Sections = nil
	for _, s := range res.Sections {
		if slices.Contains(sections, s.Name) {
			out.Sections = append(out.Sections, s)
		}
	}
	return &out
}

func withZone(res *lookup.Result, zone string) *lookup.Result {
	out := *res
	out.Zone = zone
	return &out
}

// jsonOf is v as compact JSON, for comparisons that care about JSON types
// and not Go types.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	return string(b)
}

// indicatorsIn finds n indicators of typ the simulator puts in zone, by
// asking tipsim.Outcome about candidates made by mk.
func indicatorsIn(t *testing.T, typ indicator.Type, zone string, n int, mk func(i int) string) []string {
	t.Helper()
	var out []string
	for i := 0; len(out) < n; i++ {
		if i > 5000 {
			t.Fatalf("no %d %s indicators in zone %s", n, typ, zone)
		}
		v := mk(i)
		if z, found := tipsim.Outcome(typ, v); found && z == zone {
			out = append(out, v)
		}
	}
	return out
}

func md5Like(i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint("flat-test-", i)))
	return "a" + hex.EncodeToString(sum[:])[:31] // never "0000…", the forced 404
}

func publicIP(i int) string { return fmt.Sprintf("45.%d.%d.%d", 33+i/6000, (i/60)%100, 1+i%60) }

// contactSuffixes are the contact keys that become KL<Type><Key>.
func contactSuffixes() []string {
	return []string{"Address", "City", "CountryCode", "Email", "Fax", "Name",
		"Organization", "OrganizationId", "Phone", "PostalCode", "State"}
}

// checkInvariants holds for every flat output: KLZone set to a zone, only
// KL names, typed values that marshal, nothing empty, every spelling of a
// field present with the same value, and no name the result's type cannot
// have.
func checkInvariants(t *testing.T, res *lookup.Result, out map[string]any) {
	t.Helper()
	switch out["KLZone"] {
	case "Red", "Orange", "Yellow", "Grey", "Green":
	default:
		t.Errorf("KLZone = %#v", out["KLZone"])
	}
	if _, err := json.Marshal(out); err != nil {
		t.Errorf("output does not marshal: %v", err)
	}
	allowed := allowedNames(res.Indicator.Type)
	hasWhoIs := false
	for _, s := range []string{"IpWhoIs", "DomainWhoIsInfo", "UrlDomainWhoIs"} {
		_, ok := res.Section(s)
		hasWhoIs = hasWhoIs || ok
	}
	for k, v := range out {
		if !strings.HasPrefix(k, "KL") {
			t.Errorf("field %q is not a KL field", k)
		}
		switch x := v.(type) {
		case nil:
			t.Errorf("%s is null", k)
		case string:
			if x == "" {
				t.Errorf("%s is empty", k)
			}
		case []any:
			if len(x) == 0 {
				t.Errorf("%s is an empty list", k)
			}
		}
		if allowed[k] {
			continue
		}
		contact := false
		for _, s := range contactSuffixes() {
			contact = contact || (hasWhoIs && strings.HasSuffix(k, s) && len(k) > len("KL")+len(s))
		}
		if !contact {
			t.Errorf("field %s is not one a %s result can have", k, res.Indicator.Type)
		}
	}
	for _, g := range aliasGroups() {
		var have []string
		for _, n := range g {
			if _, ok := out[n]; ok {
				have = append(have, n)
			}
		}
		if len(have) != 0 && len(have) != len(g) {
			t.Errorf("spellings %v: only %v written", g, have)
			continue
		}
		for _, n := range have[min(1, len(have)):] {
			if a, b := jsonOf(t, out[have[0]]), jsonOf(t, out[n]); a != b {
				t.Errorf("%s = %s but %s = %s", have[0], a, n, b)
			}
		}
	}
}

// allowedNames is every name the functions of typ may write (contacts
// aside).
func allowedNames(typ indicator.Type) map[string]bool {
	set := map[string]bool{}
	for _, d := range documentFields() {
		fn, _ := flat.FunctionByName(d.name)
		if typ != "" && fn.Type != typ {
			continue
		}
		for _, n := range expectedNames(d.fields) {
			set[n] = true
		}
	}
	return set
}
