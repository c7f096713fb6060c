package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tipgate/tipgate/api/apitest"
	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/redistest"
	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// The integration tests run the whole gateway in-process on 127.0.0.1:0,
// against the TIP simulator over real mTLS and against both stores (memory,
// and a real redis-server), and talk to it over HTTP as callers do.

type gateway struct {
	t       testing.TB
	sim     *tipsim.Sim
	creds   *tipsim.Credentials
	simURL  string
	base    string
	keys    map[string]string // name -> key
	logs    *logbuf.Buffer
	redis   *redistest.Server
	cluster *redistest.Cluster // store "cluster"
	app     *App
	stopApp func()
	// contract checks every response the tests receive against
	// api/openapi.yaml.
	contract *apitest.Contract
	// env is the gateway's environment (read again on reload).
	env map[string]string
}

// startGateway runs tipgate with the named store ("memory", "redis" or
// "cluster", a three-master Redis Cluster).
func startGateway(t testing.TB, store string, env map[string]string) *gateway {
	t.Helper()
	return startGatewayWith(t, store, env, time.Hour, nil)
}

// startGatewayWith also sets how long the generated certificates are valid
// (negative: already expired), lets the test adjust the simulator, and
// lets it act between New and Serve (inject faults before the start-up
// probe, shorten the background tasks' intervals).
func startGatewayWith(t testing.TB, store string, env map[string]string, validFor time.Duration, simOpts func(*tipsim.Options), beforeServe ...func(*gateway)) *gateway {
	t.Helper()
	creds, err := tipsim.NewCredentials(validFor)
	if err != nil {
		t.Fatal(err)
	}
	opts := tipsim.Options{Credentials: creds, RequireClientCert: true}
	if simOpts != nil {
		simOpts(&opts)
	}
	sim := tipsim.New(opts)
	simSrv, err := tipsim.Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simSrv.Close() })
	dir := t.TempDir()
	files, err := creds.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, sim: sim, creds: creds, simURL: simSrv.URL(), keys: map[string]string{}, logs: &logbuf.Buffer{}, contract: apitest.Load(t)}
	var entries []apikey.FileEntry
	for name, roles := range map[string][]string{
		"siem": {"lookup"},
		"soar": {"lookup", "refresh"},
		"ops":  {"lookup", "refresh", "admin"},
	} {
		key, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		g.keys[name] = key
		entries = append(entries, apikey.FileEntry{Name: name, Key: key, Roles: roles})
	}
	keysJSON := apikey.MarshalFile(entries)
	keysFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keysFile, keysJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"TIPGATE_ADDR":             "127.0.0.1:0",
		"TIPGATE_TIP_URL":          simSrv.URL(),
		"TIPGATE_TIP_CA_FILE":      files.CA,
		"TIPGATE_TIP_PFX_FILE":     files.ClientPFX,
		"TIPGATE_TIP_PFX_PASSWORD": creds.PFXPassword,
		"TIPGATE_TIP_USERNAME":     creds.Username,
		"TIPGATE_TIP_PASSWORD":     creds.Password,
		"TIPGATE_TIP_TIMEOUT":      "5s",
		"TIPGATE_API_KEYS_FILE":    keysFile,
		"TIPGATE_SHUTDOWN_TIMEOUT": "5s",
		// Most tests count TIP requests: no start-up probe may add one.
		// The probe's tests turn it on.
		"TIPGATE_TIP_PROBE": "false",
	}
	switch store {
	case "redis":
		g.redis = redistest.New(t)
		vars["TIPGATE_REDIS_URL"] = g.redis.URL()
	case "cluster":
		g.cluster = redistest.NewCluster(t)
		vars["TIPGATE_REDIS_URL"] = g.cluster.URL()
		vars["TIPGATE_REDIS_MODE"] = "cluster"
	}
	for k, v := range env {
		vars[k] = v
	}
	// Placeholders the caller may use for the generated token, and for a
	// file holding the PFX password (as a mounted secret).
	for k, v := range vars {
		switch v {
		case "$TOKEN":
			vars[k] = creds.Token
		case "$PFXPW":
			path := filepath.Join(dir, "pfx-password")
			if err := os.WriteFile(path, []byte(creds.PFXPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			vars[k] = path
		}
	}
	g.env = vars
	src := config.Source{Getenv: func(k string) string { return vars[k] }, ReadFile: os.ReadFile}
	cfg, err := src.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	a, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	a.WatchSource(src)
	g.app = a
	for _, f := range beforeServe {
		f(g)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	g.base = "http://" + a.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	var once sync.Once
	g.stopApp = func() {
		once.Do(func() {
			// net/http's Shutdown waits up to 5 s for a connection that
			// was opened but never carried a request, and the client's
			// transport leaves such spare connections behind when it
			// races dials under concurrent requests: close them first.
			http.DefaultClient.CloseIdleConnections()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		g.stopApp()
		g.assertNoSecretsLogged()
	})
	return g
}

func (g *gateway) assertNoSecretsLogged() {
	g.t.Helper()
	logs := g.logs.String()
	secrets := map[string]string{
		"TIP password": g.creds.Password, "PFX password": g.creds.PFXPassword, "token": g.creds.Token,
	}
	for name, key := range g.keys {
		secrets["API key "+name] = key
	}
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			g.t.Errorf("the %s appears in the logs", what)
		}
	}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// do sends a request and fails the test if it cannot; every answer is
// checked against the contract.
func (g *gateway) do(method, path, key string, body any) response {
	g.t.Helper()
	r, err := g.try(method, path, key, body)
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

// try is do for goroutines other than the test's: it returns the error
// instead of failing the test (t.Fatal must not be called there).
func (g *gateway) try(method, path, key string, body any) (response, error) {
	var sent []byte
	if body != nil {
		sent, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader(sent))
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	// Some tests send bad requests on purpose; every answer must still be
	// one the contract allows.
	if _, respErr := g.contract.Check(apitest.Exchange{
		Method: method, Target: path, Header: req.Header, Body: sent,
		Status: resp.StatusCode, RespHeader: resp.Header, RespBody: raw,
	}); respErr != nil {
		g.t.Errorf("%s %s: the answer does not match api/openapi.yaml: %v\n%.500s", method, path, respErr, raw)
	}
	return r, nil
}

func (g *gateway) lookup(path string) response {
	g.t.Helper()
	r := g.do(http.MethodGet, path, g.keys["siem"], nil)
	if r.status != http.StatusOK {
		g.t.Fatalf("GET %s = %d %s", path, r.status, r.raw)
	}
	return r
}

func (r response) str(field string) string {
	s, _ := r.body[field].(string)
	return s
}

func (r response) sections() map[string]any {
	m, _ := r.body["sections"].(map[string]any)
	return m
}

func (r response) listLen(t *testing.T, section string) int {
	t.Helper()
	l, ok := r.sections()[section].([]any)
	if !ok {
		t.Fatalf("section %s is not a list in %s", section, r.raw)
	}
	return len(l)
}

// richDomain finds a domain whose section has at least n records in the
// simulator, asking the simulator directly so the gateway's cache stays cold.
func (g *gateway) richDomain(section string, n int) string {
	g.t.Helper()
	c, err := tip.New(tip.Config{BaseURL: g.simURL, Username: g.creds.Username, Password: g.creds.Password,
		PFX: g.creds.ClientPFX, PFXPassword: g.creds.PFXPassword, CAPEM: g.creds.CAPEM})
	if err != nil {
		g.t.Fatal(err)
	}
	defer g.sim.Reset()
	for i := 0; i < 200; i++ {
		d := fmt.Sprintf("red.rich%d.example.com", i)
		res, err := c.Lookup(context.Background(), indicator.Indicator{Type: indicator.Domain, Value: d}, []string{section}, 1000)
		if err != nil {
			g.t.Fatal(err)
		}
		var items []json.RawMessage
		_ = json.Unmarshal(res.Sections[section], &items)
		if len(items) >= n {
			return d
		}
	}
	g.t.Fatalf("no simulated domain has %d %s records", n, section)
	return ""
}

// forEachStore runs a test against the in-memory store and a real Redis.
func forEachStore(t *testing.T, fn func(t *testing.T, g *gateway)) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) { fn(t, startGateway(t, store, nil)) })
	}
}

