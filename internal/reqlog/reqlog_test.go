package reqlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientAddr: X-Forwarded-For is read only from a trusted peer, and
// then the rightmost address that is not a trusted proxy is the client.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"one trusted proxy", "10.1.1.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged entry left of the real client", "10.1.1.1:5000", []string{"1.1.1.1, 203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"several header lines", "10.1.1.1:5000", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"every hop trusted", "10.1.1.1:5000", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"garbage stops at the last trusted hop", "10.1.1.1:5000", []string{"evil<script>, 10.2.2.2"}, "10.2.2.2"},
		{"trusted peer without header", "10.1.1.1:5000", nil, "10.1.1.1"},
		{"IPv6 proxy", "[fd00::1]:5000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:10.1.1.1]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv4-mapped client", "[::ffff:198.51.100.7]:5000", nil, "198.51.100.7"},
		{"IPv6 written long", "[2001:db8:0:0::7]:5000", nil, "2001:db8::7"},
		{"IPv4-mapped hop", "10.1.1.1:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"no proxies configured", "10.1.1.1:5000", []string{"203.0.113.9"}, "10.1.1.1"},
		{"unreadable peer", "pipe", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/healthz", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			tr := trusted
			if tt.name == "no proxies configured" {
				tr = nil
			}
			if got := ClientAddr(r, tr); got != tt.want {
				t.Errorf("ClientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestClientAddrAllocs: the common case, a peer that is not a proxy, costs
// every request nothing.
func TestClientAddrAllocs(t *testing.T) {
	r := httptest.NewRequest("GET", "/healthz", nil)
	r.RemoteAddr = "198.51.100.7:5000"
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if n := testing.AllocsPerRun(100, func() { ClientAddr(r, trusted) }); n != 0 {
		t.Errorf("ClientAddr allocates %v times, want 0", n)
	}
}

func TestHash(t *testing.T) {
	// printf %s example.com | sha256sum | cut -c1-12
	if got, want := Hash("example.com"), "a379a6f6eeaf"; got != want {
		t.Errorf("Hash(example.com) = %q, want %q", got, want)
	}
	if Hash("a") == Hash("b") {
		t.Error("two values hash alike")
	}
}

func TestEntryInContext(t *testing.T) {
	if FromContext(context.Background()) == nil {
		t.Fatal("FromContext without an Entry returned nil")
	}
	if h := (&Entry{}).IndicatorHash(); h != "" {
		t.Errorf("IndicatorHash with no indicator = %q, want none", h)
	}
	e := &Entry{}
	ctx := NewContext(context.Background(), e)
	FromContext(ctx).SetIndicator("url", "example.com/x?token=1")
	if e.IndicatorType != "url" || e.IndicatorHash() != Hash("example.com/x?token=1") || e.Indicator() != "example.com/x?token=1" {
		t.Errorf("entry = %+v", e)
	}
}

// TestAuditAtAnyLevel: the audit line is INFO, and written even by a
// handler set to a higher level; empty fields are left out.
func TestAuditAtAnyLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})).With("component", "http")
	Audit(context.Background(), l, Event{Action: "purge", Outcome: "ok", Key: "ops", Client: "192.0.2.1", Indicator: "example.com", IndicatorType: "domain", Status: 204})
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	want := map[string]any{"level": "INFO", "msg": "audit", "audit": true, "action": "purge", "outcome": "ok", "key": "ops",
		"client": "192.0.2.1", "indicator": "example.com", "indicator_type": "domain", "status": float64(204), "component": "http"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"trigger", "request_id", "detail"} {
		if _, ok := got[k]; ok {
			t.Errorf("empty %s written", k)
		}
	}
}
