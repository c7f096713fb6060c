// Package kuma owns the CyberTrace lookup contract that KUMA's
// cybertrace-http enrichment speaks (shared/kuma-cybertrace.md), answered
// from tipgate's lookups: the paths, Basic authentication by API key name,
// the header and body rules, the verdict and category of each object
// (KTL_<Zone>_<Type>, from the zone alone), its string-only context, and
// what an element gets when neither the cache nor TIP can answer it now.
//
// Where the contract is silent this package decides, and says so here:
//   - Error answers (every status but 200) are RFC 9457 problem+json bodies,
//     tipgate's house style; the contract documents only the 200 body.
//   - Accept must admit application/json: application/json, application/*
//     and */* do (curl sends */*), unless q=0; a missing Accept is 406, as
//     the contract says it is required.
//   - A Content-Type other than application/json (any charset parameter must
//     be utf-8) is 415, not 400: it names the fault exactly, and KUMA always
//     sends application/json.
//   - A body over the bound (64 MiB) is 413.
//   - Elements may carry members besides "object"; they are ignored. A
//     duplicate "object" member is 400. An empty "object" is free text.
//   - The tenant of /api/1.3/{tenant}/lookup is accepted whatever it is and
//     ignored: tipgate has one set of data for all.
//   - Context keys whose value is unknown or empty are omitted, never sent
//     as "". Only detected objects carry a category, so only they carry a
//     context.
//   - The 429 for "no element could be answered" counts free text as not
//     answered: a retry costs nothing for it and gets the real verdict for
//     the rest. Retry-After is the shortest RetryAfter among the failures,
//     or 60 s when none said. TIP's rejection of an indicator (400) is
//     "not detected" and never leads to a 429: asking again would not help.
//     In cache-only mode nothing needs TIP, so there is never a 429.
//   - Cache first: an object is looked up cache-only with its context
//     sections, then cache-only for its zone alone (a fresh Zone entry gives
//     the verdict), and only then normally, which spends TIP quota; data past
//     freshness answers when TIP cannot (context "cache": "stale").
package kuma

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/apikey"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// Looker is the lookup service as this package uses it (lookup.Service
// implements it).
type Looker interface {
	Prepare(q lookup.Query) (lookup.Request, error)
	Lookup(ctx context.Context, req lookup.Request) (*lookup.Result, error)
}

// Defaults of Options.
const (
	// DefaultTimeout leaves KUMA, which holds an event 30 s for its
	// enrichment, time to read the answer.
	DefaultTimeout = 25 * time.Second
	// DefaultConcurrency bounds the lookups of one request in flight.
	DefaultConcurrency = 16
	// DefaultMaxBodyBytes is the contract's 64 MB.
	DefaultMaxBodyBytes = 64 << 20
)

