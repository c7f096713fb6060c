package lookup

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipgate/tipgate/internal/promreg"
)

// metrics are the policy's own; TIP's requests, health and quota are
// counted by the upstream layers (internal/upstream).
type metrics struct {
	storeErrors *prometheus.CounterVec
	coalesced   prometheus.Counter
	lockWaits   prometheus.Counter
	stale       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_cache_store_errors_total",
			Help: "Cache store operations that failed; lookups went on without the store.",
		}, []string{"op"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_tip_coalesced_total",
			Help: "Lookups that joined another lookup's fetch in this process instead of starting their own.",
		}),
		lockWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tipgate_tip_lock_waits_total",
			Help: "Fetches that waited for another replica's fetch of the same question instead of asking TIP.",
		}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tipgate_stale_answers_total",
			Help: "Lookups answered with cached data past its freshness because TIP could not answer, by the problem type it would have been.",
		}, []string{"reason"}),
	}
	if err := promreg.All(reg, m.storeErrors, m.coalesced, m.lockWaits, m.stale); err != nil {
		return nil, err
	}
	return m, nil
}
