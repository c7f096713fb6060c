package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tipgate/tipgate/internal/tip"
	"github.com/tipgate/tipgate/internal/upstream"
)

// probeState is where the start-up probe of TIP stands.
type probeState string

const (
	probeDisabled      probeState = "disabled" // TIPGATE_TIP_PROBE=false
	probePending       probeState = "pending"  // no answer yet
	probeOK            probeState = "ok"
	probeMisconfigured probeState = "misconfigured"
	probeRefused       probeState = "refused" // TIP knew the credentials but refused (403)
	probeUnreachable   probeState = "unreachable"
)

// probeOptions shape when the probe asks TIP again. Tests shorten them.
type probeOptions struct {
	// Retry is the wait after a first probe TIP did not answer; it doubles
	// with each one after, up to Misconfigured.
	Retry time.Duration
	// Misconfigured is the wait after a probe that proved a
	// misconfiguration: at most one probe per 5 minutes by default,
	// because repeated 401s can lock the account and every probe counts
	// against the budget. It doubles with each one after, up to MaxWait.
	Misconfigured time.Duration
	MaxWait       time.Duration
}

func defaultProbeOptions() probeOptions {
	return probeOptions{Retry: 10 * time.Second, Misconfigured: 5 * time.Minute, MaxWait: 30 * time.Minute}
}

// prober asks TIP about the EICAR test file (tip.ProbeRequest) in the
// background, from start-up until TIP accepts, and again after reloaded
// credentials, and says whether the gateway may be ready.
//
// It enters the upstream chain below the breaker and retry layers (at
// pace: pace -> limit -> budget -> observe -> client), so the probe is
// counted against the daily budget and seen by the metrics like every
// request sent to TIP, but:
//   - retry would repeat a TLS failure (a transient kind for lookups)
//     three times, each counted, against "at most once per 5 minutes", and
//     would wrap what TIP said in its own words;
//   - the breaker, once open, would answer the probe with its own refusal,
//     which proves nothing, so a misconfiguration would look like an
//     outage; and the probe's failures are not lookups' failures.
//
// The prober has its own backoff instead.
type prober struct {
	fetch   upstream.Fetcher
	client  func() *tip.Client
	timeout time.Duration
	log     *slog.Logger
	opts    probeOptions
	kick    chan struct{}
	now     func() time.Time

	mu        sync.Mutex
	state     probeState
	report    *tip.ProbeReport
	checkedAt time.Time
	nextAt    time.Time
	okAt      time.Time
	everOK    bool // TIP accepted a probe since start
	attempts  int  // probes since start
	// failures counts the probes in a row with the same verdict, for the
	// backoff.
	failures int
	lastFail tip.ProbeVerdict
}

func newProber(enabled bool, fetch upstream.Fetcher, client func() *tip.Client, timeout time.Duration, log *slog.Logger) *prober {
	p := &prober{
		fetch: fetch, client: client, timeout: timeout, log: log,
		opts: defaultProbeOptions(), kick: make(chan struct{}, 1), now: time.Now,
		state: probePending,
	}
	if !enabled {
		p.state = probeDisabled
	}
	return p
}

func (p *prober) enabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state != probeDisabled
}

// ready reports whether the probe lets the gateway be ready: until TIP has
// accepted one, a probe that proved a misconfiguration holds readiness back
// (so a bad rollout stops there). Nothing else does: a probe still under
// way proves nothing (and a slow TIP must not hold a replica back for its
// whole timeout), a TIP that does not answer must not become a tipgate
// outage, and a 403 (no API access, or the day's quota spent) passes at
// midnight while the cache still answers. Once TIP has accepted a probe,
// nothing here changes readiness: a 401 later answers callers as DESIGN
// says, and cached data is still served.
func (p *prober) ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.everOK || p.state != probeMisconfigured
}

// again asks for a probe now, e.g. after new credentials were loaded.
func (p *prober) again() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run probes at once, then as record schedules, until ctx ends.
func (p *prober) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.kick:
			timer.Stop()
			p.mu.Lock()
			p.failures = 0
			p.mu.Unlock()
		}
		r := p.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if wait := p.record(r); wait > 0 {
			timer.Reset(wait)
		}
	}
}

// once sends one probe and says what it proved.
func (p *prober) once(ctx context.Context) tip.ProbeReport {
	ind, sections := tip.ProbeRequest()
	c := p.client()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res, err := p.fetch.Lookup(ctx, ind, sections, 0)
	return c.Diagnose(ctx, res, err)
}

