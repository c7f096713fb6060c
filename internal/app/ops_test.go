package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tipgate/tipgate/internal/config"
	"github.com/tipgate/tipgate/internal/config/configtest"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/redistest"
	"github.com/tipgate/tipgate/internal/tipsim"
)

// TestNewOpensNothingAndStopLeavesNothing: New (and so check-config) makes
// no connection, not even to Redis, and every goroutine it starts ends with
// Stop.
func TestNewOpensNothingAndStopLeavesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	f := configtest.NewFixture(t)
	env := configtest.With(f.PFXEnv(), map[string]string{
		"TIPGATE_ADDR":      "127.0.0.1:0",
		"TIPGATE_TIP_URL":   "https://" + ln.Addr().String(),
		"TIPGATE_REDIS_URL": "redis://:pw-Qq71@" + ln.Addr().String() + "/0",
	})
	cfg, err := config.Load(func(k string) string { return env[k] }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)

	baseline := goruntime.NumGoroutine()
	for range 3 {
		a, err := New(cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := Check(cfg, logger); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); goruntime.NumGoroutine() > baseline; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Stop, %d before New:\n%s", goruntime.NumGoroutine(), baseline, buf[:goruntime.Stack(buf, true)])
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("New made %d connections to TIP or Redis, want none", n)
	}
}

// TestNewReportsEveryComponentProblem: what the keys file, the TIP client
// and the store refuse comes back at once, each naming its variable.
func TestNewReportsEveryComponentProblem(t *testing.T) {
	f := configtest.NewFixture(t)
	keys := f.Write(t, "bad-keys.json", `{"keys": [{"name": "siem", "sha256": "ab", "roles": ["lookpu"]}]}`)
	env := configtest.With(f.PFXEnv(), map[string]string{"TIPGATE_API_KEYS_FILE": keys, "TIPGATE_TIP_USERNAME": "a:b"})
	cfg, err := config.Load(func(k string) string { return env[k] }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg, slog.New(slog.DiscardHandler))
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Check = %v, want *config.Problems", err)
	}
	var vars []string
	for _, p := range ps.List {
		vars = append(vars, p.Var)
	}
	if strings.Join(vars, " ") != "TIPGATE_API_KEYS_FILE TIPGATE_TIP_USERNAME" {
		t.Errorf("problems name %v, want the keys file and the username", vars)
	}
	for _, want := range []string{`unknown role "lookpu"`, "sha256 must be", "TIPGATE_TIP_USERNAME: must not contain a colon"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// TestShutdownDeadlineAnswers503: with TIP hanging, a request still waiting
// at TIPGATE_SHUTDOWN_TIMEOUT gets a 503 shutting-down problem, and Serve
// returns without an error (the process exits 0).
func TestShutdownDeadlineAnswers503(t *testing.T) {
	g := startGateway(t, "memory", map[string]string{
		"TIPGATE_SHUTDOWN_TIMEOUT": "300ms",
		"TIPGATE_REQUEST_TIMEOUT":  "60s",
		"TIPGATE_TIP_TIMEOUT":      "60s",
	})
	g.sim.Inject(tipsim.Fault{Hang: true})
	got := make(chan response, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := g.try(http.MethodGet, "/v1/lookup?indicator=red.hang.example.com", g.keys["siem"], nil)
		if err != nil {
			errc <- err
			return
		}
		got <- r
	}()
	for deadline := time.Now().Add(5 * time.Second); g.sim.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lookup never reached the simulator")
		}
	}
	stopped := make(chan struct{})
	go func() { g.stopApp(); close(stopped) }() // fails the test if Serve returns an error
	select {
	case err := <-errc:
		t.Fatalf("the waiting request got no answer: %v", err)
	case r := <-got:
		if r.status != http.StatusServiceUnavailable || r.str("type") != "shutting-down" || r.header.Get("Retry-After") == "" {
			t.Fatalf("the waiting request = %d %s (Retry-After %q), want 503 shutting-down", r.status, r.raw, r.header.Get("Retry-After"))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer 30s after shutdown began")
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still running 30s after shutdown began")
	}
	if !strings.Contains(g.logs.String(), "the drain deadline passed") {
		t.Errorf("no line says the drain deadline passed:\n%s", g.logs)
	}
}

