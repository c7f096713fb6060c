// Package httpapi owns tipgate's HTTP contract (DESIGN.md "HTTP contract
// (v1)", machine-readable in api/openapi.yaml): the routes, reading callers'
// queries and bodies, authenticating API keys and checking roles, writing
// lookup responses and RFC 9457 problems, and the per-request middleware
// (request id, HEAD for GET routes, the access line and the audit line of
// refreshes and purges through internal/reqlog, metrics, panic recovery,
// the 503 at a shutdown's drain deadline, deadline, body limit).
// What a lookup means belongs to the Service it is given; the flat KL* form
// and the SIEM plugin's functions are given as Options.Flatten and
// Options.Functions, and the KUMA facade, mounted under /api/, as
// Options.KUMA.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tipgate/tipgate/api"
	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// Service is the lookup service as the HTTP layer uses it.
type Service interface {
	// Prepare validates a query (indicator, type, sections, limit) into a
	// Request; a bad query is *lookup.InvalidError.
	Prepare(q lookup.Query) (lookup.Request, error)
	Lookup(ctx context.Context, req lookup.Request) (*lookup.Result, error)
	// LookupBatch answers prepared requests in input order, each question
	// once, within ctx's deadline; items not done by then carry
	// lookup.ErrBatchTimeout.
	LookupBatch(ctx context.Context, reqs []lookup.Request) []lookup.BatchItem
	// Forget drops every cached section of the indicator.
	Forget(ctx context.Context, ind indicator.Indicator) error
	// Sections lists the sections a caller may ask for about type t.
	Sections(t indicator.Type) []lookup.SectionInfo
}

// Defaults for zero Options fields.
const (
	DefaultRequestTimeout = 60 * time.Second
	DefaultMaxBodyBytes   = 1 << 20
)

// Bounds of POST /v1/lookup/batch: 1000 URLs of 2000 characters fit in its
// body, whatever Options.MaxBodyBytes says for single lookups.
const (
	MaxBatchItems     = 1000
	MaxBatchBodyBytes = 8 << 20
)

// Function is one function of the SIEM plugin served at
// GET /v1/functions/{Name}: a lookup of a fixed type and sections,
// answered in flat form.
type Function struct {
	Name     string
	Type     indicator.Type
	Sections []string
}

// readyTimeout bounds a readiness check so that a hung dependency answers a
// probe with 503 instead of holding it until the probe's own timeout.
const readyTimeout = 5 * time.Second

// Options are the handler's dependencies and limits.
type Options struct {
	// Service answers lookups. Required.
	Service Service
	// Keys are the client API keys. Nil turns authentication off: every
	// caller has every role.
	Keys *apikey.Keyring
	// Ready reports whether lookups can be answered, with a report to show
	// the caller of /readyz. Nil means always ready.
	Ready func(ctx context.Context) (ok bool, report any)
	// Status is the admin report of GET /v1/status. Nil answers 501.
	Status func(ctx context.Context) any
	// Flatten turns a result into the flat KL* object of format=flat. Nil
	// answers format=flat, and the functions, with 501.
	Flatten func(*lookup.Result) map[string]any
	// Functions are served at GET /v1/functions/{name}, and listed in this
	// order when a caller names an unknown one. None answers those routes
	// with 501.
	Functions []Function
	// KUMA, when set, serves the CyberTrace lookup facade under /api/ (it
	// gets the full path, and authenticates and bounds bodies itself). Nil
	// leaves /api/ a 404.
	KUMA http.Handler
	// Registerer receives the HTTP metrics. Required.
	Registerer prometheus.Registerer
	// Gatherer is served at /metrics. Nil uses Registerer when it is also a
	// Gatherer (as *prometheus.Registry is).
	Gatherer prometheus.Gatherer
	// Logger receives the access log, the audit lines of refreshes and
	// purges, and error causes. Required.
	Logger *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed for the client address of the access and audit lines.
	TrustedProxies []netip.Prefix
	// Abort, when it ends, answers every request still running with a 503
	// shutting-down problem and cancels its context: the app ends it at
	// the shutdown's drain deadline. Nil never aborts.
	Abort context.Context
	// RequestTimeout is each request's deadline; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DefaultLimit is the limit Prepare applies when a caller names none;
	// here it appears in error messages and GET /v1/me.
	DefaultLimit int
	// UI is the analyst's console, served at /ui and /ui/ without a key
	// (the page asks for one and sends it with each API call). Nil serves
	// no console.
	UI http.Handler
}