func TestMissThenHit(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		path := "/v1/lookup?indicator=red.example.com&sections=DomainGeneralInfo,DomainDnsResolutions"
		first := g.lookup(path)
		if first.str("cache") != "miss" || first.header.Get("X-Cache") != "MISS" {
			t.Fatalf("first: cache %q, X-Cache %q, want miss", first.str("cache"), first.header.Get("X-Cache"))
		}
		if first.str("zone") != "Red" || first.body["found"] != true || first.str("type") != "domain" || first.str("indicator") != "red.example.com" {
			t.Fatalf("first = %s", first.raw)
		}
		if _, err := time.Parse(time.RFC3339, first.str("received_at")); err != nil {
			t.Fatalf("received_at %q: %v", first.str("received_at"), err)
		}
		second := g.lookup(path)
		if second.str("cache") != "hit" || second.header.Get("X-Cache") != "HIT" {
			t.Fatalf("second: cache %q, want hit", second.str("cache"))
		}
		if second.str("received_at") != first.str("received_at") {
			t.Fatalf("received_at changed on a hit: %s then %s", first.str("received_at"), second.str("received_at"))
		}
		if second.header.Get("Age") == "" {
			t.Fatalf("no Age header on a hit")
		}
		if got := g.sim.Requests(); got != 1 {
			t.Fatalf("TIP requests = %d, want 1", got)
		}
		log := g.sim.Log()
		want := []string{"DomainGeneralInfo", "DomainDnsResolutions", "Zone", "LicenseInfo"}
		if !sameSet(log[0].Sections, want) || log[0].Count != 10 || !log[0].ClientCert {
			t.Fatalf("TIP was asked %+v, want sections %v, count 10, with a client certificate", log[0], want)
		}
	})
}

