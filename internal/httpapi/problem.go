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

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
	"github.com/tipgate/tipgate/internal/tip"
)

// problem is an RFC 9457 problem details body. Type is a short relative
// reference naming the kind of problem, stable for callers to switch on.
type problem struct {
	Type          string                `json:"type"`
	Title         string                `json:"title"`
	Status        int                   `json:"status"`
	Detail        string                `json:"detail"`
	InvalidParams []lookup.InvalidParam `json:"invalid_params,omitempty"`
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
		te  *tip.Error
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &se):
		return se.p, false, 0
	case errors.As(err, &inv):
		params := s.withDefaultLimit(inv.Params)
		if len(params) == 0 {
			params = []lookup.InvalidParam{{Name: "request", Reason: inv.Error()}}
		}
		return problem{
			Type: typeInvalidRequest, Title: "Invalid request", Status: http.StatusBadRequest,
			Detail:        invalidDetail(params),
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
		return problem{
			Type: typeNotCached, Title: "Not cached", Status: http.StatusNotFound,
			Detail: "Nothing usable is cached for this indicator and these sections; ask again without cache_only to fetch it from TIP.",
		}, false, 0
	case errors.As(err, &te):
		level := slog.LevelWarn
		if te.Kind == tip.KindBadRequest {
			level = slog.LevelInfo // the caller's input, not an upstream fault
		}
		return tipProblem(te), true, level
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
				strconv.Quote(infoFrom(r.Context()).id) + ".",
		}, true, slog.LevelError
	}
}

func invalidDetail(params []lookup.InvalidParam) string {
	if len(params) == 1 {
		return fmt.Sprintf("The request is invalid: %s: %s. Fix it and try again; nothing was sent to TIP.", params[0].Name, params[0].Reason)
	}
	return fmt.Sprintf("The request has %d invalid parameters, listed in invalid_params. Fix them and try again; nothing was sent to TIP.", len(params))
}

// tipProblem says what a failed TIP exchange means for the caller
// (DESIGN.md "Upstream errors as callers see them").
func tipProblem(e *tip.Error) problem {
	p := problem{Type: string(e.Kind), Status: http.StatusBadGateway}
	switch e.Kind {
	case tip.KindBadRequest:
		p.Status = http.StatusBadRequest
		p.Title = "TIP rejected the request"
		// The client's detail already says TIP rejected it, with TIP's reason.
		detail := strings.TrimSuffix(e.Detail, ".")
		if detail == "" {
			detail = "TIP rejected the request as invalid and gave no reason"
		}
		p.Detail = detail + "; check the indicator and sections."
	case tip.KindUnauthorized:
		p.Title = "TIP rejected tipgate's credentials"
		p.Detail = "TIP rejected tipgate's credentials, or its Terms and Conditions have not been accepted at tip.kaspersky.com; the operator must fix tipgate's TIP account."
	case tip.KindForbidden:
		p.Title = "TIP refused access"
		p.Detail = "TIP refused the request: tipgate's account has no API access or has spent its daily quota; try again after the quota resets at 00:00 UTC, or ask the operator."
	case tip.KindRateLimited:
		p.Title = "TIP is rate limiting"
		p.Detail = "TIP is limiting tipgate's request rate and nothing usable is cached; try again in a minute."
	case tip.KindTimeout:
		p.Status = http.StatusGatewayTimeout
		p.Title = "TIP timed out"
		p.Detail = "TIP did not answer in time and nothing usable is cached; try again later."
	case tip.KindUnavailable:
		p.Title = "TIP is unavailable"
		p.Detail = "TIP could not be reached or answered with an error, and nothing usable is cached; try again later."
	default:
		p.Type = string(tip.KindUnavailable)
		p.Title = "TIP is unavailable"
		p.Detail = "TIP's answer could not be used, and nothing usable is cached; try again later."
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
	s.writeProblem(w, p)
}

func (s *server) writeProblem(w http.ResponseWriter, p problem) {
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
	h.Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, problem{
		Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound,
		Detail: fmt.Sprintf("There is no %s; see /openapi.yaml for the routes tipgate serves.", strconv.Quote(truncate(r.URL.Path, 200))),
	})
}

// truncate bounds how much of a caller's input is echoed back.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