func (o *Options) validate() error {
	var errs []error
	if o.Service == nil {
		errs = append(errs, errors.New("Options.Service is required"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("Options.Logger is required"))
	}
	if o.Registerer == nil {
		errs = append(errs, errors.New("Options.Registerer is required"))
	}
	if o.Gatherer == nil {
		if g, ok := o.Registerer.(prometheus.Gatherer); ok {
			o.Gatherer = g
		} else if o.Registerer != nil {
			errs = append(errs, errors.New("Options.Gatherer is required when Options.Registerer is not a Gatherer"))
		}
	}
	if o.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("Options.RequestTimeout is %v; it must not be negative", o.RequestTimeout))
	}
	if o.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("Options.MaxBodyBytes is %d; it must not be negative", o.MaxBodyBytes))
	}
	seen := map[string]bool{}
	for _, f := range o.Functions {
		if f.Name == "" || seen[f.Name] || strings.ContainsAny(f.Name, "/?#") {
			errs = append(errs, fmt.Errorf("Options.Functions: the name %q is empty, repeated or not a path segment", f.Name))
		}
		seen[f.Name] = true
	}
	if o.DefaultLimit != 0 && (o.DefaultLimit < lookup.MinLimit || o.DefaultLimit > lookup.MaxLimit) {
		errs = append(errs, fmt.Errorf("Options.DefaultLimit is %d; it must be from %d to %d", o.DefaultLimit, lookup.MinLimit, lookup.MaxLimit))
	}
	if len(errs) > 0 {
		return fmt.Errorf("httpapi: %w", errors.Join(errs...))
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return nil
}

// server holds the handlers' dependencies.
type server struct {
	opts     Options
	metrics  *metrics
	sections []byte // the GET /v1/sections body, built once: the catalog is immutable
	// catalog maps each type's section names, lower-cased, to the
	// canonical ones, for a batch's sections shared by every type.
	catalog   map[indicator.Type]map[string]string
	functions map[string]Function
	now       func() time.Time
	answers   *answerWriter

	// What serve needs on every request, made once.
	ids *requestIDs
	// Header values set on every answer, or nearly: one slice each,
	// shared by all of them, instead of the one Header.Set makes.
	nosniff, contentTypeJSON, contentTypeProblem []string
	healthzBody                                  []byte    // the GET /healthz body
	routeContexts                                sync.Pool // of *chi.Context, as chi.Mux keeps them
	// live is the requests being served, for the drain deadline to
	// answer; nil without Options.Abort. headers pools the header maps
	// the handlers write in meanwhile.
	live    *liveSet
	headers sync.Pool // of http.Header
}

// New returns tipgate's HTTP handler.
func New(opts Options) (http.Handler, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	return s.routes(), nil
}

func newServer(opts Options) (*server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	sections, err := sectionsBody(opts.Service)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	catalog := map[indicator.Type]map[string]string{}
	for _, t := range indicator.Types() {
		catalog[t] = map[string]string{}
		for _, sec := range opts.Service.Sections(t) {
			catalog[t][strings.ToLower(sec.Name)] = sec.Name
		}
	}
	functions := map[string]Function{}
	for _, f := range opts.Functions {
		functions[f.Name] = f
	}
	s := &server{
		opts: opts, metrics: m, sections: sections, catalog: catalog, functions: functions, now: time.Now,
		answers:            newAnswerWriter(),
		ids:                newRequestIDs(),
		nosniff:            []string{"nosniff"},
		contentTypeJSON:    []string{"application/json"},
		contentTypeProblem: []string{"application/problem+json"},
	}
	if s.healthzBody, err = encodeJSON(map[string]string{"status": "ok"}); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s.routeContexts.New = func() any { return chi.NewRouteContext() }
	s.headers.New = func() any { return make(http.Header, 8) }
	if opts.Abort != nil {
		s.live = &liveSet{}
		context.AfterFunc(opts.Abort, s.abortAll)
	}
	return s, nil
}

