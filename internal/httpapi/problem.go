package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/reqlog"
)

// problem is an RFC 9457 problem details body. Type is a short relative
// reference naming the kind of problem, stable for callers to switch on.
type problem struct {
	Type          string                `json:"type"`
	Title         string                `json:"title"`
	Status        int                   `json:"status"`
	Detail        string                `json:"detail"`
	InvalidParams []lookup.InvalidParam `json:"invalid_params,omitempty"`
	// CachedSections, on a not-cached problem, lists what is cached for
	// the indicator (possibly nothing), so the caller knows what to ask for.
	CachedSections *[]string `json:"cached_sections,omitempty"`
	// Indicator and IndicatorType, on a not-cached problem, are the
	// normalised indicator and its detected type, so that a client can
	// offer that type's sections without parsing the indicator itself.
	Indicator     string `json:"indicator,omitempty"`
	IndicatorType string `json:"indicator_type,omitempty"`

	// retryAfter, when positive, is sent as the Retry-After header.
	retryAfter time.Duration
}

// Problem types: the "type" member of every error body.
const (
	typeInvalidRequest       = "invalid-request"
	typeUnauthorized         = "unauthorized"
	typeForbidden            = "forbidden"
	typeNotFound             = "not-found"
	typeNotCached            = "not-cached"
	typeMethodNotAllowed     = "method-not-allowed"
	typePayloadTooLarge      = "payload-too-large"
	typeUnsupportedMediaType = "unsupported-media-type"
	typeNotImplemented       = "not-implemented"
	typeTimeout              = "timeout"
	typeInternal             = "internal"
	typeClientClosed         = "client-closed-request"
	typeShuttingDown         = "shutting-down"
)

// Bounds on what a problem echoes of the caller's input, so that a 45 kB
// request full of unknown parameters is not answered with a megabyte.
const (
	maxInvalidParams = 20
	maxParamName     = 64
	maxParamReason   = 256
	maxDetail        = 1024
	maxProblemBytes  = 8 << 10
)

// statusClientClosed is nginx's code for a caller that gave up; nobody reads
// the answer, but the access log and metrics should not call it a 500.
const statusClientClosed = 499

// statusError is an error that already knows the problem to answer with:
// failures of the HTTP exchange itself rather than of the lookup.
type statusError struct {
	p problem
}

func (e *statusError) Error() string { return e.p.Detail }

func newStatusError(status int, typ, title, detail string) *statusError {
	return &statusError{p: problem{Type: typ, Title: title, Status: status, Detail: detail}}
}

func errNotImplemented(detail string) error {
	return newStatusError(http.StatusNotImplemented, typeNotImplemented, "Not implemented", detail)
}

func errUnsupportedMediaType(got string) error {
	sent := "The body has no Content-Type"
	if got != "" {
		sent = fmt.Sprintf("The body was sent as %q", got)
	}
	return newStatusError(http.StatusUnsupportedMediaType, typeUnsupportedMediaType, "Unsupported media type",
		sent+" and is not JSON; send a JSON object with Content-Type: application/json.")
}

// invalid builds the 400 answer for bad input.
func invalid(params ...lookup.InvalidParam) *lookup.InvalidError {
	return &lookup.InvalidError{Params: params}
}

