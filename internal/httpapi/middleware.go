package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tipgate/tipgate/internal/reqlog"
)

// logger returns the logger for one request.
func (s *server) logger(r *http.Request) *slog.Logger {
	return s.opts.Logger.With("request_id", reqlog.FromContext(r.Context()).RequestID)
}

const maxRequestIDLen = 128

// saneRequestID accepts a caller's id only when it is short and made of
// characters that cannot forge log lines or headers.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.:+/=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// requestID adopts the caller's X-Request-Id when it is sane, so a SOAR
// run's id follows the request through tipgate's logs, and makes one up
// otherwise. Either way the response echoes it. It starts the request's
// reqlog.Entry, which the handlers fill in and the access line reports.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		e := &reqlog.Entry{RequestID: id, Client: reqlog.ClientAddr(r, s.opts.TrustedProxies)}
		next.ServeHTTP(w, r.WithContext(reqlog.NewContext(r.Context(), e)))
	})
}

// recorder remembers the status and size of a response for the access log
// and metrics.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer's Flush and
// deadlines.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// unmatchedRoute labels requests no route matched, so that scanners cannot
// grow the metrics' label sets.
const unmatchedRoute = "unmatched"

// instrument writes the access log line and the HTTP metrics of every
// request, labelled by chi's route pattern rather than the raw path.
func (s *server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		elapsed := s.now().Sub(start)

		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = unmatchedRoute
		}
		s.metrics.observeRequest(route, r.Method, status, elapsed)

		// Probes and scrapes arrive every few seconds; at Info they would
		// drown the lines that matter.
		level := slog.LevelInfo
		switch route {
		case "/healthz", "/readyz", "/metrics":
			level = slog.LevelDebug
		}
		e := reqlog.FromContext(r.Context())
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("request_id", e.RequestID),
			slog.String("client", e.Client),
			slog.String("key", e.Key),
		}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("indicator_type", e.IndicatorType)
		add("indicator_hash", e.IndicatorHash())
		add("cache", e.Cache)
		if e.Indicators > 0 {
			attrs = append(attrs, slog.Int("indicators", e.Indicators))
		}
		add("problem", e.Problem)
		s.opts.Logger.LogAttrs(r.Context(), level, "http request", attrs...)

		if e.Action != "" {
			outcome := "ok"
			if status >= 300 {
				outcome = e.Problem
				if outcome == "" {
					outcome = http.StatusText(status)
				}
			}
			reqlog.Audit(r.Context(), s.opts.Logger, reqlog.Event{
				Action: e.Action, Outcome: outcome, Key: e.Key, Client: e.Client, RequestID: e.RequestID,
				Indicator: e.Indicator(), IndicatorType: e.IndicatorType, Status: status,
			})
		}
	})
}

// audited marks a route's requests for an audit line (see instrument),
// whatever becomes of them: a refused attempt is audited too.
func (s *server) audited(action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reqlog.FromContext(r.Context()).Action = action
			next.ServeHTTP(w, r)
		})
	}
}

