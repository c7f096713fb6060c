// Package lookup owns tipgate's caching policy: which sections of which
// indicator are served from the cache, which are fetched from TIP (only the
// missing ones, in one request, coalesced with identical concurrent fetches),
// how long each stays fresh (by the indicator's zone), and what the caller is
// told about where and when its data came from. It knows neither HTTP nor the
// store's or TIP's wire formats.
package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// Store is where sections are cached (internal/cache implements it).
type Store interface {
	// Get returns one value per key, nil where absent, in one round trip.
	Get(ctx context.Context, keys []string) ([][]byte, error)
	// Set stores every item in one round trip.
	Set(ctx context.Context, items []cache.Item) error
	// Delete forgets the keys.
	Delete(ctx context.Context, keys []string) error
}

// Upstream is TIP (internal/tip.Client implements it).
type Upstream interface {
	Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error)
}

// Options configures a Service. Store, Upstream, Catalog, Logger and
// Registerer are required.
type Options struct {
	Store      Store
	Upstream   Upstream
	Catalog    *tip.Catalog
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	// TTL is how long Red, Orange, Yellow and Green answers stay fresh;
	// GreyTTL is for Grey and not-found answers.
	TTL, GreyTTL time.Duration
	// StaleFor is how long entries are kept past freshness, to serve when
	// TIP fails.
	StaleFor time.Duration
	// DefaultLimit is the record limit of a query that names none.
	DefaultLimit int
	// FetchTimeout bounds one coalesced TIP fetch, which runs detached from
	// the request that started it so that its waiters are not failed by
	// that one caller going away.
	FetchTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service answers lookups.
type Service struct {
	store    Store
	upstream Upstream
	catalog  *tip.Catalog
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time

	ttl, greyTTL, staleFor time.Duration
	defaultLimit           int
	fetchTimeout           time.Duration

	flights singleflight.Group

	mu        sync.Mutex
	license   *tip.License
	licenseAt time.Time
	health    Health
}

// Health is how TIP answered lately, for operators.
type Health struct {
	LastSuccess time.Time // TIP's last usable answer (200 or 404)
	LastFailure time.Time // TIP's last failed exchange
	LastError   string    // what went wrong then, a sentence without secrets
}

// New builds a Service.
func New(o Options) (*Service, error) {
	var problems []string
	if o.Store == nil {
		problems = append(problems, "Store is required")
	}
	if o.Upstream == nil {
		problems = append(problems, "Upstream is required")
	}
	if o.Catalog == nil {
		problems = append(problems, "Catalog is required")
	}
	if o.Logger == nil {
		problems = append(problems, "Logger is required")
	}
	if o.Registerer == nil {
		problems = append(problems, "Registerer is required")
	}
	if o.TTL <= 0 || o.GreyTTL <= 0 || o.StaleFor < 0 {
		problems = append(problems, "TTL and GreyTTL must be positive and StaleFor not negative")
	}
	if o.DefaultLimit < MinLimit || o.DefaultLimit > MaxLimit {
		problems = append(problems, fmt.Sprintf("DefaultLimit must be within %d..%d", MinLimit, MaxLimit))
	}
	if len(problems) > 0 {
		return nil, errors.New("lookup: " + strings.Join(problems, "; "))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = time.Minute
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{
		store:        o.Store,
		upstream:     o.Upstream,
		catalog:      o.Catalog,
		log:          o.Logger,
		metrics:      m,
		now:          o.Now,
		ttl:          o.TTL,
		greyTTL:      o.GreyTTL,
		staleFor:     o.StaleFor,
		defaultLimit: o.DefaultLimit,
		fetchTimeout: o.FetchTimeout,
	}, nil
}

// Prepare validates a query into a Request, reporting every bad parameter.
func (s *Service) Prepare(q Query) (Request, error) {
	var bad []InvalidParam
	t, err := indicator.ParseType(q.Type)
	if err != nil {
		bad = append(bad, InvalidParam{Name: "type", Reason: reason(err)})
	}
	var ind indicator.Indicator
	switch {
	case strings.TrimSpace(q.Indicator) == "":
		bad = append(bad, InvalidParam{Name: "indicator", Reason: "indicator is required: give a file hash, an IPv4 address, a domain or a URL."})
	case err == nil:
		if ind, err = indicator.Parse(q.Indicator, t); err != nil {
			bad = append(bad, InvalidParam{Name: "indicator", Reason: reason(err)})
		}
	}
	limit := q.Limit
	if limit == 0 {
		limit = s.defaultLimit
	}
	if limit < MinLimit || limit > MaxLimit {
		bad = append(bad, InvalidParam{Name: "limit", Reason: fmt.Sprintf("limit must be a whole number from %d to %d; got %d.", MinLimit, MaxLimit, q.Limit)})
	}
	var sections []string
	if ind.Type != "" {
		var sbad []InvalidParam
		sections, sbad = s.sections(ind.Type, q.Sections)
		bad = append(bad, sbad...)
	}
	if len(bad) > 0 {
		return Request{}, &InvalidError{Params: bad}
	}
	return Request{Indicator: ind, Sections: sections, Limit: limit, Mode: q.Mode}, nil
}

// sections resolves requested names to canonical ones in catalog order.
// No names means the type's defaults; Zone is accepted and left out because
// it is always reported at the top level.
func (s *Service) sections(t indicator.Type, names []string) ([]string, []InvalidParam) {
	var bad []InvalidParam
	want := map[string]bool{}
	asked := false
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		asked = true
		sec, ok := s.catalog.Find(t, n)
		switch {
		case !ok:
			bad = append(bad, InvalidParam{Name: "sections", Reason: fmt.Sprintf("%q is not a TIP section for type %s; GET /v1/sections lists the valid ones.", truncate(n, 64), t)})
		case sec.Name == tip.SectionLicense:
			bad = append(bad, InvalidParam{Name: "sections", Reason: "LicenseInfo is not returned to callers; GET /v1/status shows the TIP quota."})
		case sec.Name != tip.SectionZone:
			want[sec.Name] = true
		}
	}
	if !asked {
		return s.catalog.Defaults(t), bad // never Zone or LicenseInfo
	}
	var out []string
	for _, sec := range s.catalog.All(t) {
		if want[sec.Name] {
			out = append(out, sec.Name)
		}
	}
	return out, bad
}

// Lookup answers a prepared request.
func (s *Service) Lookup(ctx context.Context, req Request) (*Result, error) {
	if req.Mode == Refresh {
		return s.fetch(ctx, req, req.Sections, nil, CacheRefreshed)
	}
	now := s.now()
	zone, have, missing := s.cached(ctx, req, req.Sections, now, req.Mode == CacheOnly)
	if zone != nil && zone.NotFound {
		return s.notFound(req, zone, hitOrStale(zone, now)), nil
	}
	if zone != nil && len(missing) == 0 {
		state := hitOrStale(zone, now)
		for _, e := range have {
			if hitOrStale(e, now) == CacheStale {
				state = CacheStale
			}
		}
		return s.result(req, zone, have, state), nil
	}
	if req.Mode == CacheOnly {
		return nil, fmt.Errorf("%w: %s has %s", ErrNotCached, req.Indicator, describeMissing(zone != nil, missing))
	}
	state := CachePartial
	if len(have) == 0 {
		state = CacheMiss
	}
	return s.fetch(ctx, req, missing, have, state)
}

// cached reads the Zone entry and sections from the store in one round trip
// and sorts them into what can answer req now and what is missing. zone is
// nil unless it can answer; staleOK accepts entries past freshness.
func (s *Service) cached(ctx context.Context, req Request, sections []string, now time.Time, staleOK bool) (zone *entry, have map[string]*entry, missing []string) {
	zone, entries := s.read(ctx, req.Indicator, sections)
	if zone != nil && !staleOK && !now.Before(zone.FreshUntil) {
		zone = nil
	}
	have = make(map[string]*entry, len(sections))
	for _, name := range sections {
		e := entries[name]
		if e != nil && s.serves(req.Indicator.Type, name, e, req.Limit) && (staleOK || now.Before(e.FreshUntil)) {
			have[name] = e
		} else {
			missing = append(missing, name)
		}
	}
	return zone, have, missing
}

// Forget drops every cached section of ind.
func (s *Service) Forget(ctx context.Context, ind indicator.Indicator) error {
	var keys []string
	for _, sec := range s.catalog.All(ind.Type) {
		keys = append(keys, Key(ind, sec.Name))
	}
	if err := s.store.Delete(ctx, keys); err != nil {
		s.metrics.storeErrors.WithLabelValues("delete").Inc()
		return fmt.Errorf("forget %s: %w", ind, err)
	}
	return nil
}

// Health reports how TIP answered lately.
func (s *Service) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// License returns TIP's quota as it last reported it, and when.
func (s *Service) License() (*tip.License, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.license, s.licenseAt
}

// Key is the store key of one section of one indicator. The braces are a
// Redis Cluster hash tag: every section of an indicator lands in one slot,
// so one MGET reads them all. A value holding a brace still yields one slot
// per indicator, because Redis hashes up to the first closing brace and that
// prefix is the same for all of an indicator's keys.
func Key(ind indicator.Indicator, section string) string {
	return "tipgate:v1:{" + string(ind.Type) + ":" + ind.Value + "}:" + section
}

// read fetches the Zone entry and sections in one round trip. A store
// failure is logged and counted and reads as empty: TIP still answers.
func (s *Service) read(ctx context.Context, ind indicator.Indicator, sections []string) (*entry, map[string]*entry) {
	keys := make([]string, 0, len(sections)+1)
	keys = append(keys, Key(ind, tip.SectionZone))
	for _, name := range sections {
		keys = append(keys, Key(ind, name))
	}
	vals, err := s.store.Get(ctx, keys)
	if err != nil {
		s.metrics.storeErrors.WithLabelValues("get").Inc()
		s.log.WarnContext(ctx, "cache read failed; asking TIP directly", "err", err)
		return nil, nil
	}
	decode := func(i int) *entry {
		if i >= len(vals) || vals[i] == nil {
			return nil
		}
		e, err := decodeEntry(vals[i])
		if err != nil {
			s.log.WarnContext(ctx, "ignoring a malformed cache entry", "key", keys[i], "err", err)
			return nil
		}
		return e
	}
	out := make(map[string]*entry, len(sections))
	for i, name := range sections {
		if e := decode(i + 1); e != nil {
			out[name] = e
		}
	}
	return decode(0), out
}

// serves reports whether a cached section can answer a request for limit
// records: objects always; lists when complete, fetched with at least as
// large a limit, or holding at least limit records anyway (a TIP that sent
// more than it was asked for).
func (s *Service) serves(t indicator.Type, name string, e *entry, limit int) bool {
	sec, _ := s.catalog.Find(t, name)
	return sec.Kind != tip.List || e.Data == nil || e.Complete || e.Limit >= limit || e.Count >= limit
}

// fetchResult is what one coalesced TIP fetch yields.
type fetchResult struct {
	zone    *entry
	entries map[string]*entry
	// cached is true when the store could answer after all (another
	// flight, here or on another replica, stored it meanwhile).
	cached bool
}

// fetch asks TIP for sections (plus Zone and LicenseInfo) in one request,
// stores the answer and merges it with the sections already in hand.
// Identical concurrent fetches share one TIP request.
func (s *Service) fetch(ctx context.Context, req Request, sections []string, have map[string]*entry, state CacheState) (*Result, error) {
	key := flightKey(req, sections)
	led := false // written by the flight, read after its result arrives
	ch := s.flights.DoChan(key, func() (any, error) {
		led = true
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.fetchTimeout)
		defer cancel()
		return s.fetchOnce(fctx, req, sections)
	})
	var r singleflight.Result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.Shared && !led {
		s.metrics.coalesced.Inc()
	}
	if r.Err != nil {
		return nil, r.Err
	}
	fr := r.Val.(*fetchResult)
	if fr.cached {
		state = CacheHit
	}
	if fr.zone.NotFound {
		if state == CachePartial {
			state = CacheMiss // nothing cached is returned for an object TIP does not know
		}
		return s.notFound(req, fr.zone, state), nil
	}
	all := make(map[string]*entry, len(req.Sections))
	for name, e := range have {
		all[name] = e
	}
	for name, e := range fr.entries {
		all[name] = e
	}
	return s.result(req, fr.zone, all, state), nil
}

