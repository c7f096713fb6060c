package lookup

import (
	"context"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/tip"
)

// view is what the store holds for one indicator's requested sections, of
// any age: the Zone entry (nil when absent; it also records a not-found)
// and the sections present. Its entries alias the values the store
// returned; a hit builds it with three allocations whatever the number of
// sections.
type view struct {
	zone  *entry
	names []string // the sections read
	slots []slot   // slots[i] holds names[i]'s entry, if any
}

type slot struct {
	e   entry
	has bool
}

// readBatch is how many keys (the Zone entry and sections) a read serves
// from one readBuffers: the default sections of any type fit.
const readBatch = 8

type readBuffers struct {
	keys  [readBatch]string
	slots [readBatch]slot
}

// get is name's entry, nil when the store holds none.
func (v view) get(name string) *entry {
	for i, n := range v.names {
		if n == name && v.slots[i].has {
			return &v.slots[i].e
		}
	}
	return nil
}

// entryMap is the view's entries by name, for the fetch paths.
func (v view) entryMap() map[string]*entry {
	m := make(map[string]*entry, len(v.names))
	for i, n := range v.names {
		if v.slots[i].has {
			m[n] = &v.slots[i].e
		}
	}
	return m
}

// read fetches the Zone entry and sections in one round trip. A store
// failure reads as empty, so that TIP still answers; it is counted here and
// logged by the store's guard, once per outage rather than per lookup.
func (s *Service) read(ctx context.Context, ind indicator.Indicator, sections []string) view {
	// The keys and the slots of an indicator of up to readBatch sections
	// share one allocation.
	var keys []string
	var slots []slot
	if n := len(sections) + 1; n <= readBatch {
		rb := new(readBuffers)
		keys, slots = rb.keys[:n], rb.slots[:n]
	} else {
		keys, slots = make([]string, n), make([]slot, n)
	}
	s.keysInto(keys, ind, sections)
	vals, err := s.store.Get(ctx, keys)
	if err != nil {
		s.metrics.storeErrors.WithLabelValues("get").Inc()
		s.log.DebugContext(ctx, "cache read failed; asking TIP directly", "err", err)
		vals = make([][]byte, len(keys))
	}
	if s.writer != nil {
		s.writer.Pending(keys, vals)
	}
	for i := range keys {
		if i >= len(vals) || vals[i] == nil {
			continue
		}
		if err := decodeEntry(vals[i], &slots[i].e); err != nil {
			s.log.WarnContext(ctx, "ignoring a malformed cache entry", "key", keys[i], "err", err)
			continue
		}
		slots[i].has = true
	}
	v := view{names: sections, slots: slots[1:]}
	if slots[0].has {
		v.zone = &slots[0].e
	}
	return v
}

// split sorts the requested sections into those the cache answers fresh at
// the request's limit and those that must be fetched.
func (v view) split(s *Service, req Request, now time.Time) (have map[string]*entry, missing []string) {
	have = make(map[string]*entry, len(req.Sections))
	for _, name := range req.Sections {
		e := v.get(name)
		if e != nil && s.serves(req.Indicator.Type, name, e, req.Limit) && fresh(e, now) {
			have[name] = e
		} else {
			missing = append(missing, name)
		}
	}
	return have, missing
}

// usable reports whether the view answers req whatever its age: what a
// cache-only lookup may serve, and what is served stale when TIP cannot
// answer.
func (v view) usable(s *Service, req Request) bool {
	if v.zone == nil {
		return false
	}
	if v.zone.NotFound {
		return true
	}
	for _, name := range req.Sections {
		e := v.get(name)
		if e == nil || !s.serves(req.Indicator.Type, name, e, req.Limit) {
			return false
		}
	}
	return true
}

// answers reports whether the view answers req fresh, with everything
// received at or after since: what a flight accepts from the store instead
// of asking TIP (since is zero except for a refresh, which accepts only
// data fetched after it began).
func (v view) answers(s *Service, req Request, now, since time.Time) bool {
	if v.zone == nil || !fresh(v.zone, now) || v.zone.ReceivedAt.Before(since) {
		return false
	}
	if v.zone.NotFound {
		return true
	}
	for _, name := range req.Sections {
		e := v.get(name)
		if e == nil || !fresh(e, now) || e.ReceivedAt.Before(since) || !s.serves(req.Indicator.Type, name, e, req.Limit) {
			return false
		}
	}
	return true
}

// serves reports whether a cached section can answer a request for limit
// records: objects always; lists when complete, fetched with at least as
// large a limit, or holding at least limit records anyway (a TIP that sent
// more than it was asked for).
func (s *Service) serves(t indicator.Type, name string, e *entry, limit int) bool {
	sec, _ := s.catalog.Find(t, name)
	return sec.Kind != tip.List || e.Data == nil || e.Complete || e.Limit >= limit || e.Count >= limit
}

func fresh(e *entry, now time.Time) bool { return now.Before(e.FreshUntil) }

// freshness follows the zone: Grey (TIP knows nothing useful) is asked
// again sooner than a verdict.
func (s *Service) freshness(zone string) time.Duration {
	if zone == "Grey" {
		return s.greyTTL
	}
	return s.ttl
}
