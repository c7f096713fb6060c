// Package lookup owns tipgate's caching policy: which sections of which
// indicator are served from the cache, which are fetched from TIP (only the
// missing ones, in one request, coalesced with identical or covering
// concurrent fetches here and on every replica sharing the store), how long
// each stays fresh (by the indicator's zone), what is served when TIP cannot
// answer (stale data, labelled), which indicators are never sent to TIP at
// all, and what the caller is told about where and when its data came from.
// It knows neither HTTP nor the store's or TIP's wire formats; retries,
// breaker, budget and concurrency are layers around its Upstream.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// Upstream is TIP, as the layers in internal/upstream present it.
type Upstream interface {
	Lookup(ctx context.Context, ind indicator.Indicator, sections []string, count int) (*tip.Result, error)
}

// Locks coordinate fetches of one question across the processes that share
// the store (internal/coord implements it over Redis).
type Locks interface {
	// Acquire tries to take the lock key for a fetch of limit records. When
	// this process gets it, release is non-nil and must be called once the
	// answer is stored (it wakes the waiters). Otherwise holder is the limit
	// the holding fetch asked for.
	Acquire(ctx context.Context, key string, limit int) (release func(), holder int, err error)
	// Wait returns nil when the lock key is released or has expired.
	Wait(ctx context.Context, key string) error
	// Held reports whether someone holds the lock key now (a hint).
	Held(ctx context.Context, key string) (bool, error)
}

// Writer stores entries behind the answer (internal/cache.Writer): a miss
// does not wait for the store, and done runs once the write is over.
type Writer interface {
	Write(items []cache.Item, done func())
	// Pending fills in vals[i] with the value of keys[i] still being
	// written, so that this process reads its own answers at once.
	Pending(keys []string, vals [][]byte)
}

// Local says which indicators are the organisation's own and must never be
// sent to TIP (internal/localnet implements it).
type Local interface {
	Local(ind indicator.Indicator) bool
}

