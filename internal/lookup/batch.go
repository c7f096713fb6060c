package lookup

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bounds of a batch's work inside this process. Cache reads are cheap and
// answer most of a batch, so many run at once; fetches are fewer, because
// each holds a TIP request (or waits for one) and the upstream layers bound
// those anyway (a batch's share of them with Options.Bulk).
const (
	batchReaders  = 64
	batchFetchers = 16
	// batchMargin is how much of a batch's deadline is kept back for the
	// items still waiting to give up and say so (a stale copy, or a timeout),
	// so that the answer is written before the caller's deadline.
	batchMargin = 250 * time.Millisecond
)

// ErrBatchTimeout is the error of a batch item not answered before the
// batch's deadline. errors.Is(err, context.DeadlineExceeded) holds too.
var ErrBatchTimeout = fmt.Errorf("not answered before the batch's deadline: %w", context.DeadlineExceeded)

// BatchItem is one answer of LookupBatch: a Result or the error that kept
// the item from one.
type BatchItem struct {
	Result *Result
	Err    error
}

// LookupBatch answers prepared requests in input order. Requests that are
// the same question (indicator, sections, limit and mode; equivalent
// spellings were made one indicator by Prepare) are looked up once and share
// their answer. Every item is first looked for in the cache, many at once;
// those the cache cannot answer fresh are then fetched, a bounded number at
// once and marked as bulk work (Options.Bulk) for the upstream layers, through
// the same coalescing flights as single lookups. Everything runs under ctx's
// deadline: items not done by then get ErrBatchTimeout (or a stale copy, when
// the cache holds one), and the finished ones are returned.
func (s *Service) LookupBatch(ctx context.Context, reqs []Request) []BatchItem {
	out := make([]BatchItem, len(reqs))
	if len(reqs) == 0 {
		return out
	}
	// One lookup per distinct question; slots[i] lists the inputs it answers.
	var (
		uniq  []Request
		slots [][]int
		index = make(map[string]int, len(reqs))
	)
	for i, req := range reqs {
		k := batchKey(req)
		j, ok := index[k]
		if !ok {
			j = len(uniq)
			index[k] = j
			uniq = append(uniq, req)
			slots = append(slots, nil)
		}
		slots[j] = append(slots[j], i)
	}

	// The items stop a little before the caller's deadline, so that those
	// still waiting can say so before the answer is due.
	work, cancel := context.WithCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		margin := min(batchMargin, time.Until(d)/10)
		work, cancel = context.WithDeadline(ctx, d.Add(-margin))
	}
	defer cancel()

	type done struct {
		j    int
		item BatchItem
	}
	results := make(chan done, len(uniq)) // buffered: no item waits to report
	readers := make(chan struct{}, batchReaders)
	fetchers := make(chan struct{}, batchFetchers)
	for j, req := range uniq {
		go func() {
			res, err := s.batchOne(work, req, readers, fetchers)
			results <- done{j, BatchItem{Result: res, Err: err}}
		}()
	}

	answered := make([]bool, len(uniq))
	set := func(d done) {
		if d.item.Err != nil && work.Err() != nil && errors.Is(d.item.Err, context.DeadlineExceeded) {
			// However it surfaced (a wait for a flight or a slot), the
			// item ran out of the batch's time.
			d.item = BatchItem{Err: ErrBatchTimeout}
		}
		answered[d.j] = true
		for _, i := range slots[d.j] {
			out[i] = d.item
		}
	}
	for range uniq {
		select {
		case d := <-results:
			set(d)
		case <-ctx.Done():
			// The caller's deadline: take what has finished, and say so
			// for the rest. Their goroutines end on their own, work being
			// done.
			for drained := false; !drained; {
				select {
				case d := <-results:
					set(d)
				default:
					drained = true
				}
			}
			gone := ErrBatchTimeout
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				gone = callerGaveUp(ctx)
			}
			for j, ok := range answered {
				if !ok {
					for _, i := range slots[j] {
						out[i] = BatchItem{Err: gone}
					}
				}
			}
			return out
		}
	}
	return out
}

// batchOne answers one distinct request of a batch: from the cache when it
// holds a fresh answer, otherwise by a normal lookup (which may fetch) marked
// as bulk work. A cache-only batch never fetches, and a refresh always does.
func (s *Service) batchOne(ctx context.Context, req Request, readers, fetchers chan struct{}) (*Result, error) {
	if req.Mode != Refresh {
		if err := take(ctx, readers); err != nil {
			return nil, err
		}
		var (
			res *Result
			err error
		)
		if req.Mode == CacheOnly {
			res, err = s.Lookup(ctx, req)
		} else {
			res = s.cachedAnswer(ctx, req)
		}
		<-readers
		if req.Mode == CacheOnly || res != nil {
			return res, err
		}
	}
	if err := take(ctx, fetchers); err != nil {
		return nil, err
	}
	defer func() { <-fetchers }()
	if s.bulk != nil {
		ctx = s.bulk(ctx)
	}
	return s.Lookup(ctx, req)
}

// cachedAnswer is Lookup's answer when it needs nothing from TIP (a local
// indicator, or everything cached and fresh), and nil otherwise: so that a
// batch's hits are not queued behind its misses.
func (s *Service) cachedAnswer(ctx context.Context, req Request) *Result {
	if s.local != nil && s.local.Local(req.Indicator) {
		return s.localResult(req)
	}
	hit, _, _ := s.freshAnswer(req, s.read(ctx, req.Indicator, req.Sections), s.now())
	return hit
}

// take waits for a free place in sem, within ctx.
func take(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return callerGaveUp(ctx)
	}
}

// batchKey names a request's question: two requests with the same key get
// the same answer.
func batchKey(req Request) string {
	return strconv.Itoa(int(req.Mode)) + "|" + strconv.Itoa(req.Limit) + "|" + string(req.Indicator.Type) + ":" +
		req.Indicator.Value + "|" + strings.Join(req.Sections, ",")
}
