package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/go-chi/chi/v5"
)

// requestInfo is what the middleware learns about a request as it passes
// down, read back by the access log once the handler returns. It lives in
// the request's context as a pointer so inner middleware can fill it in.
type requestInfo struct {
	id      string
	keyName string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// logger returns the logger for one request.
func (s *server) logger(r *http.Request) *slog.Logger {
	return s.opts.Logger.With("request_id", infoFrom(r.Context()).id)
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
// otherwise. Either way the response echoes it.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		ctx := context.WithValue(r.Context(), infoKey{}, &requestInfo{id: id})
		next.ServeHTTP(w, r.WithContext(ctx))
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
		ri := infoFrom(r.Context())
		s.opts.Logger.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("request_id", ri.id),
			slog.String("key", ri.keyName),
		)
	})
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
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
		}
		detail := fmt.Sprintf("%s does not accept %s", r.URL.Path, sanitizeMethod(r.Method))
		if len(allowed) > 0 {
			detail += "; use " + strings.Join(allowed, " or ")
		}
		s.writeProblem(w, problem{
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