// Options configures a Service. Store, Upstream, Catalog, Logger and
// Registerer are required.
type Options struct {
	Store      Store
	Upstream   Upstream
	Catalog    *tip.Catalog
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Locks, when set, coalesce fetches across replicas; nil coalesces
	// within this process only (the memory store).
	Locks Locks
	// Writer, when set, writes behind the answer; nil writes before it.
	Writer Writer
	// Local, when set, answers the organisation's own indicators at once.
	Local Local
	// Namespace names the upstream that fills the store (see Namespace), so
	// that entries from one TIP are never served by a gateway pointed at
	// another.
	Namespace string

	// TTL is how long Red, Orange, Yellow and Green answers stay fresh;
	// GreyTTL is for Grey and not-found answers.
	TTL, GreyTTL time.Duration
	// StaleFor is how long entries are kept past freshness, to serve when
	// TIP fails.
	StaleFor time.Duration
	// DefaultLimit is the record limit of a query that names none.
	DefaultLimit int
	// FetchTimeout bounds one coalesced TIP fetch, retries included. It runs
	// detached from the request that started it, so that its waiters are not
	// failed by that one caller going away; it is cancelled when its last
	// waiter has gone.
	FetchTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Bulk, when set, marks a context as bulk work (a batch's misses) for
	// the upstream layers (upstream.WithBulk), which keep part of their
	// capacity for single lookups.
	Bulk func(ctx context.Context) context.Context
}

// Service answers lookups.
type Service struct {
	store    Store
	upstream Upstream
	catalog  *tip.Catalog
	locks    Locks
	writer   Writer
	local    Local
	bulk     func(context.Context) context.Context
	ns       string
	log      *slog.Logger
	metrics  *metrics
	now      func() time.Time

	ttl, greyTTL, staleFor time.Duration
	defaultLimit           int
	fetchTimeout           time.Duration

	flights flights

	// The catalog's sections and default sections of each type, read on
	// every lookup: built once, shared read-only.
	order    map[indicator.Type][]tip.Section
	defaults map[indicator.Type][]string
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
	if o.Namespace == "" {
		o.Namespace = Namespace("")
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	order, defaults := map[indicator.Type][]tip.Section{}, map[indicator.Type][]string{}
	for _, t := range indicator.Types() {
		order[t] = o.Catalog.All(t)
		defaults[t] = slices.Clip(o.Catalog.Defaults(t))
	}
	return &Service{
		order:        order,
		defaults:     defaults,
		store:        o.Store,
		upstream:     o.Upstream,
		catalog:      o.Catalog,
		locks:        o.Locks,
		writer:       o.Writer,
		local:        o.Local,
		bulk:         o.Bulk,
		ns:           o.Namespace,
		log:          o.Logger,
		metrics:      m,
		now:          o.Now,
		ttl:          o.TTL,
		greyTTL:      o.GreyTTL,
		staleFor:     o.StaleFor,
		defaultLimit: o.DefaultLimit,
		fetchTimeout: o.FetchTimeout,
		flights:      flights{m: map[string][]*flight{}},
	}, nil
}

// Lookup answers a prepared request.
func (s *Service) Lookup(ctx context.Context, req Request) (*Result, error) {
	if s.local != nil && s.local.Local(req.Indicator) {
		return s.localResult(req), nil
	}
	if req.Mode == Refresh {
		// A refresh asks TIP whatever the cache holds and never serves
		// stale data: a caller who forces a refresh must learn it failed.
		return s.fetch(ctx, req, req.Sections, nil, CacheRefreshed)
	}
	now := s.now()
	v := s.read(ctx, req.Indicator, req.Sections)
	hit, have, missing := s.freshAnswer(req, v, now)
	if hit != nil {
		return hit, nil
	}
	if req.Mode == CacheOnly {
		if v.usable(s, req) {
			return s.fromView(req, v, now, StaleCacheOnly), nil
		}
		return nil, s.notCached(ctx, req, v)
	}
	state := CachePartial
	if len(have) == 0 {
		state = CacheMiss
	}
	res, err := s.fetch(ctx, req, missing, have, state)
	if err != nil {
		if reason, ok := staleReason(err); ok && v.usable(s, req) {
			s.metrics.stale.WithLabelValues(reason).Inc()
			return s.fromView(req, v, now, reason), nil
		}
		return nil, err
	}
	return res, nil
}

// freshAnswer is the hit: req answered from v when everything it needs is
// fresh, nil otherwise. have and missing sort the requested sections into
// those the cache answers fresh at req's limit and those to fetch; a hit
// builds neither.
func (s *Service) freshAnswer(req Request, v view, now time.Time) (hit *Result, have map[string]*entry, missing []string) {
	if v.zone != nil && fresh(v.zone, now) {
		if v.zone.NotFound {
			return s.notFound(req, v.zone, CacheHit, ""), nil, nil
		}
		if v.answers(s, req, now, time.Time{}) {
			return s.result(req, v.zone, v.get, CacheHit, ""), nil, nil
		}
	}
	have, missing = v.split(s, req, now)
	return nil, have, missing
}

// fromView answers from what the store holds, fresh or not: a hit when all
// of it is fresh, otherwise stale with reason.
func (s *Service) fromView(req Request, v view, now time.Time, reason string) *Result {
	state := CacheHit
	if !fresh(v.zone, now) {
		state = CacheStale
	}
	if v.zone.NotFound {
		if state == CacheHit {
			reason = ""
		}
		return s.notFound(req, v.zone, state, reason)
	}
	for _, name := range req.Sections {
		if !fresh(v.get(name), now) {
			state = CacheStale
		}
	}
	if state == CacheHit {
		reason = ""
	}
	return s.result(req, v.zone, v.get, state, reason)
}

// notCached explains a cache-only lookup the cache cannot answer, naming
// what it does hold for the indicator so the caller knows what to ask for.
func (s *Service) notCached(ctx context.Context, req Request, v view) error {
	e := &NotCachedError{Indicator: req.Indicator, Cached: []string{}}
	if v.zone == nil {
		return e
	}
	var names []string
	for _, sec := range s.catalog.Lookup(req.Indicator.Type) {
		names = append(names, sec.Name)
	}
	all := s.read(ctx, req.Indicator, names)
	for _, name := range names {
		if en := all.get(name); en != nil && en.Data != nil {
			e.Cached = append(e.Cached, name)
		}
	}
	return e
}

// Forget drops every cached section of ind, its Zone entry (which holds a
// cached not-found) included.
func (s *Service) Forget(ctx context.Context, ind indicator.Indicator) error {
	var keys []string
	for _, sec := range s.catalog.All(ind.Type) {
		keys = append(keys, s.key(ind, sec.Name))
	}
	if err := s.store.Delete(ctx, keys); err != nil {
		s.metrics.storeErrors.WithLabelValues("delete").Inc()
		return fmt.Errorf("forget %s: %w", ind, err)
	}
	return nil
}
