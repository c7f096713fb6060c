package lookup

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
)

// question is what one fetch asks TIP: sections of an indicator, and
// whether it is a refresh (which only data fetched after it began answers).
type question struct {
	ind      indicator.Indicator
	sections []string
	refresh  bool
}

// id names the question in this process's flight table.
func (q question) id() string {
	mode := "n|"
	if q.refresh {
		mode = "r|"
	}
	return mode + string(q.ind.Type) + ":" + q.ind.Value + "|" + strings.Join(q.sections, ",")
}

// lockKey names the question across replicas. A lookup and a refresh of
// the same sections share it: either one's answer, once stored, is what the
// other re-reads.
func (s *Service) lockKey(q question) string {
	return s.ns + ":" + tag(q.ind) + ":" + strings.Join(q.sections, ",")
}

// maxLockSuffix names a question's second lock, held by a fetch of the most
// records.
const maxLockSuffix = "|max"

// flight is one fetch in progress that callers wait on.
type flight struct {
	limit   int
	done    chan struct{}
	res     *fetchResult
	err     error
	waiters int // guarded by flights.mu
	cancel  context.CancelFunc
}

// flights is this process's table of fetches in progress, by question. A
// question may have two flights at once: one at the first caller's limit
// and, when a caller needs more records than that flight asks for, one at
// MaxLimit, which every later caller joins. So limits arriving in any order
// cost at most two TIP requests.
type flights struct {
	mu sync.Mutex
	m  map[string][]*flight
}

// fetchResult is what one coalesced fetch yields.
type fetchResult struct {
	zone    *entry
	entries map[string]*entry
	// cached is true when the store could answer after all (another flight,
	// here or on another replica, stored it meanwhile).
	cached bool
}

// coalesce answers q at limit from a flight in progress that covers it, or
// starts one. The flight runs detached from ctx, so that the caller who
// started it going away does not fail the others; it is cancelled when its
// last waiter has gone. Each waiter stops at its own deadline.
func (s *Service) coalesce(ctx context.Context, q question, limit int) (*fetchResult, error) {
	id := q.id()
	s.flights.mu.Lock()
	var f *flight
	for _, g := range s.flights.m[id] {
		if g.limit >= limit {
			f = g
			break
		}
	}
	if f == nil {
		flimit := limit
		if len(s.flights.m[id]) > 0 {
			flimit = MaxLimit
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.fetchTimeout)
		f = &flight{limit: flimit, done: make(chan struct{}), cancel: cancel}
		s.flights.m[id] = append(s.flights.m[id], f)
		since := time.Time{}
		if q.refresh {
			since = s.now().Truncate(time.Millisecond)
		}
		go func() {
			defer cancel()
			f.res, f.err = s.fly(fctx, q, f.limit, since)
			s.flights.mu.Lock()
			s.flights.remove(id, f)
			s.flights.mu.Unlock()
			close(f.done)
		}()
	} else {
		s.metrics.coalesced.Inc()
	}
	f.waiters++
	s.flights.mu.Unlock()

	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		s.flights.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			// Nobody is left to answer: stop asking TIP, and let no new
			// caller join a flight that is being cancelled.
			s.flights.remove(id, f)
			f.cancel()
		}
		s.flights.mu.Unlock()
		return nil, callerGaveUp(ctx)
	}
}

// remove drops f from the table; the caller holds mu.
func (fl *flights) remove(id string, f *flight) {
	list := fl.m[id]
	for i, g := range list {
		if g == f {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(fl.m, id)
	} else {
		fl.m[id] = list
	}
}

// fly is one flight: it looks in the store once more (a flight that
// finished between the caller's read and now, here or on another replica,
// has stored the answer, and asking TIP again would spend quota twice),
// then takes the question's lock across replicas and asks TIP, or waits for
// the replica that holds the lock to store its answer and looks again.
// Without locks, or when they fail, it asks TIP itself: coordination saves
// quota but must never stop a lookup.
func (s *Service) fly(ctx context.Context, q question, limit int, since time.Time) (*fetchResult, error) {
	req := Request{Indicator: q.ind, Sections: q.sections, Limit: limit}
	key := s.lockKey(q)
	for {
		if v := s.read(ctx, q.ind, q.sections); v.answers(s, req, s.now(), since) {
			return &fetchResult{zone: v.zone, entries: v.entryMap(), cached: true}, nil
		}
		if ctx.Err() != nil {
			return nil, callerGaveUp(ctx)
		}
		if s.locks == nil {
			return s.ask(ctx, q, limit, nil)
		}
		// A fetch of the most records for this question is running: its
		// answer covers any limit, and a fetch of ours beside it would be
		// paid for twice (and the list it stores would be left to it).
		if held, err := s.locks.Held(ctx, key+maxLockSuffix); err == nil && held {
			if err := s.wait(ctx, key+maxLockSuffix); err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				return s.ask(ctx, q, limit, nil)
			}
			continue
		}
		lock, lockLimit := key, limit
		release, holder, err := s.locks.Acquire(ctx, lock, lockLimit)
		// holder 0 means the lock vanished between our take and our read
		// of it: the Wait below returns at once and we look again.
		if err == nil && release == nil && holder > 0 && holder < limit {
			// The holder's answer will not hold enough records for us; the
			// question's second lock fetches the most records, so that no
			// third fetch is ever needed.
			lock, lockLimit = key+maxLockSuffix, MaxLimit
			release, _, err = s.locks.Acquire(ctx, lock, lockLimit)
		}
		switch {
		case err != nil:
			s.log.DebugContext(ctx, "fetch lock unavailable; asking TIP without coordinating replicas", "err", err)
			return s.ask(ctx, q, limit, nil)
		case release != nil:
			// The previous holder may have stored its answer and let go
			// between our read and our take: look once more before paying.
			if v := s.read(ctx, q.ind, q.sections); v.answers(s, req, s.now(), since) {
				release()
				return &fetchResult{zone: v.zone, entries: v.entryMap(), cached: true}, nil
			}
			return s.ask(ctx, q, lockLimit, release)
		}
		if err := s.wait(ctx, lock); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return s.ask(ctx, q, limit, nil)
		}
	}
}

// wait waits for another fetch's lock to be released; an error other than
// the caller's own end means the wait cannot be relied on, and the caller
// asks TIP itself.
func (s *Service) wait(ctx context.Context, lock string) error {
	s.metrics.lockWaits.Inc()
	if err := s.locks.Wait(ctx, lock); err != nil {
		if ctx.Err() != nil {
			return callerGaveUp(ctx)
		}
		s.log.DebugContext(ctx, "waiting for another replica's fetch failed; asking TIP", "err", err)
		return err
	}
	return nil
}
