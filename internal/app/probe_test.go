package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// probeOn turns the start-up probe on, with env's other variables.
func probeOn(env map[string]string) map[string]string {
	out := map[string]string{"TIPGATE_TIP_PROBE": "true"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// fastProbe shortens the probe's waits: tests must not wait 5 minutes.
// misconfigured is the wait after a misconfiguration; a test that must see
// exactly one probe sets it to hours.
func fastProbe(misconfigured time.Duration) func(*gateway) {
	return func(g *gateway) {
		g.app.rt.probe.opts = probeOptions{Retry: 20 * time.Millisecond, Misconfigured: misconfigured, MaxWait: misconfigured}
	}
}

// probeStatus is tip.probe of /v1/status.
func (g *gateway) probeStatus() map[string]any {
	g.t.Helper()
	tipStatus, _ := g.tipStatus(g.keys["ops"])
	p, _ := tipStatus["probe"].(map[string]any)
	return p
}

// waitProbe waits until the probe reports state, and returns tip.probe.
func (g *gateway) waitProbe(state string) map[string]any {
	g.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		p := g.probeStatus()
		if p["state"] == state {
			return p
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("tip.probe never reached %q: %v\n%s", state, p, g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeCheck is the state of the named step in a tip.probe.
func probeCheck(p map[string]any, name string) string {
	checks, _ := p["checks"].([]any)
	for _, c := range checks {
		m, _ := c.(map[string]any)
		if m["name"] == name {
			s, _ := m["state"].(string)
			return s
		}
	}
	return ""
}

// readyz returns /readyz's status and its "tip" check.
func (g *gateway) readyz() (int, map[string]any, []byte) {
	g.t.Helper()
	r := g.do(http.MethodGet, "/readyz", "", nil)
	checks, _ := r.body["checks"].(map[string]any)
	tipCheck, _ := checks["tip"].(map[string]any)
	return r.status, tipCheck, r.raw
}

// TestProbeMisconfigurationKeepsNotReady: each way a probe proves a
// misconfiguration keeps /readyz at 503 naming "tip", with the reason in
// /v1/status only; the probe is one TIP request, counted in the budget, and
// is not repeated before the misconfiguration wait.
func TestProbeMisconfigurationKeepsNotReady(t *testing.T) {
	other, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherFiles, err := other.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		env    map[string]string
		fault  *tipsim.Fault
		failed string // the check that failed
		status float64
		detail string
	}{
		{name: "credentials rejected (401)", env: map[string]string{"TIPGATE_TIP_PASSWORD": "not-the-password"},
			failed: tip.CheckBasic, status: 401, detail: "rejected the credentials"},
		{name: "not TIP's lookup API (404 for EICAR)", fault: &tipsim.Fault{Status: 404, Value: tip.ProbeHash},
			failed: tip.CheckLookupAPI, status: 404, detail: "not TIP's lookup API"},
		{name: "server certificate does not verify", env: map[string]string{"TIPGATE_TIP_CA_FILE": otherFiles.CA},
			failed: tip.CheckServerCertificate, detail: "TIPGATE_TIP_CA_FILE"},
		{name: "client certificate rejected", env: map[string]string{"TIPGATE_TIP_PFX_FILE": otherFiles.ClientPFX, "TIPGATE_TIP_PFX_PASSWORD": other.PFXPassword},
			failed: tip.CheckClientCertificate, detail: "client certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := startGatewayWith(t, "memory", probeOn(c.env), time.Hour, nil, fastProbe(time.Hour), func(g *gateway) {
				if c.fault != nil {
					g.sim.Inject(*c.fault)
				}
			})
			p := g.waitProbe("misconfigured")
			if p["holds_readiness"] != true || probeCheck(p, c.failed) != "failed" || !strings.Contains(fmt.Sprint(p["detail"]), c.detail) {
				t.Errorf("tip.probe = %v, want %s failed and a detail saying %q", p, c.failed, c.detail)
			}
			if c.status != 0 && p["tip_status"] != c.status {
				t.Errorf("tip.probe.tip_status = %v, want %v", p["tip_status"], c.status)
			}
			if p["next_at"] == nil {
				t.Errorf("no next probe scheduled: %v", p)
			}
			status, tipCheck, raw := g.readyz()
			if status != http.StatusServiceUnavailable || tipCheck["status"] != "down" {
				t.Fatalf("readyz = %d %s, want 503 with tip down", status, raw)
			}
			// The reason is for admins: /readyz is unauthenticated.
			for _, leak := range []string{c.detail, "401", "403", "404", "TIPGATE_"} {
				if strings.Contains(string(raw), leak) {
					t.Errorf("readyz shows error text %q: %s", leak, raw)
				}
			}
			// One probe, one request (no retry layer; a TLS failure
			// never reaches the simulator's handler), counted in the
			// budget, and nothing more before the wait (an hour here).
			if got := g.sim.Requests(); got > 1 {
				t.Errorf("TIP requests = %d, want at most 1", got)
			}
			tipStatus, _ := g.tipStatus(g.keys["ops"])
			budget, _ := tipStatus["budget"].(map[string]any)
			if budget["requests"] != float64(1) {
				t.Errorf("budget.requests = %v, want 1 (every request sent to TIP counts, the probe too)", budget["requests"])
			}
			if p["attempts"] != float64(1) {
				t.Errorf("attempts = %v, want 1", p["attempts"])
			}
			if g.logLines("not ready until TIP accepts a probe") != 1 {
				t.Errorf("the misconfiguration was not logged once:\n%s", g.logs.String())
			}
		})
	}
}

// TestProbeRetriesUntilFixed: a misconfiguration is probed again after its
// wait, and the first success makes the gateway ready.
func TestProbeRetriesUntilFixed(t *testing.T) {
	g := startGatewayWith(t, "memory", probeOn(nil), time.Hour, nil, fastProbe(50*time.Millisecond), func(g *gateway) {
		g.sim.Inject(tipsim.Fault{Status: 401, Times: 2})
	})
	p := g.waitProbe("ok")
	if p["holds_readiness"] != false || p["attempts"] != float64(3) || p["last_ok"] == nil {
		t.Errorf("tip.probe = %v, want ok after 3 attempts", p)
	}
	if status, _, raw := g.readyz(); status != http.StatusOK {
		t.Fatalf("readyz after the probe succeeded = %d %s", status, raw)
	}
	lic, _ := p["license"].(map[string]any)
	if lic["AccessType"] != "Commercial" || lic["DayQuota"] != float64(tipsim.DefaultDayQuota) || lic["DayRequests"] == nil {
		t.Errorf("tip.probe.license = %v", lic)
	}
	for _, c := range []string{tip.CheckTLS, tip.CheckServerCertificate, tip.CheckClientCertificate, tip.CheckBasic, tip.CheckLookupAPI} {
		if probeCheck(p, c) != "ok" {
			t.Errorf("%s = %q, want ok", c, probeCheck(p, c))
		}
	}
	// The probe's LicenseInfo is TIP's quota as /v1/status reports it.
	tipStatus, _ := g.tipStatus(g.keys["ops"])
	if q, _ := tipStatus["quota"].(map[string]any); q["DayQuota"] != float64(tipsim.DefaultDayQuota) {
		t.Errorf("tip.quota = %v", tipStatus["quota"])
	}
	if g.logLines("TIP accepted tipgate's probe") != 1 {
		t.Errorf("the success was not logged once:\n%s", g.logs.String())
	}
}

// TestProbeTIPDownStaysReady: when TIP only fails (503s), the gateway is
// ready (its cache answers what it holds), and the probe goes on in the
// background until TIP answers.
func TestProbeTIPDownStaysReady(t *testing.T) {
	g := startGatewayWith(t, "memory", probeOn(nil), time.Hour, nil, fastProbe(time.Hour), func(g *gateway) {
		g.sim.Inject(tipsim.Fault{Status: 503})
	})
	p := g.waitProbe("unreachable")
	if p["holds_readiness"] != false || p["tip_status"] != float64(503) {
		t.Errorf("tip.probe = %v", p)
	}
	if status, tipCheck, raw := g.readyz(); status != http.StatusOK || tipCheck["status"] != "ok" {
		t.Fatalf("readyz with TIP down = %d %s, want 200", status, raw)
	}
	// Backoff from 20ms: it keeps probing.
	deadline := time.Now().Add(waitTimeout)
	for g.probeStatus()["attempts"].(float64) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the probe did not retry: %v", g.probeStatus())
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.sim.ClearFaults()
	g.waitProbe("ok")
	if status, _, raw := g.readyz(); status != http.StatusOK {
		t.Fatalf("readyz = %d %s", status, raw)
	}
}

// TestProbeAfterSuccessA401DoesNotChangeReadiness: once TIP accepted a
// probe, a 401 (to a later probe, or to lookups) leaves the gateway ready.
func TestProbeAfterSuccessA401DoesNotChangeReadiness(t *testing.T) {
	g := startGatewayWith(t, "memory", probeOn(nil), time.Hour, nil, fastProbe(time.Hour))
	g.waitProbe("ok")
	g.sim.Inject(tipsim.Fault{Status: 401})
	g.app.rt.probe.again()
	p := g.waitProbe("misconfigured")
	if p["holds_readiness"] != false {
		t.Errorf("tip.probe = %v, want holds_readiness false", p)
	}
	if status, tipCheck, raw := g.readyz(); status != http.StatusOK || tipCheck["status"] != "ok" {
		t.Fatalf("readyz after a later 401 = %d %s, want 200", status, raw)
	}
	// Lookups answer as DESIGN's table says.
	r := g.do(http.MethodGet, "/v1/lookup?indicator=green.after.example.com", g.keys["siem"], nil)
	if r.status != http.StatusBadGateway || !strings.Contains(r.str("type"), "tip-unauthorized") {
		t.Errorf("lookup after a 401 = %d %s, want 502 tip-unauthorized", r.status, r.raw)
	}
	if g.logLines("readiness is unchanged") != 1 {
		t.Errorf("no WARN about the later misconfiguration:\n%s", g.logs.String())
	}
}

// TestProbePendingIsReady: a probe still under way proves nothing, so the
// gateway is ready meanwhile (a slow TIP must not hold a replica back for
// its whole timeout), and lookups are served.
func TestProbePendingIsReady(t *testing.T) {
	g := startGatewayWith(t, "memory", probeOn(nil), time.Hour, nil, fastProbe(time.Hour), func(g *gateway) {
		g.sim.Inject(tipsim.Fault{Hang: true, Times: 1})
	})
	for deadline := time.Now().Add(waitTimeout); g.sim.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probe never reached TIP")
		}
	}
	status, _, raw := g.readyz()
	if p := g.probeStatus(); status != http.StatusOK || p["state"] != "pending" || p["holds_readiness"] != false {
		t.Fatalf("readyz while the probe is pending = %d %s (probe %v), want 200", status, raw, p)
	}
	// Serving started at once: lookups work meanwhile.
	g.lookup("/v1/lookup?indicator=green.early.example.com&sections=DomainGeneralInfo")
}

