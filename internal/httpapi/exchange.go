package httpapi

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// exchange is what tipgate keeps about one request while serving it, in one
// allocation: chained middleware would each allocate a context, a copy of
// the request and a writer of its own on every request, hits included.
type exchange struct {
	ctx requestContext
	rw  responseWriter
	// idValue is the X-Request-Id header's value, shared by both header
	// maps.
	idValue [1]string

	// The links of server.live, the requests a drain deadline answers.
	prev, next *exchange
}

// requestContext is a request's context.Context. Its Value answers the
// access-log entry, the caller's key and chi's routing context itself, with
// no context.WithValue each, and it is cancelled at the request's deadline,
// at the drain deadline (with errShuttingDown as its cause), when the
// caller goes away and when the handler returns, like the contexts that
// context.WithTimeout and WithCancelCause would make. Those are made only
// once someone waits on Done or the context has ended: a cache hit
// asks at most Err, which the deadline and the parent answer.
type requestContext struct {
	parent   context.Context // net/http's
	deadline time.Time
	entry    reqlog.Entry
	route    *chi.Context
	// key is the caller's API key, set by require before any handler runs
	// (so before anything could have handed the context to another
	// goroutine) and never changed after.
	key *apikey.Key

	mu    sync.Mutex // makes armed, and orders it with ended
	armed atomic.Pointer[armedContext]
	ended atomic.Bool // the handler returned
}

// armedContext is the standard library's context a requestContext stands
// for, made when first needed: its cancelCtx is what context.Cause and
// contexts derived from the request find.
type armedContext struct {
	context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc
}

func (c *requestContext) init(parent context.Context, timeout time.Duration) {
	c.parent = parent
	c.deadline = time.Now().Add(timeout)
	if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
		c.deadline = d
	}
}

func (c *requestContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *requestContext) Done() <-chan struct{} { return c.arm().Done() }

func (c *requestContext) Err() error {
	if a := c.armed.Load(); a != nil {
		return a.Err()
	}
	if c.ended.Load() || c.parent.Err() != nil || !time.Now().Before(c.deadline) {
		return c.arm().Err()
	}
	return nil
}

func (c *requestContext) Value(key any) any {
	if key == any(chi.RouteCtxKey) {
		return c.route
	}
	if v, ok := reqlog.ContextValue(key, &c.entry); ok {
		return v
	}
	if v, ok := apikey.ContextValue(key, c.key); ok {
		return v
	}
	if a := c.armed.Load(); a != nil {
		return a.Value(key)
	}
	return c.parent.Value(key)
}

func (c *requestContext) String() string { return "httpapi.requestContext" }

// arm makes the context's channel and timer, cancelled at once when the
// request is over already.
func (c *requestContext) arm() *armedContext {
	if a := c.armed.Load(); a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a
	}
	cc, cancel := context.WithCancelCause(c.parent)
	dc, stop := context.WithDeadline(cc, c.deadline)
	a := &armedContext{Context: dc, cancel: cancel, stop: stop}
	if c.ended.Load() {
		stop()
		cancel(nil)
	}
	c.armed.Store(a)
	return a
}

// cancel ends the context with cause.
func (c *requestContext) cancel(cause error) { c.arm().cancel(cause) }

// end cancels the context as the handler returns, as a deferred cancel of
// context.WithTimeout would.
func (c *requestContext) end() {
	c.mu.Lock()
	c.ended.Store(true)
	a := c.armed.Load()
	c.mu.Unlock()
	if a != nil {
		a.stop()
		a.cancel(nil)
	}
}

// responseWriter is the writer the handlers see: it records the status and
// size for the access line and the metrics, and, when a drain deadline may
// answer the request from another goroutine, guards the real writer: every
// write takes its lock, and the handler's headers are a map of its own
// until it starts its answer, so that the two never touch one map at once.
type responseWriter struct {
	w       http.ResponseWriter
	header  http.Header
	guarded bool // header is not w's own until the answer starts

	mu      sync.Mutex
	status  int
	bytes   int64
	wrote   bool // the handler started its answer
	aborted bool // the drain deadline answered, or would have: the handler's writes go nowhere
	done    bool // the handler returned; the drain must not write any more
}

func (g *responseWriter) Header() http.Header { return g.header }

// start begins the handler's answer unless the drain deadline has; g.mu is
// held.
func (g *responseWriter) start() bool {
	if g.aborted && !g.wrote {
		return false
	}
	if !g.wrote {
		if g.guarded {
			h := g.w.Header()
			clear(h)
			maps.Copy(h, g.header)
		}
		g.wrote = true
	}
	return true
}

func (g *responseWriter) WriteHeader(code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.start() {
		g.record(code)
		g.w.WriteHeader(code)
	}
}

func (g *responseWriter) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.start() {
		return len(b), nil // answered already; the handler need not know
	}
	g.record(http.StatusOK)
	n, err := g.w.Write(b)
	g.bytes += int64(n)
	return n, err
}

// record keeps the first status; g.mu is held.
func (g *responseWriter) record(code int) {
	if g.status == 0 {
		g.status = code
	}
}

// Flush passes on to the real writer when it can flush.
func (g *responseWriter) Flush() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.w.(http.Flusher); ok && g.start() {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer's deadlines.
func (g *responseWriter) Unwrap() http.ResponseWriter { return g.w }

// finish marks the handler returned, and reports whether the drain
// deadline answered for it.
func (g *responseWriter) finish() (answeredByDrain bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = true
	return g.aborted && !g.wrote
}

// drainWriter writes the drain deadline's answer in the real writer,
// recorded like the handler's; g.mu is held.
type drainWriter struct{ g *responseWriter }

func (d drainWriter) Header() http.Header { return d.g.w.Header() }
func (d drainWriter) WriteHeader(code int) {
	d.g.record(code)
	d.g.w.WriteHeader(code)
}
func (d drainWriter) Write(b []byte) (int, error) {
	d.g.record(http.StatusOK)
	n, err := d.g.w.Write(b)
	d.g.bytes += int64(n)
	return n, err
}

// abort answers a request still running at the drain deadline with a 503
// shutting-down problem, unless its answer has started, and cancels its
// context with errShuttingDown so that the handler stops.
func (s *server) abort(ex *exchange) {
	g := &ex.rw
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return
	}
	g.aborted = true
	ex.ctx.cancel(errShuttingDown)
	if !g.wrote {
		s.encodeProblem(drainWriter{g}, shuttingDownProblem())
	}
}

// liveSet is the requests being served, for the drain deadline to answer:
// one list per server instead of a context.AfterFunc per request.
type liveSet struct {
	mu      sync.Mutex
	head    *exchange
	aborted bool
}

// add lists ex; false when the drain deadline has passed.
func (l *liveSet) add(ex *exchange) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.aborted {
		return false
	}
	ex.next = l.head
	if l.head != nil {
		l.head.prev = ex
	}
	l.head = ex
	return true
}

func (l *liveSet) remove(ex *exchange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ex.prev != nil {
		ex.prev.next = ex.next
	} else if l.head == ex {
		l.head = ex.next
	}
	if ex.next != nil {
		ex.next.prev = ex.prev
	}
	ex.prev, ex.next = nil, nil
}

// abortAll lists every request being served and refuses any more.
func (l *liveSet) abortAll() []*exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.aborted = true
	var all []*exchange
	for ex := l.head; ex != nil; ex = ex.next {
		all = append(all, ex)
	}
	return all
}