// Options configures the handler. Looker, Logger and Registerer are
// required.
type Options struct {
	Looker Looker
	// Keys authenticates callers (Basic: user = key name, password = key)
	// and requires the lookup role; nil turns authentication off.
	Keys *apikey.Keyring
	// CacheOnly answers from the cache alone, never spending TIP quota;
	// what is not cached is "not detected" (TIPGATE_KUMA_CACHE_ONLY).
	CacheOnly  bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Timeout bounds one request, all its lookups included; 0 means
	// DefaultTimeout. Objects not answered by then are "not detected".
	Timeout time.Duration
	// Concurrency bounds the lookups of one request in flight; 0 means
	// DefaultConcurrency.
	Concurrency int
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// defaultRetryAfter is the Retry-After of a 429 when no failure said when
// to ask again.
const defaultRetryAfter = time.Minute

// The versions served at /api/<version>/lookup; 1.3 has a tenant.
var plainVersions = map[string]bool{"1.0": true, "1.1": true, "1.2": true}

const tenantVersion = "1.3"

type handler struct {
	looker      Looker
	keys        *apikey.Keyring
	cacheOnly   bool
	log         *slog.Logger
	metrics     *metrics
	timeout     time.Duration
	concurrency int
	maxBody     int64
}

// New returns the handler of POST /api/{1.0,1.1,1.2}/lookup and
// /api/1.3/{tenant}/lookup. It routes on the request's full path, so it must
// be mounted where it sees paths starting with /api/; anything else under
// /api/ is a 404.
func New(o Options) (http.Handler, error) {
	var problems []string
	if o.Looker == nil {
		problems = append(problems, "Looker is required")
	}
	if o.Logger == nil {
		problems = append(problems, "Logger is required")
	}
	if o.Registerer == nil {
		problems = append(problems, "Registerer is required")
	}
	if o.Timeout < 0 || o.Concurrency < 0 || o.MaxBodyBytes < 0 {
		problems = append(problems, "Timeout, Concurrency and MaxBodyBytes must not be negative")
	}
	if len(problems) > 0 {
		return nil, errors.New("kuma: " + strings.Join(problems, "; "))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &handler{
		looker:      o.Looker,
		keys:        o.Keys,
		cacheOnly:   o.CacheOnly,
		log:         o.Logger,
		metrics:     m,
		timeout:     o.Timeout,
		concurrency: o.Concurrency,
		maxBody:     o.MaxBodyBytes,
	}, nil
}

// statusRecorder remembers the status for tipgate_kuma_requests_total.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (rw *statusRecorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *statusRecorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (rw *statusRecorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	h.serve(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	h.metrics.requests.WithLabelValues(strconv.Itoa(status)).Inc()
}

// isLookupPath reports whether path is one of the contract's lookup paths.
// The handler routes by hand rather than with a router so that it works
// however it is mounted: a parent chi router would otherwise hand a
// sub-router the path without its mount prefix.
func isLookupPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 2:
		return plainVersions[parts[0]] && parts[1] == "lookup"
	case 3:
		return parts[0] == tenantVersion && parts[1] != "" && parts[2] == "lookup"
	}
	return false
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !isLookupPath(r.URL.Path) {
		writeProblem(w, problem{Type: "not-found", Title: "Not found", Status: http.StatusNotFound,
			Detail: "There is no such CyberTrace path; use POST /api/1.1/lookup (also 1.0 and 1.2) or POST /api/1.3/{tenant}/lookup."})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, problem{Type: "method-not-allowed", Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: "The CyberTrace lookup paths accept POST only."})
		return
	}
	ctx, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		writeProblem(w, problem{Type: "not-acceptable", Title: "Not acceptable", Status: http.StatusNotAcceptable,
			Detail: "The lookup answers application/json only; send Accept: application/json."})
		return
	}
	if detail := contentTypeProblem(r.Header.Get("Content-Type")); detail != "" {
		writeProblem(w, problem{Type: "unsupported-media-type", Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: detail})
		return
	}
	tooLarge := func() {
		writeProblem(w, problem{Type: "payload-too-large", Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("The request body is larger than %d bytes; send fewer objects per request.", h.maxBody)})
	}
	if r.ContentLength > h.maxBody {
		tooLarge() // refused before reading a byte of it
		return
	}
	objects, err := parseBody(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
			return
		}
		writeProblem(w, problem{Type: "invalid-request", Title: "Invalid request", Status: http.StatusBadRequest,
			Detail: "The request is invalid: " + strings.TrimRight(err.Error(), ".") + "."})
		return
	}
	h.answer(ctx, w, r, objects)
}

// authenticate checks Basic credentials where the user is an API key's name
// and the password the key, and returns the context carrying the key, so
// that the TIP requests its lookups cause are charged to its own budget.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (context.Context, bool) {
	if h.keys == nil {
		return r.Context(), true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		unauthorized(w, "No Basic credentials were sent; send the API key's name as the user and the key as the password.")
		return nil, false
	}
	// The key is found by its secret (every stored digest compared in
	// constant time) and must carry the name given, so the answer's timing
	// says nothing about which names exist.
	key, ok := h.keys.Authenticate(pass)
	if ok && key.Name == user {
		// The name, never the key, goes to the access line.
		reqlog.FromContext(r.Context()).Key = key.Name
	}
	if !ok || key.Name != user {
		unauthorized(w, "The Basic credentials are not recognised; the user must be an API key's name and the password that key.")
		return nil, false
	}
	if !key.Has(apikey.Lookup) {
		writeProblem(w, problem{Type: "forbidden", Title: "Forbidden", Status: http.StatusForbidden,
			Detail: fmt.Sprintf("The API key %q lacks the %q role that lookups need; ask the operator to grant it.", key.Name, apikey.Lookup)})
		return nil, false
	}
	return apikey.NewContext(r.Context(), key), true
}

