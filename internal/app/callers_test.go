package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tipgate/tipgate/api/apitest"
)

// The SIEM- and SOAR-shaped entry points, end to end against the simulator:
// the plugin's functions in flat form and KUMA's CyberTrace facade.

func TestFunctionsAnswerFlatForEveryZone(t *testing.T) {
	g := startGateway(t, "memory", nil)
	for _, zone := range []string{"red", "orange", "yellow", "green", "grey"} {
		for _, fn := range []string{"get_domain_report", "get_url_report"} {
			r := g.lookup("/v1/functions/" + fn + "?indicator=" + zone + ".fn.example.com")
			want := strings.ToUpper(zone[:1]) + zone[1:]
			if r.str("KLZone") != want || r.str("cache") != "miss" || r.str("received_at") == "" {
				t.Fatalf("%s of a %s domain = %s, want KLZone %s, a miss and received_at", fn, zone, r.raw, want)
			}
			if _, nested := r.body["sections"]; nested {
				t.Fatalf("%s answered the nested form: %s", fn, r.raw)
			}
		}
	}
	// The function fixes the type: example.com is the URL example.com here.
	r := g.lookup("/v1/functions/get_url_report?indicator=red.typed.example.com")
	if r.str("type") != "" && r.str("type") != "url" {
		t.Fatalf("get_url_report answered type %q, want url", r.str("type"))
	}
	if bad := g.do(http.MethodGet, "/v1/functions/get_ip_report?indicator=example.com", g.keys["siem"], nil); bad.status != http.StatusBadRequest {
		t.Fatalf("get_ip_report of a domain = %d %s, want 400", bad.status, bad.raw)
	}
	nf := g.do(http.MethodGet, "/v1/functions/get_everything?indicator=example.com", g.keys["siem"], nil)
	if nf.status != http.StatusNotFound || !strings.Contains(nf.str("detail"), "get_hash_report") {
		t.Fatalf("unknown function = %d %s, want a 404 naming the valid ones", nf.status, nf.raw)
	}
}

func TestKUMAFacade(t *testing.T) {
	g := startGateway(t, "memory", nil)
	objects := []map[string]string{
		{"object": "http://www.red.kuma.example.com/path"},
		{"object": "green.kuma.example.com"},
		{"object": "user logged in from the console"},
		{"object": "RED.kuma.example.com"},
	}
	before := g.sim.Requests()
	r := g.kuma(t, "/api/1.1/lookup", "siem", g.keys["siem"], "application/json", objects)
	if r.status != http.StatusOK {
		t.Fatalf("KUMA lookup = %d %s, want 200", r.status, r.raw)
	}
	var results []struct {
		Object     string `json:"object"`
		Result     string `json:"result"`
		Categories []struct {
			Category          string         `json:"category"`
			DetectedIndicator string         `json:"detected_indicator"`
			Context           map[string]any `json:"context"`
		} `json:"categories"`
	}
	if err := json.Unmarshal(r.raw, &results); err != nil || len(results) != len(objects) {
		t.Fatalf("KUMA answer %s: %v; want one result per object", r.raw, err)
	}
	want := []struct{ result, category, indicator string }{
		{"detected", "KTL_Red_URL", "red.kuma.example.com/path"},
		{"not detected", "", ""},
		{"not detected", "", ""},
		{"detected", "KTL_Red_Domain", "red.kuma.example.com"},
	}
	for i, w := range want {
		got := results[i]
		if got.Object != objects[i]["object"] || got.Result != w.result {
			t.Errorf("result %d = %+v, want object %q %s", i, got, objects[i]["object"], w.result)
			continue
		}
		if w.category == "" {
			if len(got.Categories) != 0 {
				t.Errorf("result %d: categories %v, want none", i, got.Categories)
			}
			continue
		}
		if len(got.Categories) != 1 || got.Categories[0].Category != w.category || got.Categories[0].DetectedIndicator != w.indicator {
			t.Errorf("result %d: categories %+v, want one %s for %s", i, got.Categories, w.category, w.indicator)
			continue
		}
		for k, v := range got.Categories[0].Context {
			if _, ok := v.(string); !ok {
				t.Errorf("result %d: context %q is %T, want a string", i, k, v)
			}
		}
		if got.Categories[0].Context["zone"] != "Red" {
			t.Errorf("result %d: context zone %v, want Red", i, got.Categories[0].Context["zone"])
		}
	}
	// Three distinct indicators (a URL and two domains): free text costs
	// nothing.
	if got := g.sim.Requests() - before; got != 3 {
		t.Errorf("TIP requests = %d, want 3: one per distinct indicator and none for free text", got)
	}

	if r := g.kuma(t, "/api/1.3/General/lookup", "siem", g.keys["siem"], "application/json", objects[:1]); r.status != http.StatusOK {
		t.Errorf("the 1.3 tenant path = %d %s, want 200", r.status, r.raw)
	}
	if r := g.kuma(t, "/api/1.1/lookup", "siem", "wrong", "application/json", objects[:1]); r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("a wrong key = %d %q, want 401 with WWW-Authenticate: Basic", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := g.kuma(t, "/api/1.1/lookup", "siem", g.keys["siem"], "text/plain", objects[:1]); r.status != http.StatusNotAcceptable {
		t.Errorf("Accept text/plain = %d, want 406", r.status)
	}
	if r := g.kuma(t, "/api/1.1/lookup", "siem", g.keys["siem"], "application/json", []any{}); r.status != http.StatusBadRequest {
		t.Errorf("an empty array = %d, want 400", r.status)
	}
}

// kuma posts objects to a facade path with Basic credentials, as KUMA's
// cybertrace-http enrichment does, and checks the answer against the
// contract.
func (g *gateway) kuma(t *testing.T, path, user, password, accept string, objects any) response {
	t.Helper()
	body, _ := json.Marshal(objects)
	req, err := http.NewRequest(http.MethodPost, g.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Accept", accept)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	if _, respErr := g.contract.Check(apitest.Exchange{
		Method: http.MethodPost, Target: path, Header: req.Header, Body: body,
		Status: resp.StatusCode, RespHeader: resp.Header, RespBody: raw,
	}); respErr != nil {
		t.Errorf("POST %s: the answer does not match api/openapi.yaml: %v\n%.500s", path, respErr, raw)
	}
	return r
}
