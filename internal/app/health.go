package app

import (
	"context"
	"time"

	"github.com/tipgate/tipgate/internal/upstream"
)

// storeProbeTimeout keeps readiness and status answers quick when the store
// hangs: a slow store is reported, not waited for.
const storeProbeTimeout = 300 * time.Millisecond

type dependency struct {
	Status  string `json:"status"` // ok, degraded or down
	Backend string `json:"backend,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

type readiness struct {
	Status string                `json:"status"` // ready, degraded or not_ready
	Checks map[string]dependency `json:"checks"`
}

// ready answers /readyz. Only what stops every lookup makes it not ready: an
// expired client certificate. A store outage only degrades it, because
// lookups still work through TIP, and failing every replica's readiness
// would turn a Redis outage into a full outage.
func (a *App) ready(ctx context.Context) (bool, any) {
	r := readiness{Status: "ready", Checks: map[string]dependency{}}
	tipDep := dependency{Status: "ok"}
	if c := a.tipClient().Certificate(); c != nil && time.Now().After(c.NotAfter) {
		tipDep = dependency{Status: "down", Detail: "the TIP client certificate expired on " + c.NotAfter.UTC().Format(time.RFC3339)}
		r.Status = "not_ready"
	} else if !a.rt.probe.ready() {
		// Until TIP accepts a probe, one that proved a misconfiguration
		// stops a bad rollout here (probe.go).
		tipDep = dependency{Status: "down", Detail: a.rt.probe.readinessDetail()}
		r.Status = "not_ready"
	}
	r.Checks["tip"] = tipDep
	storeDep := a.probeStore(ctx)
	if storeDep.Status != "ok" && r.Status == "ready" {
		r.Status = "degraded"
	}
	r.Checks["store"] = storeDep
	return r.Status != "not_ready", r
}

func (a *App) probeStore(ctx context.Context) dependency {
	ctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		// The cause (an address, a WRONGPASS) is in the log, not in this
		// unauthenticated answer.
		return dependency{Status: "degraded", Backend: a.store.Name(), Detail: "the store does not answer; lookups are served through TIP and an in-process fallback cache until it does"}
	}
	return dependency{Status: "ok", Backend: a.store.Name()}
}

type statusReport struct {
	Version string     `json:"version"`
	TIP     tipStatus  `json:"tip"`
	Store   dependency `json:"store"`
}

type tipStatus struct {
	URL         string       `json:"url"`
	Auth        string       `json:"auth"` // certificate or token
	Certificate *certStatus  `json:"certificate,omitempty"`
	Quota       *quotaStatus `json:"quota,omitempty"`
	Health      healthStatus `json:"health"`
	// Breaker is the circuit breaker's state: closed, open or half-open.
	Breaker string `json:"breaker"`
	// InFlight is how many TIP requests this process has in flight now.
	InFlight int          `json:"in_flight"`
	Budget   budgetStatus `json:"budget"`
	// Probe is the start-up probe of TIP (probe.go).
	Probe probeStatus `json:"probe"`
}

// budgetStatus is today's (UTC) count of TIP requests against the daily
// budgets, across every replica sharing the store.
type budgetStatus struct {
	Day      string         `json:"day"`
	Requests int            `json:"requests"`
	Limit    int            `json:"limit"` // 0: no gateway budget
	Keys     map[string]int `json:"keys"`
	Error    string         `json:"error,omitempty"`
}

// healthStatus is how TIP answered lately: "unknown" before the first
// exchange, "ok" when the last one succeeded, "failing" when it did not.
type healthStatus struct {
	Status      string     `json:"status"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastFailure *time.Time `json:"last_failure,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

type certStatus struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	Expired  bool      `json:"expired"`
}

type quotaStatus struct {
	DayRequests int       `json:"DayRequests"`
	DayQuota    int       `json:"DayQuota"`
	ReportedAt  time.Time `json:"reported_at"`
}

// status answers GET /v1/status for operators.
func (a *App) status(ctx context.Context) any {
	s := statusReport{Version: Version, Store: a.probeStore(ctx)}
	s.TIP.URL = a.tipClient().BaseURL()
	s.TIP.Auth = "token"
	if c := a.tipClient().Certificate(); c != nil {
		s.TIP.Auth = "certificate"
		s.TIP.Certificate = &certStatus{
			Subject:  c.Subject.String(),
			Issuer:   c.Issuer.String(),
			NotAfter: c.NotAfter.UTC(),
			Expired:  time.Now().After(c.NotAfter),
		}
	}
	s.TIP.Health = upstreamHealth(a.upstream.observe.Health())
	if l, at := a.upstream.observe.License(); l != nil {
		s.TIP.Quota = &quotaStatus{DayRequests: l.DayRequests, DayQuota: l.DayQuota, ReportedAt: at.UTC()}
	}
	s.TIP.Breaker = a.upstream.breaker.State()
	s.TIP.InFlight = a.upstream.limit.InFlight()
	s.TIP.Probe = a.rt.probe.status()
	c, err := a.upstream.budget.Counts(ctx)
	s.TIP.Budget = budgetStatus{Day: c.Day, Requests: c.Total, Limit: c.Budget, Keys: c.Keys}
	if s.TIP.Budget.Keys == nil {
		s.TIP.Budget.Keys = map[string]int{}
	}
	if err != nil {
		s.TIP.Budget.Error = "the day's counts could not be read: " + err.Error()
	}
	return s
}

func upstreamHealth(h upstream.Health) healthStatus {
	out := healthStatus{Status: "unknown", LastError: h.LastError}
	if !h.LastSuccess.IsZero() {
		out.LastSuccess = &h.LastSuccess
		out.Status = "ok"
	}
	if !h.LastFailure.IsZero() {
		out.LastFailure = &h.LastFailure
		if h.LastFailure.After(h.LastSuccess) {
			out.Status = "failing"
		}
	}
	return out
}