// TestMissThenHitOnCluster: with TIPGATE_REDIS_MODE=cluster the gateway
// stores a miss's sections in a Redis Cluster, under the indicator's one
// hash tag, and answers the same question again from there.
func TestMissThenHitOnCluster(t *testing.T) {
	g := startGateway(t, "cluster", nil)
	if got := g.app.StoreName(); got != "redis" {
		t.Fatalf("StoreName = %q, want redis", got)
	}
	path := "/v1/lookup?indicator=red.example.com&sections=DomainGeneralInfo,DomainDnsResolutions"
	if first := g.lookup(path); first.str("cache") != "miss" || first.str("zone") != "Red" {
		t.Fatalf("first: cache %q, zone %q; want a Red miss", first.str("cache"), first.str("zone"))
	}
	if second := g.lookup(path); second.str("cache") != "hit" || second.header.Get("X-Cache") != "HIT" {
		t.Fatalf("second: cache %q, X-Cache %q; want hit", second.str("cache"), second.header.Get("X-Cache"))
	}
	if got := g.sim.Requests(); got != 1 {
		t.Fatalf("TIP requests = %d, want 1", got)
	}
	// The entries are in the cluster, all in the one slot of the
	// indicator's hash tag.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex // ForEachMaster asks the masters concurrently
		keys []string
	)
	err := g.cluster.Client().ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		found, err := c.Keys(ctx, "tipgate:*{domain:red.example.com}*").Result()
		mu.Lock()
		keys = append(keys, found...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("KEYS on the masters: %v", err)
	}
	if len(keys) < 2 {
		t.Fatalf("keys of red.example.com in the cluster: %q, want its sections'", keys)
	}
	slot := g.cluster.Client().ClusterKeySlot(ctx, keys[0]).Val()
	for _, k := range keys[1:] {
		if s := g.cluster.Client().ClusterKeySlot(ctx, k).Val(); s != slot {
			t.Errorf("%s is in slot %d, %s in %d: one indicator's keys must share one", keys[0], slot, k, s)
		}
	}
}

func TestSubsetsAndLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		d := g.richDomain("DomainDnsResolutions", 25)
		base := "/v1/lookup?indicator=" + d
		g.lookup(base + "&sections=DomainGeneralInfo,DomainDnsResolutions&limit=20")

		sub := g.lookup(base + "&sections=domaindnsresolutions&limit=5")
		if sub.str("cache") != "hit" || sub.listLen(t, "DomainDnsResolutions") != 5 || len(sub.sections()) != 1 {
			t.Fatalf("subset at a smaller limit: %s", sub.raw)
		}
		if sub.body["limit"] != float64(5) {
			t.Fatalf("limit = %v, want 5", sub.body["limit"])
		}

		larger := g.lookup(base + "&sections=DomainGeneralInfo,DomainDnsResolutions&limit=25")
		if larger.str("cache") != "partial" || larger.listLen(t, "DomainDnsResolutions") != 25 {
			t.Fatalf("larger limit: %s", larger.raw)
		}
		log := g.sim.Log()
		if len(log) != 2 || !sameSet(log[1].Sections, []string{"DomainDnsResolutions", "Zone", "LicenseInfo"}) || log[1].Count != 25 {
			t.Fatalf("TIP requests %+v: want a second one for DomainDnsResolutions alone at count 25", log)
		}
		ra, _ := larger.body["sections_received_at"].(map[string]any)
		if larger.str("received_at") != ra["DomainGeneralInfo"] {
			t.Fatalf("received_at %s should be the oldest section's (%v)", larger.str("received_at"), ra)
		}
	})
}

func TestRefreshAdvancesReceivedAt(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		body := map[string]any{"indicator": "3935AAE80FAF8D03781C2D611A4E183F", "sections": []string{"FileGeneralInfo"}}
		first := g.do(http.MethodPost, "/v1/lookup", g.keys["siem"], body)
		if first.status != 200 || first.str("cache") != "miss" || first.str("indicator") != "3935aae80faf8d03781c2d611a4e183f" {
			t.Fatalf("POST lookup = %d %s", first.status, first.raw)
		}
		time.Sleep(5 * time.Millisecond)
		if r := g.do(http.MethodPost, "/v1/refresh", g.keys["siem"], body); r.status != http.StatusForbidden {
			t.Fatalf("refresh with a lookup-only key = %d, want 403", r.status)
		}
		refreshed := g.do(http.MethodPost, "/v1/refresh", g.keys["soar"], body)
		if refreshed.status != 200 || refreshed.str("cache") != "refreshed" || refreshed.header.Get("X-Cache") != "REFRESHED" {
			t.Fatalf("refresh = %d %s", refreshed.status, refreshed.raw)
		}
		if !(refreshed.str("received_at") > first.str("received_at")) {
			t.Fatalf("refresh received_at %s, not after %s", refreshed.str("received_at"), first.str("received_at"))
		}
		hit := g.do(http.MethodPost, "/v1/lookup", g.keys["siem"], body)
		if hit.str("cache") != "hit" || hit.str("received_at") != refreshed.str("received_at") {
			t.Fatalf("after refresh: %s", hit.raw)
		}
		if got := g.sim.Requests(); got != 2 {
			t.Fatalf("TIP requests = %d, want 2", got)
		}
	})
}