// TestReadyzShowsNoErrorText: /readyz is unauthenticated, so it says which
// dependency is down and never the error (an address, a WRONGPASS); HEAD
// answers as GET does.
func TestReadyzShowsNoErrorText(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close() // nothing listens there now
	g := startGateway(t, "memory", map[string]string{"TIPGATE_REDIS_URL": "redis://tipgate:pw-Readyz55@" + addr + "/0"})
	g.lookup("/v1/lookup?indicator=green.readyz.example.com") // marks the store down
	r := g.do(http.MethodGet, "/readyz", "", nil)
	if r.status != 200 || r.str("status") != "degraded" {
		t.Fatalf("readyz = %d %s, want 200 degraded", r.status, r.raw)
	}
	_, port, _ := net.SplitHostPort(addr)
	for _, leak := range []string{port, "127.0.0.1", "pw-Readyz55", "refused", "dial", "WRONGPASS", "tipgate:"} {
		if strings.Contains(string(r.raw), leak) {
			t.Errorf("readyz shows %q: %s", leak, r.raw)
		}
	}
	var report struct {
		Checks map[string]struct{ Status string } `json:"checks"`
	}
	if err := json.Unmarshal(r.raw, &report); err != nil || report.Checks["store"].Status != "degraded" || report.Checks["tip"].Status != "ok" {
		t.Errorf("readyz = %s, want the store named degraded and tip ok", r.raw)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Head(g.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HEAD %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestLogsHoldNoConfiguredSecret runs the gateway as callers use it, at
// debug level (lookups, refresh, purge, batch, KUMA with Basic, status,
// errors of every kind, TIP failing, Redis with a password, up and then
// down) and looks for every configured secret in everything it logged,
// the start-up summary included.
func TestLogsHoldNoConfiguredSecret(t *testing.T) {
	for _, mode := range []string{"pfx", "token"} {
		t.Run(mode, func(t *testing.T) {
			rs := redistest.New(t)
			const redisUser, redisPW = "tipgate-audit", "redisPw-Zt39"
			ctx := context.Background()
			if err := rs.Client().Do(ctx, "ACL", "SETUSER", redisUser, "on", ">"+redisPW, "~*", "&*", "+@all").Err(); err != nil {
				t.Skipf("this Redis cannot add a user with a password: %v", err)
			}
			t.Cleanup(func() { rs.Client().Do(context.Background(), "ACL", "DELUSER", redisUser) })
			u, err := url.Parse(rs.URL())
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(redisUser, redisPW)
			env := map[string]string{"TIPGATE_REDIS_URL": u.String(), "TIPGATE_LOG_LEVEL": "debug"}
			var simOpts func(*tipsim.Options)
			if mode == "token" {
				for k, v := range map[string]string{"TIPGATE_TIP_TOKEN": "$TOKEN", "TIPGATE_TIP_PFX_FILE": "", "TIPGATE_TIP_PFX_PASSWORD": "", "TIPGATE_TIP_USERNAME": "", "TIPGATE_TIP_PASSWORD": ""} {
					env[k] = v
				}
				simOpts = func(o *tipsim.Options) { o.Token, o.RequireClientCert = o.Credentials.Token, false }
			}
			g := startGatewayWith(t, "memory", env, time.Hour, simOpts)
			// As main does at start-up.
			g.app.log.Info("configuration loaded", "config", g.app.cfg)

			siem, soar, ops := g.keys["siem"], g.keys["soar"], g.keys["ops"]
			g.lookup("/v1/lookup?indicator=red.secrets.example.com")
			g.lookup("/v1/lookup?indicator=https://red.secrets.example.com/reset?token=abc")
			g.do(http.MethodPost, "/v1/lookup", siem, map[string]any{"indicator": "1.2.3.4", "sections": []string{"IpGeneralInfo"}})
			g.do(http.MethodPost, "/v1/refresh", soar, map[string]any{"indicator": "red.secrets.example.com"})
			g.do(http.MethodPost, "/v1/refresh", siem, map[string]any{"indicator": "red.secrets.example.com"}) // 403
			g.do(http.MethodDelete, "/v1/cache?indicator=red.secrets.example.com", ops, nil)
			g.do(http.MethodPost, "/v1/lookup/batch", siem, map[string]any{"indicators": []string{"green.a.example.com", "not an indicator", "8.8.8.8"}})
			g.kuma(t, "/api/1.1/lookup", "siem", siem, "application/json", []map[string]string{{"object": "red.kuma.secrets.example.com"}})
			g.kuma(t, "/api/1.1/lookup", "siem", "tg_wrong-Basic-Key77", "application/json", []map[string]string{{"object": "x"}})
			g.do(http.MethodGet, "/v1/lookup?indicator=red.secrets.example.com", "tg_unknown-Key-91", nil)
			g.do(http.MethodGet, "/v1/lookup?indicator=not%20valid", siem, nil)
			if st := g.do(http.MethodGet, "/v1/status", ops, nil); !strings.Contains(string(st.raw), `"store":{"status":"ok","backend":"redis"}`) {
				t.Fatalf("the store with a password is not in use: %s", st.raw)
			}
			g.do(http.MethodGet, "/readyz", "", nil)
			// TIP failing: rejected credentials, an error page echoing
			// what it was sent, a server error.
			g.sim.Inject(tipsim.Fault{Status: 401, Times: 1})
			g.try(http.MethodGet, "/v1/lookup?indicator=red.f1.example.com", siem, nil)
			g.sim.Inject(tipsim.Fault{Status: 500, Times: 3})
			g.try(http.MethodGet, "/v1/lookup?indicator=red.f2.example.com", siem, nil)
			// Redis goes away: the store's errors are logged.
			rs.Stop()
			g.lookup("/v1/lookup?indicator=green.f3.example.com")
			g.do(http.MethodGet, "/v1/status", ops, nil)
			g.stopApp()

			logs := g.logs.String()
			secrets := map[string]string{
				"Redis password": redisPW, "wrong Basic key": "tg_wrong-Basic-Key77", "unknown key": "tg_unknown-Key-91",
				"TIP password": g.creds.Password, "PFX password": g.creds.PFXPassword, "token": g.creds.Token,
				"TIP Basic header": base64.StdEncoding.EncodeToString([]byte(g.creds.Username + ":" + g.creds.Password)),
			}
			for name, key := range g.keys {
				secrets["API key "+name] = key
			}
			for what, s := range secrets {
				if strings.Contains(logs, s) {
					t.Errorf("the %s appears in the logs", what)
				}
			}
			// The run did log what an operator needs.
			for _, want := range []string{`"msg":"audit"`, `"action":"refresh"`, `"action":"purge"`, `"msg":"http request"`,
				`"indicator_hash":"`, `"route":"/api/*"`, `"key":"siem"`, `"redis_url":"redis://<secret>@`} {
				if !strings.Contains(logs, want) {
					t.Errorf("the logs lack %s", want)
				}
			}
			if strings.Contains(logs, "token=abc") && !strings.Contains(logs, `"audit":true`) {
				t.Errorf("a URL's value reached a line other than an audit line")
			}
			for l := range strings.SplitSeq(logs, "\n") {
				if strings.Contains(l, "token=abc") {
					t.Errorf("a looked-up URL reached the logs: %s", l)
				}
			}
		})
	}
}

// TestAppAudit: the audit line a reload writes through App.Audit has the
// same shape as a refresh's or a purge's, and is written at any level.
func TestAppAudit(t *testing.T) {
	logs := &logbuf.Buffer{}
	a := &App{log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))}
	a.Audit("reload", "signal", "TIP credentials and API keys", nil)
	a.Audit("reload", "file", "API keys", errors.New("the API keys file has 1 problem(s)"))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), logs)
	}
	for i, want := range []map[string]any{
		{"msg": "audit", "level": "INFO", "audit": true, "action": "reload", "outcome": "ok", "trigger": "signal", "detail": "TIP credentials and API keys"},
		{"msg": "audit", "audit": true, "action": "reload", "outcome": "the API keys file has 1 problem(s)", "trigger": "file"},
	} {
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, got[k], v)
			}
		}
	}
}
