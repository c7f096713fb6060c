// Package httpapi owns tipgate's HTTP contract (DESIGN.md "HTTP contract
// (v1)", machine-readable in api/openapi.yaml): the routes, reading callers'
// queries and bodies, authenticating API keys and checking roles, writing
// lookup responses and RFC 9457 problems, and the per-request middleware
// (request id, access log, metrics, panic recovery, deadline, body limit).
// What a lookup means belongs to the Service it is given.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tipgate/tipgate/api"
	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// Service is the lookup service as the HTTP layer uses it.
type Service interface {
	// Prepare validates a query (indicator, type, sections, limit) into a
	// Request; a bad query is *lookup.InvalidError.
	Prepare(q lookup.Query) (lookup.Request, error)
	Lookup(ctx context.Context, req lookup.Request) (*lookup.Result, error)
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
	// answers format=flat with 501.
	Flatten func(*lookup.Result) map[string]any
	// Registerer receives the HTTP metrics. Required.
	Registerer prometheus.Registerer
	// Gatherer is served at /metrics. Nil uses Registerer when it is also a
	// Gatherer (as *prometheus.Registry is).
	Gatherer prometheus.Gatherer
	// Logger receives the access log and error causes. Required.
	Logger *slog.Logger
	// RequestTimeout is each request's deadline; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DefaultLimit is the limit Prepare applies when a caller names none;
	// here it only appears in error messages.
	DefaultLimit int
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
	now      func() time.Time
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
	return &server{opts: opts, metrics: m, sections: sections, now: time.Now}, nil
}

// routes is the one place every route is registered.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	// Order matters: the request id comes first so everything can log it;
	// instrument wraps the recoverer so a panic is logged and counted as the
	// 500 it becomes; the deadline and body limit apply to the handlers only.
	r.Use(s.requestID, s.instrument, s.recoverer, s.deadline, s.limitBody)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed(r))

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	r.Get("/openapi.yaml", s.openapi)

	r.With(s.require(apikey.Lookup)).Get("/v1/lookup", s.lookupGET)
	r.With(s.require(apikey.Lookup)).Post("/v1/lookup", s.lookupPOST)
	r.With(s.require(apikey.Refresh)).Post("/v1/refresh", s.refresh)
	r.With(s.require(apikey.Lookup)).Get("/v1/sections", s.listSections)
	r.With(s.require(apikey.Admin)).Get("/v1/status", s.status)
	r.With(s.require(apikey.Admin)).Delete("/v1/cache", s.purge)
	return r
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
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
	w.Header().Set("Content-Type", "application/json")
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
		s.writeError(w, r, errNotImplemented("the status report is not available in this build"))
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
	if err := s.opts.Service.Forget(r.Context(), req.Indicator); err != nil {
		s.writeError(w, r, fmt.Errorf("forget %s: %w", req.Indicator, err))
		return
	}
	// An admin action: logged whatever the access log's level.
	s.logger(r).Info("cache purged", "indicator", req.Indicator.String(), "key", infoFrom(r.Context()).keyName)
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
	w.Header().Set("Content-Type", "application/json")
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
