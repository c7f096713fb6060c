package kuma

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tipgate/tipgate/internal/indicator"
	"github.com/tipgate/tipgate/internal/lookup"
)

// batch is one request's work: each distinct indicator once, whatever
// spelling or how often it came.
type batch struct {
	reqs []lookup.Request
	// slot maps each object to its entry in reqs, or -1 for free text.
	slot []int
}

// plan works out each object's indicator. Free text (whatever Prepare
// refuses) gets no lookup at all, so it costs nothing upstream. Equivalent
// spellings share one lookup, keyed by the normalised indicator.
func (h *handler) plan(objects []string) batch {
	b := batch{slot: make([]int, len(objects))}
	byText := map[string]int{}
	byIndicator := map[indicator.Indicator]int{}
	for i, obj := range objects {
		if u, ok := byText[obj]; ok {
			b.slot[i] = u
			continue
		}
		u := -1
		// Asking for Zone alone detects the type without naming sections,
		// which differ by type; the context sections are set per type below.
		req, err := h.looker.Prepare(lookup.Query{Indicator: obj, Sections: []string{"Zone"}})
		if err == nil && req.Indicator.Type != "" {
			if have, ok := byIndicator[req.Indicator]; ok {
				u = have
			} else {
				u = len(b.reqs)
				byIndicator[req.Indicator] = u
				req.Sections = contextSections(req.Indicator.Type)
				b.reqs = append(b.reqs, req)
			}
		}
		byText[obj] = u
		b.slot[i] = u
	}
	return b
}

// outcome is one indicator's answer: res, or why there is none.
type outcome struct {
	res    *lookup.Result
	reason string
	// retryable means the indicator needed TIP and TIP could not answer
	// now; asking again later may get the verdict.
	retryable  bool
	retryAfter time.Duration
	err        error
}

type done struct {
	i int
	o outcome
}

// run looks the requests up, at most h.concurrency at a time, until ctx
// ends; what is not done by then is a timeout.
func (h *handler) run(ctx context.Context, b batch) []outcome {
	out := make([]outcome, len(b.reqs))
	if len(b.reqs) == 0 {
		return out
	}
	finished := make([]bool, len(b.reqs))
	results := make(chan done, len(b.reqs)) // buffered: late workers never block
	jobs := make(chan int)
	for range min(h.concurrency, len(b.reqs)) {
		go func() {
			for i := range jobs {
				results <- done{i: i, o: h.resolve(ctx, b.reqs[i])}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range b.reqs {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	record := func(d done) {
		out[d.i], finished[d.i] = d.o, true
	}
wait:
	for n := 0; n < len(b.reqs); n++ {
		select {
		case d := <-results:
			record(d)
		case <-ctx.Done():
			break wait
		}
	}
	// Answers that arrived together with the deadline still count.
drain:
	for {
		select {
		case d := <-results:
			record(d)
		default:
			break drain
		}
	}
	for i := range out {
		if !finished[i] {
			out[i] = classify(ctx, context.Cause(ctx))
		}
	}
	return out
}

// resolve answers one indicator, spending TIP quota only when the cache
// cannot give a verdict: first the cache with the context sections; then
// the cache for the zone alone (with whatever context sections are cached),
// since the verdict needs nothing more; only then, unless cache-only, a
// normal lookup, which fetches what is missing in one TIP request. Data past
// its freshness answers when nothing better can be had.
func (h *handler) resolve(ctx context.Context, req lookup.Request) outcome {
	full := req
	full.Mode = lookup.CacheOnly
	res, err := h.looker.Lookup(ctx, full)
	var (
		stale  *lookup.Result
		cached []string
		nc     *lookup.NotCachedError
	)
	switch {
	case err == nil && res.Cache != lookup.CacheStale:
		return outcome{res: res}
	case err == nil:
		stale = res
	case errors.As(err, &nc):
		cached = nc.Cached
	case errors.Is(err, lookup.ErrNotCached):
	default:
		return classify(ctx, err)
	}

	zone := req
	zone.Mode = lookup.CacheOnly
	zone.Sections = nil
	if stale == nil {
		for _, s := range full.Sections {
			if slices.Contains(cached, s) {
				zone.Sections = append(zone.Sections, s)
			}
		}
	}
	res, err = h.looker.Lookup(ctx, zone)
	switch {
	case err == nil && res.Cache != lookup.CacheStale:
		if stale != nil {
			// The zone, and so the verdict, is fresh; only some context
			// is older.
			return outcome{res: stale}
		}
		return outcome{res: res}
	case err == nil:
		if stale == nil {
			stale = res
		}
	case errors.Is(err, lookup.ErrNotCached):
	default:
		return classify(ctx, err)
	}

	if h.cacheOnly {
		if stale != nil {
			return outcome{res: stale}
		}
		return outcome{reason: reasonNotCached}
	}
	normal := full
	normal.Mode = lookup.Normal
	res, err = h.looker.Lookup(ctx, normal)
	if err == nil {
		return outcome{res: res}
	}
	if stale != nil {
		// The lookup serves stale data only for every section it was
		// asked; a stale zone alone still gives the verdict.
		return outcome{res: stale}
	}
	return classify(ctx, err)
}

// classify says why err left an indicator unanswered and whether asking
// again later may help.
func classify(ctx context.Context, err error) outcome {
	o := outcome{err: err, retryable: true}
	var te *lookup.UpstreamError
	switch {
	case errors.As(err, &te):
		o.retryAfter = te.RetryAfter
		switch {
		case te.Kind == lookup.KindBudgetSpent:
			o.reason = reasonBudgetSpent
		case te.Refused:
			o.reason = reasonBreakerOpen
		case te.Kind == lookup.KindTimeout:
			o.reason = reasonTimeout
		case te.Kind == lookup.KindBadRequest:
			o.reason, o.retryable = reasonTIPRejected, false
		default:
			o.reason = reasonTIPError
		}
	case errors.Is(err, lookup.ErrNotCached):
		o.reason, o.retryable = reasonNotCached, false
	case errors.Is(err, context.DeadlineExceeded):
		o.reason = reasonTimeout
	case errors.Is(err, context.Canceled) || ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		// Nobody is waiting for the answer.
		o.reason, o.retryable = reasonCanceled, false
	default:
		o.reason = reasonInternal
	}
	return o
}