func flightKey(req Request, sections []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%d|%s|", req.Mode, req.Limit, req.Indicator)
	b.WriteString(strings.Join(sections, ","))
	return b.String()
}

// fetchOnce is one TIP request and the store write that follows it. Unless
// refreshing, it first looks in the store again: a flight that finished
// between this caller's read and its own start has stored the answer, and
// asking TIP again would spend quota twice.
func (s *Service) fetchOnce(ctx context.Context, req Request, sections []string) (*fetchResult, error) {
	if req.Mode != Refresh {
		zone, have, missing := s.cached(ctx, req, sections, s.now(), false)
		if zone != nil && (zone.NotFound || len(missing) == 0) {
			return &fetchResult{zone: zone, entries: have, cached: true}, nil
		}
	}
	ind := req.Indicator
	names := make([]string, 0, len(sections)+2)
	names = append(names, sections...)
	names = append(names, tip.SectionZone, tip.SectionLicense)

	start := s.now()
	res, err := s.upstream.Lookup(ctx, ind, names, req.Limit)
	s.metrics.observeUpstream(ind.Type, res, err, s.now().Sub(start))
	s.recordHealth(err)
	if err != nil {
		s.log.WarnContext(ctx, "TIP lookup failed", "indicator", ind.String(), "err", err)
		return nil, err
	}
	received := res.ReceivedAt.UTC().Truncate(time.Millisecond)
	if received.IsZero() {
		received = s.now().UTC().Truncate(time.Millisecond)
	}
	if res.License != nil {
		s.recordLicense(res.License, received)
	}

	if !res.Found {
		zone := &entry{ReceivedAt: received, FreshUntil: received.Add(s.greyTTL), NotFound: true}
		s.write(ctx, ind, map[string]*entry{tip.SectionZone: zone})
		return &fetchResult{zone: zone}, nil
	}

	zoneName := canonicalZone(res.Sections[tip.SectionZone])
	fresh := received.Add(s.freshness(zoneName))
	zoneData, _ := json.Marshal(zoneName)
	zone := &entry{ReceivedAt: received, FreshUntil: fresh, Data: zoneData}
	entries := make(map[string]*entry, len(sections))
	for _, name := range sections {
		e := &entry{ReceivedAt: received, FreshUntil: fresh, Limit: req.Limit}
		if raw, ok := res.Sections[name]; ok && !isNull(raw) {
			e.Data = raw
		}
		sec, _ := s.catalog.Find(ind.Type, name)
		if sec.Kind == tip.List && e.Data != nil {
			if n, ok := listLen(e.Data); ok {
				e.Count = n
				e.Complete = sec.Uncounted || n < req.Limit
			}
		}
		entries[name] = e
	}
	write := make(map[string]*entry, len(entries)+1)
	for name, e := range entries {
		write[name] = e
	}
	write[tip.SectionZone] = zone
	s.write(ctx, ind, write)
	return &fetchResult{zone: zone, entries: entries}, nil
}

