package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// serveOne serves one request through serve around a router whose only
// route is handler, at GET /x.
func serveOne(t *testing.T, o Options, r *http.Request, handler http.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	s := testServer(t, o)
	mux := chi.NewRouter()
	mux.Get("/x", handler)
	w := httptest.NewRecorder()
	s.serve(mux).ServeHTTP(w, r)
	return w
}

func testServer(t *testing.T, o Options) *server {
	t.Helper()
	e := newTestEnv(t)
	o.Service, o.Registerer, o.Logger = e.svc, e.reg, slog.New(slog.DiscardHandler)
	s, err := newServer(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRequestContextDeadline: the request's context behaves as
// context.WithTimeout's would: a deadline, Err and Done at it, whichever is
// asked first.
func TestRequestContextDeadline(t *testing.T) {
	for _, wait := range []string{"Err", "Done"} {
		t.Run(wait, func(t *testing.T) {
			var got, cause error
			var deadline time.Time
			serveOne(t, Options{RequestTimeout: 20 * time.Millisecond}, httptest.NewRequest("GET", "/x", nil),
				func(w http.ResponseWriter, r *http.Request) {
					ctx := r.Context()
					deadline, _ = ctx.Deadline()
					if ctx.Err() != nil {
						t.Error("the context ended at once")
					}
					if wait == "Err" {
						for ctx.Err() == nil {
							time.Sleep(time.Millisecond)
						}
					} else {
						<-ctx.Done()
					}
					got, cause = ctx.Err(), context.Cause(ctx)
				})
			if !errors.Is(got, context.DeadlineExceeded) || !errors.Is(cause, context.DeadlineExceeded) {
				t.Errorf("Err %v, Cause %v; want the deadline", got, cause)
			}
			if time.Until(deadline) > 0 || time.Since(deadline) > time.Minute {
				t.Errorf("deadline %v", deadline)
			}
		})
	}
}

// TestRequestContextEnds: the context ends when the handler returns, as a
// deferred cancel would end it, for whoever kept it, and when the caller
// goes away; what is derived from it ends with it.
func TestRequestContextEnds(t *testing.T) {
	var (
		kept, derived context.Context
		cancelDerived context.CancelFunc
	)
	serveOne(t, Options{}, httptest.NewRequest("GET", "/x", nil), func(w http.ResponseWriter, r *http.Request) {
		kept = r.Context()
		derived, cancelDerived = context.WithTimeout(r.Context(), time.Hour)
	})
	defer cancelDerived()
	if !errors.Is(kept.Err(), context.Canceled) {
		t.Errorf("kept context: Err %v, want Canceled", kept.Err())
	}
	select {
	case <-kept.Done():
	default:
		t.Error("kept context: Done not closed")
	}
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Error("a context derived from the request's did not end with it")
	}

	parent, cancel := context.WithCancel(context.Background())
	var got error
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	serveOne(t, Options{}, httptest.NewRequest("GET", "/x", nil).WithContext(parent), func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		got = r.Context().Err()
	})
	if !errors.Is(got, context.Canceled) {
		t.Errorf("the caller went away: Err %v, want Canceled", got)
	}
}

type ctxKey struct{}

// TestRequestContextValues: the context answers the entry, the key and
// the routing context, and whatever net/http's or the caller's context
// carries.
func TestRequestContextValues(t *testing.T) {
	base := context.WithValue(context.Background(), ctxKey{}, "outer")
	var (
		outer        any
		entry        *reqlog.Entry
		route        string
		key, derived apikey.Key
		keyOK        bool
	)
	kr := testKeyring(t)
	s := testServer(t, Options{Keys: kr})
	mux := chi.NewRouter()
	mux.With(s.require(apikey.Lookup)).Get("/x/{name}", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		outer, entry = ctx.Value(ctxKey{}), reqlog.FromContext(ctx)
		route = chi.URLParam(r, "name")
		key, keyOK = apikey.FromContext(ctx)
		_ = ctx.Done() // armed: the values must still be there
		derived, _ = apikey.FromContext(context.WithoutCancel(ctx))
	})
	r := httptest.NewRequest("GET", "/x/y", nil).WithContext(base)
	r.Header.Set("X-API-Key", keySIEM)
	r.Header.Set("X-Request-Id", "rid-1")
	s.serve(mux).ServeHTTP(httptest.NewRecorder(), r)
	if outer != "outer" || entry == nil || entry.RequestID != "rid-1" || entry.Key != "siem" || route != "y" {
		t.Errorf("outer %v, entry %+v, route %q", outer, entry, route)
	}
	if !keyOK || key.Name != "siem" || derived.Name != "siem" {
		t.Errorf("key %+v (%v), derived %+v", key, keyOK, derived)
	}
}

// TestDrainManyRequests: requests running when Options.Abort ends each get
// the 503 or their own answer, whole, with no race among them (run with
// -race), and later ones the 503.
func TestDrainManyRequests(t *testing.T) {
	abort, stop := context.WithCancel(context.Background())
	const n = 20
	var started sync.WaitGroup
	started.Add(n)
	s := testServer(t, Options{Abort: abort})
	mux := chi.NewRouter()
	mux.Get("/x", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "yes")
		started.Done()
		<-r.Context().Done()
		w.Header().Set("X-Late", "yes")
		_, _ = w.Write([]byte("late"))
	})
	h := s.serve(mux)
	codes := make(chan *httptest.ResponseRecorder, n)
	for range n {
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
			codes <- w
		}()
	}
	started.Wait()
	stop()
	for range n {
		w := <-codes
		if w.Code != 503 || w.Header().Get("X-Late") != "" || w.Header().Get("X-Handler") != "" || w.Header().Get("X-Request-Id") == "" {
			t.Errorf("got %d %v %q, want the 503 alone", w.Code, w.Header(), w.Body)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 503 {
		t.Errorf("after the abort: %d, want 503", w.Code)
	}
}

// TestMiddlewareAllocations: what every request pays before its handler
// runs, the key's check included, is the exchange, the copy of the
// request that carries its context, and the request id it makes up.
func TestMiddlewareAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("allocations are not counted under the race detector")
	}
	abort, stop := context.WithCancel(context.Background())
	defer stop()
	e := newTestEnv(t, func(o *Options) { o.Abort = abort; o.Logger = slog.New(slog.DiscardHandler) })
	for _, target := range []string{"/healthz", "/v1/sections"} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("X-API-Key", keySIEM)
		w := &benchWriter{header: http.Header{}}
		e.h.ServeHTTP(w, r)
		if w.status != 200 {
			t.Fatalf("%s: %d", target, w.status)
		}
		if n := testing.AllocsPerRun(200, func() { w.reset(); e.h.ServeHTTP(w, r) }); n > 3 {
			t.Errorf("%s: %v allocations per request, want at most 3", target, n)
		}
	}
}