// recoverer turns a handler's panic into a logged 500 problem instead of a
// dropped connection.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				// The server's own signal to abort the response: not a bug.
				panic(v)
			}
			s.logger(r).Error("handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec, ok := w.(*recorder); ok && rec.status != 0 {
				return // too late for a problem body
			}
			s.writeError(w, r, fmt.Errorf("handler panicked: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

// deadline gives each request a context deadline, which the lookup service
// spreads over its upstream retries.
func (s *server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody bounds a route's bodies to n bytes; reading past the bound
// fails with *http.MaxBytesError, answered 413.
func (s *server) limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// methodNotAllowed answers 405 with the Allow header that RFC 9110 asks
// for, found by asking the router which methods match the path.
func (s *server) methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range methods {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allowed = append(allowed, m)
				if m == http.MethodGet {
					allowed = append(allowed, http.MethodHead) // chi's GetHead
				}
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		detail := fmt.Sprintf("%s does not accept %s", r.URL.Path, sanitizeMethod(r.Method))
		if len(allowed) > 0 {
			detail += "; use " + strings.Join(allowed, " or ")
		}
		s.writeProblem(w, r, problem{
			Type: typeMethodNotAllowed, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: detail + ".",
		})
	}
}

// sanitizeMethod keeps odd methods from reaching answers verbatim.
func sanitizeMethod(m string) string {
	if standardMethod(m) {
		return m
	}
	return "this method"
}

// standardMethod reports whether m is one of RFC 9110's methods.
func standardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// errShuttingDown is the cause a request's context is cancelled with when
// the drain deadline of a shutdown passes with the request still running.
var errShuttingDown = errors.New("tipgate is shutting down")

// shutdownRetryAfter is the Retry-After of a shutting-down answer: by then
// the load balancer sends new requests to another replica.
const shutdownRetryAfter = time.Second

func shuttingDownProblem() problem {
	return problem{
		Type: typeShuttingDown, Title: "Shutting down", Status: http.StatusServiceUnavailable,
		Detail:     "This tipgate instance stopped before the answer was ready; send the request again, and another instance will answer it.",
		retryAfter: shutdownRetryAfter,
	}
}

// drain answers a request still running when Options.Abort ends (the
// shutdown's drain deadline) with a 503 shutting-down problem at once,
// rather than the empty reply a closed connection would give, and cancels
// its context with errShuttingDown so that the handler stops. Whatever the
// handler writes after that is dropped. Every route gets this, the KUMA
// facade included, whatever the handler does with a cancelled context.
func (s *server) drain(next http.Handler) http.Handler {
	if s.opts.Abort == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Abort.Err() != nil {
			// Past the deadline already: not worth starting.
			s.writeProblem(w, r, shuttingDownProblem())
			return
		}
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		gw := &guardedWriter{w: w, header: w.Header().Clone()}
		stop := context.AfterFunc(s.opts.Abort, func() {
			gw.mu.Lock()
			defer gw.mu.Unlock()
			if gw.done {
				return
			}
			gw.aborted = true
			cancel(errShuttingDown)
			if !gw.wrote {
				s.encodeProblem(w, shuttingDownProblem())
			}
		})
		next.ServeHTTP(gw, r.WithContext(ctx))
		stop()
		gw.mu.Lock()
		gw.done = true
		aborted := gw.aborted && !gw.wrote
		gw.mu.Unlock()
		if aborted {
			reqlog.FromContext(r.Context()).Problem = typeShuttingDown
		}
	})
}

// guardedWriter lets drain write a response from another goroutine while
// the handler still holds the writer: every write goes through its lock,
// and the handler's headers are its own until it writes, so that the two
// never touch the same header map at once.
type guardedWriter struct {
	w      http.ResponseWriter
	header http.Header

	mu      sync.Mutex
	wrote   bool // the handler started its response
	aborted bool // drain answered, or would have: the handler's writes go nowhere
	done    bool // the handler returned; drain must not write any more
}

func (g *guardedWriter) Header() http.Header { return g.header }

// start begins the handler's response unless drain has answered; g.mu is
// held.
func (g *guardedWriter) start() bool {
	if g.aborted && !g.wrote {
		return false
	}
	if !g.wrote {
		h := g.w.Header()
		for k := range h {
			delete(h, k)
		}
		for k, v := range g.header {
			h[k] = v
		}
		g.wrote = true
	}
	return true
}

func (g *guardedWriter) WriteHeader(code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.start() {
		g.w.WriteHeader(code)
	}
}

func (g *guardedWriter) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.start() {
		return len(b), nil // answered already; the handler need not know
	}
	return g.w.Write(b)
}

// Flush passes on to the real writer when it can flush.
func (g *guardedWriter) Flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.w.(http.Flusher); ok && g.start() {
		f.Flush()
	}
}