// record keeps r, logs it, and returns how long to wait before the next
// probe (0: none until asked). It logs before /v1/status can show r, so
// that what status says is already in the log.
func (p *prober) record(r tip.ProbeReport) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.attempts++
	p.report = &r
	p.checkedAt = now
	var wait time.Duration
	switch r.Verdict {
	case tip.ProbeAccepted:
		p.state, p.everOK, p.okAt, p.failures = probeOK, true, now, 0
	case tip.ProbeMisconfigured:
		p.state = probeMisconfigured
		wait = p.backoff(r.Verdict, p.opts.Misconfigured, max(p.opts.MaxWait, p.opts.Misconfigured))
	case tip.ProbeRefused:
		// Asked again no sooner than a misconfiguration: repeated refusals
		// help nobody, and each probe counts against the quota.
		p.state = probeRefused
		wait = p.backoff(r.Verdict, p.opts.Misconfigured, max(p.opts.MaxWait, p.opts.Misconfigured))
	default:
		p.state = probeUnreachable
		wait = p.backoff(r.Verdict, p.opts.Retry, p.opts.Misconfigured)
	}
	p.nextAt = time.Time{}
	if wait > 0 {
		p.nextAt = now.Add(wait)
	}
	everOK := p.everOK

	attrs := []any{"verdict", r.Verdict, "checks", checkWords(r.Checks)}
	if r.Status != 0 {
		attrs = append(attrs, "tip_status", r.Status)
	}
	if wait > 0 {
		attrs = append(attrs, "next_probe_in", wait.String())
	}
	switch r.Verdict {
	case tip.ProbeAccepted:
		if l := r.License; l != nil {
			attrs = append(attrs, "access_type", l.AccessType, "day_requests", l.DayRequests, "day_quota", l.DayQuota)
			if l.TokenExpirationDate != nil {
				attrs = append(attrs, "token_expires", l.TokenExpirationDate.UTC().Format(time.RFC3339))
			}
		}
		p.log.Info("TIP accepted tipgate's probe: "+r.Detail, attrs...)
	case tip.ProbeMisconfigured:
		if everOK {
			p.log.Warn("TIP's answer to the probe shows a misconfiguration; readiness is unchanged because TIP accepted an earlier probe: "+r.Detail, attrs...)
		} else {
			p.log.Error("TIP's answer to the probe shows a misconfiguration; not ready until TIP accepts a probe: "+r.Detail, attrs...)
		}
	case tip.ProbeRefused:
		p.log.Warn("TIP refused tipgate's probe (no API access, or the day's quota is spent); tipgate stays ready and serves from its cache meanwhile: "+r.Detail, attrs...)
	default:
		p.log.Warn("TIP did not answer the probe; tipgate stays ready and serves from its cache meanwhile: "+r.Detail, attrs...)
	}
	return wait
}

// backoff is base doubled for each earlier probe in a row with the same
// verdict, at most ceil. Called with p.mu held.
func (p *prober) backoff(v tip.ProbeVerdict, base, ceil time.Duration) time.Duration {
	if v != p.lastFail {
		p.lastFail, p.failures = v, 0
	}
	p.failures++
	d := base
	for i := 1; i < p.failures && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

func checkWords(cs []tip.Check) map[string]tip.CheckState {
	m := make(map[string]tip.CheckState, len(cs))
	for _, c := range cs {
		m[c.Name] = c.State
	}
	return m
}

// probeStatus is tip.probe in /v1/status.
type probeStatus struct {
	// State is disabled, pending, ok, misconfigured, refused or unreachable.
	State string `json:"state"`
	// HoldsReadiness is true while this probe keeps /readyz at 503.
	HoldsReadiness bool       `json:"holds_readiness"`
	Attempts       int        `json:"attempts"`
	CheckedAt      *time.Time `json:"checked_at,omitempty"`
	NextAt         *time.Time `json:"next_at,omitempty"`
	LastOK         *time.Time `json:"last_ok,omitempty"`

	Checks  []tip.Check  `json:"checks,omitempty"`
	Status  int          `json:"tip_status,omitempty"`
	Zone    string       `json:"zone,omitempty"`
	License *tip.License `json:"license,omitempty"`
	Detail  string       `json:"detail,omitempty"`
}

func (p *prober) status() probeStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := probeStatus{State: string(p.state), Attempts: p.attempts}
	s.HoldsReadiness = !p.everOK && p.state == probeMisconfigured
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	s.CheckedAt, s.NextAt, s.LastOK = at(p.checkedAt), at(p.nextAt), at(p.okAt)
	if r := p.report; r != nil {
		s.Checks, s.Status, s.Zone, s.License, s.Detail = r.Checks, r.Status, r.Zone, r.License, r.Detail
	}
	return s
}

// readinessDetail is what /readyz says while the probe holds it back: no
// error text (that is in /v1/status, for admins), only where to look.
func (p *prober) readinessDetail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == probePending {
		return "tipgate is checking that TIP accepts its credentials"
	}
	return "TIP has not accepted tipgate's probe; an admin sees why in tip.probe of /v1/status"
}

// CheckTIP sends one probe now, through the same layers as the background
// probe, and returns what it proved: `tipgate check-tip`.
func (a *App) CheckTIP(ctx context.Context) tip.ProbeReport {
	return a.rt.probe.once(ctx)
}