func TestEquivalentSpellingsShareOneEntry(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		groups := [][]string{
			{"hxxps://www.Yellow-Shop[.]com:443/A//b/../C/?q=1#frag", "http://yellow-shop.com/a/c/?q=1", "yellow-shop.com/a/c/?q=1"},
			{"Green.Example.COM.", "green[.]example[.]com", "  green.example.com  "},
			{"3935AAE80FAF8D03781C2D611A4E183F", "3935aae80faf8d03781c2d611a4e183f"},
			{"039.090.148.083", "39[.]90[.]148[.]83"},
		}
		for i, spellings := range groups {
			before := g.sim.Requests()
			var indicators []string
			for j, s := range spellings {
				r := g.do(http.MethodPost, "/v1/lookup", g.keys["siem"], map[string]any{"indicator": s})
				if r.status != 200 {
					t.Fatalf("%q = %d %s", s, r.status, r.raw)
				}
				if j > 0 && r.str("cache") != "hit" {
					t.Errorf("%q after %q: cache %q, want hit", s, spellings[0], r.str("cache"))
				}
				indicators = append(indicators, r.str("indicator"))
			}
			if got := g.sim.Requests() - before; got != 1 {
				t.Errorf("group %d: %d TIP requests, want 1", i, got)
			}
			if len(slices.Compact(slices.Clone(indicators))) != 1 {
				t.Errorf("group %d normalised differently: %v", i, indicators)
			}
		}
	})
}

func TestTIPErrorsAreNotCached(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		path := "/v1/lookup?indicator=orange.example.net&sections=DomainGeneralInfo"
		cases := []struct {
			status     int
			attempts   int64 // TIP requests the failing lookup makes: transient failures are retried
			wantStatus int
			wantType   string
		}{
			{503, 3, http.StatusBadGateway, "tip-unavailable"},
			{401, 1, http.StatusBadGateway, "tip-unauthorized"},
			{403, 1, http.StatusBadGateway, "tip-forbidden"},
			{400, 1, http.StatusBadRequest, "tip-bad-request"},
		}
		var want int64
		for _, c := range cases {
			g.sim.Inject(tipsim.Fault{Status: c.status, Times: int(c.attempts)})
			before := g.sim.Requests()
			r := g.do(http.MethodGet, path, g.keys["siem"], nil)
			if r.status != c.wantStatus || r.header.Get("Content-Type") != "application/problem+json" || r.str("type") != c.wantType || r.str("detail") == "" {
				t.Fatalf("TIP %d: got %d %s %s, want %d %s problem", c.status, r.status, r.header.Get("Content-Type"), r.raw, c.wantStatus, c.wantType)
			}
			if got := g.sim.Requests() - before; got != c.attempts {
				t.Fatalf("TIP %d: %d TIP requests, want %d", c.status, got, c.attempts)
			}
			want += c.attempts
		}
		ok := g.lookup(path)
		if ok.str("cache") != "miss" || ok.str("zone") != "Orange" {
			t.Fatalf("after the errors: %s, want a miss", ok.raw)
		}
		if got := g.sim.Requests(); got != want+1 {
			t.Fatalf("TIP requests = %d, want %d: no error may be cached", got, want+1)
		}
	})
}

// A TIP that fails once with a transient error costs the caller nothing
// but a retry: the lookup answers 200, and TIP saw two requests.
func TestTransientFailureIsRetried(t *testing.T) {
	for _, status := range []int{500, 429} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			g := startGateway(t, "memory", nil)
			g.sim.Inject(tipsim.Fault{Status: status, Times: 1})
			r := g.lookup("/v1/lookup?indicator=red.retry.example.com&sections=DomainGeneralInfo")
			if r.str("cache") != "miss" || r.str("zone") != "Red" {
				t.Fatalf("lookup after one TIP %d = %s, want a Red miss", status, r.raw)
			}
			if got := g.sim.Requests(); got != 2 {
				t.Fatalf("TIP requests = %d, want 2 (the failure and its retry)", got)
			}
		})
	}
}

func TestNotFoundIsCachedGrey(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		path := "/v1/lookup?indicator=notfound.example.org"
		for i, want := range []string{"miss", "hit"} {
			r := g.lookup(path)
			if r.body["found"] != false || r.str("zone") != "Grey" || r.str("cache") != want || len(r.sections()) != 0 {
				t.Fatalf("lookup %d = %s, want found=false Grey %s", i, r.raw, want)
			}
		}
	})
}

