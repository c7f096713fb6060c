package tip_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// probe sends ProbeRequest through c and diagnoses the answer, as the
// gateway does (there through its upstream layers).
func probe(t *testing.T, c *tip.Client) tip.ProbeReport {
	t.Helper()
	ind, sections := tip.ProbeRequest()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Lookup(ctx, ind, sections, 0)
	return c.Diagnose(ctx, res, err)
}

func TestProbeRequestIsTheEICARHash(t *testing.T) {
	ind, sections := tip.ProbeRequest()
	if ind.Type != indicator.Hash || ind.Value != "44d88612fea8a8f36de82e1278abb02f" {
		t.Errorf("probe indicator = %+v", ind)
	}
	if strings.Join(sections, ",") != "Zone,LicenseInfo" {
		t.Errorf("probe sections = %v", sections)
	}
	if _, err := indicator.Parse(ind.Value, indicator.Hash); err != nil {
		t.Errorf("the probe hash does not parse as a hash: %v", err)
	}
}

// TestProbeDiagnosis runs the probe against the simulator and checks what
// each answer proves, step by step.
func TestProbeDiagnosis(t *testing.T) {
	creds := newCreds(t)
	other := newCreds(t) // another account, under another CA
	sim := tipsim.New(tipsim.Options{Credentials: creds, Token: creds.Token})
	srv, err := tipsim.Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// A listener that requires a client certificate from creds' CA, so
	// that a certificate from another CA is refused in the handshake.
	strictSim := tipsim.New(tipsim.Options{Credentials: creds, RequireClientCert: true})
	strict, err := tipsim.Listen("127.0.0.1:0", strictSim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { strict.Close() })

	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "https://" + addr
	}()
	redirect := newTLSServer(t, creds, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusFound)
	}))

	ok, failed, unknown := tip.CheckOK, tip.CheckFailed, tip.CheckUnknown
	type states map[string]tip.CheckState
	tests := []struct {
		name    string
		cfg     tip.Config
		fault   *tipsim.Fault
		verdict tip.ProbeVerdict
		status  int
		checks  states
		detail  []string
	}{
		{
			name: "accepted with a certificate", cfg: pfxConfig(creds, srv.URL()), verdict: tip.ProbeAccepted,
			checks: states{tip.CheckTLS: ok, tip.CheckServerCertificate: ok, tip.CheckClientCertificate: ok, tip.CheckBasic: ok, tip.CheckLookupAPI: ok},
			detail: []string{"accepted"},
		},
		{
			name: "accepted with a token", cfg: tokenConfig(creds, srv.URL()), verdict: tip.ProbeAccepted,
			checks: states{tip.CheckTLS: ok, tip.CheckToken: ok, tip.CheckLookupAPI: ok},
		},
		{
			name: "401: credentials rejected", cfg: pfxConfig(creds, srv.URL()), fault: &tipsim.Fault{Status: 401},
			verdict: tip.ProbeMisconfigured, status: 401,
			checks: states{tip.CheckTLS: ok, tip.CheckClientCertificate: ok, tip.CheckBasic: failed, tip.CheckLookupAPI: unknown},
			detail: []string{"rejected the credentials"},
		},
		{
			name: "wrong password", cfg: func() tip.Config { c := pfxConfig(creds, srv.URL()); c.Password = "not-the-password"; return c }(),
			verdict: tip.ProbeMisconfigured, status: 401,
			checks: states{tip.CheckBasic: failed},
		},
		{
			name: "401 in token mode", cfg: tokenConfig(creds, srv.URL()), fault: &tipsim.Fault{Status: 401},
			verdict: tip.ProbeMisconfigured, status: 401,
			checks: states{tip.CheckToken: failed},
			detail: []string{"token"},
		},
		{
			name: "403: no API access", cfg: pfxConfig(creds, srv.URL()), fault: &tipsim.Fault{Status: 403},
			verdict: tip.ProbeRefused, status: 403,
			checks: states{tip.CheckBasic: ok, tip.CheckLookupAPI: failed},
			detail: []string{"no access to the Threat Lookup API"},
		},
		{
			name: "404 for the EICAR hash: not TIP's API", cfg: pfxConfig(creds, srv.URL()),
			fault:   &tipsim.Fault{Status: 404, Value: tip.ProbeHash},
			verdict: tip.ProbeMisconfigured, status: 404,
			checks: states{tip.CheckTLS: ok, tip.CheckBasic: unknown, tip.CheckLookupAPI: failed},
			detail: []string{"404", "not TIP's lookup API", "path prefix", "TIPGATE_TIP_URL"},
		},
		{
			name: "wrong path prefix", cfg: pfxConfig(creds, srv.URL()+"/tip"),
			verdict: tip.ProbeMisconfigured, status: 404,
			checks: states{tip.CheckLookupAPI: failed},
			detail: []string{"not TIP's lookup API"},
		},
		{
			name: "a redirect to a login page", cfg: pfxConfig(creds, redirect.URL),
			verdict: tip.ProbeMisconfigured, status: 302,
			checks: states{tip.CheckTLS: ok, tip.CheckLookupAPI: failed},
			detail: []string{"does not answer as TIP's lookup API does"},
		},
		{
			name: "503: TIP is down", cfg: pfxConfig(creds, srv.URL()), fault: &tipsim.Fault{Status: 503},
			verdict: tip.ProbeUnreachable, status: 503,
			checks: states{tip.CheckTLS: ok, tip.CheckBasic: unknown, tip.CheckLookupAPI: unknown},
			detail: []string{"unavailable", "served from the cache"},
		},
		{
			name: "429", cfg: pfxConfig(creds, srv.URL()), fault: &tipsim.Fault{Status: 429},
			verdict: tip.ProbeUnreachable, status: 429,
		},
		{
			name: "connection refused", cfg: pfxConfig(creds, refused),
			verdict: tip.ProbeUnreachable,
			checks:  states{tip.CheckTLS: unknown, tip.CheckBasic: unknown},
			detail:  []string{"could not be reached"},
		},
		{
			name:    "server certificate from an unknown CA",
			cfg:     func() tip.Config { c := pfxConfig(creds, srv.URL()); c.CAPEM = other.CAPEM; return c }(),
			verdict: tip.ProbeMisconfigured,
			checks:  states{tip.CheckTLS: failed, tip.CheckServerCertificate: failed, tip.CheckClientCertificate: unknown, tip.CheckBasic: unknown},
			detail:  []string{"TIPGATE_TIP_CA_FILE"},
		},
		{
			name: "client certificate rejected in the handshake",
			cfg: func() tip.Config {
				c := pfxConfig(creds, strict.URL())
				c.PFX, c.PFXPassword = other.ClientPFX, other.PFXPassword
				return c
			}(),
			verdict: tip.ProbeMisconfigured,
			checks:  states{tip.CheckTLS: failed, tip.CheckServerCertificate: ok, tip.CheckClientCertificate: failed, tip.CheckBasic: unknown},
			detail:  []string{"client certificate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ClearFaults()
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			r := probe(t, newClient(t, tt.cfg))
			if r.Verdict != tt.verdict {
				t.Fatalf("verdict = %s, want %s (%+v)", r.Verdict, tt.verdict, r)
			}
			if r.Status != tt.status {
				t.Errorf("status = %d, want %d", r.Status, tt.status)
			}
			for name, want := range tt.checks {
				if got := r.Check(name); got != want {
					t.Errorf("%s = %s, want %s (%+v)", name, got, want, r.Checks)
				}
			}
			for _, w := range tt.detail {
				if !strings.Contains(r.Detail, w) {
					t.Errorf("detail %q does not say %q", r.Detail, w)
				}
			}
			if !strings.HasSuffix(r.Detail, ".") || strings.HasSuffix(r.Detail, "..") {
				t.Errorf("detail %q is not one sentence ending in a full stop", r.Detail)
			}
			for _, secret := range []string{creds.Password, creds.PFXPassword, creds.Token} {
				if strings.Contains(r.Detail, secret) {
					t.Errorf("detail carries a secret: %q", r.Detail)
				}
			}
			if r.Verdict != tip.ProbeAccepted {
				return
			}
			if r.License == nil || r.License.AccessType != "Commercial" || r.License.DayQuota != tipsim.DefaultDayQuota || r.License.DayRequests < 1 {
				t.Errorf("license = %+v", r.License)
			}
			if r.Zone == "" {
				t.Errorf("no zone for EICAR")
			}
			if token := tt.cfg.Token != ""; token != (r.License.TokenExpirationDate != nil) {
				t.Errorf("token mode %v, but TokenExpirationDate = %v", token, r.License.TokenExpirationDate)
			}
		})
	}
}

