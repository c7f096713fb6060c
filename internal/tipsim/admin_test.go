package tipsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdminAPI(t *testing.T) {
	sim := New(Options{Token: "tok"})
	api := startPlain(t, sim)
	admin := httptest.NewServer(AdminHandler(sim))
	t.Cleanup(admin.Close)

	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	lookup := func() int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api+"/api/domain/example.com?sections=Zone", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if got := lookup(); got != 200 {
		t.Fatalf("lookup: got %d, want 200", got)
	}
	if code, body := call("POST", "/faults", `{"status": 503, "times": 1, "type": "domain", "delay": "10ms"}`); code != http.StatusCreated || !strings.Contains(body, `"delay":"10ms"`) {
		t.Errorf("POST /faults: got %d %s, want 201 echoing the fault", code, body)
	}
	if got := lookup(); got != 503 {
		t.Errorf("lookup with a fault: got %d, want 503", got)
	}
	if code, _ := call("POST", "/faults", `{"status": 500}`); code != http.StatusCreated {
		t.Errorf("POST /faults: got %d, want 201", code)
	}
	if code, _ := call("DELETE", "/faults", ""); code != http.StatusNoContent {
		t.Errorf("DELETE /faults: got %d, want 204", code)
	}
	if got := lookup(); got != 200 {
		t.Errorf("lookup after DELETE /faults: got %d, want 200", got)
	}

	waitLog(t, sim, 3)
	code, body := call("GET", "/requests", "")
	var got struct {
		Count int64     `json:"count"`
		Log   []Request `json:"log"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("GET /requests: got %d %s (%v), want 200 and JSON", code, body, err)
	}
	if got.Count != 3 || len(got.Log) != 3 || got.Log[1].Status != 503 || got.Log[0].Value != "example.com" {
		t.Errorf("GET /requests: got %+v, want 3 requests, the second a 503", got)
	}

	if code, _ := call("POST", "/reset", ""); code != http.StatusNoContent {
		t.Errorf("POST /reset: got %d, want 204", code)
	}
	if sim.Requests() != 0 {
		t.Errorf("Requests after /reset: got %d, want 0", sim.Requests())
	}

	for _, bad := range []string{`{"status": 42}`, `{}`, `{"delay": "soon"}`, `{"status": 503, "typo": 1}`, `{"status": 503, "type": "email"}`, `not json`} {
		if code, body := call("POST", "/faults", bad); code != http.StatusBadRequest || !strings.Contains(body, "error") {
			t.Errorf("POST /faults %s: got %d %s, want 400 with a reason", bad, code, body)
		}
	}
	if code, _ := call("GET", "/faults", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /faults: got %d, want 405", code)
	}
}

func TestFaultJSONRoundTrip(t *testing.T) {
	in := Fault{Status: 502, Body: "<html>", ContentType: "text/html", Delay: 1500 * time.Millisecond, Times: 2, Type: "ip", Value: "1.2.3.4"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"delay":"1.5s"`) {
		t.Errorf("JSON: got %s, want delay as \"1.5s\"", b)
	}
	var out Fault
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}
