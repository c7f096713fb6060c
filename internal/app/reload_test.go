package app

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// metricValue reads one sample from /metrics, labels included, e.g.
// `tipgate_reload_total{result="ok"}`; false when absent.
func (g *gateway) metricValue(sample string) (float64, bool) {
	g.t.Helper()
	r := g.do(http.MethodGet, "/metrics", "", nil)
	sc := bufio.NewScanner(bytes.NewReader(r.raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				g.t.Fatalf("%s = %q: %v", sample, v, err)
			}
			return f, true
		}
	}
	return 0, false
}

func (g *gateway) reloads(result string) float64 {
	g.t.Helper()
	v, _ := g.metricValue(`tipgate_reload_total{result="` + result + `"}`)
	return v
}

// writeKeys replaces the gateway's keys file with the given keys (name ->
// roles), each with a new random key, and returns name -> key. The keys
// join g.keys under "<name>@<n>", so the no-secrets-in-logs check covers
// them.
func (g *gateway) writeKeys(keys map[string][]string) map[string]string {
	g.t.Helper()
	out := map[string]string{}
	var entries []apikey.FileEntry
	for name, roles := range keys {
		key, err := apikey.Generate()
		if err != nil {
			g.t.Fatal(err)
		}
		out[name] = key
		g.keys[fmt.Sprintf("%s@%d", name, len(g.keys))] = key
		entries = append(entries, apikey.FileEntry{Name: name, Key: key, Roles: roles})
	}
	raw := apikey.MarshalFile(entries)
	g.replaceFile(g.env["TIPGATE_API_KEYS_FILE"], raw)
	return out
}

// replaceFile writes data to path as Kubernetes does a mounted secret: a
// new file moved over the old one, so no reader sees half of it.
func (g *gateway) replaceFile(path string, data []byte) {
	g.t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		g.t.Fatal(err)
	}
}

// slowLookupInFlight starts a lookup that TIP answers late and returns once
// TIP has it; the channel gets its outcome.
func (g *gateway) slowLookupInFlight(key string) <-chan error {
	g.t.Helper()
	before := g.sim.Requests()
	g.sim.Inject(tipsim.Fault{Delay: 400 * time.Millisecond, Times: 1})
	done := make(chan error, 1)
	go func() {
		r, err := g.try(http.MethodGet, "/v1/lookup?indicator=green.inflight.example.com&sections=DomainGeneralInfo", key, nil)
		if err == nil && r.status != http.StatusOK {
			err = fmt.Errorf("status %d: %s", r.status, r.raw)
		}
		done <- err
	}()
	for deadline := time.Now().Add(waitTimeout); g.sim.Requests() == before; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			g.t.Fatal("the slow lookup never reached TIP")
		}
	}
	return done
}

// noWatch keeps the file watcher out of tests that call Reload themselves.
func noWatch(g *gateway) { g.app.rt.watchEvery = time.Hour }

