// Package upstream owns the path to TIP as composable layers: each layer is a
// Fetcher wrapping another Fetcher, does one job, and knows nothing of the
// cache or of HTTP. internal/app wires them around the *tip.Client, outermost
// first:
//
//	breaker -> retry -> pace -> limit -> budget -> observe -> *tip.Client
//
// Each layer, and why it sits where it does:
//
//   - Breaker stops asking TIP for a while after sustained transient failure,
//     so callers get an answer (stale data or a 503) at once instead of
//     piling up behind a dead upstream. Outermost, so that it judges a
//     logical fetch after its retries, and an open breaker costs nothing.
//   - Retry repeats transient failures with capped exponential backoff and
//     full jitter, honouring Retry-After, within the caller's deadline.
//   - Pace makes every caller honour TIP's last Retry-After, not only the
//     one that got the 429: no request goes out before it passes; callers
//     that cannot wait that long are refused at once (stale data, if any).
//   - Limit bounds the TIP requests in flight per process; callers beyond it
//     queue within their deadline. Inside retry, so a backoff sleep holds no
//     slot.
//   - Budget counts every request sent to TIP (each retry included) against
//     the gateway's and the caller's daily budgets and TIP's own LicenseInfo
//     quota, and refuses once one is spent. Inside limit, so only a request
//     about to be sent is counted.
//   - Observe records what TIP answered: metrics, health and the quota TIP
//     last reported. Innermost, so it sees every real exchange and nothing
//     that tipgate refused.
//   - Swap, between Observe and the client, holds the *tip.Client so that
//     reloaded credentials replace it without rebuilding the chain; the
//     metrics, health, quota and budgets carry on across the swap.
//
// Errors keep tip's vocabulary: a *tip.Error, with Refused set when a layer
// declined to ask TIP, or the caller's own cancellation wrapping
// context.Canceled.
package upstream

import (
	"context"
	"errors"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// Fetcher asks TIP, or a layer in front of it, about one indicator. It is
// lookup.Upstream's method; *tip.Client and every layer here implement it.
type Fetcher interface {
	Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error)
}

// transientFailure reports whether err says TIP failed in a way that may pass
// (429, 5xx, timeout, connection or TLS failure) and a request was actually
// made: the only errors retry repeats and breaker counts. A Refused error
// made no request, and a wait for a request slot past the deadline is not
// TIP's answer.
func transientFailure(err error) bool {
	var te *tip.Error
	return errors.As(err, &te) && te.Transient() && !te.Refused && !errors.Is(err, errQueueWait)
}

// callerGone reports whether err is the caller's own cancellation (not a
// deadline): nothing about TIP can be learnt from it.
func callerGone(err error) bool {
	var te *tip.Error
	return errors.Is(err, context.Canceled) && !errors.As(err, &te)
}