// TestProbeDisabled: TIPGATE_TIP_PROBE=false sends nothing and holds
// nothing back.
func TestProbeDisabled(t *testing.T) {
	g := startGatewayWith(t, "memory", map[string]string{"TIPGATE_TIP_PASSWORD": "wrong"}, time.Hour, nil)
	if status, _, raw := g.readyz(); status != http.StatusOK {
		t.Fatalf("readyz with the probe off = %d %s", status, raw)
	}
	if p := g.probeStatus(); p["state"] != "disabled" || p["holds_readiness"] != false {
		t.Errorf("tip.probe = %v", p)
	}
	if got := g.sim.Requests(); got != 0 {
		t.Errorf("TIP requests = %d with the probe off", got)
	}
}

// TestProbeBackoff checks the schedule: misconfigurations at most once per
// Misconfigured (5 minutes by default), doubling to MaxWait; no answer
// from Retry, doubling to Misconfigured; a success stops probing.
func TestProbeBackoff(t *testing.T) {
	p := newProber(true, nil, nil, time.Second, slog.New(slog.DiscardHandler))
	if p.opts.Misconfigured != 5*time.Minute {
		t.Errorf("default misconfiguration wait = %v, want 5m", p.opts.Misconfigured)
	}
	mis := tip.ProbeReport{Verdict: tip.ProbeMisconfigured}
	down := tip.ProbeReport{Verdict: tip.ProbeUnreachable}
	ok := tip.ProbeReport{Verdict: tip.ProbeAccepted}
	steps := []struct {
		r     tip.ProbeReport
		wait  time.Duration
		ready bool
	}{
		{down, 10 * time.Second, true},
		{down, 20 * time.Second, true},
		{mis, 5 * time.Minute, false},
		{mis, 10 * time.Minute, false},
		{mis, 20 * time.Minute, false},
		{mis, 30 * time.Minute, false},
		{mis, 30 * time.Minute, false},
		{ok, 0, true},
		{mis, 5 * time.Minute, true}, // after a success: readiness stays
	}
	if !p.ready() {
		t.Error("not ready before the first probe answered: a probe under way proves nothing")
	}
	for i, s := range steps {
		if got := p.record(s.r); got != s.wait {
			t.Errorf("step %d (%s): wait %v, want %v", i, s.r.Verdict, got, s.wait)
		}
		if p.ready() != s.ready {
			t.Errorf("step %d (%s): ready %v, want %v", i, s.r.Verdict, p.ready(), s.ready)
		}
	}
}

// TestProbeRefusedStaysReady: a 403 (no API access, or the day's quota
// spent, which passes at midnight) proves no misconfiguration: the gateway
// stays ready and serves its cache, and the probe is asked again no sooner
// than after a misconfiguration.
func TestProbeRefusedStaysReady(t *testing.T) {
	g := startGatewayWith(t, "memory", probeOn(nil), time.Hour, nil, fastProbe(time.Hour), func(g *gateway) {
		g.sim.Inject(tipsim.Fault{Status: 403})
	})
	p := g.waitProbe("refused")
	if p["holds_readiness"] != false || p["tip_status"] != float64(403) || p["next_at"] == nil {
		t.Errorf("tip.probe = %v, want refused, not holding readiness, another probe scheduled", p)
	}
	if status, _, raw := g.readyz(); status != http.StatusOK {
		t.Fatalf("readyz after a 403 probe = %d %s, want 200", status, raw)
	}
}