// write stores entries; a failure is logged and counted, never returned,
// because the caller's answer does not depend on it.
func (s *Service) write(ctx context.Context, ind indicator.Indicator, entries map[string]*entry) {
	items := make([]cache.Item, 0, len(entries))
	now := s.now()
	for name, e := range entries {
		ttl := e.FreshUntil.Add(s.staleFor).Sub(now)
		if ttl <= 0 {
			continue
		}
		items = append(items, cache.Item{Key: Key(ind, name), Value: e.encode(), TTL: ttl})
	}
	if len(items) == 0 {
		return
	}
	if err := s.store.Set(ctx, items); err != nil {
		s.metrics.storeErrors.WithLabelValues("set").Inc()
		s.log.WarnContext(ctx, "cache write failed", "indicator", ind.String(), "err", err)
	}
}

func (s *Service) recordHealth(err error) {
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.health.LastSuccess = now
		return
	}
	s.health.LastFailure = now
	s.health.LastError = err.Error()
}

func (s *Service) recordLicense(l *tip.License, at time.Time) {
	s.mu.Lock()
	s.license, s.licenseAt = l, at
	s.mu.Unlock()
	s.metrics.dayRequests.Set(float64(l.DayRequests))
	s.metrics.dayQuota.Set(float64(l.DayQuota))
}