// routes is the one place every route is registered.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	// serve, around the router, does what every request needs (see
	// there); GetHead answers HEAD wherever GET is routed (net/http drops
	// the body). Bodies are bounded per route: a batch's may be larger than
	// a lookup's, and the KUMA facade bounds its own.
	r.Use(middleware.GetHead)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed(r))
	body := s.limitBody(s.opts.MaxBodyBytes)

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	r.Get("/openapi.yaml", s.openapi)
	if s.opts.UI != nil {
		// The page and its assets hold no data; the API calls it makes
		// carry the analyst's key.
		r.Handle("/ui", s.opts.UI)
		r.Handle("/ui/*", s.opts.UI)
	}

	r.With(s.require(apikey.Lookup)).Get("/v1/lookup", s.lookupGET)
	r.With(body, s.require(apikey.Lookup)).Post("/v1/lookup", s.lookupPOST)
	r.With(s.limitBody(max(MaxBatchBodyBytes, s.opts.MaxBodyBytes)), s.require(apikey.Lookup)).Post("/v1/lookup/batch", s.lookupBatch)
	r.With(s.audited("refresh"), body, s.require(apikey.Refresh)).Post("/v1/refresh", s.refresh)
	r.With(s.require(apikey.Lookup)).Get("/v1/functions/{name}", s.function)
	r.With(s.require(apikey.Lookup)).Get("/v1/sections", s.listSections)
	r.With(s.require(apikey.Lookup)).Get("/v1/me", s.me)
	r.With(s.require(apikey.Admin)).Get("/v1/status", s.status)
	r.With(s.audited("purge"), s.require(apikey.Admin)).Delete("/v1/cache", s.purge)
	if s.opts.KUMA != nil {
		r.Handle("/api/*", s.opts.KUMA)
	}
	return s.serve(r)
}

// healthz answers what never changes, and load balancers ask it often.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = s.contentTypeJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.healthzBody)
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, report := true, any(nil)
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		ok, report = s.opts.Ready(ctx)
		cancel()
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	if report == nil {
		word := "ready"
		if !ok {
			word = "unavailable"
		}
		report = map[string]string{"status": word}
	}
	s.writeJSON(w, r, status, report)
}

func (s *server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(api.Spec())
}

func (s *server) listSections(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = s.contentTypeJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.sections)
}

// sectionInfo is one entry of GET /v1/sections.
type sectionInfo struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Default bool   `json:"default"`
}

// sectionsBody renders the sections with the types in indicator.Types()
// order, which a Go map would not keep. The list is fixed for the process,
// so it is rendered once.
func sectionsBody(svc Service) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, t := range indicator.Types() {
		if i > 0 {
			buf.WriteByte(',')
		}
		list := []sectionInfo{}
		for _, s := range svc.Sections(t) {
			list = append(list, sectionInfo{Name: s.Name, Kind: s.Kind, Default: s.Default})
		}
		b, err := json.Marshal(list)
		if err != nil {
			return nil, fmt.Errorf("render the sections of %s: %w", t, err)
		}
		fmt.Fprintf(&buf, "%q:%s", t, b)
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	if s.opts.Status == nil {
		s.writeError(w, r, errNotImplemented("The status report is not available in this build."))
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.opts.Status(r.Context()))
}

func (s *server) purge(w http.ResponseWriter, r *http.Request) {
	q, err := parsePurgeQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := s.opts.Service.Prepare(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The audit line (written with the access line) names it.
	reqlog.FromContext(r.Context()).SetIndicator(string(req.Indicator.Type), req.Indicator.Value)
	if err := s.opts.Service.Forget(r.Context(), req.Indicator); err != nil {
		s.writeError(w, r, fmt.Errorf("forget %s: %w", req.Indicator, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeJSON writes v as a JSON body. It encodes before writing anything, so
// that an encoding failure can still become a 500 problem.
func (s *server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode a %d response: %w", status, err))
		return
	}
	writeBody(w, status, s.contentTypeJSON, b)
}

// writeBody writes a whole response body of the given content type in one
// write. It sets Content-Length: without it net/http chunks any body past
// its 2 KB buffer (a lookup answer, a batch), which costs bytes and writes.
func writeBody(w http.ResponseWriter, status int, contentType []string, b []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// URLs are common in answers; "&" escaped as \u0026 is valid but hard
	// to read with curl.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