func TestBadInputNeverReachesTIP(t *testing.T) {
	g := startGateway(t, "memory", nil)
	cases := []struct{ name, path string }{
		{"garbage", "/v1/lookup?indicator=not%20an%20indicator"},
		{"no indicator", "/v1/lookup"},
		{"wrong type", "/v1/lookup?indicator=example.com&type=ip"},
		{"unknown type", "/v1/lookup?indicator=example.com&type=email"},
		{"unknown section", "/v1/lookup?indicator=example.com&sections=Bogus"},
		{"LicenseInfo", "/v1/lookup?indicator=example.com&sections=LicenseInfo"},
		{"limit 0", "/v1/lookup?indicator=example.com&limit=0"},
		{"limit too big", "/v1/lookup?indicator=example.com&limit=1001"},
		{"limit not a number", "/v1/lookup?indicator=example.com&limit=ten"},
		{"IPv6", "/v1/lookup?indicator=2001:db8::1"},
		{"short hash", "/v1/lookup?indicator=abcdef&type=hash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := g.do(http.MethodGet, c.path, g.keys["siem"], nil)
			if r.status != http.StatusBadRequest || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s = %d %s %s, want 400 problem+json", c.path, r.status, r.header.Get("Content-Type"), r.raw)
			}
			if r.str("detail") == "" || r.body["status"] != float64(400) || r.body["invalid_params"] == nil {
				t.Fatalf("problem lacks detail, status or invalid_params: %s", r.raw)
			}
		})
	}
	if got := g.sim.Requests(); got != 0 {
		t.Fatalf("TIP requests = %d, want 0", got)
	}
}

func TestKeysAndRoles(t *testing.T) {
	g := startGateway(t, "memory", nil)
	cases := []struct {
		name, method, path, key string
		want                    int
	}{
		{"no key", http.MethodGet, "/v1/lookup?indicator=green.example.com", "", 401},
		{"unknown key", http.MethodGet, "/v1/lookup?indicator=green.example.com", "tg_nope", 401},
		{"lookup key", http.MethodGet, "/v1/lookup?indicator=green.example.com", g.keys["siem"], 200},
		{"sections", http.MethodGet, "/v1/sections", g.keys["siem"], 200},
		{"status needs admin", http.MethodGet, "/v1/status", g.keys["soar"], 403},
		{"status as admin", http.MethodGet, "/v1/status", g.keys["ops"], 200},
		{"purge needs admin", http.MethodDelete, "/v1/cache?indicator=green.example.com", g.keys["siem"], 403},
		{"purge as admin", http.MethodDelete, "/v1/cache?indicator=green.example.com", g.keys["ops"], 204},
		{"healthz is open", http.MethodGet, "/healthz", "", 200},
		{"readyz is open", http.MethodGet, "/readyz", "", 200},
		{"metrics are open", http.MethodGet, "/metrics", "", 200},
		{"openapi is open", http.MethodGet, "/openapi.yaml", "", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := g.do(c.method, c.path, c.key, nil)
			if r.status != c.want {
				t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, r.status, r.raw, c.want)
			}
			if r.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("error without problem+json: %s", r.header.Get("Content-Type"))
			}
		})
	}
	// The X-API-Key header works as well as Bearer.
	req, _ := http.NewRequest(http.MethodGet, g.base+"/v1/sections", nil)
	req.Header.Set("X-API-Key", g.keys["siem"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("X-API-Key: %d, want 200", resp.StatusCode)
	}
}

