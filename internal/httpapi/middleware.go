package httpapi

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
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

// requestIDLen is the length of the ids tipgate makes up: 32 hex digits.
const requestIDLen = 32

// requestIDs makes up request ids: a random prefix drawn once per process
// and a counter, so that an id costs an atomic add rather than a read of
// crypto/rand. The counter starts at a random value too, so an id does not
// tell how many requests the process has served.
type requestIDs struct {
	prefix  [16]byte // hex
	counter atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	ids := &requestIDs{}
	hex.Encode(ids.prefix[:], b[:8])
	ids.counter.Store(binary.LittleEndian.Uint64(b[8:]))
	return ids
}

// next is a fresh id.
func (ids *requestIDs) next() string {
	var buf [requestIDLen]byte
	copy(buf[:], ids.prefix[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], ids.counter.Add(1))
	hex.Encode(buf[len(ids.prefix):], n[:])
	return string(buf[:])
}

// unmatchedRoute labels requests no route matched, so that scanners cannot
// grow the metrics' label sets.
const unmatchedRoute = "unmatched"

// serve is the one middleware around the router. What every request needs
// is done here with one exchange, because a chain of middleware would each
// allocate a context, a copy of the request or a writer on every request:
//   - the request id: the caller's X-Request-Id when it is sane, so that a
//     SOAR run's id follows the request through tipgate's logs, or a new
//     one; the answer echoes it;
//   - the request's reqlog.Entry, which the handlers fill in;
//   - the deadline, which the lookup service spreads over its retries;
//   - the drain deadline (Options.Abort): a request still running then is
//     answered 503 shutting-down at once, rather than with the empty reply
//     a closed connection would give, and its context is cancelled with
//     errShuttingDown so that the handler stops; whatever the handler
//     writes after that is dropped. Every route gets this, the KUMA facade
//     included, whatever the handler does with a cancelled context;
//   - panic recovery: a handler's panic becomes a logged 500 problem
//     instead of a dropped connection, and is counted as one;
//   - the access line and the HTTP metrics, labelled by chi's route pattern
//     rather than the raw path, and the audit line of audited routes.
func (s *server) serve(mux *chi.Mux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ex := &exchange{}
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = s.ids.next()
		}
		ex.idValue[0] = id
		h := w.Header()
		h["X-Request-Id"] = ex.idValue[:]
		h["X-Content-Type-Options"] = s.nosniff

		rctx := s.routeContexts.Get().(*chi.Context)
		rctx.Reset()
		rctx.Routes = mux
		c := &ex.ctx
		c.init(r.Context(), s.opts.RequestTimeout)
		c.route = rctx
		c.entry.RequestID = id
		c.entry.Client = reqlog.ClientAddr(r, s.opts.TrustedProxies)
		r = r.WithContext(c)

		g := &ex.rw
		g.w, g.header = w, h
		if s.live != nil {
			g.guarded = true
			g.header = s.headers.Get().(http.Header)
			g.header["X-Request-Id"] = ex.idValue[:]
			g.header["X-Content-Type-Options"] = s.nosniff
		}

		s.run(mux, ex, r)
		if g.finish() {
			c.entry.Problem = typeShuttingDown
		}
		s.report(r, ex, s.now().Sub(start))

		s.routeContexts.Put(rctx)
		if g.guarded {
			clear(g.header)
			s.headers.Put(g.header)
		}
	})
}

// run serves the request, unless the drain deadline has passed, and turns a
// panic into a 500 problem. The request's context ends as it returns.
func (s *server) run(next http.Handler, ex *exchange, r *http.Request) {
	defer ex.ctx.end()
	if s.live != nil {
		if s.opts.Abort.Err() != nil || !s.live.add(ex) {
			// Past the deadline already: not worth starting.
			s.writeProblem(&ex.rw, r, shuttingDownProblem())
			return
		}
		// Deferred, so that a request aborted by http.ErrAbortHandler
		// leaves the list too.
		defer s.live.remove(ex)
	}
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
		ex.rw.mu.Lock()
		started := ex.rw.status != 0
		ex.rw.mu.Unlock()
		if started {
			return // too late for a problem body
		}
		s.writeError(&ex.rw, r, fmt.Errorf("handler panicked: %v", v))
	}()
	next.ServeHTTP(&ex.rw, r)
}

// abortAll answers every request still running when Options.Abort ends.
func (s *server) abortAll() {
	for _, ex := range s.live.abortAll() {
		// Each on its own: one blocked in a write to a slow client must
		// not hold up the others' answers.
		go s.abort(ex)
	}
}

// report writes the access line, the HTTP metrics and the audit line of a
// request that is over.
func (s *server) report(r *http.Request, ex *exchange, elapsed time.Duration) {
	status := ex.rw.status
	if status == 0 {
		status = http.StatusOK
	}
	route := ex.ctx.route.RoutePattern()
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
	e := &ex.ctx.entry
	if s.opts.Logger.Enabled(r.Context(), level) {
		s.accessLine(r, level, e, route, status, ex.rw.bytes, elapsed)
	}

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
}

// accessLine writes the access line; report calls it only at a level the
// logger writes, so that a quieter level builds nothing.
func (s *server) accessLine(r *http.Request, level slog.Level, e *reqlog.Entry, route string, status int, bytes int64, elapsed time.Duration) {
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("request_id", e.RequestID),
		slog.String("client", e.Client),
		slog.String("key", e.Key),
	)
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
}

// audited marks a route's requests for an audit line (see serve),
// whatever becomes of them: a refused attempt is audited too.
func (s *server) audited(action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reqlog.FromContext(r.Context()).Action = action
			next.ServeHTTP(w, r)
		})
	}
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