// result assembles an answer: lists cut to the limit, received_at the
// oldest of what is returned.
func (s *Service) result(req Request, zone *entry, entries map[string]*entry, state CacheState) *Result {
	res := &Result{
		Indicator:          req.Indicator,
		Zone:               zoneOf(zone),
		Found:              true,
		Limit:              req.Limit,
		Sections:           make(map[string]json.RawMessage, len(entries)),
		SectionsReceivedAt: make(map[string]time.Time, len(entries)),
		ReceivedAt:         zone.ReceivedAt,
		Cache:              state,
	}
	for _, name := range req.Sections {
		e := entries[name]
		if e == nil || e.Data == nil {
			continue // TIP has nothing in this section for the object
		}
		data := e.Data
		if e.Count > req.Limit {
			data = cutList(data, req.Limit)
		}
		res.Sections[name] = data
		res.SectionsReceivedAt[name] = e.ReceivedAt
		if e.ReceivedAt.Before(res.ReceivedAt) {
			res.ReceivedAt = e.ReceivedAt
		}
	}
	return res
}

func (s *Service) notFound(req Request, zone *entry, state CacheState) *Result {
	return &Result{
		Indicator:          req.Indicator,
		Zone:               "Grey",
		Found:              false,
		Limit:              req.Limit,
		Sections:           map[string]json.RawMessage{},
		SectionsReceivedAt: map[string]time.Time{},
		ReceivedAt:         zone.ReceivedAt,
		Cache:              state,
	}
}

// freshness follows the zone: Grey (TIP knows nothing useful) is asked
// again sooner than a verdict.
func (s *Service) freshness(zone string) time.Duration {
	if zone == "Grey" {
		return s.greyTTL
	}
	return s.ttl
}

// canonicalZone reads TIP's Zone, accepting any case and the "Gray"
// spelling; an absent or unknown zone counts as Grey.
func canonicalZone(raw json.RawMessage) string {
	var z string
	if err := json.Unmarshal(raw, &z); err != nil {
		return "Grey"
	}
	switch strings.ToLower(strings.TrimSpace(z)) {
	case "red":
		return "Red"
	case "orange":
		return "Orange"
	case "yellow":
		return "Yellow"
	case "green":
		return "Green"
	}
	return "Grey"
}

func zoneOf(e *entry) string {
	return canonicalZone(e.Data)
}

func hitOrStale(e *entry, now time.Time) CacheState {
	if now.Before(e.FreshUntil) {
		return CacheHit
	}
	return CacheStale
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func describeMissing(zone bool, missing []string) string {
	if !zone {
		return "nothing cached"
	}
	return "no cached " + strings.Join(missing, ", ") + " at this limit"
}

func reason(err error) string {
	var ie *indicator.Error
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return err.Error()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
