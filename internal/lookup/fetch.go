package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/tipgate/tipgate/internal/cache"
	"github.com/tipgate/tipgate/internal/tip"
)

// fetch gets sections from TIP through a coalesced flight and merges them
// with the sections already in hand.
func (s *Service) fetch(ctx context.Context, req Request, sections []string, have map[string]*entry, state CacheState) (*Result, error) {
	q := question{ind: req.Indicator, sections: sections, refresh: req.Mode == Refresh}
	fr, err := s.coalesce(ctx, q, req.Limit)
	if err != nil {
		return nil, err
	}
	if fr.cached && state != CacheRefreshed {
		state = CacheHit
	}
	if fr.zone.NotFound {
		if state == CachePartial {
			state = CacheMiss // nothing cached is returned for an object TIP does not know
		}
		return s.notFound(req, fr.zone, state, ""), nil
	}
	all := make(map[string]*entry, len(req.Sections))
	for name, e := range have {
		all[name] = e
	}
	for name, e := range fr.entries {
		all[name] = e
	}
	return s.result(req, fr.zone, func(name string) *entry { return all[name] }, state, ""), nil
}

// ask is one TIP request for q's sections (plus Zone, and LicenseInfo to
// track the quota) and the store write that follows it. release, when set,
// is the question's lock across replicas: it is given up once the answer
// is stored (so that the replicas waiting on it find it), or at once when
// TIP fails (nothing is stored, and a waiter may try itself).
func (s *Service) ask(ctx context.Context, q question, limit int, release func()) (*fetchResult, error) {
	ind := q.ind
	names := make([]string, 0, len(q.sections)+2)
	names = append(names, q.sections...)
	names = append(names, tip.SectionZone, tip.SectionLicense)

	res, err := s.upstream.Lookup(ctx, ind, names, limit)
	if err != nil {
		if release != nil {
			release()
		}
		if ctx.Err() != nil {
			return nil, callerGaveUp(ctx)
		}
		return nil, err
	}
	received := res.ReceivedAt.UTC().Truncate(time.Millisecond)
	if received.IsZero() {
		received = s.now().UTC().Truncate(time.Millisecond)
	}

	if !res.Found {
		zone := &entry{ReceivedAt: received, FreshUntil: received.Add(s.greyTTL), NotFound: true}
		s.store1(ctx, q, map[string]*entry{tip.SectionZone: zone}, release)
		return &fetchResult{zone: zone}, nil
	}

	zoneName := canonicalZone(res.Sections[tip.SectionZone])
	fresh := received.Add(s.freshness(zoneName))
	zoneData, _ := json.Marshal(zoneName)
	zone := &entry{ReceivedAt: received, FreshUntil: fresh, Data: zoneData}
	entries := make(map[string]*entry, len(q.sections))
	for _, name := range q.sections {
		var e *entry
		if raw, ok := res.Sections[name]; ok && !isNull(raw) {
			e, _ = sectionEntry(raw) // nil when TIP's JSON is not valid: stored as no data
		}
		if e == nil {
			e = &entry{}
		}
		e.ReceivedAt, e.FreshUntil, e.Limit = received, fresh, limit
		sec, _ := s.catalog.Find(ind.Type, name)
		if sec.Kind == tip.List && len(e.Data) > 0 && e.Data[0] == '[' {
			e.Complete = sec.Uncounted || e.Count < limit
		} else {
			e.ends, e.Count = nil, 0 // only a list section is cut to a limit
		}
		entries[name] = e
	}
	write := make(map[string]*entry, len(entries)+1)
	for name, e := range entries {
		write[name] = e
	}
	if !q.refresh {
		s.keepLonger(ctx, q, limit, write)
	}
	write[tip.SectionZone] = zone
	s.store1(ctx, q, write, release)
	return &fetchResult{zone: zone, entries: entries}, nil
}

// keepLonger drops from write the list sections whose stored entry is fresh
// and holds more records than this answer: a fetch for fewer records that
// answers after a concurrent fetch for more (another flight here, or
// another replica's) must not shrink the cache, or the next caller who
// needs the longer list pays TIP again. A refresh always writes what it
// fetched.
func (s *Service) keepLonger(ctx context.Context, q question, limit int, write map[string]*entry) {
	var lists []string
	for name, e := range write {
		if !e.Complete && e.Data != nil && e.Count > 0 {
			lists = append(lists, name)
		}
	}
	if len(lists) == 0 {
		return
	}
	// A fetch of the most records for this question is running (someone
	// needed more than this fetch asks for): its answer will be stored, and
	// this one must not land after it and shrink it.
	if s.locks != nil && limit < MaxLimit {
		if held, err := s.locks.Held(ctx, s.lockKey(q)+maxLockSuffix); err == nil && held {
			for _, name := range lists {
				delete(write, name)
			}
			return
		}
	}
	v := s.read(ctx, q.ind, lists)
	now := s.now()
	for _, name := range lists {
		old, mine := v.get(name), write[name]
		if old != nil && fresh(old, now) && old.Data != nil && (old.Complete || old.Count > mine.Count) {
			delete(write, name)
		}
	}
}

// store1 stores one answer's entries, behind the answer when a Writer is
// set, and then gives up the lock. A refresh writes before it answers: its
// caller may go straight to another replica and must find what it forced.
// A failure is counted, never returned: the caller's answer does not depend
// on it.
func (s *Service) store1(ctx context.Context, q question, entries map[string]*entry, release func()) {
	ind := q.ind
	items := make([]cache.Item, 0, len(entries))
	now := s.now()
	for name, e := range entries {
		ttl := e.FreshUntil.Add(s.staleFor).Sub(now)
		if ttl <= 0 {
			continue
		}
		items = append(items, cache.Item{Key: s.key(ind, name), Value: e.encode(), TTL: ttl})
	}
	done := func() {
		if release != nil {
			release()
		}
	}
	if len(items) == 0 {
		done()
		return
	}
	if s.writer != nil && !q.refresh {
		s.writer.Write(items, done)
		return
	}
	if err := s.store.Set(ctx, items); err != nil {
		s.metrics.storeErrors.WithLabelValues("set").Inc()
		s.log.DebugContext(ctx, "cache write failed", "indicator", ind.String(), "err", err)
	}
	done()
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
