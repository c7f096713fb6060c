package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/logbuf"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
	"github.com/tipgate/tipgate/internal/tip"
)

// logLines returns the JSON log lines with message msg.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestAccessLogFields: each request's one access line carries the client,
// the key's name, the indicator's type and short hash (never the value,
// which may be a URL with a token in it) and the cache state; a batch says
// how many indicators it carried and an error its problem type.
func TestAccessLogFields(t *testing.T) {
	e := newTestEnv(t)
	const secretURL = "https://example.com/reset?token=s3cr3t-Tok"
	e.do(t, "GET", "/v1/lookup?indicator="+secretURL+"&type=url", "", bearer(keySOAR), "X-Request-Id: r1")
	e.do(t, "POST", "/v1/lookup/batch", `{"indicators":["example.com","1.2.3.4","`+secretURL+`"]}`, bearer(keySIEM), jsonCT, "X-Request-Id: r2")
	e.do(t, "GET", "/v1/lookup?indicator=", "", bearer(keySIEM), "X-Request-Id: r3")

	if strings.Contains(e.logs.String(), "s3cr3t-Tok") {
		t.Fatalf("the indicator's value reached the log:\n%s", e.logs)
	}
	lines := logLines(t, e.logs.String(), "http request")
	if len(lines) != 3 {
		t.Fatalf("%d access lines, want one per request:\n%s", len(lines), e.logs)
	}
	want := []map[string]any{
		{"request_id": "r1", "client": "192.0.2.1", "key": "soar", "route": "/v1/lookup", "status": float64(200),
			"indicator_type": "url", "indicator_hash": reqlog.Hash(strings.ToLower(secretURL)), "cache": "hit"},
		{"request_id": "r2", "key": "siem", "route": "/v1/lookup/batch", "indicators": float64(3)},
		{"request_id": "r3", "key": "siem", "status": float64(400), "problem": typeInvalidRequest},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
	}
	for _, k := range []string{"indicator_hash", "cache"} {
		if _, ok := lines[2][k]; ok {
			t.Errorf("line 2 (no indicator) has %s", k)
		}
	}
	if h := lines[0]["indicator_hash"].(string); len(h) != 12 {
		t.Errorf("indicator_hash %q is not 12 hex digits", h)
	}
}

// TestTrustedProxiesClientAddress: the access line's client is the address
// reqlog.ClientAddr works out behind Options.TrustedProxies.
func TestTrustedProxiesClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	e := newTestEnv(t, func(o *Options) { o.TrustedProxies = trusted })
	r := request(t, "GET", "/healthz", "")
	r.RemoteAddr = "10.1.1.1:5000"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 203.0.113.9")
	e.serve(r)
	r = request(t, "GET", "/healthz", "")
	r.RemoteAddr = "198.51.100.7:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	e.serve(r)
	lines := logLines(t, e.logs.String(), "http request")
	if len(lines) != 2 || lines[0]["client"] != "203.0.113.9" || lines[1]["client"] != "198.51.100.7" {
		t.Errorf("access lines %v, want clients 203.0.113.9 (behind the proxy) and 198.51.100.7 (not a proxy)", lines)
	}
}