// TestProbeOverPlainHTTPSkipsTLS checks the report of a simulator reached
// over http:// (a local test set-up): no TLS step to report.
func TestProbeOverPlainHTTPSkipsTLS(t *testing.T) {
	creds := newCreds(t)
	sim := tipsim.New(tipsim.Options{Token: creds.Token})
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	c := newClient(t, tip.Config{BaseURL: srv.URL, Token: creds.Token})
	r := probe(t, c)
	if r.Verdict != tip.ProbeAccepted {
		t.Fatalf("verdict = %s: %s", r.Verdict, r.Detail)
	}
	if r.Check(tip.CheckTLS) != tip.CheckSkipped || r.Check(tip.CheckServerCertificate) != tip.CheckSkipped {
		t.Errorf("checks = %+v", r.Checks)
	}
}

// TestProbeRefusedByTipgate: a layer of tipgate's that did not send the
// probe (budget spent, breaker open) proves nothing about TIP.
func TestProbeRefusedByTipgate(t *testing.T) {
	creds := newCreds(t)
	c := newClient(t, pfxConfig(creds, "https://127.0.0.1:1"))
	r := c.Diagnose(t.Context(), nil, &tip.Error{Kind: tip.KindBudgetSpent, Refused: true, Detail: "the gateway's daily budget of 10 TIP requests is spent"})
	if r.Verdict != tip.ProbeUnreachable || !strings.Contains(r.Detail, "did not send the probe") {
		t.Errorf("report = %+v", r)
	}
	r = c.Diagnose(t.Context(), nil, context.Canceled)
	if r.Verdict != tip.ProbeUnreachable {
		t.Errorf("canceled: report = %+v", r)
	}
}