// problemFor is the one place an error becomes a problem. log and level say
// whether and how loudly writeError logs the cause: a caller's mistake is
// answered, not logged; a fault of tipgate or TIP is logged.
func (s *server) problemFor(r *http.Request, err error) (p problem, log bool, level slog.Level) {
	var (
		se  *statusError
		inv *lookup.InvalidError
		ie  *indicator.Error
		te  *lookup.UpstreamError
		nc  *lookup.NotCachedError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.Is(context.Cause(r.Context()), errShuttingDown):
		// Whatever the handler made of its cancelled context, this is why.
		return shuttingDownProblem(), false, 0
	case errors.As(err, &se):
		return se.p, false, 0
	case errors.As(err, &inv):
		params := s.withDefaultLimit(inv.Params)
		if len(params) == 0 {
			params = []lookup.InvalidParam{{Name: "request", Reason: inv.Error()}}
		}
		detail := invalidDetail(params)
		if len(params) > maxInvalidParams {
			params = params[:maxInvalidParams]
		}
		return problem{
			Type: typeInvalidRequest, Title: "Invalid request", Status: http.StatusBadRequest,
			Detail:        detail,
			InvalidParams: params,
		}, false, 0
	case errors.As(err, &ie):
		params := []lookup.InvalidParam{{Name: "indicator", Reason: ie.Reason}}
		return problem{
			Type: typeInvalidRequest, Title: "Invalid request", Status: http.StatusBadRequest,
			Detail: invalidDetail(params), InvalidParams: params,
		}, false, 0
	case errors.As(err, &mbe):
		return problem{
			Type: typePayloadTooLarge, Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("The request body is larger than %d bytes; send a smaller body.", mbe.Limit),
		}, false, 0
	case errors.Is(err, lookup.ErrNotCached):
		cached := []string{}
		if errors.As(err, &nc) && nc.Cached != nil {
			cached = nc.Cached
		}
		detail := "Nothing is cached for this indicator; ask again without cache_only to fetch it from TIP."
		if len(cached) > 0 {
			detail = "The cache does not hold every requested section at this limit (cached_sections lists what it holds); ask for those, or ask again without cache_only to fetch the rest from TIP."
		}
		p := problem{
			Type: typeNotCached, Title: "Not cached", Status: http.StatusNotFound,
			Detail: detail, CachedSections: &cached,
		}
		if nc != nil {
			p.Indicator, p.IndicatorType = nc.Indicator.Value, string(nc.Indicator.Type)
		}
		return p, false, 0
	case errors.As(err, &te):
		level := slog.LevelWarn
		if te.Kind == lookup.KindBadRequest {
			level = slog.LevelInfo // the caller's input, not an upstream fault
		}
		if te.Refused {
			level = slog.LevelInfo // tipgate's own choice, already logged where it was made
		}
		return tipProblem(te), true, level
	case errors.Is(err, lookup.ErrBatchTimeout):
		return problem{
			Type: typeTimeout, Title: "Timeout", Status: http.StatusGatewayTimeout,
			Detail: fmt.Sprintf("This item was not answered within the batch's %v deadline; the finished items are in the answer. Ask again for this one, or send smaller batches.", s.opts.RequestTimeout),
		}, true, slog.LevelInfo
	case errors.Is(err, context.DeadlineExceeded):
		return problem{
			Type: typeTimeout, Title: "Timeout", Status: http.StatusGatewayTimeout,
			Detail: fmt.Sprintf("tipgate could not answer within its %v deadline; try again later, or ask for fewer sections.", s.opts.RequestTimeout),
		}, true, slog.LevelWarn
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return problem{
			Type: typeClientClosed, Title: "Client closed request", Status: statusClientClosed,
			Detail: "The caller went away before the answer was ready.",
		}, true, slog.LevelInfo
	default:
		return problem{
			Type: typeInternal, Title: "Internal error", Status: http.StatusInternalServerError,
			Detail: "tipgate failed to answer because of an internal error; try again, and if it persists give the operator the request id " +
				strconv.Quote(reqlog.FromContext(r.Context()).RequestID) + ".",
		}, true, slog.LevelError
	}
}

func invalidDetail(params []lookup.InvalidParam) string {
	switch n := len(params); {
	case n == 1:
		return fmt.Sprintf("The request is invalid: %s: %s. Fix it and try again; nothing was sent to TIP.", params[0].Name, strings.TrimRight(params[0].Reason, "."))
	case n > maxInvalidParams:
		return fmt.Sprintf("The request has %d invalid parameters; the first %d are listed in invalid_params. Fix them and try again; nothing was sent to TIP.", n, maxInvalidParams)
	default:
		return fmt.Sprintf("The request has %d invalid parameters, listed in invalid_params. Fix them and try again; nothing was sent to TIP.", n)
	}
}

// bounded cuts what p echoes of the caller's input (parameter names and
// reasons, which may quote it; TIP's reasons in detail) so that its body
// stays under maxProblemBytes whatever the request held, and ends its
// detail as one sentence.
func bounded(p problem) problem {
	p.Detail = truncate(sentence(p.Detail), maxDetail)
	if len(p.InvalidParams) > 0 {
		params := make([]lookup.InvalidParam, 0, min(len(p.InvalidParams), maxInvalidParams))
		for _, ip := range p.InvalidParams[:min(len(p.InvalidParams), maxInvalidParams)] {
			params = append(params, lookup.InvalidParam{Name: truncate(ip.Name, maxParamName), Reason: truncate(ip.Reason, maxParamReason)})
		}
		p.InvalidParams = params
	}
	if p.CachedSections != nil && len(*p.CachedSections) > 0 {
		// Section names are the catalog's, a few dozen at most; bounded
		// anyway, as everything else here.
		cached := (*p.CachedSections)[:min(len(*p.CachedSections), 64)]
		p.CachedSections = &cached
	}
	// The cuts above keep a problem far under the bound; this is the
	// guarantee, should a new member ever echo more.
	for {
		b, err := encodeJSON(p)
		if err != nil || len(b) < maxProblemBytes || len(p.InvalidParams) == 0 {
			return p
		}
		p.InvalidParams = p.InvalidParams[:len(p.InvalidParams)-1]
	}
}

