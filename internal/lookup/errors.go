package lookup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// UpstreamError is a failed exchange with TIP, or the refusal of one of
// tipgate's own upstream layers to make it (breaker open, budget spent). It
// is re-exported so that the HTTP layer maps errors through this package
// alone.
type UpstreamError = tip.Error

// ErrorKind classifies an UpstreamError; its text is the problem type
// callers see.
type ErrorKind = tip.ErrorKind

// The upstream error kinds (DESIGN.md "Upstream errors as callers see them").
const (
	KindBadRequest   = tip.KindBadRequest
	KindUnauthorized = tip.KindUnauthorized
	KindForbidden    = tip.KindForbidden
	KindRateLimited  = tip.KindRateLimited
	KindUnavailable  = tip.KindUnavailable
	KindTimeout      = tip.KindTimeout
	KindBudgetSpent  = tip.KindBudgetSpent
)

// StaleCacheOnly is the stale_reason of a cache-only answer past freshness.
const StaleCacheOnly = "cache-only"

// ErrNotCached is matched (errors.Is) by the NotCachedError of a cache-only
// lookup that the cache cannot answer.
var ErrNotCached = errors.New("not cached")

// NotCachedError is a cache-only lookup the cache cannot answer.
type NotCachedError struct {
	Indicator indicator.Indicator
	// Cached lists the sections cached for the indicator (of any age and
	// limit), so the caller knows what a cache-only lookup could get.
	Cached []string
}

func (e *NotCachedError) Error() string {
	if len(e.Cached) == 0 {
		return fmt.Sprintf("not cached: nothing is cached for %s", e.Indicator)
	}
	return fmt.Sprintf("not cached: %s has only %s cached", e.Indicator, strings.Join(e.Cached, ", "))
}

// Is makes errors.Is(err, ErrNotCached) true.
func (e *NotCachedError) Is(target error) bool { return target == ErrNotCached }

// staleReason says whether err is a failure that cached data past its
// freshness may answer for, and the problem type to name as the reason.
// TIP's rejection of the input (400) is not: stale data would hide the
// caller's mistake.
func staleReason(err error) (string, bool) {
	var te *tip.Error
	if !errors.As(err, &te) || te.Kind == tip.KindBadRequest {
		return "", false
	}
	return string(te.Kind), true
}

// callerGaveUp is the error of a caller that stopped waiting for a shared
// fetch: its own deadline is a TIP timeout as far as it is concerned (stale
// data may still answer), its going away is not.
func callerGaveUp(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &tip.Error{Kind: tip.KindTimeout, Detail: "TIP did not answer within this request's deadline", Err: ctx.Err()}
	}
	return fmt.Errorf("the lookup was abandoned because its caller went away: %w", ctx.Err())
}