// TestAuditLines: every refresh and purge, refused ones included, gets an
// audit line naming who (key, client), what (the indicator itself) and how
// it ended; written even when the log level is above info.
func TestAuditLines(t *testing.T) {
	logs := &logbuf.Buffer{}
	e := newTestEnv(t, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	e.logs = logs
	e.svc.forgetFn = func(_ context.Context, ind indicator.Indicator) error {
		if ind.Value == "broken.example" {
			return errors.New("store down")
		}
		return nil
	}
	body := `{"indicator":"https://Example.com/reset?token=abc","type":"url"}`
	e.do(t, "POST", "/v1/refresh", body, bearer(keySOAR), jsonCT, "X-Request-Id: a1")
	e.do(t, "POST", "/v1/refresh", body, bearer(keySIEM), jsonCT, "X-Request-Id: a2")
	e.do(t, "POST", "/v1/refresh", body, jsonCT, "X-Request-Id: a3")
	e.do(t, "DELETE", "/v1/cache?indicator=Example.org", "", bearer(keyOps), "X-Request-Id: a4")
	e.do(t, "DELETE", "/v1/cache?indicator=broken.example", "", bearer(keyOps), "X-Request-Id: a5")
	e.do(t, "GET", "/v1/lookup?indicator=example.net", "", bearer(keyOps), "X-Request-Id: a6")

	lines := logLines(t, e.logs.String(), "audit")
	want := []map[string]any{
		{"request_id": "a1", "action": "refresh", "outcome": "ok", "key": "soar", "client": "192.0.2.1", "indicator": "https://example.com/reset?token=abc", "indicator_type": "url", "status": float64(200)},
		{"request_id": "a2", "action": "refresh", "outcome": typeForbidden, "key": "siem", "status": float64(403)},
		{"request_id": "a3", "action": "refresh", "outcome": typeUnauthorized, "client": "192.0.2.1", "status": float64(401)},
		{"request_id": "a4", "action": "purge", "outcome": "ok", "key": "ops", "indicator": "example.org", "indicator_type": "domain", "status": float64(204)},
		{"request_id": "a5", "action": "purge", "outcome": typeInternal, "key": "ops", "indicator": "broken.example", "status": float64(500)},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d audit lines, want %d (a lookup is not audited):\n%s", len(lines), len(want), e.logs)
	}
	for i, w := range want {
		if lines[i]["audit"] != true || lines[i]["level"] != "INFO" {
			t.Errorf("line %d: audit %v at %v, want true at INFO", i, lines[i]["audit"], lines[i]["level"])
		}
		if _, ok := lines[i]["time"]; !ok {
			t.Errorf("line %d has no time", i)
		}
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
	}
	if _, ok := lines[2]["key"]; ok {
		t.Errorf("the unauthenticated attempt names a key: %v", lines[2])
	}
	// The access lines stay at INFO and so are not written at WARN.
	if n := len(logLines(t, e.logs.String(), "http request")); n != 0 {
		t.Errorf("%d access lines at level WARN, want 0", n)
	}
}

// TestHEADWhereverGET: HEAD is answered wherever GET is, with GET's status
// and headers and no body.
func TestHEADWhereverGET(t *testing.T) {
	e := newTestEnv(t)
	for _, target := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics", "/v1/lookup?indicator=example.com", "/v1/sections", "/v1/status"} {
		get := e.do(t, "GET", target, "", bearer(keyOps))
		head := e.do(t, "HEAD", target, "", bearer(keyOps))
		if head.Code != get.Code || head.Code != 200 {
			t.Errorf("HEAD %s = %d, GET = %d, want both 200", target, head.Code, get.Code)
		}
		if head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
			t.Errorf("HEAD %s Content-Type = %q, GET's %q", target, head.Header().Get("Content-Type"), get.Header().Get("Content-Type"))
		}
	}
	// Over a real connection net/http drops the body.
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Head(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength > 0 && resp.Request.Method != "HEAD" {
			t.Errorf("HEAD %s = %d", path, resp.StatusCode)
		}
	}
	// HEAD where GET is not routed is still 405, and says what is allowed.
	if w := e.do(t, "HEAD", "/v1/refresh", ""); w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Errorf("HEAD /v1/refresh = %d (Allow %q), want 405 (POST)", w.Code, w.Header().Get("Allow"))
	}
}