// tipProblem says what a failed TIP exchange means for the caller
// (DESIGN.md "Upstream errors as callers see them"). It is returned only
// when the cache holds nothing that could answer instead, stale or not.
func tipProblem(e *lookup.UpstreamError) problem {
	p := problem{Type: string(e.Kind), Status: http.StatusBadGateway, retryAfter: e.RetryAfter}
	const noCache = " and the cache holds no copy of every requested section to serve instead"
	switch e.Kind {
	case lookup.KindBadRequest:
		p.Status = http.StatusBadRequest
		p.Title = "TIP rejected the request"
		// The client's detail already says TIP rejected it, with TIP's reason.
		detail := strings.TrimRight(e.Detail, ".")
		if detail == "" {
			detail = "TIP rejected the request as invalid and gave no reason"
		}
		p.Detail = detail + "; check the indicator and sections."
	case lookup.KindUnauthorized:
		p.Title = "TIP rejected tipgate's credentials"
		p.Detail = "TIP rejected tipgate's credentials, or its Terms and Conditions have not been accepted at tip.kaspersky.com," + noCache + "; the operator must fix tipgate's TIP account."
	case lookup.KindForbidden:
		p.Title = "TIP refused access"
		p.Detail = "TIP refused the request (tipgate's account has no API access or has spent its daily quota)," + noCache + "; try again after the quota resets at 00:00 UTC, or ask the operator."
	case lookup.KindRateLimited:
		p.Title = "TIP is rate limiting"
		p.Detail = "TIP is limiting tipgate's request rate," + noCache + "; try again in a minute."
	case lookup.KindTimeout:
		p.Status = http.StatusGatewayTimeout
		p.Title = "TIP timed out"
		p.Detail = "TIP did not answer in time," + noCache + "; try again later."
	case lookup.KindBudgetSpent:
		p.Status = http.StatusServiceUnavailable
		p.Title = "TIP budget spent"
		p.Detail = "tipgate did not ask TIP because " + strings.TrimRight(e.Detail, ".") + ". Nothing cached answers every requested section instead; try again after Retry-After, or ask the operator to raise the budget."
	case lookup.KindUnavailable:
		p.Title = "TIP is unavailable"
		if e.Refused {
			p.Status = http.StatusServiceUnavailable
			p.Detail = "TIP has been failing, so tipgate stopped asking it for a while (circuit breaker open)," + noCache + "; try again after Retry-After."
			break
		}
		p.Detail = "TIP could not be reached or answered with an error," + noCache + "; try again later."
	default:
		p.Type = string(lookup.KindUnavailable)
		p.Title = "TIP is unavailable"
		p.Detail = "TIP's answer could not be used," + noCache + "; try again later."
	}
	if p.Status == http.StatusServiceUnavailable && p.retryAfter <= 0 {
		p.retryAfter = time.Minute
	}
	return p
}

// writeError answers with the problem for err, logging its cause when the
// fault is not the caller's. It is the only place errors are logged.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, log, level := s.problemFor(r, err)
	if log {
		s.logger(r).Log(r.Context(), level, "request failed", "status", p.Status, "problem", p.Type, "err", err)
	}
	s.writeProblem(w, r, p)
}

// writeProblem answers with p, and notes its type for the access line.
func (s *server) writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	reqlog.FromContext(r.Context()).Problem = p.Type
	s.encodeProblem(w, p)
}

// encodeProblem writes p as the response.
func (s *server) encodeProblem(w http.ResponseWriter, p problem) {
	p = bounded(p)
	b, err := encodeJSON(p)
	if err != nil {
		// A problem holds only strings and ints; this cannot happen.
		http.Error(w, p.Detail, p.Status)
		return
	}
	h := w.Header()
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tipgate"`)
	}
	// Headers a successful lookup set before failing must not describe
	// the error body.
	h.Del("X-Cache")
	h.Del("Age")
	if p.retryAfter > 0 {
		// Whole seconds, rounded up: a client that waits less would be
		// refused again.
		h.Set("Retry-After", strconv.FormatInt(int64((p.retryAfter+time.Second-1)/time.Second), 10))
	}
	writeBody(w, p.Status, s.contentTypeProblem, b)
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, r, problem{
		Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound,
		Detail: fmt.Sprintf("There is no %s; see /openapi.yaml for the routes tipgate serves.", strconv.Quote(truncate(r.URL.Path, 200))),
	})
}

// sentence ends s with exactly one full stop: details are put together
// from parts (TIP's reasons, the indicator parser's) that may end in one
// already, and "…." or ".." reads as a slip. A question or exclamation mark,
// or an ellipsis, is left as it is.
func sentence(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), ".")
	if s == "" || strings.HasSuffix(s, "…") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "!") {
		return s
	}
	return s + "."
}

// truncate bounds how much of a caller's input is echoed back: at most n
// bytes (so at most n characters), cut at a character boundary and ended
// with an ellipsis when cut.
func truncate(s string, n int) string {
	const ellipsis = "…"
	if len(s) <= n {
		return s
	}
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// withDefaultLimit adds the configured default to a complaint about limit,
// the one thing a caller cannot learn from the request it sent.
func (s *server) withDefaultLimit(params []lookup.InvalidParam) []lookup.InvalidParam {
	if s.opts.DefaultLimit == 0 {
		return params
	}
	out := slices.Clone(params)
	for i, p := range out {
		if p.Name == paramLimit && !strings.Contains(p.Reason, "default") {
			out[i].Reason += fmt.Sprintf(" (the default is %d)", s.opts.DefaultLimit)
		}
	}
	return out
}