// TestReloadKeysOnSIGHUP: a reload (what SIGHUP does) of a changed keys
// file: the new key works, the removed one is refused, and a request in
// flight across it is not dropped.
func TestReloadKeysOnSIGHUP(t *testing.T) {
	g := startGatewayWith(t, "memory", nil, time.Hour, nil, noWatch)
	oldSIEM := g.keys["siem"]
	inflight := g.slowLookupInFlight(oldSIEM)

	fresh := g.writeKeys(map[string][]string{"siem": {"lookup"}, "ops": {"lookup", "refresh", "admin"}})
	if err := g.app.Reload("SIGHUP"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := <-inflight; err != nil {
		t.Fatalf("the request in flight across the reload failed: %v", err)
	}
	if r := g.do(http.MethodGet, "/v1/sections", oldSIEM, nil); r.status != http.StatusUnauthorized {
		t.Errorf("the removed key = %d, want 401", r.status)
	}
	if r := g.do(http.MethodGet, "/v1/sections", fresh["siem"], nil); r.status != http.StatusOK {
		t.Errorf("the new key = %d %s, want 200", r.status, r.raw)
	}
	if r := g.do(http.MethodGet, "/v1/sections", g.keys["soar"], nil); r.status != http.StatusUnauthorized {
		t.Errorf("a key no longer in the file = %d, want 401", r.status)
	}
	// The KUMA facade uses the same keys.
	if r := g.kuma(t, "/api/1.1/lookup", "siem", fresh["siem"], "application/json", []map[string]string{{"object": "green.example.com"}}); r.status != http.StatusOK {
		t.Errorf("KUMA with the new key = %d %s", r.status, r.raw)
	}
	if r := g.kuma(t, "/api/1.1/lookup", "siem", oldSIEM, "application/json", []map[string]string{{"object": "green.example.com"}}); r.status != http.StatusUnauthorized {
		t.Errorf("KUMA with the removed key = %d", r.status)
	}
	g.keys["ops"] = fresh["ops"]
	if got := g.reloads("ok"); got != 1 {
		t.Errorf(`tipgate_reload_total{result="ok"} = %v, want 1`, got)
	}
	if g.logLines(`"audit":"reload"`) != 1 || g.logLines(`"changed":["API keys"]`) != 1 || g.logLines(`"trigger":"SIGHUP"`) != 1 {
		t.Errorf("no audit line naming the trigger and what changed:\n%s", g.logs.String())
	}
	// Nothing changed: still a reload, and said so.
	if err := g.app.Reload("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if g.logLines("reload: nothing changed") != 1 || g.reloads("ok") != 2 {
		t.Errorf("a reload with nothing new was not reported as such:\n%s", g.logs.String())
	}
}

// TestReloadFailureKeepsTheOldOnes: a broken keys file, or a PFX whose
// password has not followed yet, fails the reload: everything in use stays,
// the log says why and tipgate_reload_total{result="error"} counts it.
func TestReloadFailureKeepsTheOldOnes(t *testing.T) {
	g := startGatewayWith(t, "memory", map[string]string{
		"TIPGATE_TIP_PFX_PASSWORD_FILE": "$PFXPW", "TIPGATE_TIP_PFX_PASSWORD": "",
	}, time.Hour, nil, noWatch)
	g.replaceFile(g.env["TIPGATE_API_KEYS_FILE"], []byte(`{"keys": [{"name": "siem", "sha256": "abcd", "roles": ["lookpu"]}]}`))
	err := g.app.Reload("SIGHUP")
	if err == nil || !strings.Contains(err.Error(), "TIPGATE_API_KEYS_FILE") {
		t.Fatalf("Reload with a broken keys file = %v, want an error naming TIPGATE_API_KEYS_FILE", err)
	}
	if r := g.do(http.MethodGet, "/v1/sections", g.keys["siem"], nil); r.status != http.StatusOK {
		t.Errorf("the old key after a failed reload = %d, want 200", r.status)
	}
	if got := g.reloads("error"); got != 1 {
		t.Errorf(`tipgate_reload_total{result="error"} = %v, want 1`, got)
	}
	if g.logLines("reload failed; the TIP credentials and API keys in use stay in use") != 1 || g.logLines(`"outcome":"error"`) != 1 {
		t.Errorf("the failed reload was not logged:\n%s", g.logs.String())
	}

	// A renewed PFX whose password file has not been updated yet.
	g.writeKeys(map[string][]string{"siem": {"lookup"}, "ops": {"admin"}}) // valid again
	renewed, err := g.creds.IssueClient("renewed.tipsim", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g.replaceFile(g.env["TIPGATE_TIP_PFX_FILE"], renewed.PFX)
	if err := g.app.Reload("SIGHUP"); err == nil || !strings.Contains(err.Error(), "TIPGATE_TIP_PFX_PASSWORD") {
		t.Fatalf("Reload with the old password for a new PFX = %v", err)
	}
	if got := g.reloads("error"); got != 2 {
		t.Errorf(`tipgate_reload_total{result="error"} = %v, want 2`, got)
	}
	// Neither half was swapped: the old keys and the old certificate.
	if r := g.do(http.MethodGet, "/v1/sections", g.keys["soar"], nil); r.status != http.StatusOK {
		t.Errorf("a failed reload swapped the keys: soar = %d", r.status)
	}
	tipStatus, _ := g.tipStatus(g.keys["ops"])
	if cert, _ := tipStatus["certificate"].(map[string]any); cert["subject"] != "CN="+g.creds.Username+",O=tipgate simulator customer" {
		t.Errorf("certificate after a failed reload = %v", cert)
	}
	g.lookup("/v1/lookup?indicator=green.still.example.com&sections=DomainGeneralInfo")

	g.replaceFile(g.env["TIPGATE_TIP_PFX_PASSWORD_FILE"], []byte(renewed.PFXPassword+"\n"))
	if err := g.app.Reload("SIGHUP"); err != nil {
		t.Fatalf("Reload once the password followed: %v", err)
	}
	if g.logLines(`"changed":["TIP credentials","API keys"]`) != 1 {
		t.Errorf("the audit line does not say both changed:\n%s", g.logs.String())
	}
	for _, secret := range []string{renewed.PFXPassword} {
		if strings.Contains(g.logs.String(), secret) {
			t.Error("the new PFX password is in the logs")
		}
	}
}

// TestReloadPFXReplacedOnDisk: a renewed certificate and its password,
// replaced on disk as Kubernetes updates a mounted secret, are picked up
// without a signal; the new certificate is the one in use (status, gauge,
// and TIP accepts it), and a lookup in flight across the swap finishes.
func TestReloadPFXReplacedOnDisk(t *testing.T) {
	g := startGatewayWith(t, "memory", probeOn(map[string]string{
		"TIPGATE_TIP_PFX_PASSWORD_FILE": "$PFXPW", "TIPGATE_TIP_PFX_PASSWORD": "",
	}), time.Hour, nil, fastProbe(time.Hour), func(g *gateway) { g.app.rt.watchEvery = 20 * time.Millisecond })
	g.waitProbe("ok")
	renewed, err := g.creds.IssueClient("renewed.tipsim", 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inflight := g.slowLookupInFlight(g.keys["siem"])
	g.replaceFile(g.env["TIPGATE_TIP_PFX_FILE"], renewed.PFX)
	g.replaceFile(g.env["TIPGATE_TIP_PFX_PASSWORD_FILE"], []byte(renewed.PFXPassword+"\n"))

	deadline := time.Now().Add(waitTimeout)
	for {
		tipStatus, raw := g.tipStatus(g.keys["ops"])
		cert, _ := tipStatus["certificate"].(map[string]any)
		if strings.Contains(fmt.Sprint(cert["subject"]), "renewed.tipsim") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was never picked up: %s\n%s", raw, g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-inflight; err != nil {
		t.Fatalf("the lookup in flight across the swap failed: %v", err)
	}
	if got, _ := g.metricValue("tipgate_tip_client_certificate_expiry_timestamp_seconds"); got != float64(renewed.Cert.NotAfter.Unix()) {
		t.Errorf("expiry gauge = %v, want the renewed certificate's %d", got, renewed.Cert.NotAfter.Unix())
	}
	// The new client speaks to TIP with the new certificate, which TIP
	// accepts, and the probe checked it again.
	before := g.sim.Requests()
	g.lookup("/v1/lookup?indicator=red.after-renewal.example.com&sections=DomainGeneralInfo")
	log := g.sim.Log()
	if g.sim.Requests() != before+1 || !log[len(log)-1].ClientCert || log[len(log)-1].Status != 200 {
		t.Errorf("TIP's view of the lookup after the swap: %+v", log[len(log)-1])
	}
	deadline = time.Now().Add(waitTimeout)
	for g.probeStatus()["attempts"] != float64(2) || g.probeStatus()["state"] != "ok" {
		if time.Now().After(deadline) {
			t.Fatalf("no probe of the new credentials: %v", g.probeStatus())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := g.reloads("ok"); got != 1 {
		t.Errorf(`tipgate_reload_total{result="ok"} = %v, want 1 (the two files settle into one reload)`, got)
	}
	if g.logLines(`"trigger":"file change: TIPGATE_TIP_PFX_FILE, TIPGATE_TIP_PFX_PASSWORD_FILE"`)+
		g.logLines(`"trigger":"file change: TIPGATE_TIP_PFX_PASSWORD_FILE, TIPGATE_TIP_PFX_FILE"`) != 1 {
		t.Errorf("the audit line does not name the changed files:\n%s", g.logs.String())
	}
	if strings.Contains(g.logs.String(), renewed.PFXPassword) {
		t.Error("the new PFX password is in the logs")
	}
}

// TestReloadWatchesTheKeysFile: a keys file changed on disk is picked up
// without a signal.
func TestReloadWatchesTheKeysFile(t *testing.T) {
	g := startGatewayWith(t, "memory", nil, time.Hour, nil, func(g *gateway) { g.app.rt.watchEvery = 20 * time.Millisecond })
	fresh := g.writeKeys(map[string][]string{"analyst": {"lookup"}})
	deadline := time.Now().Add(waitTimeout)
	for g.do(http.MethodGet, "/v1/sections", fresh["analyst"], nil).status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the new keys file was never picked up:\n%s", g.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := g.do(http.MethodGet, "/v1/sections", g.keys["siem"], nil); r.status != http.StatusUnauthorized {
		t.Errorf("a key removed from the file = %d, want 401", r.status)
	}
	// Touching the file (same content) reloads nothing.
	now := time.Now().Add(time.Minute)
	if err := os.Chtimes(g.env["TIPGATE_API_KEYS_FILE"], now, now); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := g.reloads("ok"); got != 1 {
		t.Errorf(`tipgate_reload_total{result="ok"} = %v, want 1`, got)
	}
}

// TestCertificateExpiryGauge: the client certificate's expiry is a
// timestamp gauge, absent in token mode.
func TestCertificateExpiryGauge(t *testing.T) {
	g := startGateway(t, "memory", nil)
	got, ok := g.metricValue("tipgate_tip_client_certificate_expiry_timestamp_seconds")
	if !ok || got != float64(g.creds.ClientCert.NotAfter.Unix()) {
		t.Errorf("expiry gauge = %v (present %v), want %d", got, ok, g.creds.ClientCert.NotAfter.Unix())
	}
	tok := startGatewayWith(t, "memory", map[string]string{
		"TIPGATE_TIP_TOKEN":    "$TOKEN",
		"TIPGATE_TIP_PFX_FILE": "", "TIPGATE_TIP_PFX_PASSWORD": "", "TIPGATE_TIP_USERNAME": "", "TIPGATE_TIP_PASSWORD": "",
	}, time.Hour, func(o *tipsim.Options) {
		o.Token = o.Credentials.Token
		o.RequireClientCert = false
	})
	if _, ok := tok.metricValue("tipgate_tip_client_certificate_expiry_timestamp_seconds"); ok {
		t.Error("the expiry gauge is present in token mode")
	}
}

// TestCertificateExpiryWarning: a certificate with 10 days left is warned
// about once at start, by one owner.
func TestCertificateExpiryWarning(t *testing.T) {
	g := startGatewayWith(t, "memory", nil, 10*24*time.Hour, nil, func(g *gateway) { g.app.rt.watchEvery = 20 * time.Millisecond })
	time.Sleep(100 * time.Millisecond) // several watch rounds
	if n := g.logLines("the TIP client certificate expires soon"); n != 1 {
		t.Errorf("%d expiry warnings, want 1:\n%s", n, g.logs.String())
	}
	if !strings.Contains(g.logs.String(), `"days_left":9`) {
		t.Errorf("the warning does not say how many days are left:\n%s", g.logs.String())
	}
}
