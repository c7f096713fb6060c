package app

import (
	"context"
	"time"

	"github.com/tipgate/tipgate/internal/tip"
)

// warmTimeout bounds the wait for the warm-up connection; the dial itself
// is bounded by the TIP client's own set-up timeouts.
const warmTimeout = 30 * time.Second

// warmTIP opens a connection to TIP ahead of the first lookup (see
// tip.Client.Warm): a cold burst of callers on a fresh process then waits
// for TIP's answer only, not for a TLS handshake made while the CPU is
// busy reading their requests. Failing costs nothing but that: the first
// lookup dials as before, and says what is wrong with TIP in its own error.
func (a *App) warmTIP(ctx context.Context, c *tip.Client) {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	start := time.Now()
	if err := c.Warm(ctx); err != nil {
		a.log.Debug("TIP connection warm-up failed; the first lookup will connect", "component", "tip", "err", err)
		return
	}
	a.log.Debug("TIP connection warmed", "component", "tip", "took", time.Since(start).Round(time.Millisecond).String())
}