func TestStatusReportsQuotaAndCertificate(t *testing.T) {
	g := startGateway(t, "memory", nil)
	g.lookup("/v1/lookup?indicator=green.example.com")
	r := g.do(http.MethodGet, "/v1/status", g.keys["ops"], nil)
	tipStatus, _ := r.body["tip"].(map[string]any)
	quota, _ := tipStatus["quota"].(map[string]any)
	cert, _ := tipStatus["certificate"].(map[string]any)
	health, _ := tipStatus["health"].(map[string]any)
	if quota["DayRequests"] != float64(1) || quota["DayQuota"] == nil || cert["subject"] == nil || cert["not_after"] == nil || health["status"] != "ok" {
		t.Fatalf("status = %s", r.raw)
	}
	g.sim.Inject(tipsim.Fault{Status: 503, Times: 3}) // every attempt of one lookup
	g.do(http.MethodGet, "/v1/lookup?indicator=green.other.example.com", g.keys["siem"], nil)
	r = g.do(http.MethodGet, "/v1/status", g.keys["ops"], nil)
	tipStatus, _ = r.body["tip"].(map[string]any)
	health, _ = tipStatus["health"].(map[string]any)
	if health["status"] != "failing" || !strings.Contains(fmt.Sprint(health["last_error"]), "503") {
		t.Fatalf("status after a TIP 503 = %s, want health failing with the error", r.raw)
	}
}

func TestRedisOutage(t *testing.T) {
	g := startGateway(t, "redis", nil)
	path := "/v1/lookup?indicator=red.outage.example.com&sections=DomainGeneralInfo"
	g.lookup(path)
	g.redis.Stop()
	// The answer just fetched may still be on its way to Redis (written
	// behind) or already in the fallback; either way it answers.
	if r := g.lookup(path); r.str("cache") != "hit" && r.str("cache") != "miss" {
		t.Fatalf("with Redis down: cache %q, want an answer", r.str("cache"))
	}
	other := "/v1/lookup?indicator=red.outage2.example.com&sections=DomainGeneralInfo"
	before := g.sim.Requests()
	if r := g.lookup(other); r.str("cache") != "miss" {
		t.Fatalf("a new indicator with Redis down: cache %q, want miss straight from TIP", r.str("cache"))
	}
	if r := g.lookup(other); r.str("cache") != "hit" {
		t.Fatalf("the same again with Redis down: cache %q, want a hit from the in-process fallback", r.str("cache"))
	}
	if got := g.sim.Requests() - before; got != 1 {
		t.Fatalf("a lookup repeated during the outage made %d TIP requests, want 1", got)
	}
	ready := g.do(http.MethodGet, "/readyz", "", nil)
	if ready.status != 200 || ready.str("status") != "degraded" {
		t.Fatalf("readyz with Redis down = %d %s, want 200 degraded", ready.status, ready.raw)
	}
	g.redis.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := g.lookup(path); r.str("cache") == "hit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cache hit within 10s of Redis coming back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	g := startGateway(t, "memory", nil)
	g.sim.Inject(tipsim.Fault{Delay: 500 * time.Millisecond, Times: 1})
	type result struct {
		r   response
		err error
	}
	got := make(chan result, 1)
	go func() {
		r, err := g.try(http.MethodGet, "/v1/lookup?indicator=green.slow.example.com", g.keys["siem"], nil)
		got <- result{r, err}
	}()
	for deadline := time.Now().Add(5 * time.Second); g.sim.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lookup never reached the simulator")
		}
	}
	if len(got) > 0 {
		t.Fatal("the lookup finished before shutdown began; it was meant to be in flight")
	}
	g.stopApp()
	res := <-got
	if res.err != nil || res.r.status != 200 {
		t.Fatalf("in-flight request during shutdown = %v %d %s, want 200", res.err, res.r.status, res.r.raw)
	}
}