func unauthorized(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="tipgate"`)
	writeProblem(w, problem{Type: "unauthorized", Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: detail})
}

// acceptsJSON reports whether the Accept header values admit
// application/json: the most specific matching range (application/json,
// then application/*, then */*) decides, and q=0 refuses. No header at all
// is a refusal, because the contract requires it.
func acceptsJSON(values []string) bool {
	best, q := -1, 0.0
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			rank := -1
			switch mt {
			case "application/json":
				rank = 2
			case "application/*":
				rank = 1
			case "*/*":
				rank = 0
			}
			if rank <= best {
				continue
			}
			pq := 1.0
			if s, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					continue
				}
				pq = f
			}
			best, q = rank, pq
		}
	}
	return best >= 0 && q > 0
}

// contentTypeProblem returns why ct is not application/json in UTF-8, or ""
// when it is.
func contentTypeProblem(ct string) string {
	const want = "; send Content-Type: application/json."
	if strings.TrimSpace(ct) == "" {
		return "The body has no Content-Type" + want
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("The body was sent as %q, not JSON%s", truncate(ct, 64), want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Sprintf("The body's charset is %q; JSON must be UTF-8%s", truncate(cs, 32), want)
	}
	return ""
}

// answer looks the objects up and writes the 200 array, or a 429 when no
// object could be answered because TIP could not be asked.
func (h *handler) answer(ctx context.Context, w http.ResponseWriter, r *http.Request, objects []string) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	reqlog.FromContext(r.Context()).Indicators = len(objects)
	b := h.plan(objects)
	out := h.run(ctx, b)

	answers := make([]answer, len(objects))
	var (
		answered, retryable int
		retryAfter          time.Duration
		reasons             = map[string]int{}
		internal            error
	)
	for _, o := range out {
		switch {
		case o.res != nil:
			answered++
		case o.retryable:
			retryable++
			if o.retryAfter > 0 && (retryAfter == 0 || o.retryAfter < retryAfter) {
				retryAfter = o.retryAfter
			}
		}
		if o.reason == reasonInternal && internal == nil {
			internal = o.err
		}
	}
	for i, obj := range objects {
		u := b.slot[i]
		if u < 0 {
			answers[i] = notDetected(obj)
			h.metrics.objects.WithLabelValues(objNotIndicator).Inc()
			continue
		}
		o := out[u]
		if o.res == nil {
			answers[i] = notDetected(obj)
			h.metrics.objects.WithLabelValues(objUnanswered).Inc()
			h.metrics.unanswered.WithLabelValues(o.reason).Inc()
			reasons[o.reason]++
			continue
		}
		answers[i] = answerFor(obj, o.res)
		if answers[i].Result == resultDetected {
			h.metrics.objects.WithLabelValues(objDetected).Inc()
		} else {
			h.metrics.objects.WithLabelValues(objNotDetected).Inc()
		}
	}
	if internal != nil {
		h.log.ErrorContext(r.Context(), "kuma lookup failed", "err", internal)
	}
	if len(reasons) > 0 {
		h.log.DebugContext(r.Context(), "kuma objects unanswered", "reasons", reasons)
	}

	if answered == 0 && retryable > 0 {
		if retryAfter <= 0 {
			retryAfter = defaultRetryAfter
		}
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(retryAfter), 10))
		writeProblem(w, problem{Type: "retry-later", Title: "Too many requests", Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("Neither the cache nor TIP could answer any of the %d indicators now (%s); try again after Retry-After.",
				len(out), reasonList(reasons))})
		return
	}
	writeAnswers(w, answers)
}

// writeAnswers streams the array element by element, so a large answer is
// not built twice in memory.
func writeAnswers(w http.ResponseWriter, answers []answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	var el bytes.Buffer
	enc := json.NewEncoder(&el)
	// URLs are common in answers; "&" escaped as \u0026 is valid but hard
	// to read.
	enc.SetEscapeHTML(false)
	_ = bw.WriteByte('[')
	for i := range answers {
		el.Reset()
		// An answer holds strings only, so encoding cannot fail.
		if err := enc.Encode(&answers[i]); err != nil {
			return
		}
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		// A write error means the caller has gone; nothing to do about it.
		_, _ = bw.Write(bytes.TrimSuffix(el.Bytes(), []byte("\n")))
	}
	_, _ = bw.WriteString("]\n")
	_ = bw.Flush()
}

func reasonList(reasons map[string]int) string {
	var parts []string
	for _, r := range []string{reasonBudgetSpent, reasonBreakerOpen, reasonTimeout, reasonTIPError, reasonInternal, reasonCanceled, reasonTIPRejected, reasonNotCached} {
		if n := reasons[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", r, n))
		}
	}
	return strings.Join(parts, ", ")
}

// truncate bounds how much of a caller's input an error echoes, cutting on
// a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