// TestShuttingDownAnswers: when Options.Abort ends (the drain deadline),
// a request still waiting is answered 503 shutting-down with Retry-After at
// once, its context is cancelled, and what its handler writes later is
// dropped; a request whose answer had started is left to finish.
func TestShuttingDownAnswers(t *testing.T) {
	abort, stop := context.WithCancel(context.Background())
	e := newTestEnv(t, func(o *Options) { o.Abort = abort })
	started := make(chan struct{}, 2)
	handlerDone := make(chan error, 2)
	e.svc.lookupFn = func(ctx context.Context, req lookup.Request) (*lookup.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		handlerDone <- context.Cause(ctx)
		// What a handler would do: answer with what it has.
		return hitResult(req), nil
	}
	srv := httptest.NewServer(e.h)
	defer srv.Close()

	type answer struct {
		resp *http.Response
		body []byte
		err  error
	}
	answers := make(chan answer, 2)
	get := func(target string) {
		req, _ := http.NewRequest("GET", srv.URL+target, nil)
		req.Header.Set("Authorization", "Bearer "+keySIEM)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answers <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answers <- answer{resp: resp, body: body, err: err}
	}
	go get("/v1/lookup?indicator=example.com")
	go get("/v1/lookup/batch") // GET on a POST route: answered at once, before the abort
	<-started
	a := <-answers // the 405
	if a.err != nil || a.resp.StatusCode != 405 {
		t.Fatalf("the request answered before the abort: %v %v", a.err, a.resp)
	}
	stop()
	a = <-answers
	if a.err != nil {
		t.Fatalf("the waiting request: %v", a.err)
	}
	if a.resp.StatusCode != 503 || a.resp.Header.Get("Retry-After") != "1" || a.resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("the waiting request got %d (Retry-After %q): %s", a.resp.StatusCode, a.resp.Header.Get("Retry-After"), a.body)
	}
	var p problem
	if err := json.Unmarshal(a.body, &p); err != nil || p.Type != typeShuttingDown || p.Status != 503 {
		t.Fatalf("body %s, want a shutting-down problem", a.body)
	}
	if a.resp.Header.Get("X-Cache") != "" {
		t.Errorf("the 503 carries X-Cache %q from the handler", a.resp.Header.Get("X-Cache"))
	}
	if cause := <-handlerDone; !errors.Is(cause, errShuttingDown) {
		t.Errorf("the handler's context ended with %v, want errShuttingDown", cause)
	}
	// The access line is written once the handler returns.
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := logLines(t, e.logs.String(), "http request")
		var found bool
		for _, l := range lines {
			if l["route"] == "/v1/lookup" {
				found = true
				if l["status"] != float64(503) || l["problem"] != typeShuttingDown {
					t.Errorf("access line %v, want status 503 and problem shutting-down", l)
				}
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access line for the aborted request:\n%s", e.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// After the abort, a new request is answered 503 at once as well.
	w := e.do(t, "GET", "/v1/lookup?indicator=example.org", "", bearer(keySIEM))
	if w.Code != 503 {
		t.Errorf("a request after the abort = %d, want 503", w.Code)
	}
}

// TestShuttingDownLeavesStartedAnswers: a response already being written
// when the abort comes is not interrupted by a 503.
func TestShuttingDownLeavesStartedAnswers(t *testing.T) {
	abort, stop := context.WithCancel(context.Background())
	var once sync.Once
	release := make(chan struct{})
	s, err := newServer(Options{Service: newFakeService(), Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Abort: abort})
	if err != nil {
		t.Fatal(err)
	}
	mux := chi.NewRouter()
	mux.Get("/x", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("part one;"))
		once.Do(stop)
		<-release
		_, _ = w.Write([]byte("part two"))
	})
	handler := s.serve(mux)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	go func() { <-abort.Done(); close(release) }()
	handler.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "part one;part two" {
		t.Errorf("got %d %q, want the handler's whole 200", w.Code, w.Body)
	}
}

// TestProblemDetailsAreOneSentence: every problem detail ends with one full
// stop (or an ellipsis where it was cut), whatever the parts it is made of
// end with: TIP's reasons, the budget's detail and parameter reasons may
// end in a full stop of their own.
func TestProblemDetailsAreOneSentence(t *testing.T) {
	e := newTestEnv(t)
	s, err := newServer(Options{Service: newFakeService(), Registerer: e.reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, kind := range []lookup.ErrorKind{lookup.KindBadRequest, lookup.KindUnauthorized, lookup.KindForbidden,
		lookup.KindRateLimited, lookup.KindUnavailable, lookup.KindTimeout, lookup.KindBudgetSpent, "tip-odd"} {
		for _, detail := range []string{"", "TIP said no", "TIP said no.", "TIP said no..", "the budget is spent..."} {
			errs = append(errs, &tip.Error{Kind: kind, Detail: detail}, &tip.Error{Kind: kind, Detail: detail, Refused: true})
		}
	}
	for _, reason := range []string{"is required", "is required.", "ends in dots..", "cut…"} {
		errs = append(errs,
			invalid(lookup.InvalidParam{Name: "indicator", Reason: reason}),
			invalid(lookup.InvalidParam{Name: "a", Reason: reason}, lookup.InvalidParam{Name: "b", Reason: reason}),
			&indicator.Error{Reason: reason})
	}
	errs = append(errs,
		errNotImplemented("not here"), errNotImplemented("Not here."), errUnsupportedMediaType("text/plain"),
		lookup.ErrNotCached, &lookup.NotCachedError{Cached: []string{"Zone"}}, lookup.ErrBatchTimeout,
		context.DeadlineExceeded, &http.MaxBytesError{Limit: 10}, errors.New("boom."))
	r := httptest.NewRequest("GET", "/v1/lookup", nil)
	for _, err := range errs {
		p, _, _ := s.problemFor(r, err)
		d := bounded(p).Detail
		if strings.Contains(d, "..") || !(strings.HasSuffix(d, ".") || strings.HasSuffix(d, "…")) {
			t.Errorf("%T %v: detail %q does not end in one full stop", err, err, d)
		}
	}
	for _, p := range []problem{shuttingDownProblem()} {
		if d := bounded(p).Detail; strings.HasSuffix(d, "..") || !strings.HasSuffix(d, ".") {
			t.Errorf("detail %q does not end in one full stop", d)
		}
	}
	for in, want := range map[string]string{"a": "a.", "a.": "a.", "a..": "a.", "a...": "a.", "a…": "a…", "a?": "a?", "": "", " a. ": "a."} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}