func TestMetrics(t *testing.T) {
	g := startGateway(t, "memory", nil)
	g.lookup("/v1/lookup?indicator=green.example.com")
	g.lookup("/v1/lookup?indicator=green.example.com")
	resp, err := http.Get(g.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tipgate_lookup_results_total{cache="hit",type="domain"} 1`,
		`tipgate_lookup_results_total{cache="miss",type="domain"} 1`,
		`tipgate_tip_requests_total{outcome="ok",type="domain"} 1`,
		`tipgate_http_requests_total{`,
		`tipgate_tip_quota_day_requests 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestBearerTokenMode(t *testing.T) {
	g := startGatewayWith(t, "memory", map[string]string{
		"TIPGATE_TIP_TOKEN":    "$TOKEN",
		"TIPGATE_TIP_PFX_FILE": "", "TIPGATE_TIP_PFX_PASSWORD": "", "TIPGATE_TIP_USERNAME": "", "TIPGATE_TIP_PASSWORD": "",
	}, time.Hour, func(o *tipsim.Options) {
		o.Token = o.Credentials.Token
		o.RequireClientCert = false
	})
	r := g.lookup("/v1/lookup?indicator=yellow.example.com&sections=DomainGeneralInfo")
	if r.str("zone") != "Yellow" || r.str("cache") != "miss" {
		t.Fatalf("token-mode lookup = %s", r.raw)
	}
	log := g.sim.Log()
	if len(log) != 1 || log[0].Auth != tipsim.AuthBearer || log[0].ClientCert {
		t.Fatalf("TIP saw %+v, want one Bearer request without a client certificate", log)
	}
	status := g.do(http.MethodGet, "/v1/status", g.keys["ops"], nil)
	if tipStatus, _ := status.body["tip"].(map[string]any); tipStatus["auth"] != "token" {
		t.Fatalf("status = %s, want auth token", status.raw)
	}
}

func TestReadyzNotReadyWithAnExpiredCertificate(t *testing.T) {
	g := startGatewayWith(t, "memory", nil, -time.Minute, nil)
	r := g.do(http.MethodGet, "/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.raw), "expired") {
		t.Fatalf("readyz with an expired client certificate = %d %s, want 503 naming the expiry", r.status, r.raw)
	}
}

func TestAuthOff(t *testing.T) {
	g := startGateway(t, "memory", map[string]string{"TIPGATE_AUTH": "off", "TIPGATE_API_KEYS_FILE": ""})
	if r := g.do(http.MethodGet, "/v1/lookup?indicator=green.example.com", "", nil); r.status != 200 {
		t.Fatalf("lookup without a key, auth off = %d %s", r.status, r.raw)
	}
	if r := g.do(http.MethodGet, "/v1/status", "", nil); r.status != 200 {
		t.Fatalf("status without a key, auth off = %d %s", r.status, r.raw)
	}
	if !strings.Contains(g.logs.String(), "authentication is OFF") {
		t.Fatalf("auth off was not logged loudly:\n%s", g.logs.String())
	}
}

func TestServesHTTPS(t *testing.T) {
	// The simulator's credentials include a loopback server certificate;
	// the gateway can serve with it as well as any.
	creds, err := tipsim.NewCredentials(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files, err := creds.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "memory", map[string]string{"TIPGATE_TLS_CERT_FILE": files.ServerCert, "TIPGATE_TLS_KEY_FILE": files.ServerKey})
	pool := x509.NewCertPool()
	pool.AddCert(creds.CA)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + g.app.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("HTTPS healthz = %d (TLS %v), want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}
}

func TestConcurrentIdenticalMissesMakeOneTIPRequest(t *testing.T) {
	forEachStore(t, func(t *testing.T, g *gateway) {
		g.sim.Inject(tipsim.Fault{Delay: 300 * time.Millisecond, Times: 1})
		const n = 40
		var wg sync.WaitGroup
		results := make(chan response, n)
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := g.try(http.MethodGet, "/v1/lookup?indicator=red.popular.example.com&sections=DomainGeneralInfo", g.keys["siem"], nil)
				if err != nil {
					errs <- err
					return
				}
				results <- r
			}()
		}
		wg.Wait()
		close(results)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for r := range results {
			if r.status != 200 || r.str("zone") != "Red" {
				t.Fatalf("concurrent lookup = %d %s", r.status, r.raw)
			}
		}
		if got := g.sim.Requests(); got != 1 {
			t.Fatalf("TIP requests = %d for %d concurrent identical lookups, want 1", got, n)
		}
	})
}
