package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/tip"
)

// certWarnBefore is how long before the client certificate expires tipgate
// starts warning: a new PFX from Kaspersky takes days to arrive.
const certWarnBefore = 30 * 24 * time.Hour

// certWarnEvery repeats the warning in a long-running process, so that one
// started before the 30 days began still says it.
const certWarnEvery = 24 * time.Hour

// checkCertificateExpiry is the one owner of the certificate expiry
// warning: at start, after a reload, and daily while it applies. It logs a
// WARN under 30 days and an ERROR once expired (readiness then fails too).
func (a *App) checkCertificateExpiry() {
	c := a.tipClient().Certificate()
	if c == nil {
		return
	}
	now := time.Now()
	left := c.NotAfter.Sub(now)
	if left >= certWarnBefore {
		return
	}
	a.rt.certMu.Lock()
	id := c.SerialNumber.String()
	due := id != a.rt.certWarned || now.Sub(a.rt.certWarnedAt) >= certWarnEvery
	if due {
		a.rt.certWarned, a.rt.certWarnedAt = id, now
	}
	a.rt.certMu.Unlock()
	if !due {
		return
	}
	attrs := []any{"client_certificate", c.Subject.String(), "expires", c.NotAfter.UTC().Format(time.RFC3339)}
	if left <= 0 {
		a.log.Error("the TIP client certificate has expired; tipgate is not ready until a new PFX is in TIPGATE_TIP_PFX_FILE (it is reloaded when the file changes, or on SIGHUP)", attrs...)
		return
	}
	a.log.Warn("the TIP client certificate expires soon; ask your Kaspersky TAM for a new PFX and replace TIPGATE_TIP_PFX_FILE (it is reloaded when the file changes, or on SIGHUP)",
		append(attrs, "days_left", int(left.Hours()/24))...)
}

// certExpiryGauge exports the client certificate's expiry, read at each
// scrape so that it follows a reloaded certificate. It is registered only
// in certificate mode (a reload cannot change the mode: that is set by
// which variables are set), so that in token mode the metric is absent
// rather than 0, which an alert would take for "expired in 1970".
func certExpiryGauge(client func() *tip.Client) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tipgate_tip_client_certificate_expiry_timestamp_seconds",
		Help: "When the TIP client certificate in use expires, in Unix seconds; absent in token mode.",
	}, func() float64 {
		if c := client().Certificate(); c != nil {
			return float64(c.NotAfter.Unix())
		}
		return 0
	})
}
